//! The hot path allocates nothing: `check`, `check_name`, `explain` (through a reader and a
//! snapshot, on plain, rollout and complex flags, flags with rules, and across a publication)
//! are run under a counting global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;

use vexil_core::{Detail, Environment, Evaluation, EvaluationContext, FlagTable, Reason};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialized thread-local
// `Cell` without a destructor, so touching it never allocates or recurses.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = f();
    (r, ALLOCATIONS.with(Cell::get) - before)
}

const EXTRA: &str = r#"
[features.semver_gate]
enabled = true
rollout_percentage = 99.9999
requires = ["parallel_validation"]
[features.semver_gate.conditions]
custom = [
  { attribute = "client_version", operator = "semver_gte", value = "2.1.0-beta.1+build" },
  { attribute = "load", operator = "lt", value = 0.75 },
  { attribute = "region", operator = "not_in", values = ["us-east"] },
]
[features.semver_gate.targets]
node_ids = ["node-a-rather-long-node-identifier-0001", "node-2"]
ip_ranges = ["10.0.0.0/8", "2001:db8::/32"]
environments = ["mainnet"]
"#;

/// Flags with rules. The segment's node list has 100 ids (the context's among them), so its
/// set is a real one, not a short list.
fn ruled() -> String {
    let mut nodes: Vec<String> = (0..99).map(|i| format!("\"node-{i:03}\"")).collect();
    nodes.push("\"node-a-rather-long-node-identifier-0001\"".to_owned());
    format!(
        r#"
[segments.alloc_early]
targets = {{ environments = ["mainnet", "canary"], node_ids = [{}] }}

# Rules 0 and 1 miss; rule 2 (the segment and a condition) matches and serves true.
[features.rule_third]
enabled = true
rollout_percentage = 0
rules = [
  {{ targets = {{ validator_keys = ["0xdef"] }}, serve = false }},
  {{ segments = ["canaries"], serve = false }},
  {{ segments = ["alloc_early"], conditions = {{ chain_height = 1000 }}, serve = true }},
]

# A rule's rollout.
[features.rule_split]
enabled = true
rollout_percentage = 50
rules = [{{ segments = ["alloc_early"], rollout_percentage = 50 }}]

# No rule matches (the second's segment does, its own node list does not): the fallthrough.
[features.rule_fallthrough]
enabled = true
rollout_percentage = 50
rules = [
  {{ targets = {{ environments = ["testnet"] }}, serve = true }},
  {{ segments = ["alloc_early"], targets = {{ node_ids = ["node-2"] }}, serve = true }},
]
"#,
        nodes.join(", ")
    )
}

#[test]
fn checks_do_not_allocate() {
    let text = format!("{}\n{EXTRA}\n{}", common::bundled(), ruled());
    let table: FlagTable = FlagTable::new(&["parallel_validation", "semver_gate", "missing"]);
    common::publish(&table, &text);
    let names: Vec<String> = table
        .snapshot()
        .flags()
        .map(|(_, n, _)| n.to_owned())
        .collect();
    let mut ctx = EvaluationContext::new("node-a-rather-long-node-identifier-0001")
        .with_environment(Environment::Mainnet)
        .with_chain_height(2_000_000)
        .with_sync_progress(1.0)
        .with_validator_key("0xabc")
        .with_ip_address("::ffff:10.9.8.7".parse::<IpAddr>().unwrap())
        .with_attribute("client_version", "2.1.0-beta.2.with.a.long.prerelease")
        .with_attribute("load", "0.5")
        .with_attribute("region", "eu-west");
    ctx.set_now_micros(common::micros("2025-01-01T00:00:00Z"));

    let reader = table.reader();
    let snapshot = table.snapshot();
    let ruled =
        ["rule_third", "rule_split", "rule_fallthrough"].map(|n| snapshot.index_of(n).unwrap());
    // Three rounds of three explains, pushed without growing.
    let mut rules: Vec<Evaluation> = Vec::with_capacity(9);
    let mut on = 0;
    let ((), count) = allocations(|| {
        for round in 0..3 {
            for (i, name) in names.iter().enumerate() {
                on += reader.check(i, &ctx) as usize;
                on += reader.check_name(name, &ctx) as usize;
                let e = reader.explain(i, &ctx);
                on += e.enabled as usize;
                let e = reader.explain_name(name, &ctx);
                on += e.enabled as usize;
                let s = reader.snapshot();
                on += s.check(i, &ctx) as usize + s.explain(i, &ctx).enabled as usize;
                on += usize::from(s.variant("compact_relay_ab", &ctx).is_some());
            }
            on += reader.check_name("no_such_flag", &ctx) as usize;
            for &i in &ruled {
                on += reader.check(i, &ctx) as usize;
                let e = reader.explain(i, &ctx);
                assert_eq!(
                    snapshot.explain(i, &ctx),
                    e,
                    "round {round}: snapshot and reader"
                );
                rules.push(e);
            }
            assert!(
                reader.check(1usize, &ctx),
                "round {round}: the complex flag is on"
            );
        }
    });
    assert_eq!(count, 0, "the hot path allocated {count} times");
    assert!(on > 0);
    // The counted section took the rule paths: a third rule's match, a rule's rollout, the
    // fallthrough after two rules.
    let reasons: Vec<(Reason, Detail)> = rules.iter().map(|e| (e.reason, e.detail)).collect();
    let fallthrough = if rules[2].enabled {
        Reason::RolloutIncluded
    } else {
        Reason::RolloutExcluded
    };
    assert_eq!(
        reasons[..3],
        [
            (Reason::RuleMatch, Detail::Rule(2)),
            (Reason::RuleSplit, Detail::Rule(0)),
            (fallthrough, Detail::None),
        ]
    );
    assert!(rules[0].enabled, "rule 2 serves true");
    assert_eq!(rules[3..6], rules[..3], "every round answers the same");
    assert_eq!(rules[6..], rules[..3], "every round answers the same");
    drop(snapshot);

    // A publication between checks: the reader re-pins out of line, still without allocating.
    let mut flipped = text.replace(
        "[features.semver_gate]\nenabled = true",
        "[features.semver_gate]\nenabled = false",
    );
    flipped.push('\n');
    common::publish(&table, &flipped);
    let (after, count) = allocations(|| reader.check(1usize, &ctx));
    assert_eq!(count, 0, "the first check after a publication allocated");
    assert!(!after, "the new version answers");
}

