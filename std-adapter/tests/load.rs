//! Loading: the ticket's sample loads unchanged; errors carry file, line, column and flag.

use vexil::load::{self, LoadError};

#[test]
fn the_bundled_config_loads() {
    let config = load::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/features.toml"
    ))
    .unwrap();
    assert_eq!(config.features.len(), 11);
    let actor = &config.features["actor_system"];
    assert_eq!(actor.rollout_percentage, Some(0.0));
    let after = actor.conditions.as_ref().unwrap().after.unwrap();
    assert_eq!(after.to_string(), "2024-02-01T00:00:00Z");
    assert_eq!(actor.metadata["owner"], "platform-team");
}

fn error(text: &str) -> LoadError {
    load::parse(text, "features.toml").unwrap_err()
}

#[test]
fn a_typo_is_pointed_at() {
    let e = error("[features.a]\nenabled = true\n\n[features.b]\nenabeld = true\n");
    assert_eq!((e.line, e.column), (5, 1), "{e}");
    assert_eq!(e.flag.as_deref(), Some("b"));
    assert!(e.message.contains("unknown field `enabeld`"), "{e}");
    assert!(
        e.to_string()
            .starts_with("features.toml:5:1: error: flag `b`: unknown field"),
        "{e}"
    );
}

#[test]
fn a_wrong_type_is_pointed_at() {
    let e = error("[features.a]\nenabled = true\nrollout_percentage = \"ten\"\n");
    assert_eq!(
        (e.line, e.column, e.flag.as_deref()),
        (3, 22, Some("a")),
        "{e}"
    );
}

#[test]
fn nested_tables_name_their_flag() {
    let e =
        error("[features.a]\nenabled = true\n[features.a.targets]\nenvironments = [\"prod\"]\n");
    assert_eq!((e.line, e.flag.as_deref()), (4, Some("a")), "{e}");
    assert!(e.message.contains("unknown variant `prod`"), "{e}");
}

#[test]
fn empty_and_oversized_files_are_rejected() {
    assert!(error("\n \n").message.contains("the file is empty"));
    assert!(error("# only a comment\n[features]\n")
        .message
        .contains("defines no flags"));
    let dir = std::env::temp_dir().join(format!("vexil-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.toml");
    std::fs::write(&big, "#".repeat(load::MAX_FILE_SIZE as usize + 1)).unwrap();
    let e = load::read(&big).unwrap_err();
    assert!(e.message.contains("more than the limit"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
