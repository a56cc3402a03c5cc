//! Generates `FlagId` for the bundled `config/features.toml`, as a node's build script does.

fn main() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/features.toml");
    if let Err(e) = vexil_build::generate(&config) {
        panic!("{e}");
    }
}
