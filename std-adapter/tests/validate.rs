//! Validation: a fixture per rule under `config/fixtures/invalid/`, each with `# expect:` lines
//! giving the exact line, column, flag, experiment or segment, field and words of every problem.

use std::path::{Path, PathBuf};

use vexil::validate::{self, Limits, Problem, Rejected};
use vexil::Severity;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/fixtures")
}

struct Expect {
    severity: Severity,
    line: usize,
    column: usize,
    flag: Option<String>,
    experiment: Option<String>,
    segment: Option<String>,
    field: Option<String>,
    words: String,
}

/// The words of an expectation's head, split at spaces outside double quotes, quotes removed
/// (`flag="has space"` is one word, `flag=has space`).
fn head_words(head: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in head.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// `# expect: error 4:22 flag=a field=rollout_percentage ~ words in the message` (a value with
/// a space in double quotes: `flag="has space"`)
fn expectations(text: &str) -> Vec<Expect> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|l| {
            let (head, words) = l
                .split_once(" ~ ")
                .unwrap_or((l.trim_end_matches(" ~"), ""));
            let parts = head_words(head);
            let mut parts = parts.iter().map(String::as_str);
            let severity = match parts.next().unwrap() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                other => panic!("bad severity {other}"),
            };
            let (line, column) = parts.next().unwrap().split_once(':').unwrap();
            let mut e = Expect {
                severity,
                line: line.parse().unwrap(),
                column: column.parse().unwrap(),
                flag: None,
                experiment: None,
                segment: None,
                field: None,
                words: words.to_owned(),
            };
            for p in parts {
                match p.split_once('=').unwrap() {
                    ("flag", v) => e.flag = Some(v.to_owned()),
                    ("experiment", v) => e.experiment = Some(v.to_owned()),
                    ("segment", v) => e.segment = Some(v.to_owned()),
                    ("field", v) => e.field = Some(v.to_owned()),
                    other => panic!("bad key {other:?}"),
                }
            }
            e
        })
        .collect()
}

fn rejected(path: &Path) -> Rejected {
    match validate::validate_file::<1024>(path, &[], &Limits::default()) {
        Ok(v) => panic!("{} validated; warnings: {:?}", path.display(), v.warnings),
        Err(r) => r,
    }
}

