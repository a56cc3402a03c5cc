//! Hot reload on real files: every replacement style, 50 cycles each; every version becomes
//! visible; nothing written half is ever published; invalid files and deleted files keep the
//! last good version.

mod support;

use std::sync::mpsc::Receiver;
use std::time::Duration;

use support::{next_event, version, wait_applied, write, ConfigMap, Style};
use vexil::Digest;
use vexil::{EvaluationContext, Event, Flags, Reload, WatchOptions};

const CYCLES: usize = 50;

fn options() -> WatchOptions {
    WatchOptions {
        debounce: Duration::from_millis(25),
        // The poll backstop is slow here so that the tests exercise the events.
        poll_interval: Duration::from_secs(30),
        ..WatchOptions::default()
    }
}

/// Writes every version in turn with `write` and checks that each becomes visible, whole.
fn cycle(path: &std::path::Path, what: &str, mut write: impl FnMut(&str)) {
    let flags: Flags = Flags::builder(path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let reader = flags.reader();
    let ctx = EvaluationContext::new("node-1");
    let mut written = vec![Digest::of(version(0).as_bytes())];
    for i in 1..=CYCLES {
        let content = version(i);
        let digest = Digest::of(content.as_bytes());
        written.push(digest);
        write(&content);
        let generation = wait_applied(&events, digest, &written);
        // Visible to checks as soon as the event is out.
        assert_eq!(
            reader.check_name("flag_on", &ctx),
            i % 2 == 1,
            "{what} cycle {i}"
        );
        assert_eq!(reader.generation(), generation);
        assert_eq!(flags.sha256(), Some(digest));
    }
}

/// The next event is a rejection naming `problem`, under the generation still in force.
fn expect_rejection(events: &Receiver<Event>, flags: &Flags, problem: &str) {
    match next_event(events) {
        Reload::Rejected {
            generation,
            problems,
            ..
        } => {
            assert_eq!(generation, flags.generation());
            assert!(problems.to_string().contains(problem), "{problems}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn cycle_style(style: Style) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(0)).unwrap();
    cycle(&path, &format!("{style:?}"), |content| {
        write(style, &path, content)
    });
}

#[test]
fn in_place_writes() {
    cycle_style(Style::InPlace);
}

#[test]
fn write_then_rename() {
    cycle_style(Style::Rename);
}

#[test]
fn delete_and_recreate() {
    cycle_style(Style::DeleteRecreate);
}

#[test]
fn jetbrains_safe_write() {
    cycle_style(Style::JetBrains);
}

#[test]
fn kubernetes_configmap_symlink_swap() {
    let dir = tempfile::tempdir().unwrap();
    let mut cm = ConfigMap::new(dir.path(), &version(0));
    let path = cm.path();
    cycle(&path, "configmap", |content| cm.publish(content));
}

#[test]
fn an_invalid_file_keeps_the_last_good_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(1)).unwrap();
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let ctx = EvaluationContext::new("node-1");
    assert!(flags.check_name("flag_on", &ctx));
    for i in 0..5 {
        write(Style::Rename, &path, &support::invalid(i));
        expect_rejection(&events, &flags, "rollout_percentage");
        assert!(
            flags.check_name("flag_on", &ctx),
            "the last good version still answers"
        );
        assert_eq!(flags.sha256(), Some(Digest::of(version(1).as_bytes())));
    }
    write(Style::Rename, &path, &version(2));
    wait_applied(
        &events,
        Digest::of(version(2).as_bytes()),
        &[Digest::of(version(2).as_bytes())],
    );
    assert!(!flags.check_name("flag_on", &ctx));
}

#[test]
fn a_deleted_file_keeps_the_last_good_version_and_its_return_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(1)).unwrap();
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let ctx = EvaluationContext::new("node-1");
    std::fs::remove_file(&path).unwrap();
    match events
        .recv_timeout(support::PATIENCE)
        .expect("a missing event")
    {
        Event::Reload(Reload::Missing { .. }) => {}
        other => panic!("expected the file to go missing, got {other:?}"),
    }
    assert!(
        flags.check_name("flag_on", &ctx),
        "the last good version still answers"
    );
    assert!(
        matches!(flags.reload(), Reload::Unchanged),
        "missing is reported once"
    );
    std::fs::write(&path, version(2)).unwrap();
    let digest = Digest::of(version(2).as_bytes());
    wait_applied(&events, digest, &[digest]);
    assert!(!flags.check_name("flag_on", &ctx));
}

