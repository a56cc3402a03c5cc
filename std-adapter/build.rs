//! Generates `FlagId` for the bundled `config/features.toml`, for this crate's own tests and
//! examples, the way an application's build script does (with `vexil-build`).

fn main() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/features.toml");
    if let Err(e) = vexil_build::generate(&config) {
        panic!("{e}");
    }
}
