//! The `FlagId` generator: what it writes compiles whatever the descriptions hold, and it
//! refuses the names validation refuses, with the same messages.

use std::path::Path;
use std::process::Command;

use vexil::validate::{self, Limits};
use vexil_build::{self as codegen, CodegenError};

/// Compiles generated source as a library crate of its own (`rustc --emit=metadata`: type
/// checking without code generation, so it stays fast), with a stand-in `FlagKey` trait, and
/// denies warnings (the generated code lands in other crates, some with `missing_docs` on).
fn compile(dir: &Path, generated: &str) -> Result<(), String> {
    let source = format!(
        "//! Generated flag ids.\n\
         /// Stand-in for `vexil::FlagKey`.\n\
         pub trait FlagKey {{\n    /// The slot.\n    fn index(self) -> usize;\n    \
         /// The name.\n    fn flag_name(self) -> Option<&'static str>;\n}}\n\
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

/// Every name problem of a file, as `vexil validate` prints them.
fn validation_lines(path: &Path) -> Vec<String> {
    let rejected = validate::validate_file::<64>(path, &[], &Limits::default()).unwrap_err();
    rejected.errors().map(ToString::to_string).collect()
}

#[test]
fn invalid_names_are_name_errors_worded_as_validation_words_them() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("digit.toml", "[features.9lives]\nenabled = true\n", 1),
        (
            "space.toml",
            "[features.\"has space\"]\nenabled = true\n",
            1,
        ),
        ("keyword.toml", "[features.self]\nenabled = true\n", 1),
        ("constant.toml", "[features.n_a_m_e_s]\nenabled = true\n", 1),
        (
            "clash.toml",
            "[features.foo_bar]\nenabled = true\n[features.foo__bar]\nenabled = true\n",
            1,
        ),
        (
            "several.toml",
            "[features.ok]\nenabled = true\n[features.Bad]\nenabled = true\n\
             [features.self]\nenabled = true\n[features.ok_]\nenabled = true\n",
            3,
        ),
    ];
    for (file, text, count) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let expected = validation_lines(&path);
        assert_eq!(expected.len(), count, "{expected:?}");
        let err = match codegen::flag_ids_source(text, "crate") {
            Err(e @ CodegenError::Name(..)) => e,
            other => panic!("{file}: {other:?}"),
        };
        // `flag_ids_source` has no file to name (`generate` puts it first); what follows the
        // file is validation's text, line for line.
        let file_name = path.display().to_string();
        let without_file: Vec<&str> = expected
            .iter()
            .map(|l| l.strip_prefix(&file_name).unwrap())
            .collect();
        assert_eq!(err.to_string(), without_file.join("\n"), "{file}");
    }
}