#[test]
fn unchanged_content_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(1)).unwrap();
    let flags: Flags = Flags::builder(&path).build().unwrap();
    let events = flags.subscribe();
    assert_eq!(flags.generation(), 1);
    std::fs::write(&path, version(1)).unwrap();
    assert!(matches!(flags.reload(), Reload::Unchanged));
    assert_eq!(flags.generation(), 1);
    assert!(events.try_recv().is_err(), "nothing reported");
}

#[test]
fn strict_start_fails_and_lenient_start_serves_everything_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    let err = Flags::builder(&path).build().unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
    std::fs::write(&path, support::invalid(0)).unwrap();
    let err = Flags::builder(&path).build().unwrap_err();
    assert!(
        err.to_string().contains(":3:22: error: flag `flag_on`"),
        "{err}"
    );

    let flags: Flags = Flags::builder(&path).lenient(true).build().unwrap();
    assert_eq!(flags.generation(), 0);
    assert!(!flags.check_name("flag_on", &EvaluationContext::new("n")));
    std::fs::write(&path, version(1)).unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));
    assert!(flags.check_name("flag_on", &EvaluationContext::new("n")));
}

#[test]
fn subscribers_learn_which_flags_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(1)).unwrap();
    let flags: Flags = Flags::builder(&path).build().unwrap();
    let events = flags.subscribe();
    std::fs::write(&path, version(2)).unwrap();
    let Reload::Applied(change) = flags.reload() else {
        panic!("expected an applied reload")
    };
    assert_eq!(change.flags, ["flag_on", "padding"]);
    match events.try_recv().unwrap() {
        Event::Reload(Reload::Applied(c)) => {
            assert_eq!(c.generation, 2);
            let fields: Vec<&str> = c.changes.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(fields, ["description", "enabled", "description"]);
        }
        other => panic!("{other:?}"),
    }
}

/// An in-place writer that stalls between truncating the file and writing it: the empty file
/// in between is not rejected, and the content is applied once written. A file left empty is
/// rejected after the extra quiet periods, and the last good version stays in force.
#[test]
fn an_in_place_write_that_stalls_after_truncating_is_not_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(0)).unwrap();
    // A long debounce, so that the stall below is several quiet periods but well within the
    // cap of ten even on a loaded machine.
    let options = WatchOptions {
        debounce: Duration::from_millis(100),
        poll_interval: Duration::from_secs(30),
        ..WatchOptions::default()
    };
    let flags: Flags = Flags::builder(&path).watch(options).build().unwrap();
    let events = flags.subscribe();
    let ctx = EvaluationContext::new("node-1");

    let mut file = std::fs::File::create(&path).unwrap(); // truncates
    std::thread::sleep(Duration::from_millis(250));
    std::io::Write::write_all(&mut file, version(1).as_bytes()).unwrap();
    drop(file);
    let written = [
        Digest::of(version(0).as_bytes()),
        Digest::of(version(1).as_bytes()),
    ];
    wait_applied(&events, written[1], &written);
    assert!(flags.check_name("flag_on", &ctx));

    std::fs::File::create(&path).unwrap();
    expect_rejection(&events, &flags, "the file is empty");
    assert!(
        flags.check_name("flag_on", &ctx),
        "the last good version stays"
    );
    assert_eq!(flags.sha256(), Some(written[1]));
}
