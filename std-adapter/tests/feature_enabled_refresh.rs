//! A `feature_enabled!` call that evaluates (here every call: the call-site caches are off, as
//! inside the window around a time boundary) allocates nothing and does not wait for the
//! process-wide context's lock once its thread holds a copy of the current context; a new
//! context is still seen at once. One test: the macro's flags and context are process-wide.

mod support;

use std::sync::mpsc;

use support::PATIENCE;
use vexil::{Environment, EvaluationContext, Flags};

const CONFIG: &str = "[features.parallel_validation]\nenabled = true\n\
                      [features.canary_only]\nenabled = true\n\
                      [features.canary_only.targets]\nenvironments = [\"canary\"]\n";

/// One call site for whichever flag it is given.
fn any(flag: usize) -> bool {
    vexil::feature_enabled!(flag)
}

/// Both flags through the one site: whether every answer was right.
fn alternate(rounds: usize, canary: bool) -> bool {
    (0..rounds).all(|_| any(0) && any(1) == canary)
}

#[test]
fn evaluations_take_no_lock_and_allocate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let flags: Flags = Flags::builder(&path)
        .known(&["parallel_validation", "canary_only"])
        .build()
        .unwrap();
    vexil::global::install(flags).unwrap();
    vexil::__private::set_caching(false);
    vexil::global::set_context(
        EvaluationContext::new("node-1").with_environment(Environment::Mainnet),
    );

    // This thread's first calls take its copy of the context (and its usage shard).
    assert!(alternate(10, false));
    let info = allocation_counter::measure(|| assert!(alternate(1000, false)));
    assert_eq!(info.count_total, 0, "an evaluation allocated");
    // (The counter counts: one box is one allocation.)
    let boxed = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1))));
    assert_eq!(boxed.count_total, 1);

    // Another thread evaluates while the context's lock is held, as by `set_context`.
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let checker = std::thread::spawn(move || {
        assert!(alternate(10, false));
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        done_tx.send(alternate(1000, false)).unwrap();
    });
    ready_rx.recv_timeout(PATIENCE).unwrap();
    let held = vexil::__private::hold_context_lock();
    go_tx.send(()).unwrap();
    let answered = done_rx.recv_timeout(PATIENCE);
    drop(held);
    assert_eq!(
        answered,
        Ok(true),
        "an evaluation waited for the context's lock"
    );
    checker.join().unwrap();

    // A new context is seen at once, through the copy's version.
    vexil::global::set_context(
        EvaluationContext::new("node-1").with_environment(Environment::Canary),
    );
    assert!(alternate(10, true));
    vexil::global::set_context(
        EvaluationContext::new("node-1").with_environment(Environment::Testnet),
    );
    assert!(alternate(10, false));
}
