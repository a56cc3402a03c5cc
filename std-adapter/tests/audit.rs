//! The audit log: one record per attempt with the right changes, a verifiable chain, edits
//! found, and no record lost when the file is deleted or the sink fails.

mod support;

use std::path::{Path, PathBuf};

use support::{invalid, version};
use vexil::audit::{self, Outcome, Record};
use vexil::{Flags, Reload};

/// A configuration at version 1 in a temporary directory, loaded with an audit log beside it:
/// the directory (keep it), the config path, the log path and the flags.
fn audited() -> (tempfile::TempDir, PathBuf, PathBuf, Flags) {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = (
        dir.path().join("features.toml"),
        dir.path().join("audit.jsonl"),
    );
    std::fs::write(&path, version(1)).unwrap();
    let flags: Flags = Flags::builder(&path).audit_log(&log).build().unwrap();
    (dir, path, log, flags)
}

fn records(path: &Path) -> Vec<Record> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn one_record_per_attempt_with_its_changes_and_a_verifiable_chain() {
    let (_dir, path, log, flags) = audited();
    std::fs::write(
        &path,
        version(2).replace(
            "[features.always]",
            "[features.always]\nupdated_by = \"alice\"",
        ),
    )
    .unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));
    std::fs::write(&path, invalid(0)).unwrap();
    assert!(matches!(flags.reload(), Reload::Rejected(_)));
    assert!(
        matches!(flags.reload(), Reload::Unchanged),
        "the same bad file is reported once"
    );
    std::fs::write(&path, version(1)).unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));

    let r = records(&log);
    let results: Vec<Outcome> = r.iter().map(|r| r.result).collect();
    assert_eq!(
        results,
        [
            Outcome::Loaded,
            Outcome::Applied,
            Outcome::Rejected,
            Outcome::Applied
        ]
    );
    assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(
        r.iter().map(|r| r.generation).collect::<Vec<_>>(),
        [1, 2, 2, 3]
    );
    assert!(r[0].old_sha256.is_none());
    assert_eq!(r[1].old_sha256, r[0].new_sha256);
    // The first record lists every flag as added.
    assert_eq!(r[0].changes.len(), 3);
    assert!(r[0].changes.iter().all(|c| c["field"] == "*"));
    // flag_on went from on (v1) to off (v2), and `always` gained updated_by.
    let enabled = r[1]
        .changes
        .iter()
        .find(|c| c["flag"] == "flag_on" && c["field"] == "enabled")
        .expect("the enabled change is recorded");
    assert_eq!(
        (&enabled["old"], &enabled["new"]),
        (&true.into(), &false.into())
    );
    let by = r[1].changes.iter().find(|c| c["flag"] == "always").unwrap();
    assert_eq!(
        (by["field"].as_str(), by["updated_by"].as_str()),
        (Some("updated_by"), Some("alice"))
    );
    assert!(
        r[2].errors[0].contains(":3:22: error: flag `flag_on`, field `rollout_percentage`"),
        "{:?}",
        r[2].errors
    );
    assert!(r[2].changes.is_empty());
    assert_eq!(audit::verify(&log), Ok(4));
}

#[test]
fn an_edited_removed_or_reordered_record_fails_verification() {
    let (dir, path, log, flags) = audited();
    for i in 2..5 {
        std::fs::write(&path, version(i)).unwrap();
        flags.reload();
    }
    assert_eq!(audit::verify(&log), Ok(4));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tampered = dir.path().join("tampered.jsonl");
    let check = |lines: Vec<String>| {
        std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
        audit::verify(&tampered)
    };
    let owned = || lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();

    let mut edited = owned();
    edited[1] = edited[1].replacen("\"enabled\"", "\"enabled \"", 1);
    assert_eq!(check(edited).unwrap_err().line, 2);

    let mut last = owned();
    last[3] = last[3].replace("\"applied\"", "\"rejected\"");
    assert_eq!(
        check(last).unwrap_err().line,
        4,
        "the last record is covered too"
    );

    let mut removed = owned();
    removed.remove(1);
    assert_eq!(check(removed).unwrap_err().line, 2);

    let mut swapped = owned();
    swapped.swap(1, 2);
    assert!(check(swapped).is_err());
}

#[test]
fn deleting_the_log_mid_run_loses_no_later_record() {
    let (_dir, path, log, flags) = audited();
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&path, version(2)).unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));
    let r = records(&log);
    assert_eq!(
        r.len(),
        1,
        "the record went to a new file, not into the deleted inode"
    );
    assert_eq!((r[0].seq, r[0].result), (2, Outcome::Applied));
    assert_eq!(audit::verify(&log), Ok(1));
}

#[test]
fn a_failing_sink_delays_records_but_never_the_reload() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (path, log) = (dir.path().join("features.toml"), logs.join("audit.jsonl"));
    std::fs::write(&path, version(1)).unwrap();
    let flags: Flags = Flags::builder(&path).audit_log(&log).build().unwrap();
    // The sink breaks: its directory is gone.
    std::fs::remove_dir_all(&logs).unwrap();
    for i in 2..4 {
        std::fs::write(&path, version(i)).unwrap();
        assert!(
            matches!(flags.reload(), Reload::Applied(_)),
            "the reload applies regardless"
        );
        assert_eq!(flags.generation(), i as u64);
    }
    flags.maintain();
    assert!(!log.exists());
    // The sink recovers: the queued records are written, in order, on the next maintenance.
    std::fs::create_dir(&logs).unwrap();
    flags.maintain();
    let r = records(&log);
    assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
    std::fs::write(&path, version(4)).unwrap();
    flags.reload();
    assert_eq!(records(&log).len(), 3);
    assert_eq!(audit::verify(&log), Ok(3));
}
