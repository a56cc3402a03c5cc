//! `feature_enabled!` answers are counted in `vexil_checks_total` whether they were cached or
//! evaluated, on every thread, including checks made by a thread-local's destructor while its
//! thread is torn down. One test: the macro's flags are process-wide.

mod support;

use metrics_util::debugging::DebuggingRecorder;
use vexil::{EvaluationContext, Flags};

const CONFIG: &str = "[features.parallel_validation]\nenabled = true\n\
                      [features.governance]\nenabled = false\n";

fn parallel_validation() -> bool {
    vexil::feature_enabled!(0usize)
}

fn governance() -> bool {
    vexil::feature_enabled!(1usize)
}

/// Checks a flag from its destructor, which runs while its thread's thread-locals are torn
/// down: after the macro's own thread-local shard is gone if it was made after this one.
struct ChecksOnDrop;

impl Drop for ChecksOnDrop {
    fn drop(&mut self) {
        for _ in 0..3 {
            assert!(parallel_validation());
        }
    }
}

thread_local! {
    static CHECKS_ON_DROP: ChecksOnDrop = const { ChecksOnDrop };
}

#[test]
fn cached_and_evaluated_answers_are_counted_on_every_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let flags: Flags = Flags::builder(&path)
        .known(&["parallel_validation", "governance"])
        .build()
        .unwrap();
    vexil::global::install(flags.clone()).unwrap();
    vexil::global::set_context(EvaluationContext::new("node-1"));

    // The first call of each site evaluates, the rest are served from its cache.
    for _ in 0..1000 {
        assert!(parallel_validation());
    }
    for _ in 0..500 {
        assert!(!governance());
    }
    // Two threads one after the other: the second takes over the first one's shard.
    for _ in 0..2 {
        std::thread::spawn(|| {
            // Registered before the macro's shard, so torn down after it.
            CHECKS_ON_DROP.with(|_| {});
            for _ in 0..200 {
                assert!(parallel_validation());
            }
        })
        .join()
        .unwrap();
    }

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || flags.maintain());
    let m = support::read(&snapshotter);
    let count = |key: &str| m.get(key).map_or(0.0, |v| v.0);
    assert_eq!(
        count("vexil_checks_total{flag=parallel_validation,result=true}"),
        1406.0
    );
    assert_eq!(
        count("vexil_checks_total{flag=governance,result=false}"),
        500.0
    );
    assert_eq!(
        count("vexil_checks_total{flag=parallel_validation,result=false}"),
        0.0
    );
    assert_eq!(
        count("vexil_checks_total{flag=governance,result=true}"),
        0.0
    );
}
