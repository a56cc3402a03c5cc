//! Every check case beside its floor, measured in the same run (ratios in BENCHMARKS.md).
//! Checks go through `Flags::reader()`, so usage counting is on.
//!
//! When it ends it prints every case's ratio to its floor, both from this process
//! ([`vexil_benches::report`]).
//!
//! Floors:
//! * plain: one `AtomicU64` acquire load;
//! * rollout: that load, a wyhash of the node id and a compare against a threshold;
//! * targets: a wyhash of the node id and a binary search in 100 sorted hashes;
//! * condition + rollout: the rollout floor plus one more load and compare;
//! * rules, the third matching: a load, a wyhash of the node id, and what the three rules must
//!   at least test: an environment mask (miss), a binary search in 100 sorted hashes (miss), an
//!   environment mask and a binary search in another 100 (hit).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, Criterion};
use vexil::{EvaluationContext, FlagKey};
use vexil_benches::{bench_flags, FlagId};
use vexil_core::bucketing::SECRET;

fn checks(c: &mut Criterion) {
    let (flags, _dir) = bench_flags();
    let reader = flags.reader();
    let s = reader.snapshot();
    let idx = |n: &str| s.index_of(n).unwrap();
    let (half, targets, conditions, prereq, rules) = (
        idx("bench_half"),
        idx("bench_targets"),
        idx("bench_conditions"),
        idx("bench_prereq_a"),
        idx("bench_rules"),
    );
    let typed = idx("bench_typed");
    drop(s);
    let ctx = EvaluationContext::new("node-4711")
        .with_environment(vexil::Environment::Mainnet)
        .with_chain_height(5_000)
        .with_attribute("client_version", "2.3.0");
    // Every case checks the answer it is supposed to be timing.
    assert!(reader.check(FlagId::ParallelValidation, &ctx));
    assert!(!reader.check(FlagId::GovernanceIntegration, &ctx));
    assert!(!reader.check(targets, &ctx));
    assert_eq!(reader.explain(prereq, &ctx).reason, vexil::Reason::Enabled);
    assert!(matches!(
        reader.explain(conditions, &ctx).reason,
        vexil::Reason::RolloutIncluded | vexil::Reason::RolloutExcluded
    ));
    assert_eq!(reader.integer(typed, &ctx, 0).value, 50);
    let third = reader.explain(rules, &ctx);
    assert_eq!(
        (third.enabled, third.detail),
        (true, vexil::Detail::Rule(2))
    );

    let word = AtomicU64::new(1);
    let second = AtomicU64::new(5_000);
    let node_id = String::from("node-4711");
    let threshold = u64::MAX / 2;
    let mut sorted: Vec<u64> = (0..100u64)
        .map(|i| wyhash::final3::wyhash(format!("validator-{i:03}").as_bytes(), 1, SECRET))
        .collect();
    sorted.sort_unstable();
    let mut others: Vec<u64> = (0..100u64)
        .map(|i| wyhash::final3::wyhash(format!("observer-{i:03}").as_bytes(), 1, SECRET))
        .collect();
    others.sort_unstable();
    let mut with_node = sorted.clone();
    with_node[99] = wyhash::final3::wyhash(node_id.as_bytes(), 1, SECRET);
    with_node.sort_unstable();
    let environment = 1u8 << 2;

    let mut g = c.benchmark_group("check");
    g.bench_function("floor_plain", |b| {
        b.iter(|| black_box(&word).load(Ordering::Acquire) != 0)
    });
    g.bench_function("floor_rollout", |b| {
        b.iter(|| {
            let salt = black_box(&word).load(Ordering::Acquire);
            wyhash::final3::wyhash(black_box(node_id.as_bytes()), salt, SECRET) < threshold
        })
    });
    g.bench_function("floor_targets", |b| {
        b.iter(|| {
            let h = wyhash::final3::wyhash(black_box(node_id.as_bytes()), 1, SECRET);
            black_box(&sorted).binary_search(&h).is_ok()
        })
    });
    g.bench_function("floor_condition_rollout", |b| {
        b.iter(|| {
            let salt = black_box(&word).load(Ordering::Acquire);
            black_box(&second).load(Ordering::Acquire) >= 1000
                && wyhash::final3::wyhash(black_box(node_id.as_bytes()), salt, SECRET) < threshold
        })
    });
    g.bench_function("floor_rules_third", |b| {
        b.iter(|| {
            let on = black_box(&word).load(Ordering::Acquire) != 0;
            let h = wyhash::final3::wyhash(black_box(node_id.as_bytes()), 1, SECRET);
            let env = black_box(environment);
            on && env & 0b1000 == 0
                && black_box(&others).binary_search(&h).is_err()
                && env & 0b0100 != 0
                && black_box(&with_node).binary_search(&h).is_ok()
        })
    });

    // Not a floor: what every check case pays around the check (two black-boxed inputs, the
    // flag and the context, and the black-boxed answer; the floors pass one input).
    g.bench_function("harness_two_inputs", |b| {
        b.iter(|| {
            let (flag, ctx) = (black_box(FlagId::ParallelValidation), black_box(&ctx));
            flag.index() != core::ptr::from_ref(ctx) as usize
        })
    });
    // Not a floor either: one usage count alone (a relaxed load and store of the same counter
    // each time, as a loop of checks of one flag makes it), for what counting can cost at least.
    let counter = std::sync::atomic::AtomicUsize::new(0);
    g.bench_function("count_alone", |b| {
        b.iter(|| {
            let c = black_box(&counter);
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        })
    });
    g.bench_function("plain_on", |b| {
        b.iter(|| reader.check(black_box(FlagId::ParallelValidation), black_box(&ctx)))
    });
    // The call as generated code makes it: the flag is a constant, only the context is an
    // input (one black-boxed input, as in the floor). Not the target row.
    g.bench_function("plain_on_constant_flag", |b| {
        b.iter(|| reader.check(FlagId::ParallelValidation, black_box(&ctx)))
    });
    // The same check without usage counting: what counting costs, in the same run.
    let uncounted_table = vexil_benches::bench_table();
    let uncounted = uncounted_table.reader();
    g.bench_function("plain_on_without_usage_counting", |b| {
        b.iter(|| uncounted.check(black_box(FlagId::ParallelValidation), black_box(&ctx)))
    });
    g.bench_function("disabled", |b| {
        b.iter(|| reader.check(black_box(FlagId::GovernanceIntegration), black_box(&ctx)))
    });
    g.bench_function("rollout_50", |b| {
        b.iter(|| reader.check(black_box(half), black_box(&ctx)))
    });
    g.bench_function("targets_100_miss", |b| {
        b.iter(|| reader.check(black_box(targets), black_box(&ctx)))
    });
    g.bench_function("targets_100_miss_without_usage_counting", |b| {
        b.iter(|| uncounted.check(black_box(targets), black_box(&ctx)))
    });
    g.bench_function("rollout_50_without_usage_counting", |b| {
        b.iter(|| uncounted.check(black_box(half), black_box(&ctx)))
    });
    g.bench_function("conditions_custom_rollout", |b| {
        b.iter(|| reader.check(black_box(conditions), black_box(&ctx)))
    });
    g.bench_function("conditions_custom_rollout_without_usage_counting", |b| {
        b.iter(|| uncounted.check(black_box(conditions), black_box(&ctx)))
    });
    g.bench_function("prerequisites_3_deep", |b| {
        b.iter(|| reader.check(black_box(prereq), black_box(&ctx)))
    });
    g.bench_function("rules_third_match", |b| {
        b.iter(|| reader.check(black_box(rules), black_box(&ctx)))
    });
    // The typed target's comparison is the plain boolean check (`plain_on`), same run.
    g.bench_function("typed_integer_plain", |b| {
        b.iter(|| reader.integer(black_box(typed), black_box(&ctx), 0).value)
    });
    g.bench_function("check_name", |b| {
        b.iter(|| reader.check_name(black_box("bench_half"), black_box(&ctx)))
    });
    g.bench_function("explain_rollout_50", |b| {
        b.iter(|| reader.explain(black_box(half), black_box(&ctx)))
    });
    let snapshot = reader.snapshot();
    g.bench_function("held_snapshot_rollout_50", |b| {
        b.iter(|| snapshot.check(black_box(half), black_box(&ctx)))
    });
    drop(snapshot);

    vexil::global::install(flags.clone()).expect("installed once");
    vexil::global::set_context(ctx.clone());
    assert!(vexil::feature_enabled!(FlagId::ParallelValidation));
    g.bench_function("feature_enabled_cached", |b| {
        b.iter(|| vexil::feature_enabled!(black_box(FlagId::ParallelValidation)))
    });
    // As it is written at a call site: the flag's slot folds into the cached word's compare.
    g.bench_function("feature_enabled_cached_constant_flag", |b| {
        b.iter(|| vexil::feature_enabled!(FlagId::ParallelValidation))
    });
    // With the call-site caches off, as inside the window around a time boundary: every call
    // evaluates against the process-wide context.
    vexil::__private::set_caching(false);
    g.bench_function("feature_enabled_caching_off", |b| {
        b.iter(|| vexil::feature_enabled!(black_box(FlagId::ParallelValidation)))
    });
    vexil::__private::set_caching(true);
    g.bench_function("flags_check_pinned_per_call", |b| {
        b.iter(|| flags.check(black_box(FlagId::ParallelValidation), black_box(&ctx)))
    });
    g.finish();
}

