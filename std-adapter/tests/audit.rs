//! The audit log: one record per attempt with the right changes, a verifiable chain, edits
//! found, and no record lost when the file is deleted or the sink fails.

mod support;

use std::path::Path;

use support::{audited, invalid, version, PATIENCE};
use vexil::audit::{self, Record};
use vexil::{Flags, Reload};

/// The records of the log, once every record handed to its writer is written.
fn records(flags: &Flags, path: &Path) -> Vec<Record> {
    assert!(flags.flush_audit(PATIENCE), "the audit writer caught up");
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
    assert!(matches!(flags.reload(), Reload::Rejected { .. }));
    assert!(
        matches!(flags.reload(), Reload::Unchanged),
        "the same bad file is reported once"
    );
    std::fs::write(&path, version(1)).unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));

    let r = records(&flags, &log);
    let results: Vec<&str> = r.iter().map(|r| r.result.as_str()).collect();
    assert_eq!(results, ["loaded", "applied", "rejected", "applied"]);
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
    assert!(flags.flush_audit(PATIENCE));
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
    let r = records(&flags, &log);
    assert_eq!(
        r.len(),
        1,
        "the record went to a new file, not into the deleted inode"
    );
    assert_eq!((r[0].seq, r[0].result.as_str()), (2, "applied"));
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
    let events = flags.subscribe();
    assert!(flags.flush_audit(PATIENCE));
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
    assert!(!flags.flush_audit(std::time::Duration::from_millis(300)));
    assert!(!log.exists());
    // The sink recovers: the queued records are written, in order, by the writer's retry.
    std::fs::create_dir(&logs).unwrap();
    let r = records(&flags, &log);
    assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
    std::fs::write(&path, version(4)).unwrap();
    flags.reload();
    assert_eq!(records(&flags, &log).len(), 3);
    assert_eq!(audit::verify(&log), Ok(3));
    // Subscribers heard of the failure once and of the recovery.
    let seen: Vec<String> = events
        .try_iter()
        .filter_map(|e| match e {
            vexil::Event::AuditFailed { pending, .. } => Some(format!("failed {pending}")),
            vexil::Event::AuditRecovered { written } => Some(format!("recovered {written}")),
            _ => None,
        })
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("failed "), "{seen:?}");
    assert_eq!(seen[1], "recovered 2");
}

#[cfg(unix)]
fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A process that ends while its records cannot be written leaves them in the spool beside
/// the log; the next process writes them first and continues the chain.
#[cfg(unix)]
#[test]
fn records_not_yet_written_survive_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = (
        dir.path().join("features.toml"),
        dir.path().join("audit.jsonl"),
    );
    std::fs::write(&path, version(1)).unwrap();
    // The sink cannot be written: a FIFO nobody reads.
    make_fifo(&log);
    let flags: Flags = Flags::builder(&path).audit_log(&log).build().unwrap();
    std::fs::write(&path, version(2)).unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));
    std::fs::write(&path, invalid(0)).unwrap();
    assert!(matches!(flags.reload(), Reload::Rejected { .. }));
    assert!(!flags.flush_audit(std::time::Duration::from_millis(200)));
    drop(flags);
    let spool = audit::spool_path(&log);
    assert_eq!(
        std::fs::read_to_string(&spool).unwrap().lines().count(),
        3,
        "every record is in the spool"
    );

    // The next process finds a regular file again.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&path, version(3)).unwrap();
    let flags: Flags = Flags::builder(&path).audit_log(&log).build().unwrap();
    let r = records(&flags, &log);
    assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(
        r.iter().map(|r| r.result.as_str()).collect::<Vec<_>>(),
        ["loaded", "applied", "rejected", "loaded"]
    );
    assert_eq!(audit::verify(&log), Ok(4));
    assert!(!spool.exists(), "the spool is gone once written");
}

/// A process killed in the middle of an append leaves a torn record; the next one cuts it and
/// continues the chain from the last complete record (not from 1).
#[test]
fn a_new_process_continues_the_chain_after_a_torn_record() {
    let (dir, path, log, flags) = audited();
    std::fs::write(&path, version(2)).unwrap();
    flags.reload();
    assert_eq!(records(&flags, &log).len(), 2);
    drop(flags);
    let last = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, &last.as_bytes()[..last.len() / 2]).unwrap();
    drop(f);

    std::fs::write(&path, version(3)).unwrap();
    let flags: Flags = Flags::builder(&path).audit_log(&log).build().unwrap();
    let r = records(&flags, &log);
    assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(r[2].prev, r[1].hash);
    assert_eq!(audit::verify(&log), Ok(3));
    drop(dir);
}

/// A record whose sequence number skips ahead is a verification failure, even with its hash
/// and `prev` intact.
#[test]
fn a_gap_in_the_sequence_fails_verification() {
    let (dir, path, log, flags) = audited();
    for i in 2..4 {
        std::fs::write(&path, version(i)).unwrap();
        flags.reload();
    }
    let mut r = records(&flags, &log);
    assert_eq!(audit::verify(&log), Ok(3));
    // Record 3 renumbered 5 and sealed again: its own hash and its `prev` are right.
    r[2].seq = 5;
    r[2].hash = None;
    let unsealed = serde_json::to_vec(&r[2]).unwrap();
    r[2].hash = Some(vexil::Digest::of(&unsealed).to_string());
    let gapped = dir.path().join("gapped.jsonl");
    let text: String = r
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&gapped, text).unwrap();
    let err = audit::verify(&gapped).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.message.contains("gap"), "{err}");
}
