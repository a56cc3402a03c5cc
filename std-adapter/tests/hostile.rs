//! Hot reload under hostile conditions, on real files in temporary directories: things that
//! are not files at the configuration path, a FIFO as the audit log, a writer that pauses
//! mid-file, failures that would be reported again and again, a revert after a rejection,
//! symlinks into other directories, a swapped directory, and a storm of replacements.
#![cfg(unix)]

mod support;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use support::{next_event, version, wait_applied, write, Style, PATIENCE};
use vexil::Digest;
use vexil::{EvaluationContext, Event, Flags, Reload, WatchOptions};

/// Events, quickly; the poll so slow that only events can explain what a test sees.
fn options() -> WatchOptions {
    WatchOptions {
        debounce: Duration::from_millis(25),
        poll_interval: Duration::from_secs(60),
        ..WatchOptions::default()
    }
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Runs `f` on a thread of its own and fails the test if it does not return within
/// [`PATIENCE`] (a test of "never blocks" must fail, not hang, before its fix).
fn within_patience<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what}: still blocked after {PATIENCE:?}"))
}

/// Every event seen until `quiet` passes without one.
fn drain(events: &Receiver<Event>, quiet: Duration) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Ok(e) = events.recv_timeout(quiet) {
        seen.push(e);
    }
    seen
}

fn setup(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// Makes something at a path.
type Maker = Box<dyn Fn(&Path)>;

/// Puts `make`'s creation at the configuration path by a rename, as `mv -T` does.
fn rename_into_place(path: &Path, make: impl FnOnce(&Path)) {
    let tmp = path.with_extension("incoming");
    make(&tmp);
    if tmp.is_dir() {
        // A directory cannot be renamed over a file.
        std::fs::remove_file(path).unwrap();
    }
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_fifo_a_socket_a_device_or_a_directory_at_the_path_is_rejected_at_once() {
    let (dir, path) = setup(&version(1));
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let ctx = EvaluationContext::new("node-1");
    let mut written = vec![Digest::of(version(1).as_bytes())];
    let hostile: [(&str, Maker); 4] = [
        ("a FIFO", Box::new(mkfifo)),
        (
            "a socket",
            Box::new(|p: &Path| {
                // The listener is dropped, its socket file stays.
                std::os::unix::net::UnixListener::bind(p).unwrap();
            }),
        ),
        (
            "a character device",
            Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ),
        (
            "a directory",
            Box::new(|p: &Path| std::fs::create_dir(p).unwrap()),
        ),
    ];
    for (i, (what, make)) in hostile.iter().enumerate() {
        rename_into_place(&path, make);
        match next_event(&events) {
            Reload::Rejected { problems, .. } => {
                assert!(problems.to_string().contains(what), "{what}: {problems}")
            }
            other => panic!("{what}: expected a rejection, got {other:?}"),
        }
        // An explicit reload returns too, with the failure already reported.
        let f = flags.clone();
        let again = within_patience(what, move || f.reload());
        assert!(matches!(again, Reload::Unchanged), "{what}: {again:?}");
        assert_eq!(flags.check_name("flag_on", &ctx), i % 2 == 0);

        // The next valid version is applied.
        let next = version(i + 2);
        written.push(Digest::of(next.as_bytes()));
        if Path::new(&path).is_dir() {
            std::fs::remove_dir(&path).unwrap();
        }
        write(Style::Rename, &path, &next);
        wait_applied(&events, Digest::of(next.as_bytes()), &written);
        assert_eq!(flags.check_name("flag_on", &ctx), i % 2 == 1, "{what}");
    }
    drop(dir);
}

#[test]
fn a_fifo_as_the_audit_log_never_holds_up_a_reload() {
    let (dir, path) = setup(&version(1));
    let log = dir.path().join("audit.jsonl");
    mkfifo(&log);
    let (p, l) = (path.clone(), log.clone());
    let (flags, events, audit_events) = within_patience("build with a FIFO audit log", move || {
        let mut builder = Flags::builder(&p).audit_log(&l).watch(options());
        let (events, audit_events) = (builder.subscribe(), builder.subscribe());
        let flags: Flags = builder.build().unwrap();
        (flags, events, audit_events)
    });
    let ctx = EvaluationContext::new("node-1");
    let mut written = vec![Digest::of(version(1).as_bytes())];
    for i in 2..6 {
        let v = version(i);
        written.push(Digest::of(v.as_bytes()));
        write(Style::Rename, &path, &v);
        wait_applied(&events, Digest::of(v.as_bytes()), &written);
        assert_eq!(flags.check_name("flag_on", &ctx), i % 2 == 1);
    }
    // The failing sink is reported once, however many records wait.
    let flags2 = flags.clone();
    assert!(!within_patience("flush", move || flags2
        .flush_audit(Duration::from_millis(200))));
    drop(flags);
    let failures = drain(&audit_events, Duration::from_millis(100))
        .into_iter()
        .filter(|e| matches!(e, Event::AuditFailed { .. }))
        .count();
    assert_eq!(failures, 1, "one audit failure event for the whole run");
}

/// A writer that pauses after a valid prefix: the prefix is never published, the whole file
/// is, on the writer's close (Linux reports closes).
#[cfg(target_os = "linux")]
#[test]
fn a_file_still_open_for_writing_is_not_published() {
    use std::io::Write as _;
    let (_dir, path) = setup(&version(0));
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let prefix = "[features.alpha]\nenabled = true\n";
    let rest = "rollout_percentage = 1\n[features.beta]\nenabled = false\n";
    vexil::validate::parse_config(prefix, "prefix.toml").expect("the prefix alone is valid");
    let whole = format!("{prefix}{rest}");
    let written = [
        Digest::of(version(0).as_bytes()),
        Digest::of(whole.as_bytes()),
    ];
    for pause in [150, 400] {
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(prefix.as_bytes()).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(pause));
        file.write_all(rest.as_bytes()).unwrap();
        drop(file);
        wait_applied(&events, written[1], &written);
        let alpha = (0..200)
            .filter(|i| flags.check_name("alpha", &EvaluationContext::new(format!("n{i}"))))
            .count();
        assert!(alpha < 20, "alpha at 1 %, not 100 %: {alpha} of 200");
        // Back to version 0 for the next round.
        write(Style::Rename, &path, &version(0));
        wait_applied(&events, written[0], &written);
    }
}

#[test]
fn the_same_failure_is_reported_once_until_something_changes() {
    let (dir, path) = setup(&version(1));
    // A fast poll: every poll reads the path again.
    let flags: Flags = Flags::builder(&path)
        .watch(WatchOptions {
            debounce: Duration::from_millis(10),
            poll_interval: Duration::from_millis(50),
            ..WatchOptions::default()
        })
        .build()
        .unwrap();
    let events = flags.subscribe();
    // Waits for the rejection naming `what`, then watches a dozen polls go by: the same
    // failure is not reported again.
    let once = |what: &str| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.recv_timeout(left) {
                Ok(Event::Reload(Reload::Rejected { problems, .. }))
                    if problems.to_string().contains(what) =>
                {
                    break
                }
                Ok(_) => continue,
                Err(_) => panic!("no rejection naming {what:?}"),
            }
        }
        let again: Vec<Event> = drain(&events, Duration::from_millis(600))
            .into_iter()
            .filter(|e| matches!(e, Event::Reload(Reload::Rejected { .. })))
            .collect();
        assert!(again.is_empty(), "{what}, reported again: {again:?}");
    };
    // A directory, an oversize file (twice, changed), a device: each reported once.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    once("a directory");
    std::fs::remove_dir(&path).unwrap();
    std::fs::write(&path, "#".repeat(2 * 1024 * 1024)).unwrap();
    once("larger than the limit");
    // Something changed: it is reported again, once.
    std::fs::write(&path, "#".repeat(3 * 1024 * 1024)).unwrap();
    once("larger than the limit");
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/null", &path).unwrap();
    once("a character device");
    drop(dir);
}

