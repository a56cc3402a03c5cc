//! A check of the checker: loom reports an unsynchronized read and write of a cell even when
//! both threads pass SeqCst fences (the kind crossbeam-epoch's pins use), which is what the
//! tables' probes rely on.
#![cfg(vexil_loom)]
use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

#[test]
#[should_panic]
fn plain_race_is_caught() {
    loom::model(|| {
        let c = Arc::new(UnsafeCell::new(0u64));
        let c2 = Arc::clone(&c);
        // SAFETY: loom's cell pointers; the race is the point of the test.
        let t = thread::spawn(move || c2.with(|p| unsafe { *p }));
        // SAFETY: as above.
        c.with_mut(|p| unsafe { *p = 1 });
        t.join().unwrap();
    });
}

#[test]
#[should_panic]
fn race_with_seqcst_fences_is_caught() {
    loom::model(|| {
        let c = Arc::new(UnsafeCell::new(0u64));
        let a = Arc::new(AtomicUsize::new(0));
        let (c2, a2) = (Arc::clone(&c), Arc::clone(&a));
        let t = thread::spawn(move || {
            a2.store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            // SAFETY: as above.
            c2.with(|p| unsafe { *p })
        });
        a.store(2, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // SAFETY: as above.
        c.with_mut(|p| unsafe { *p = 1 });
        t.join().unwrap();
    });
}
