//! Metrics: names, labels and values after a known sequence of checks and reloads, read from
//! a debugging recorder installed for this thread only.

mod support;

use std::collections::HashMap;

use metrics_util::debugging::{DebuggingRecorder, Snapshotter};
use support::{invalid, read, version};
use vexil::{EvaluationContext, Flags};

/// Everything recorded so far, as `name{label=value,...}` -> value: counters and histogram
/// sample counts summed over snapshots (a debugging snapshot drains them), gauges as last set.
#[derive(Default)]
struct Totals(HashMap<String, f64>);

impl Totals {
    fn read(&mut self, snapshotter: &Snapshotter) -> &HashMap<String, f64> {
        for (name, (value, cumulative)) in read(snapshotter) {
            let slot = self.0.entry(name).or_insert(0.0);
            *slot = if cumulative { *slot + value } else { value };
        }
        &self.0
    }
}

#[test]
fn names_labels_and_values_after_checks_and_reloads() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut totals = Totals::default();
    let mut read = |s: &Snapshotter| totals.read(s).clone();
    metrics::with_local_recorder(&recorder, || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.toml");
        std::fs::write(&path, version(1)).unwrap();
        let flags: Flags = Flags::builder(&path).build().unwrap();
        let m = read(&snapshotter);
        assert_eq!(m["vexil_config_last_reload_successful"], 1.0);
        assert_eq!(m["vexil_config_generation"], 1.0);
        assert_eq!(m["vexil_flags_loaded"], 3.0);
        assert!(m["vexil_config_last_reload_success_timestamp_seconds"] > 1.7e9);

        std::fs::write(&path, invalid(0)).unwrap();
        flags.reload();
        let m = read(&snapshotter);
        assert_eq!(m["vexil_config_last_reload_successful"], 0.0);
        assert_eq!(m["vexil_reloads_total{result=rejected}"], 1.0);

        std::fs::write(&path, version(2)).unwrap();
        flags.reload();
        let ctx = EvaluationContext::new("node-1");
        for _ in 0..5 {
            assert!(flags.check_name("always", &ctx));
        }
        let reader = flags.reader();
        for _ in 0..3 {
            assert!(!reader.check_name("flag_on", &ctx));
        }
        flags.maintain();
        let m = read(&snapshotter);
        assert_eq!(m["vexil_config_last_reload_successful"], 1.0);
        assert_eq!(m["vexil_reloads_total{result=applied}"], 2.0);
        assert_eq!(m["vexil_reloads_total{result=rejected}"], 1.0);
        assert_eq!(m["vexil_config_generation"], 2.0);
        assert_eq!(m["vexil_checks_total{flag=always,result=true}"], 5.0);
        assert_eq!(m["vexil_checks_total{flag=flag_on,result=false}"], 3.0);
        assert!(!m.contains_key("vexil_checks_total{flag=flag_on,result=true}"));
        assert_eq!(
            m["vexil_reload_duration_seconds"], 3.0,
            "one sample per attempt"
        );

        // Folding again adds only what was counted since.
        reader.check_name("flag_on", &ctx);
        flags.maintain();
        assert_eq!(
            read(&snapshotter)["vexil_checks_total{flag=flag_on,result=false}"],
            4.0
        );

        // One `Flags::check` in SAMPLE_EVERY per thread is timed, through the recorder that
        // was installed when the flags were built.
        let timed = |m: &HashMap<String, f64>| {
            m.get("vexil_check_duration_seconds")
                .copied()
                .unwrap_or(0.0)
        };
        let before = timed(&read(&snapshotter));
        for _ in 0..2 * vexil::metrics::SAMPLE_EVERY {
            flags.check(0usize, &ctx);
        }
        assert_eq!(timed(&read(&snapshotter)) - before, 2.0);
    });
}

thread_local! {
    /// Flags that a thread-local's destructor checks, while its thread is torn down.
    static CHECKED_ON_DROP: std::cell::RefCell<Option<ChecksOnDrop>> =
        const { std::cell::RefCell::new(None) };
}

struct ChecksOnDrop(Flags);

impl Drop for ChecksOnDrop {
    fn drop(&mut self) {
        let ctx = EvaluationContext::new("node-1");
        for _ in 0..2 {
            assert!(self.0.check(0usize, &ctx));
        }
    }
}

#[test]
fn checks_made_while_a_thread_is_torn_down_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(1)).unwrap();
    let flags: Flags = Flags::builder(&path).known(&["flag_on"]).build().unwrap();
    let checked = flags.clone();
    std::thread::spawn(move || {
        // Registered before the per-thread shards of `Flags::check`, so torn down after them.
        CHECKED_ON_DROP.with(|c| *c.borrow_mut() = Some(ChecksOnDrop(checked.clone())));
        let ctx = EvaluationContext::new("node-1");
        for _ in 0..10 {
            assert!(checked.check(0usize, &ctx));
        }
    })
    .join()
    .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || flags.maintain());
    assert_eq!(
        read(&snapshotter)["vexil_checks_total{flag=flag_on,result=true}"].0,
        12.0
    );
}
