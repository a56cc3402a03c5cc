//! Shared fixtures of the Vexil benchmarks: the generated `FlagId` for the bundled
//! configuration and tables built from it.

include!(concat!(env!("OUT_DIR"), "/vexil_flags.rs"));

use vexil::FlagTable;

/// The bundled configuration plus benchmark flags, published once.
pub fn bench_table(extra: &str) -> FlagTable {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/features.toml");
    let text = std::fs::read_to_string(path).expect("bundled config") + extra;
    let config = vexil::validate::parse_config(&text, path).expect("bench config parses");
    let table = FlagTable::new(&FlagId::NAMES);
    let compiled = table.compile(&config).expect("bench config compiles");
    table.publish(compiled.table);
    table
}
