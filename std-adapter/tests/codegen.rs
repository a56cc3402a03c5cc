//! The `FlagId` generator: what it writes compiles whatever the descriptions hold.

use std::path::Path;
use std::process::Command;

use vexil::codegen;

/// Compiles generated source as a library crate of its own (`rustc --emit=metadata`: type
/// checking without code generation, so it stays fast), with a stand-in `FlagKey` trait, and
/// denies warnings (the generated code lands in other crates, some with `missing_docs` on).
fn compile(dir: &Path, generated: &str) -> Result<(), String> {
    let source = format!(
        "//! Generated flag ids.\n\
         /// Stand-in for `vexil::FlagKey`.\n\
         pub trait FlagKey {{\n    /// The slot.\n    fn index(self) -> usize;\n}}\n\
         {generated}"
    );
    let lib = dir.join("lib.rs");
    std::fs::write(&lib, source).unwrap();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args([
            "--crate-type",
            "lib",
            "--edition",
            "2021",
            "--crate-name",
            "flags",
        ])
        .args([
            "--emit=metadata",
            "-W",
            "missing_docs",
            "-D",
            "warnings",
            "-o",
        ])
        .arg(dir.join("libflags.rmeta"))
        .arg(&lib)
        .output()
        .expect("rustc runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn tricky_descriptions_become_escaped_doc_attributes_that_compile() {
    // A bare CR (a hard error in a `///` comment), a CRLF, quotes, a backslash, a NUL, a tab,
    // a comment closer and a line that would start an attribute.
    let config = "[features.a]\nenabled = true\n\
                  description = \"one\\rtwo \\\"q\\\" back\\\\slash \\u0000 tab\\t */ end\\r\\n#[x]\"\n\
                  [features.b]\nenabled = true\ndescription = '''\nfirst\nsecond'''\n\
                  [features.c]\nenabled = false\n";
    let source = codegen::flag_ids_source(config, "crate").unwrap();
    assert!(!source.contains('\r'), "a raw CR in:\n{source}");
    assert!(
        source.contains(r#"#[doc = "`a`: one\rtwo \"q\" back\\slash \0 tab\t */ end\r\n#[x]"]"#),
        "{source}"
    );
    assert!(
        source.contains(r#"#[doc = "`b`: first\nsecond"]"#),
        "{source}"
    );
    assert!(source.contains(r#"#[doc = "`c`"]"#), "{source}");
    let dir = tempfile::tempdir().unwrap();
    compile(dir.path(), &source).unwrap_or_else(|e| panic!("{e}\n{source}"));
}

#[test]
fn the_bundled_config_generates_source_that_compiles() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/features.toml"
    ))
    .unwrap();
    let source = codegen::flag_ids_source(&text, "crate").unwrap();
    let dir = tempfile::tempdir().unwrap();
    compile(dir.path(), &source).unwrap_or_else(|e| panic!("{e}\n{source}"));
}