/// Counts the opens of `path` by anyone while `during` runs, through a watch of its own.
fn opens_of(path: &Path, during: impl FnOnce()) -> usize {
    use notify::Watcher as _;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut w = notify::recommended_watcher(tx).unwrap();
    w.watch(path.parent().unwrap(), notify::RecursiveMode::NonRecursive)
        .unwrap();
    during();
    drop(w);
    let name = path.file_name().unwrap();
    rx.try_iter()
        .filter_map(Result::ok)
        .filter(|e: &notify::Event| {
            matches!(
                e.kind,
                notify::EventKind::Access(notify::event::AccessKind::Open(_))
            ) && e.paths.iter().any(|p| p.file_name() == Some(name))
        })
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_watcher_reads_the_file_only_at_the_poll() {
    let (dir, path) = setup(&version(1));
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    // One change sets the watcher going; its own reads must not keep it going.
    write(Style::InPlace, &path, &version(2));
    let digest = Digest::of(version(2).as_bytes());
    wait_applied(
        &events,
        digest,
        &[digest, Digest::of(version(1).as_bytes())],
    );
    std::thread::sleep(Duration::from_millis(200));
    // Another file in the same directory (an audit log, say) is not the configuration.
    let opens = opens_of(&path, || {
        for i in 0..20 {
            std::fs::write(dir.path().join("audit.jsonl"), format!("{i}\n")).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(
        opens, 0,
        "the idle watcher opened the file {opens} times in a second"
    );
    assert!(events.try_recv().is_err(), "nothing to report");
}

#[test]
fn a_revert_after_a_failure_is_acknowledged() {
    let (_dir, path) = setup(&version(1));
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let gauge = || {
        support::read(&snapshotter)
            .get("vexil_config_last_reload_successful")
            .map(|v| v.0)
    };
    metrics::with_local_recorder(&recorder, || {
        let flags: Flags = Flags::builder(&path).build().unwrap();
        let events = flags.subscribe();
        let in_force = flags.sha256().unwrap();

        std::fs::write(&path, support::invalid(0)).unwrap();
        assert!(matches!(flags.reload(), Reload::Rejected { .. }));
        assert_eq!(gauge(), Some(0.0));
        std::fs::write(&path, version(1)).unwrap();
        assert!(
            matches!(flags.reload(), Reload::Restored { .. }),
            "the revert is seen"
        );
        assert_eq!(gauge(), Some(1.0));
        assert!(
            matches!(flags.reload(), Reload::Unchanged),
            "and reported once"
        );

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(flags.reload(), Reload::Missing { .. }));
        assert_eq!(gauge(), Some(0.0));
        std::fs::write(&path, version(1)).unwrap();
        assert!(matches!(flags.reload(), Reload::Restored { .. }));
        assert_eq!(gauge(), Some(1.0));

        let seen: Vec<String> = events
            .try_iter()
            .map(|e| match e {
                Event::Reload(Reload::Restored { generation, sha256 }) => {
                    assert_eq!((generation, sha256), (1, in_force));
                    "restored".to_owned()
                }
                Event::Reload(Reload::Rejected { .. }) => "rejected".to_owned(),
                Event::Reload(Reload::Missing { .. }) => "missing".to_owned(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(seen, ["rejected", "restored", "missing", "restored"]);
        assert_eq!(flags.generation(), 1, "nothing was published");
    });
}

#[test]
fn a_symlink_into_another_directory_is_followed_by_events() {
    let (dir, _) = setup("");
    let (links, real) = (dir.path().join("links"), dir.path().join("real"));
    std::fs::create_dir(&links).unwrap();
    std::fs::create_dir(&real).unwrap();
    let target = real.join("features.toml");
    std::fs::write(&target, version(0)).unwrap();
    let path = links.join("features.toml");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let mut written = vec![Digest::of(version(0).as_bytes())];
    for (i, style) in [Style::InPlace, Style::Rename, Style::InPlace, Style::Rename]
        .into_iter()
        .enumerate()
    {
        let v = version(i + 1);
        written.push(Digest::of(v.as_bytes()));
        write(style, &target, &v);
        wait_applied(&events, Digest::of(v.as_bytes()), &written);
    }
    // The link itself pointed elsewhere.
    let other = real.join("other.toml");
    std::fs::write(&other, version(9)).unwrap();
    written.push(Digest::of(version(9).as_bytes()));
    let tmp = links.join("features.toml.new");
    std::os::unix::fs::symlink(&other, &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    wait_applied(&events, Digest::of(version(9).as_bytes()), &written);
}

#[test]
fn a_directory_swapped_by_rename_is_watched_anew() {
    let (dir, _) = setup("");
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let path = conf.join("features.toml");
    std::fs::write(&path, version(0)).unwrap();
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let mut written = vec![Digest::of(version(0).as_bytes())];
    for i in 1..4 {
        let next = dir.path().join(format!("conf.{i}"));
        std::fs::create_dir(&next).unwrap();
        let v = version(i);
        std::fs::write(next.join("features.toml"), &v).unwrap();
        written.push(Digest::of(v.as_bytes()));
        std::fs::rename(&conf, dir.path().join(format!("conf.old.{i}"))).unwrap();
        std::fs::rename(&next, &conf).unwrap();
        wait_applied(&events, Digest::of(v.as_bytes()), &written);
        // And the new directory's file is followed in place.
        let v = version(i + 10);
        written.push(Digest::of(v.as_bytes()));
        write(Style::Rename, &path, &v);
        wait_applied(&events, Digest::of(v.as_bytes()), &written);
    }
}

#[test]
fn a_storm_of_renames_ends_on_the_last_version_with_nothing_torn() {
    let (dir, path) = setup(&version(0));
    let flags: Flags = Flags::builder(&path).watch(options()).build().unwrap();
    let events = flags.subscribe();
    let mut written = vec![Digest::of(version(0).as_bytes())];
    let start = Instant::now();
    // At least 2,000 renames and at least a second of them (several of the watcher's debounce
    // caps), so the watcher reads while the file is still being replaced on any machine.
    let mut i = 0;
    while i < 2000 || start.elapsed() < Duration::from_secs(1) {
        i += 1;
        let v = version(i);
        written.push(Digest::of(v.as_bytes()));
        let tmp = dir.path().join(format!("tmp.{i}"));
        std::fs::write(&tmp, &v).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    let took = start.elapsed();
    let last = *written.last().unwrap();
    wait_applied(&events, last, &written);
    assert_eq!(flags.sha256(), Some(last));
    // Nothing after the last version either.
    for e in drain(&events, Duration::from_millis(300)) {
        if let Event::Reload(Reload::Applied(c)) = e {
            assert_eq!(
                c.sha256, last,
                "an older version was published after the last"
            );
        }
    }
    eprintln!("{i} renames in {took:?}");
}
