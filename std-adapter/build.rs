//! Generates `FlagId` for the bundled `config/features.toml`, for this crate's own tests and
//! examples, with the same generator the crate exports (`vexil::codegen`).

#[path = "src/codegen.rs"]
#[allow(dead_code)]
mod codegen;

fn main() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/features.toml");
    if let Err(e) = codegen::generate(&config) {
        panic!("{e}");
    }
}
