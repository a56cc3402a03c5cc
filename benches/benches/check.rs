//! The check beside its floor, in the same run (see BENCHMARKS.md for the table of ratios).
//!
//! * plain floor: one `AtomicU64` acquire load;
//! * rollout floor: that load plus a wyhash of the node id compared against a threshold.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use vexil::{EvaluationContext, FlagIndex};
use vexil_benches::{bench_table, FlagId};

const EXTRA: &str = r#"
[features.bench_half]
enabled = true
rollout_percentage = 50
"#;

fn checks(c: &mut Criterion) {
    let table = bench_table(EXTRA);
    let reader = table.reader();
    let ctx = EvaluationContext::new("node-4711");
    let half = reader.snapshot().index_of("bench_half").unwrap();
    let word = AtomicU64::new(1);
    let node_id = String::from("node-4711");
    let threshold = u64::MAX / 2;

    let mut g = c.benchmark_group("check");
    g.bench_function("floor_plain_atomic_load", |b| {
        b.iter(|| black_box(&word).load(Ordering::Acquire) != 0)
    });
    g.bench_function("plain_on", |b| {
        b.iter(|| reader.check(black_box(FlagId::ParallelValidation), black_box(&ctx)))
    });
    g.bench_function("disabled", |b| {
        b.iter(|| reader.check(black_box(FlagId::GovernanceIntegration), black_box(&ctx)))
    });
    g.bench_function("floor_rollout_load_wyhash_compare", |b| {
        b.iter(|| {
            let salt = black_box(&word).load(Ordering::Acquire);
            wyhash::final3::wyhash(
                black_box(node_id.as_bytes()),
                salt,
                vexil::bucketing::SECRET,
            ) < threshold
        })
    });
    g.bench_function("rollout_50", |b| {
        b.iter(|| reader.check(black_box(half), black_box(&ctx)))
    });
    let snapshot = reader.snapshot();
    g.bench_function("rollout_50_held_snapshot", |b| {
        b.iter(|| snapshot.check(black_box(half), black_box(&ctx)))
    });
    drop(snapshot);
    g.bench_function("check_name", |b| {
        b.iter(|| reader.check_name(black_box("bench_half"), black_box(&ctx)))
    });
    g.bench_function("explain_rollout_50", |b| {
        b.iter(|| reader.explain(black_box(half), black_box(&ctx)))
    });
    g.bench_function("complex_validator_batching", |b| {
        b.iter(|| {
            reader.check(
                black_box(FlagIndex(FlagId::ValidatorBatching as u32)),
                black_box(&ctx),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, checks);
criterion_main!(benches);