#[test]
fn every_invalid_fixture_reports_its_problems_exactly() {
    let dir = fixtures().join("invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let expect = expectations(&text);
        assert!(
            !expect.is_empty(),
            "{} has no `# expect:` line",
            path.display()
        );
        let got = rejected(path);
        for e in &expect {
            let found = got.0.iter().any(|p: &Problem| {
                p.severity == e.severity
                    && (p.line, p.column) == (e.line, e.column)
                    && p.flag == e.flag
                    && p.experiment == e.experiment
                    && p.segment == e.segment
                    && p.field == e.field
                    && p.message.contains(&e.words)
                    && p.file == path.display().to_string()
            });
            if !found {
                failures.push(format!(
                    "{}: expected {:?} {}:{} flag={:?} experiment={:?} segment={:?} field={:?} ~ {:?}\n  got:\n{}",
                    path.file_name().unwrap().to_string_lossy(),
                    e.severity,
                    e.line,
                    e.column,
                    e.flag,
                    e.experiment,
                    e.segment,
                    e.field,
                    e.words,
                    got.0.iter().map(|p| format!("    {p} [field={:?}]", p.field)).collect::<Vec<_>>().join("\n")
                ));
            }
        }
        let errors = got.errors().count();
        let expected_errors = expect
            .iter()
            .filter(|e| e.severity == Severity::Error)
            .count();
        if errors != expected_errors {
            failures.push(format!(
                "{}: {errors} errors, expected {expected_errors}:\n{got}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn problems_print_as_file_line_column() {
    let path = fixtures().join("invalid/percentage_nan.toml");
    let got = rejected(&path);
    let line = got.0[0].to_string();
    assert_eq!(
        line,
        format!(
            "{}:4:22: error: flag `a`, field `rollout_percentage`: `rollout_percentage` must be a number from 0 to 100, found NaN",
            path.display()
        )
    );
}

#[test]
fn problems_of_the_whole_file_print_without_a_position() {
    let r = validate::validate_bytes::<1024>(b"\n", "e.toml", &[], &Limits::default()).unwrap_err();
    assert_eq!((r.0[0].line, r.0[0].column), (0, 0));
    assert_eq!(r.to_string(), "e.toml: error: the file is empty");
}

#[test]
fn invalid_utf8_is_reported_at_its_first_bad_byte() {
    let text = b"[features.a]\nenabled = true\ndescription = \"caf\xe9 cr\xe8me\"\n";
    let r = validate::validate_bytes::<1024>(text, "u.toml", &[], &Limits::default()).unwrap_err();
    assert_eq!(r.0.len(), 1, "{r}");
    assert_eq!(
        r.to_string(),
        "u.toml:3:19: error: the file is not UTF-8: byte 0xe9 does not begin a valid UTF-8 character"
    );
    // A multi-byte character before the bad byte counts as one column.
    let r = validate::validate_bytes::<1024>(
        "# \u{e9}\u{e9}\n\u{e8}"
            .as_bytes()
            .iter()
            .chain(b"\xff")
            .copied()
            .collect::<Vec<u8>>()
            .as_slice(),
        "v.toml",
        &[],
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!((r.0[0].line, r.0[0].column), (2, 2), "{r}");
    // Cut short at the end of the file.
    let r = validate::validate_bytes::<1024>(b"# x\n\xe2\x82", "w.toml", &[], &Limits::default())
        .unwrap_err();
    assert_eq!(
        r.to_string(),
        "w.toml:2:1: error: the file is not UTF-8: it ends inside a UTF-8 character"
    );
}

#[test]
fn the_bundled_config_and_valid_fixtures_validate() {
    let bundled = fixtures().join("../features.toml");
    let v = validate::validate_file::<1024>(&bundled, &[], &Limits::default()).unwrap();
    assert_eq!(v.config.features.len(), 13);
    assert_eq!(v.config.segments.len(), 2);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    assert_eq!(
        v.sha256,
        vexil::Digest::of(&std::fs::read(&bundled).unwrap())
    );
    let actor = &v.config.features["actor_system"];
    assert_eq!(actor.rollout_percentage, Some(0.0));
    assert_eq!(
        actor
            .conditions
            .as_ref()
            .unwrap()
            .after
            .unwrap()
            .to_string(),
        "2024-02-01T00:00:00Z"
    );
}

#[test]
fn compiled_in_flags_are_warned_about_both_ways() {
    let v = validate::validate_bytes::<1024>(
        b"[features.a]\nenabled = true\n[features.extra]\nenabled = true\n",
        "w.toml",
        &["a", "missing"],
        &Limits::default(),
    )
    .unwrap();
    let w: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    // A compiled-in flag missing from the file has no position in it.
    assert!(
        w.iter().any(|l| l.starts_with(
            "w.toml: warning: flag `missing`: flag `missing` is compiled into this binary"
        )),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|l| l.starts_with("w.toml:3:11: warning: flag `extra`")),
        "{w:?}"
    );
}

#[test]
fn capacity_size_and_emptiness_are_enforced() {
    let five: String = (0..5)
        .map(|i| format!("[features.f{i}]\nenabled = true\n"))
        .collect();
    let r = validate::validate_bytes::<4>(five.as_bytes(), "cap.toml", &[], &Limits::default())
        .unwrap_err();
    assert!(
        r.errors().any(|p| p
            .message
            .contains("5 flags exceed the table's capacity of 4")),
        "{r}"
    );

    let limits = Limits {
        max_file_size: 64,
        ..Limits::default()
    };
    let big = format!("{five}# {}", "x".repeat(100));
    let r = validate::validate_bytes::<1024>(big.as_bytes(), "big.toml", &[], &limits).unwrap_err();
    assert!(
        r.to_string().starts_with("big.toml: error: the file is"),
        "{r}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    std::fs::write(&path, &big).unwrap();
    let r = validate::validate_file::<1024>(&path, &[], &limits).unwrap_err();
    assert!(
        r.to_string().contains("larger than the limit of 64 bytes"),
        "{r}"
    );

    for empty in ["", "\n  \n", "# only a comment\n", "[features]\n"] {
        let r =
            validate::validate_bytes::<1024>(empty.as_bytes(), "e.toml", &[], &Limits::default())
                .unwrap_err();
        assert!(r.to_string().contains("empty"), "{empty:?}: {r}");
    }
    let r =
        validate::validate_file::<1024>(&dir.path().join("missing.toml"), &[], &Limits::default())
            .unwrap_err();
    assert!(r.to_string().contains("cannot read"), "{r}");
}
