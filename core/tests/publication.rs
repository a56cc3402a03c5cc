//! Publication: snapshots are one version, racing publishers get distinct generations.

mod common;

use vexil_core::{EvaluationContext, FlagTable, Reason};

fn version(i: u64) -> String {
    format!(
        "[features.f]\nenabled = {}\n[features.g{i}]\nenabled = true\n",
        i % 2 == 0
    )
}

#[test]
fn a_snapshot_is_one_version() {
    let table: FlagTable = FlagTable::new(&["f"]);
    let ctx = EvaluationContext::new("node-1");
    common::publish(&table, &version(0));
    let reader = table.reader();
    let snapshot = reader.snapshot();
    common::publish(&table, &version(1));
    common::publish(&table, &version(2));
    // The reader follows publications; the snapshot does not.
    assert_eq!(reader.generation(), 3);
    assert!(!snapshot.check_name("g1", &ctx));
    assert_eq!(
        snapshot.explain_name("g2", &ctx).reason,
        Reason::UnknownFlag
    );
    assert_eq!(snapshot.generation(), 1);
    assert!(snapshot.check(0usize, &ctx));
    assert!(reader.check_name("g2", &ctx));
}

#[test]
fn racing_publishers_get_distinct_generations() {
    let table: FlagTable = FlagTable::new(&["f"]);
    let per_thread = if cfg!(miri) { 3 } else { 200 };
    let generations: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let table = &table;
                s.spawn(move || {
                    let reader = table.reader();
                    let ctx = EvaluationContext::new("node-1");
                    (0..per_thread)
                        .map(|i| {
                            let g = common::publish(table, &version(t * 1000 + i));
                            // Readers never see the generation go backwards.
                            assert!(reader.generation() >= g.min(reader.generation()));
                            let _ = reader.check(0usize, &ctx);
                            g
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut sorted = generations.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        generations.len(),
        "a generation was handed out twice"
    );
    assert_eq!(table.generation(), 2 * per_thread);
    assert_eq!(table.snapshot().generation(), 2 * per_thread);
}

#[test]
fn an_arc_reader_lives_on_another_thread() {
    let table: std::sync::Arc<FlagTable> = std::sync::Arc::new(FlagTable::new(&["f"]));
    common::publish(&table, &version(0));
    let (to_reader, from_main) = std::sync::mpsc::channel::<u64>();
    let (to_main, from_reader) = std::sync::mpsc::channel::<bool>();
    let worker = {
        let table = std::sync::Arc::clone(&table);
        std::thread::spawn(move || {
            // 'static: the reader owns a reference to the table.
            let reader = table.arc_reader();
            drop(table);
            let ctx = EvaluationContext::new("node-1");
            while let Ok(generation) = from_main.recv() {
                assert_eq!(reader.generation(), generation);
                to_main.send(reader.check(0usize, &ctx)).unwrap();
            }
        })
    };
    for i in 0..4u64 {
        let generation = common::publish(&table, &version(i + 1));
        to_reader.send(generation).unwrap();
        assert_eq!(from_reader.recv().unwrap(), (i + 1) % 2 == 0);
    }
    drop(to_reader);
    worker.join().unwrap();
}

#[test]
fn a_readers_usage_shard_counts_its_answers() {
    let table: FlagTable = FlagTable::new(&["f"]);
    common::publish(&table, &version(0));
    let shard = vexil_core::usage::UsageShard::new(table.capacity());
    let reader = table.reader().with_usage(shard.clone());
    let ctx = EvaluationContext::new("node-1");
    for _ in 0..3 {
        assert!(reader.check(0usize, &ctx));
    }
    assert!(!reader.check_name("missing", &ctx));
    common::publish(&table, &version(1));
    assert!(!reader.check_name("f", &ctx));
    let mut last = Vec::new();
    let mut seen = Vec::new();
    shard.fold(&mut last, |slot, on, off| seen.push((slot, on, off)));
    assert_eq!(seen, [(0, 3, 1)]);
    // Folding again reports only growth.
    seen.clear();
    reader.check(0usize, &ctx);
    shard.fold(&mut last, |slot, on, off| seen.push((slot, on, off)));
    assert_eq!(seen, [(0, 0, 1)]);
}

#[test]
fn a_reader_counts_every_slot_of_its_capacity_and_nothing_past_it() {
    let table: FlagTable<8> = FlagTable::new(&["f"]);
    common::publish(&table, &version(0));
    let shard = vexil_core::usage::UsageShard::new(table.capacity());
    let reader = table.reader().with_usage(shard.clone());
    let ctx = EvaluationContext::new("node-1");
    // Slot 7 is the last of the capacity (an unknown flag, off); 8 and beyond are no slot.
    assert!(!reader.check(7usize, &ctx));
    assert!(!reader.check(8usize, &ctx));
    assert!(!reader.check(usize::MAX, &ctx));
    let mut seen = Vec::new();
    shard.fold(&mut Vec::new(), |slot, on, off| seen.push((slot, on, off)));
    assert_eq!(seen, [(7, 0, 1)]);
}

#[test]
#[should_panic(expected = "a usage shard of 4 slots for a table of capacity 8")]
fn a_shard_made_for_another_capacity_is_refused() {
    let table: FlagTable<8> = FlagTable::new(&["f"]);
    common::publish(&table, &version(0));
    let _ = table
        .reader()
        .with_usage(vexil_core::usage::UsageShard::new(4));
}

/// Version `v` of a configuration with one flag of every kind a check tells apart; each
/// version answers differently from the one before for some nodes.
fn every_kind(v: u64) -> String {
    let (on, half, listed, env) = match v % 2 {
        0 => (true, 50, r#""node-1", "node-3""#, "mainnet"),
        _ => (false, 25, r#""node-2", "node-4""#, "testnet"),
    };
    let height = 1000 + v;
    format!(
        r#"
[features.off]
enabled = {off}
[features.on]
enabled = {on}
[features.full]
enabled = true
rollout_percentage = 100
[features.half]
enabled = true
rollout_percentage = {half}
[features.listed]
enabled = true
[features.listed.targets]
node_ids = [{listed}]
[features.gated]
enabled = true
rollout_percentage = 50
[features.gated.targets]
environments = ["{env}"]
[features.gated.conditions]
chain_height = {height}
"#,
        off = !on
    )
}

#[test]
fn a_reader_answers_every_kind_from_the_version_after_a_publication() {
    let names = ["off", "on", "full", "half", "listed", "gated", "undefined"];
    // A small capacity: the test publishes five times, and Miri runs it.
    let table: FlagTable<16> = FlagTable::new(&names);
    // Nodes 1 to 4 are listed in some version, and 9 and 10 change bucket with `half`.
    let nodes = if cfg!(miri) { 12 } else { 40 };
    let contexts: Vec<EvaluationContext> = (0..nodes)
        .map(|i| {
            EvaluationContext::new(format!("node-{i}"))
                .with_environment(vexil_core::Environment::Mainnet)
                .with_chain_height(5_000)
        })
        .collect();
    let answers = |check: &dyn Fn(usize, &EvaluationContext) -> bool| -> Vec<Vec<bool>> {
        (0..names.len())
            .map(|slot| contexts.iter().map(|ctx| check(slot, ctx)).collect())
            .collect()
    };
    common::publish(&table, &every_kind(0));
    let reader = table.reader();
    let first = answers(&|slot, ctx| reader.check(slot, ctx));
    let held = reader.snapshot();
    let mut previous = first.clone();
    for v in 1..=4 {
        if v == 4 {
            // A quiesced reader starts from the idle table, whose kinds are all retired.
            reader.quiesce();
        }
        common::publish(&table, &every_kind(v));
        let now = answers(&|slot, ctx| reader.check(slot, ctx));
        let fresh = table.snapshot();
        assert_eq!(now, answers(&|slot, ctx| fresh.check(slot, ctx)), "v{v}");
        // Every flag but `full` and `undefined` changes some answer from one version to the
        // next, so an answer from the retired table would show.
        for (slot, name) in names.iter().enumerate() {
            let changed = now[slot] != previous[slot];
            assert_eq!(
                changed,
                !matches!(*name, "full" | "undefined"),
                "{name} in v{v}"
            );
        }
        // The snapshot still answers from the first version, retired kinds and all.
        assert_eq!(answers(&|slot, ctx| held.check(slot, ctx)), first, "v{v}");
        previous = now;
    }
}