/// Typed flags of every type, resolved through the typed path: a rule's variant, a split, a
/// rollout and an experiment override.
const TYPED: &str = r#"
[segments.typed_canaries]
targets = { environments = ["canary"] }

[features.peers]
enabled = true
type = "integer"
variants = { few = 25, normal = 50, many = 100 }
on_variant = "normal"
off_variant = "few"
rollout_percentage = 20
rules = [ { segments = ["typed_canaries"], serve = "many" } ]

[features.codec]
enabled = true
type = "string"
variants = { old = "zstd-1", new = "zstd-19" }
on_variant = "new"
off_variant = "old"
rules = [ { split = [ { variant = "old", percentage = 50 }, { variant = "new", percentage = 50 } ] } ]

[features.ratio]
enabled = true
type = "float"
variants = { low = 0.25, high = 0.75 }
on_variant = "high"
off_variant = "low"
rollout_percentage = 50

[features.limits]
enabled = true
type = "json"
variants = { small = { peers = 8 }, large = { peers = [64, 128] } }
on_variant = "large"
off_variant = "small"

[experiments.typed_ab]
start_time = 2024-01-01T00:00:00Z
variants = [ { name = "b", percentage = 100, feature_overrides = { limits = "small" } } ]
"#;

#[test]
fn typed_resolution_does_not_allocate() {
    let table: FlagTable = FlagTable::new(&["peers", "codec", "ratio", "limits"]);
    common::publish(&table, TYPED);
    let mut ctx = EvaluationContext::new("node-a-rather-long-node-identifier-0001")
        .with_environment(Environment::Canary);
    ctx.set_now_micros(common::micros("2025-01-01T00:00:00Z"));
    let reader = table.reader();
    let mut seen = 0usize;
    let ((), count) = allocations(|| {
        for _ in 0..3 {
            let s = reader.snapshot();
            for i in 0..4usize {
                let r = s.value(i, &ctx);
                seen += r.variant.len() + r.evaluation.variant as usize;
                seen += usize::from(s.check(i, &ctx));
            }
            seen += s.integer(0usize, &ctx, 0).value as usize;
            seen += s.string(1usize, &ctx, "").value.len();
            seen += s.float(2usize, &ctx, 0.0).value as usize;
            seen += s.json(3usize, &ctx, "").value.len();
            // Another type: the default, no formatting.
            seen += s.string(0usize, &ctx, "x").value.len();
            seen += s.value_name("codec", &ctx).variant.len();
            seen += reader.integer(0usize, &ctx, 0).value as usize;
            seen += reader.float(2usize, &ctx, 0.0).value as usize;
            seen += usize::from(reader.boolean(0usize, &ctx, false).value);
            seen += usize::from(reader.check(3usize, &ctx));
        }
    });
    assert_eq!(count, 0, "typed resolution allocated {count} times");
    assert!(seen > 0);
    let s = table.snapshot();
    assert_eq!(s.integer(0usize, &ctx, 0).value, 100, "the canary rule");
    assert_eq!(
        s.json(3usize, &ctx, "").value,
        r#"{"peers":8}"#,
        "the override"
    );
    assert_eq!(
        s.value(3usize, &ctx).evaluation.reason,
        Reason::ExperimentOverride
    );
}
