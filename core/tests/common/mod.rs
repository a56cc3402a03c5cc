#![allow(dead_code)]

use vexil_core::model::Config;
use vexil_core::{FlagTable, Reader};

pub fn config(toml_text: &str) -> Config {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("test config does not parse: {e}"))
}

/// A table with `toml_text` published once.
pub fn table(toml_text: &str) -> FlagTable {
    let table = FlagTable::new(&[]);
    publish(&table, toml_text);
    table
}

pub fn publish<const N: usize>(table: &FlagTable<N>, toml_text: &str) -> u64 {
    let compiled = table
        .compile(&config(toml_text))
        .unwrap_or_else(|d| panic!("test config does not compile:\n{d}"));
    table.publish(compiled.table)
}

pub fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

/// The bundled configuration.
pub fn bundled() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/features.toml"
    ))
    .unwrap()
}

pub fn reader_of(table: &FlagTable) -> Reader<'_> {
    table.reader()
}
