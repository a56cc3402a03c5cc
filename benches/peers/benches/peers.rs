//! Vexil against the peers, same flags, same run (see BENCHMARKS.md).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use launchdarkly_server_sdk_evaluation as ld;
use vexil::{EvaluationContext, FlagTable};
use vexil_peer_benches::*;

const NODE: &str = "node-4711";

fn peers(c: &mut Criterion) {
    let config = vexil::validate::parse_config(&vexil_toml(), "peers.toml").unwrap();
    let table: FlagTable = FlagTable::new(&["plain", "rollout50", "targets100"]);
    table.publish(table.compile(&config).unwrap().table);
    let shard = vexil::usage::UsageShard::new(table.capacity());
    let reader = table.reader().with_usage(shard);
    let ctx = EvaluationContext::new(NODE);

    let ygg = yggdrasil();
    let ygg_ctx = unleash_types::client_features::Context {
        user_id: Some(NODE.to_owned()),
        ..Default::default()
    };
    let (ld_plain, ld_rollout, ld_targets) = launchdarkly();
    let ld_ctx = ld::ContextBuilder::new(NODE).build().unwrap();
    let store = EmptyStore;

    // The engines must agree before they are timed.
    for (i, name) in ["plain", "rollout50", "targets100"].iter().enumerate() {
        let v = reader.check(i, &ctx);
        let y = ygg.is_enabled(name, &ygg_ctx, &None);
        assert_eq!(v, y, "{name}: vexil {v}, yggdrasil {y}");
    }
    assert_eq!(
        ld::evaluate(&store, &ld_targets, &ld_ctx, None).value,
        Some(&ld::FlagValue::Bool(false))
    );

    let mut g = c.benchmark_group("peers");
    g.bench_function("plain/vexil", |b| b.iter(|| reader.check(black_box(0usize), black_box(&ctx))));
    g.bench_function("plain/yggdrasil", |b| {
        b.iter(|| ygg.is_enabled(black_box("plain"), black_box(&ygg_ctx), &None))
    });
    g.bench_function("plain/launchdarkly", |b| {
        b.iter(|| ld::evaluate(&store, black_box(&ld_plain), black_box(&ld_ctx), None).value.cloned())
    });
    g.bench_function("rollout50/vexil", |b| b.iter(|| reader.check(black_box(1usize), black_box(&ctx))));
    g.bench_function("rollout50/yggdrasil", |b| {
        b.iter(|| ygg.is_enabled(black_box("rollout50"), black_box(&ygg_ctx), &None))
    });
    g.bench_function("rollout50/launchdarkly", |b| {
        b.iter(|| ld::evaluate(&store, black_box(&ld_rollout), black_box(&ld_ctx), None).value.cloned())
    });
    g.bench_function("targets100/vexil", |b| b.iter(|| reader.check(black_box(2usize), black_box(&ctx))));
    g.bench_function("targets100/yggdrasil", |b| {
        b.iter(|| ygg.is_enabled(black_box("targets100"), black_box(&ygg_ctx), &None))
    });
    g.bench_function("targets100/launchdarkly", |b| {
        b.iter(|| ld::evaluate(&store, black_box(&ld_targets), black_box(&ld_ctx), None).value.cloned())
    });
    g.finish();
}

criterion_group!(benches, peers);
criterion_main!(benches);
