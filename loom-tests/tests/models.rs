//! Loom models: `RUSTFLAGS="--cfg vexil_loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=2
//! cargo test --release -p vexil-loom-tests` (or `make loom`).
#![cfg(vexil_loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use vexil_core::callsite::{CallSite, Epoch};
use vexil_core::model::{Config, FeatureFlag};
use vexil_core::usage::UsageShard;
use vexil_core::{EvaluationContext, FlagTable};

type Table = FlagTable<4>;

fn publish<const N: usize>(table: &FlagTable<N>, on: bool) -> u64 {
    let mut config = Config::default();
    config.features.insert("f".into(), FeatureFlag::new(on));
    table.publish(table.compile(&config).unwrap().table)
}

/// Model 1 (broken variant: `relaxed_publish`): a publication races a reader. The reader sees
/// the old or the new table, whole: the answer matches the generation it came with, and the
/// table's contents were released before the pointer (a probe cell checks it).
#[test]
fn a_publication_races_a_reader() {
    loom::model(|| {
        let table = Arc::new(Table::new(&["f"]));
        publish(&table, true);
        let t = Arc::clone(&table);
        let reader = thread::spawn(move || {
            let r = t.reader();
            let ctx = EvaluationContext::new("n");
            // Twice: the second load comes after the reader's pin, with no fence between, so
            // only the publication's own ordering can make the new table's contents visible.
            let mut seen = 0;
            for _ in 0..2 {
                let e = r.explain(0usize, &ctx);
                assert_eq!(e.enabled, e.generation == 1, "{e:?}");
                assert!(e.generation >= seen);
                seen = e.generation;
            }
            seen
        });
        assert_eq!(publish(&table, false), 2);
        let seen = reader.join().unwrap();
        assert!(seen == 1 || seen == 2);
    });
}

/// Model 2 (broken variant: `free_before_unpin`): two publications while a reader stays pinned
/// across them (holding a snapshot), then reclamation. The pinned version is not freed under
/// it and stays one version; afterwards the reader moves on, and dropping the table frees
/// everything.
#[test]
fn two_publications_while_a_reader_stays_pinned() {
    loom::model(|| {
        let table = Arc::new(Table::new(&["f"]));
        publish(&table, true);
        let t = Arc::clone(&table);
        let reader = thread::spawn(move || {
            let r = t.reader();
            let ctx = EvaluationContext::new("n");
            let snapshot = r.snapshot();
            let first = snapshot.explain(0usize, &ctx);
            let again = snapshot.explain(0usize, &ctx);
            assert_eq!(first, again, "a snapshot is one version");
            drop(snapshot);
            let later = r.explain(0usize, &ctx);
            assert!(later.generation >= first.generation);
            for e in [first, later] {
                assert_eq!(e.enabled, e.generation % 2 == 1, "{e:?}");
            }
        });
        publish(&table, false);
        publish(&table, true);
        table.collect();
        reader.join().unwrap();
        table.collect();
    });
}

/// Model 3 (broken variant: `epoch_after_compute`): the `feature_enabled!` call-site cache
/// against a publication. A cached answer is never tagged with an epoch newer than the table
/// it was computed from.
#[test]
fn a_call_site_never_pairs_an_old_answer_with_a_new_epoch() {
    loom::model(|| {
        let epoch = Arc::new(Epoch::new());
        epoch.invalidate();
        let answer = Arc::new(AtomicBool::new(false));
        let site = Arc::new(CallSite::new());
        let checker = {
            let (epoch, answer, site) =
                (Arc::clone(&epoch), Arc::clone(&answer), Arc::clone(&site));
            thread::spawn(move || site.check(&epoch, 0, || answer.load(Ordering::Acquire)))
        };
        // The publication: the new answer, then the epoch.
        answer.store(true, Ordering::Release);
        epoch.invalidate();
        checker.join().unwrap();
        let (tagged, _, cached) = site.cached();
        if tagged == epoch.load() {
            assert!(cached, "an old answer was cached under the new epoch");
        }
        // And the next call answers from the new version.
        assert!(site.check(&epoch, 0, || answer.load(Ordering::Acquire)));
    });
}

/// Model 4 (broken variant: `fold_resets`): usage counters folded while checks run. The owner
/// counts twice while the folder folds; no count is lost or counted twice.
#[test]
fn usage_counts_survive_folding_while_checks_run() {
    loom::model(|| {
        let shard = UsageShard::new(1);
        let owner = {
            let shard = shard.clone();
            thread::spawn(move || {
                shard.count(0, true);
                shard.count(0, true);
            })
        };
        let mut last = Vec::new();
        let mut total = 0;
        shard.fold(&mut last, |_, on, _| total += on);
        owner.join().unwrap();
        shard.fold(&mut last, |_, on, _| total += on);
        assert_eq!(total, 2);
    });
}

/// Model 5 (broken variant: `unmarked_retirement`): a reader's check does not load the shared
/// pointer; it learns of a publication from the retired mark on the kind byte it reads. A
/// check that starts after the publication has returned answers from the new table, and one
/// that races it answers from the old or the new table, whole (the probe checks that the table
/// it reads is alive and was released before it was published).
#[test]
fn a_check_after_a_publication_answers_from_the_new_table() {
    loom::model(|| {
        let table = Arc::new(Table::new(&["f"]));
        publish(&table, true);
        let published = Arc::new(AtomicBool::new(false));
        let (t, p) = (Arc::clone(&table), Arc::clone(&published));
        let reader = thread::spawn(move || {
            let r = t.reader();
            let ctx = EvaluationContext::new("n");
            let _racing = r.check(0usize, &ctx);
            if p.load(Ordering::Acquire) {
                assert!(!r.check(0usize, &ctx), "an answer from the retired table");
            }
            // And once more after quiescing: the idle table sends the check to re-pin.
            r.quiesce();
            if p.load(Ordering::Acquire) {
                assert!(
                    !r.check(0usize, &ctx),
                    "an answer from before the publication"
                );
            }
        });
        publish(&table, false);
        published.store(true, Ordering::Release);
        reader.join().unwrap();
    });
}

/// Model 6 (broken variant: `mark_after_swap`): two publications race while a reader holds
/// the first table. Once one of them has returned, every table older than the one it
/// installed is marked, so the reader answers from that table or a later one, never from the
/// table both replaced (the only one with the flag on). Capacity 1 and the reader on the main
/// thread, pinned before the publishers start, keep the model small.
#[test]
fn racing_publications_leave_no_older_table_unmarked() {
    loom::model(|| {
        let table = Arc::new(FlagTable::<1>::new(&["f"]));
        publish(&table, true);
        let reader = table.reader();
        let racer = || {
            let t = Arc::clone(&table);
            thread::spawn(move || publish(&t, false))
        };
        let (first, second) = (racer(), racer());
        first.join().unwrap();
        let on = reader.check(0usize, &EvaluationContext::new("n"));
        assert!(
            !on,
            "an answer from a table that a returned publication replaced"
        );
        second.join().unwrap();
    });
}