fn reload(c: &mut Criterion) {
    let mut g = c.benchmark_group("reload");
    for (name, text) in [
        ("bundled", vexil_benches::bench_config_text()),
        ("generated_1000", vexil_benches::generated_config(1000)),
        (
            "rules_1000_flags_5_rules_20_segments",
            vexil_benches::generated_rules_config(1000),
        ),
    ] {
        let table: vexil_core::FlagTable = vexil_core::FlagTable::new(&[]);
        g.bench_function(format!("parse_validate_compile_publish/{name}"), |b| {
            b.iter(|| {
                let v = vexil::validate::validate_bytes::<{ vexil::DEFAULT_CAPACITY }>(
                    black_box(text.as_bytes()),
                    "bench.toml",
                    &[],
                    &vexil::validate::Limits::default(),
                )
                .expect("valid");
                table.publish(v.table)
            })
        });
    }
    // Compilation alone (the parsed configuration in hand), for the compile target.
    let rules =
        vexil::validate::parse_config(&vexil_benches::generated_rules_config(1000), "rules.toml")
            .expect("parses");
    let table: vexil_core::FlagTable = vexil_core::FlagTable::new(&[]);
    g.bench_function("compile/rules_1000_flags_5_rules_20_segments", |b| {
        b.iter(|| table.compile(black_box(&rules)).expect("compiles"))
    });
    g.finish();
}

criterion_group!(benches, checks, reload);

/// `criterion_main!`, then the ratio table of the check cases this process measured.
fn main() {
    let started = std::time::SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    let dir = vexil_benches::report::criterion_dir().join("check");
    match vexil_benches::report::medians(&dir, started) {
        Ok(medians) if medians.is_empty() => {}
        Ok(medians) => println!(
            "\nRatios to the floors measured in this run ({}):\n\n{}",
            dir.display(),
            vexil_benches::report::ratio_table(vexil_benches::report::CHECK_CASES, &medians)
        ),
        Err(e) => eprintln!("no ratio table: {e}"),
    }
}
