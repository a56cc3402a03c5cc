//! `feature_enabled!`: a kill switch written to the file is seen as soon as its publication is
//! announced; a context change is seen at once; a time condition flips exactly at its instant,
//! a flag's own or a rule's segment's.
//! One call site given different flags answers for each. One test: the macro's flags and
//! context are process-wide.

mod support;

use std::time::Duration;

use support::PATIENCE;
use vexil::{Environment, EvaluationContext, Event, Flags, Reload, WatchOptions};

/// The flags; `timed` turns on at `after`, `timed_rule` by a rule at `rule_after`.
fn config(parallel: bool, after: &str, rule_after: &str) -> String {
    format!(
        "[features.parallel_validation]\nenabled = {parallel}\n\
         [features.canary_only]\nenabled = true\n[features.canary_only.targets]\nenvironments = [\"canary\"]\n\
         [features.timed]\nenabled = true\n[features.timed.conditions]\nafter = {after}\n\
         [segments.soon]\nconditions = {{ after = {rule_after} }}\n\
         [features.timed_rule]\nenabled = true\nrollout_percentage = 0\n\
         rules = [{{ segments = [\"soon\"], serve = true }}]\n"
    )
}

const FAR: &str = "2099-01-01T00:00:00Z";

fn parallel_validation() -> bool {
    vexil::feature_enabled!(0usize)
}

fn canary_only() -> bool {
    vexil::feature_enabled!(1usize)
}

fn timed() -> bool {
    vexil::feature_enabled!(2usize)
}

/// On by a rule whose segment has the time condition.
fn timed_rule() -> bool {
    vexil::feature_enabled!(3usize)
}

/// One call site for whichever flag it is given.
fn any(flag: usize) -> bool {
    vexil::feature_enabled!(flag)
}

mod shadowed {
    // A local module named like the crate must not break the macro.
    #[allow(dead_code)]
    mod vexil {}

    pub fn parallel_validation() -> bool {
        ::vexil::feature_enabled!(0usize)
    }
}

fn wait_applied(events: &std::sync::mpsc::Receiver<Event>) {
    loop {
        match events.recv_timeout(PATIENCE).expect("an event") {
            Event::Reload(Reload::Applied(_)) => return,
            Event::Reload(Reload::Rejected { problems, .. }) => panic!("{problems}"),
            _ => continue,
        }
    }
}

#[test]
fn the_macro_follows_publications_contexts_and_time() {
    assert!(!parallel_validation(), "false before anything is installed");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, config(true, FAR, FAR)).unwrap();
    let flags: Flags = Flags::builder(&path)
        .known(&["parallel_validation", "canary_only", "timed", "timed_rule"])
        .watch(WatchOptions {
            debounce: Duration::from_millis(10),
            poll_interval: Duration::from_secs(30),
            ..WatchOptions::default()
        })
        .build()
        .unwrap();
    let events = flags.subscribe();
    vexil::global::install(flags.clone()).unwrap();
    vexil::global::set_context(
        EvaluationContext::new("node-1").with_environment(Environment::Mainnet),
    );

    // Cached answers, repeatedly.
    for _ in 0..1000 {
        assert!(parallel_validation());
        assert!(shadowed::parallel_validation());
        assert!(!canary_only());
        assert!(!timed());
        assert!(!timed_rule());
    }
    // One site given different flags answers for the flag it is given, each time.
    for round in 0..1000 {
        assert!(any(0), "round {round}: parallel_validation");
        assert!(any(0), "round {round}: parallel_validation again");
        assert!(!any(1), "round {round}: canary_only");
        assert!(!any(1), "round {round}: canary_only again");
        assert!(!any(4), "round {round}: a flag the file does not define");
    }

    // The kill switch: written to the file, seen as soon as the reload is announced.
    std::fs::write(&path, config(false, FAR, FAR)).unwrap();
    wait_applied(&events);
    assert!(
        !parallel_validation(),
        "a cached answer outlived the kill switch"
    );
    assert!(!shadowed::parallel_validation());

    // A new process-wide context is seen at once.
    vexil::global::set_context(
        EvaluationContext::new("node-1").with_environment(Environment::Canary),
    );
    assert!(canary_only());
    vexil::global::set_context(
        EvaluationContext::new("node-1").with_environment(Environment::Testnet),
    );
    assert!(!canary_only());

    // A time condition flips at its instant: `after` half a second from now.
    // Whole microseconds, the precision of `after` and of the clock: a nanosecond instant
    // written out truncated would fall due up to a microsecond before the loop expects it.
    // A rule's segment's `after` a quarter of a second later is a boundary of its own.
    let micros = |ms: i64| {
        let t = chrono::Utc::now() + chrono::Duration::milliseconds(ms);
        chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
    };
    let (instant, rule_instant) = (micros(500), micros(750));
    let text =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::fs::write(&path, config(false, &text(instant), &text(rule_instant))).unwrap();
    wait_applied(&events);
    for (flag, at, name) in [
        (timed as fn() -> bool, instant, "timed"),
        (timed_rule, rule_instant, "timed_rule"),
    ] {
        let mut calls_before = 0u64;
        loop {
            let start = chrono::Utc::now();
            let on = flag();
            let end = chrono::Utc::now();
            if end < at {
                assert!(!on, "{name} on before its instant");
                calls_before += 1;
            }
            if start >= at {
                assert!(on, "{name} still off after its instant");
                break;
            }
        }
        assert!(calls_before > 0, "{name}");
    }
    // And it stays on, cached again once the boundary has passed.
    for _ in 0..1000 {
        assert!(timed());
        assert!(timed_rule());
    }
}
