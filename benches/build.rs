//! Flag ids for the bundled configuration, generated the way any application would.

fn main() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/features.toml");
    if let Err(e) = vexil_build::generate(&config) {
        panic!("{e}");
    }
}
