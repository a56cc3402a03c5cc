//! The evaluation order, step by step: every reason, in order, with the detail that decided.

mod common;

use std::net::IpAddr;

use common::{micros, table};
use vexil_core::{
    ConditionKind, Detail, Environment, EvaluationContext, FlagIndex, FlagTable, Reason, TargetKind,
};

const CONFIG: &str = r#"
[features.plain]
enabled = true

[features.killed]
enabled = false
rollout_percentage = 100

[features.zero]
enabled = true
rollout_percentage = 0

[features.full]
enabled = true
rollout_percentage = 100

[features.half]
enabled = true
rollout_percentage = 50

# prerequisites, three levels: top -> middle -> bottom
[features.top]
enabled = true
requires = ["middle"]

[features.middle]
enabled = true
requires = ["bottom"]

[features.bottom]
enabled = true
[features.bottom.targets]
environments = ["canary"]

# the kill switch must beat an experiment that forces the flag on
[features.killed_in_experiment]
enabled = false

# an experiment override decides before conditions, targets and rollout
[features.overridden]
enabled = true
rollout_percentage = 0
[features.overridden.conditions]
chain_height = 999999999

[experiments.everyone]
start_time = 2024-03-01T00:00:00Z
end_time = 2024-04-01T00:00:00Z
variants = [
  { name = "treatment", percentage = 100, feature_overrides = { killed_in_experiment = true, overridden = true } },
]

[features.windowed]
enabled = true
[features.windowed.conditions]
after = 2024-02-01T00:00:00Z
before = 2024-06-01T00:00:00Z

[features.height]
enabled = true
[features.height.conditions]
chain_height = 1000000

[features.synced]
enabled = true
[features.synced.conditions]
sync_progress = 0.99

[features.targeted]
enabled = true
[features.targeted.targets]
node_ids = ["node-1", "node-2"]
validator_keys = ["0xabc"]

[features.by_ip]
enabled = true
[features.by_ip.targets]
ip_ranges = ["10.0.0.0/8", "192.168.1.128/25", "2001:db8::/32"]

[features.by_env]
enabled = true
[features.by_env.targets]
environments = ["testnet", "canary"]

[features.by_validator]
enabled = true
rollout_percentage = 50
bucket_by = "validator_key"

[features.by_attribute]
enabled = true
rollout_percentage = 50
bucket_by = "attribute:region"
"#;

struct Case {
    what: &'static str,
    flag: &'static str,
    ctx: EvaluationContext,
    enabled: bool,
    reason: Reason,
    detail: Detail,
}

fn case(
    what: &'static str,
    flag: &'static str,
    ctx: EvaluationContext,
    enabled: bool,
    reason: Reason,
    detail: Detail,
) -> Case {
    Case {
        what,
        flag,
        ctx,
        enabled,
        reason,
        detail,
    }
}

fn at(node: &str, rfc3339: &str) -> EvaluationContext {
    let mut ctx = EvaluationContext::new(node);
    ctx.set_now_micros(micros(rfc3339));
    ctx
}

fn run(table: &FlagTable, cases: Vec<Case>) {
    let reader = table.reader();
    let snapshot = reader.snapshot();
    for c in cases {
        let e = reader.explain_name(c.flag, &c.ctx);
        assert_eq!(
            (e.enabled, e.reason, e.detail),
            (c.enabled, c.reason, c.detail),
            "{}: flag `{}`",
            c.what,
            c.flag
        );
        assert_eq!(e.generation, 1, "{}", c.what);
        assert_eq!(
            reader.check_name(c.flag, &c.ctx),
            c.enabled,
            "{}: check",
            c.what
        );
        assert_eq!(
            snapshot.check_name(c.flag, &c.ctx),
            c.enabled,
            "{}: snapshot",
            c.what
        );
        if let Some(i) = snapshot.index_of(c.flag) {
            assert_eq!(reader.check(i, &c.ctx), c.enabled, "{}: by index", c.what);
        }
    }
}

/// A node id inside (or outside) a 50 % rollout of `flag`.
fn node_where(table: &FlagTable, flag: &str, inside: bool) -> String {
    let reader = table.reader();
    (0..)
        .map(|i| format!("node-{i}"))
        .find(|n| reader.check_name(flag, &EvaluationContext::new(n.as_str())) == inside)
        .unwrap()
}

#[test]
fn steps_one_two_seven_eight_plain_kill_switch_and_rollout() {
    let t = table(CONFIG);
    let inside = node_where(&t, "half", true);
    let outside = node_where(&t, "half", false);
    use Reason::*;
    let n = || EvaluationContext::new("node-1");
    run(
        &t,
        vec![
            case(
                "undefined flag",
                "nope",
                n(),
                false,
                UnknownFlag,
                Detail::None,
            ),
            case("plain on", "plain", n(), true, Enabled, Detail::None),
            case("kill switch", "killed", n(), false, Disabled, Detail::None),
            case(
                "0 % is nobody",
                "zero",
                n(),
                false,
                RolloutExcluded,
                Detail::None,
            ),
            case(
                "100 % is everybody",
                "full",
                n(),
                true,
                RolloutIncluded,
                Detail::None,
            ),
            case(
                "100 % includes an empty key",
                "full",
                EvaluationContext::default(),
                true,
                RolloutIncluded,
                Detail::None,
            ),
            case(
                "partial excludes an empty key",
                "half",
                EvaluationContext::default(),
                false,
                RolloutExcluded,
                Detail::None,
            ),
            case(
                "inside 50 %",
                "half",
                EvaluationContext::new(inside),
                true,
                RolloutIncluded,
                Detail::None,
            ),
            case(
                "outside 50 %",
                "half",
                EvaluationContext::new(outside),
                false,
                RolloutExcluded,
                Detail::None,
            ),
        ],
    );
}

#[test]
fn step_three_multi_level_prerequisites() {
    let t = table(CONFIG);
    let reader = t.reader();
    let middle = reader.snapshot().index_of("middle").unwrap();
    let bottom = reader.snapshot().index_of("bottom").unwrap();
    use Reason::*;
    let canary = || EvaluationContext::new("n").with_environment(Environment::Canary);
    let mainnet = || EvaluationContext::new("n").with_environment(Environment::Mainnet);
    run(
        &t,
        vec![
            case("chain holds", "top", canary(), true, Enabled, Detail::None),
            case(
                "middle holds",
                "middle",
                canary(),
                true,
                Enabled,
                Detail::None,
            ),
            case(
                "bottom fails its target",
                "bottom",
                mainnet(),
                false,
                TargetMismatch,
                Detail::Target(TargetKind::Environments),
            ),
            case(
                "middle names its direct prerequisite",
                "middle",
                mainnet(),
                false,
                PrerequisiteFailed,
                Detail::Prerequisite(bottom),
            ),
            case(
                "top fails two levels down, names middle",
                "top",
                mainnet(),
                false,
                PrerequisiteFailed,
                Detail::Prerequisite(middle),
            ),
        ],
    );
}

#[test]
fn step_four_experiment_override_and_the_kill_switch() {
    let t = table(CONFIG);
    use Reason::*;
    let variant = Detail::Variant {
        experiment: 0,
        variant: 0,
    };
    run(
        &t,
        vec![
            case(
                "kill switch beats an experiment override",
                "killed_in_experiment",
                at("node-1", "2024-03-15T00:00:00Z"),
                false,
                Disabled,
                Detail::None,
            ),
            case(
                "override beats a failing condition and a 0 % rollout",
                "overridden",
                at("node-1", "2024-03-15T00:00:00Z"),
                true,
                ExperimentOverride,
                variant,
            ),
            case(
                "experiment starts at start_time (inclusive)",
                "overridden",
                at("node-1", "2024-03-01T00:00:00Z"),
                true,
                ExperimentOverride,
                variant,
            ),
            case(
                "not yet active: the flag's own rules decide",
                "overridden",
                at("node-1", "2024-02-29T23:59:59.999999Z"),
                false,
                ConditionFailed,
                Detail::Condition(ConditionKind::ChainHeight),
            ),
            case(
                "ended at end_time (exclusive)",
                "overridden",
                at("node-1", "2024-04-01T00:00:00Z"),
                false,
                ConditionFailed,
                Detail::Condition(ConditionKind::ChainHeight),
            ),
            case(
                "no bucket key, no variant",
                "overridden",
                at("", "2024-03-15T00:00:00Z"),
                false,
                ConditionFailed,
                Detail::Condition(ConditionKind::ChainHeight),
            ),
        ],
    );
    let s = t.snapshot();
    assert_eq!(s.experiment_name(0), Some("everyone"));
    assert_eq!(s.variant_name(0, 0), Some("treatment"));
    assert_eq!(
        s.variant("everyone", &at("node-1", "2024-03-15T00:00:00Z")),
        Some("treatment")
    );
    assert_eq!(
        s.variant("everyone", &at("node-1", "2024-05-01T00:00:00Z")),
        None
    );
}

#[test]
fn step_five_condition_boundaries() {
    let t = table(CONFIG);
    use ConditionKind::*;
    use Reason::*;
    let fail = |k| Detail::Condition(k);
    let h = |height| EvaluationContext::new("n").with_chain_height(height);
    let p = |progress| EvaluationContext::new("n").with_sync_progress(progress);
    run(
        &t,
        vec![
            case(
                "no clock: after fails",
                "windowed",
                EvaluationContext::new("n"),
                false,
                ConditionFailed,
                fail(After),
            ),
            case(
                "1 µs before after",
                "windowed",
                at("n", "2024-01-31T23:59:59.999999Z"),
                false,
                ConditionFailed,
                fail(After),
            ),
            case(
                "at after (inclusive)",
                "windowed",
                at("n", "2024-02-01T00:00:00Z"),
                true,
                Enabled,
                Detail::None,
            ),
            case(
                "after in another offset",
                "windowed",
                at("n", "2024-02-01T01:00:00+01:00"),
                true,
                Enabled,
                Detail::None,
            ),
            case(
                "1 µs before before",
                "windowed",
                at("n", "2024-05-31T23:59:59.999999Z"),
                true,
                Enabled,
                Detail::None,
            ),
            case(
                "at before (exclusive)",
                "windowed",
                at("n", "2024-06-01T00:00:00Z"),
                false,
                ConditionFailed,
                fail(Before),
            ),
            case(
                "height below",
                "height",
                h(999_999),
                false,
                ConditionFailed,
                fail(ChainHeight),
            ),
            case(
                "height at",
                "height",
                h(1_000_000),
                true,
                Enabled,
                Detail::None,
            ),
            case(
                "progress below",
                "synced",
                p(0.989),
                false,
                ConditionFailed,
                fail(SyncProgress),
            ),
            case(
                "progress at",
                "synced",
                p(0.99),
                true,
                Enabled,
                Detail::None,
            ),
            case(
                "progress NaN",
                "synced",
                p(f64::NAN),
                false,
                ConditionFailed,
                fail(SyncProgress),
            ),
        ],
    );
}

#[test]
fn step_six_targets_and_cidr_boundaries() {
    let t = table(CONFIG);
    use Reason::*;
    use TargetKind::*;
    let ip = |a: &str| EvaluationContext::new("n").with_ip_address(a.parse::<IpAddr>().unwrap());
    let env = |e| EvaluationContext::new("n").with_environment(e);
    let miss = |k| Detail::Target(k);
    let ok = Detail::None;
    run(
        &t,
        vec![
            case(
                "listed node, listed key",
                "targeted",
                EvaluationContext::new("node-2").with_validator_key("0xabc"),
                true,
                Enabled,
                ok,
            ),
            case(
                "unlisted node",
                "targeted",
                EvaluationContext::new("node-3").with_validator_key("0xabc"),
                false,
                TargetMismatch,
                miss(NodeIds),
            ),
            case(
                "lists AND: key missing",
                "targeted",
                EvaluationContext::new("node-1"),
                false,
                TargetMismatch,
                miss(ValidatorKeys),
            ),
            case(
                "key compared exactly",
                "targeted",
                EvaluationContext::new("node-1").with_validator_key("0xABC"),
                false,
                TargetMismatch,
                miss(ValidatorKeys),
            ),
            case(
                "v4 network address",
                "by_ip",
                ip("10.0.0.0"),
                true,
                Enabled,
                ok,
            ),
            case(
                "v4 broadcast address",
                "by_ip",
                ip("10.255.255.255"),
                true,
                Enabled,
                ok,
            ),
            case(
                "v4 just above",
                "by_ip",
                ip("11.0.0.0"),
                false,
                TargetMismatch,
                miss(IpRanges),
            ),
            case(
                "v4 just below",
                "by_ip",
                ip("9.255.255.255"),
                false,
                TargetMismatch,
                miss(IpRanges),
            ),
            case(
                "/25 lower edge",
                "by_ip",
                ip("192.168.1.128"),
                true,
                Enabled,
                ok,
            ),
            case(
                "/25 below lower edge",
                "by_ip",
                ip("192.168.1.127"),
                false,
                TargetMismatch,
                miss(IpRanges),
            ),
            case(
                "/25 upper edge",
                "by_ip",
                ip("192.168.1.255"),
                true,
                Enabled,
                ok,
            ),
            case("v6 first", "by_ip", ip("2001:db8::"), true, Enabled, ok),
            case(
                "v6 last",
                "by_ip",
                ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
                true,
                Enabled,
                ok,
            ),
            case(
                "v6 next network",
                "by_ip",
                ip("2001:db9::"),
                false,
                TargetMismatch,
                miss(IpRanges),
            ),
            case(
                "v4-mapped v6 matches as v4",
                "by_ip",
                ip("::ffff:10.1.2.3"),
                true,
                Enabled,
                ok,
            ),
            case(
                "v4-mapped v6 outside",
                "by_ip",
                ip("::ffff:11.1.2.3"),
                false,
                TargetMismatch,
                miss(IpRanges),
            ),
            case(
                "no address",
                "by_ip",
                EvaluationContext::new("n"),
                false,
                TargetMismatch,
                miss(IpRanges),
            ),
            case(
                "listed environment",
                "by_env",
                env(Environment::Canary),
                true,
                Enabled,
                ok,
            ),
            case(
                "unlisted environment",
                "by_env",
                env(Environment::Mainnet),
                false,
                TargetMismatch,
                miss(Environments),
            ),
            case(
                "no environment",
                "by_env",
                EvaluationContext::new("n"),
                false,
                TargetMismatch,
                miss(Environments),
            ),
        ],
    );
}

#[test]
fn bucket_by_other_keys() {
    let t = table(CONFIG);
    let r = t.reader();
    // Rollouts on validator_key / an attribute do not look at node_id.
    let mut seen = [false; 2];
    for i in 0..64 {
        let ctx = EvaluationContext::new("same-node").with_validator_key(format!("0x{i:x}"));
        seen[r.check_name("by_validator", &ctx) as usize] = true;
    }
    assert_eq!(seen, [true, true], "validator keys spread over the rollout");
    let no_key = EvaluationContext::new("node-1");
    assert_eq!(
        r.explain_name("by_validator", &no_key).reason,
        Reason::RolloutExcluded
    );
    let mut seen = [false; 2];
    for i in 0..64 {
        let ctx = EvaluationContext::new("same-node").with_attribute("region", format!("r{i}"));
        seen[r.check_name("by_attribute", &ctx) as usize] = true;
    }
    assert_eq!(
        seen,
        [true, true],
        "attribute values spread over the rollout"
    );
}

#[test]
fn compiled_in_flags_are_interned_and_unknown_until_defined() {
    let t: FlagTable = FlagTable::new(&["ghost", "plain"]);
    let r = t.reader();
    let ctx = EvaluationContext::new("n");
    // Before any publication: generation 0, every flag unknown.
    assert_eq!(r.explain(0usize, &ctx).reason, Reason::UnknownFlag);
    assert_eq!(r.explain(0usize, &ctx).generation, 0);
    common::publish(&t, CONFIG);
    let s = r.snapshot();
    assert_eq!(s.index_of("ghost"), Some(FlagIndex(0)));
    assert_eq!(s.index_of("plain"), Some(FlagIndex(1)));
    assert_eq!(r.explain(0usize, &ctx).reason, Reason::UnknownFlag);
    assert!(r.check(1usize, &ctx));
    assert!(r.check_name(
        "half",
        &EvaluationContext::new(node_where(&t, "half", true))
    ));
    // Out of range is unknown, not a panic.
    assert_eq!(r.explain(5000usize, &ctx).reason, Reason::UnknownFlag);
}

fn march_2024() -> i64 {
    micros("2024-03-15T00:00:00Z")
}

#[test]
fn the_publishers_clock_stands_in_for_a_missing_now() {
    let t: FlagTable = FlagTable::new(&[]).with_clock(march_2024);
    common::publish(&t, CONFIG);
    let r = t.reader();
    let no_now = EvaluationContext::new("node-1");
    // windowed holds from February to June 2024: the clock says March.
    assert_eq!(r.explain_name("windowed", &no_now).reason, Reason::Enabled);
    // The experiment is active in March: the override decides.
    assert_eq!(
        r.explain_name("overridden", &no_now).reason,
        Reason::ExperimentOverride
    );
    // A context's own `now` wins over the clock.
    assert_eq!(
        r.explain_name("windowed", &at("node-1", "2024-07-01T00:00:00Z"))
            .detail,
        Detail::Condition(ConditionKind::Before)
    );
}

#[test]
fn pinned_snapshots_need_a_guard_of_the_tables_collector() {
    let collector = crossbeam_epoch::Collector::new();
    let t: FlagTable = FlagTable::with_collector(&[], collector.clone());
    common::publish(&t, CONFIG);
    let handle = collector.register();
    let s = t.pinned_snapshot(handle.pin());
    assert!(s.check_name("plain", &EvaluationContext::new("n")));
    drop(s);
    let other = crossbeam_epoch::Collector::new().register();
    let foreign = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = t.pinned_snapshot(other.pin());
    }));
    assert!(foreign.is_err(), "a guard of another collector is refused");
}

#[test]
fn prerequisites_that_are_always_on_do_not_change_answers() {
    // `top` -> `mid` -> `switch` (always on) collapses to plain flags; `gated` -> `off_switch`
    // (always off) still fails with its detail; `ctx_dep` -> `canary` stays context-dependent.
    let t = table(
        "[features.switch]\nenabled = true\nrollout_percentage = 100\n\
         [features.mid]\nenabled = true\nrequires = [\"switch\"]\n\
         [features.top]\nenabled = true\nrollout_percentage = 50\nrequires = [\"mid\"]\n\
         [features.off_switch]\nenabled = false\n\
         [features.gated]\nenabled = true\nrequires = [\"off_switch\", \"switch\"]\n\
         [features.canary]\nenabled = true\n[features.canary.targets]\nenvironments = [\"canary\"]\n\
         [features.ctx_dep]\nenabled = true\nrequires = [\"switch\", \"canary\"]\n",
    );
    let r = t.reader();
    let s = r.snapshot();
    let n = EvaluationContext::new("node-1");
    assert_eq!(r.explain_name("mid", &n).reason, Reason::Enabled);
    let top = r.explain_name("top", &n).reason;
    assert!(
        matches!(top, Reason::RolloutIncluded | Reason::RolloutExcluded),
        "{top:?}"
    );
    assert_eq!(
        r.explain_name("gated", &n).detail,
        Detail::Prerequisite(s.index_of("off_switch").unwrap())
    );
    assert_eq!(
        r.explain_name("ctx_dep", &n).detail,
        Detail::Prerequisite(s.index_of("canary").unwrap())
    );
    let canary = EvaluationContext::new("node-1").with_environment(Environment::Canary);
    assert!(r.check_name("ctx_dep", &canary));
    // The rollout of `top` is the same population as a flag without prerequisites.
    let plain = table("[features.top]\nenabled = true\nrollout_percentage = 50\n");
    let p = plain.reader();
    for i in 0..200 {
        let ctx = EvaluationContext::new(format!("node-{i}"));
        assert_eq!(r.check_name("top", &ctx), p.check_name("top", &ctx));
    }
}

#[test]
fn node_target_lists_decided_from_the_slot_keep_each_flags_own_set() {
    // Two flags whose only rule is a node list (their sets share one pool of hashes in the
    // table), and one whose node list sits beside a condition (the full evaluation): every
    // listed node is on for its own flags only, and the answers agree with `explain`.
    let many: Vec<String> = (0..100).map(|i| format!("validator-{i:03}")).collect();
    let few = ["node-1", "node-2", "node-3"];
    let list = |ids: &[String]| {
        ids.iter()
            .map(|i| format!("{i:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let few_owned: Vec<String> = few.iter().map(|s| s.to_string()).collect();
    let t = table(&format!(
        "[features.many]\nenabled = true\n[features.many.targets]\nnode_ids = [{}]\n\
         [features.few]\nenabled = true\n[features.few.targets]\nnode_ids = [{}]\n\
         [features.few_high]\nenabled = true\n[features.few_high.conditions]\nchain_height = 10\n\
         [features.few_high.targets]\nnode_ids = [{}]\n",
        list(&many),
        list(&few_owned),
        list(&few_owned),
    ));
    let r = t.reader();
    let high = |id: &str| EvaluationContext::new(id).with_chain_height(100);
    for id in many.iter().map(String::as_str).chain(few) {
        let ctx = high(id);
        let in_many = id.starts_with("validator-");
        assert_eq!(r.check_name("many", &ctx), in_many, "{id}");
        assert_eq!(r.check_name("few", &ctx), !in_many, "{id}");
        assert_eq!(r.check_name("few_high", &ctx), !in_many, "{id}");
        assert_eq!(r.explain_name("many", &ctx).enabled, in_many, "{id}");
        assert_eq!(r.explain_name("few", &ctx).enabled, !in_many, "{id}");
    }
    for i in 0..2_000 {
        let ctx = high(&format!("elsewhere-{i}"));
        assert!(!r.check_name("many", &ctx));
        assert!(!r.check_name("few", &ctx));
        assert_eq!(
            r.explain_name("many", &ctx).detail,
            Detail::Target(TargetKind::NodeIds)
        );
    }
    // A prefix or an extension of a listed id is another node.
    assert!(!r.check_name("few", &high("node-")));
    assert!(!r.check_name("few", &high("node-10")));
    // No node id: no target list matches.
    let anonymous = EvaluationContext::default().with_chain_height(100);
    assert!(!r.check_name("many", &anonymous));
    assert!(!r.check_name("few", &anonymous));
}

#[test]
fn spliced_prerequisite_chains_answer_as_each_link_would() {
    // Chains whose links are a rollout, a node list, conditions, an experiment-overridden flag
    // and a diamond: `check` splices the prerequisites' tests into one plan, `explain` walks
    // the links; both must agree, and a chain is on exactly when every link is.
    let t = table(
        "[features.half]\nenabled = true\nrollout_percentage = 50\n\
         [features.listed]\nenabled = true\n[features.listed.targets]\nnode_ids = [\"node-1\", \"node-7\", \"node-42\"]\n\
         [features.high]\nenabled = true\nrequires = [\"half\"]\n[features.high.conditions]\nchain_height = 100\n\
         [features.top]\nenabled = true\nrollout_percentage = 80\nrequires = [\"high\"]\n\
         [features.either]\nenabled = true\nrequires = [\"listed\", \"half\"]\n\
         [features.diamond]\nenabled = true\nrequires = [\"top\", \"either\"]\n\
         [features.tested]\nenabled = true\n\
         [features.on_tested]\nenabled = true\nrequires = [\"tested\", \"half\"]\n\
         [experiments.trial]\nstart_time = 2024-03-01T00:00:00Z\n\
         variants = [{ name = \"off\", percentage = 50, feature_overrides = { tested = false } }]\n",
    );
    let r = t.reader();
    let now = micros("2024-03-15T00:00:00Z");
    let mut seen = [0usize; 2];
    for i in 0..600 {
        let mut ctx = EvaluationContext::new(format!("node-{i}"))
            .with_chain_height(if i % 3 == 0 { 50 } else { 500 });
        ctx.set_now_micros(now);
        let on = |name: &str| r.check_name(name, &ctx);
        for name in ["high", "top", "either", "diamond", "on_tested"] {
            assert_eq!(
                on(name),
                r.explain_name(name, &ctx).enabled,
                "{name} node-{i}"
            );
        }
        assert_eq!(on("high"), on("half") && i % 3 != 0, "node-{i}");
        assert!(!on("top") || on("high"), "node-{i}");
        assert_eq!(on("either"), on("listed") && on("half"), "node-{i}");
        assert_eq!(on("diamond"), on("top") && on("either"), "node-{i}");
        assert_eq!(on("on_tested"), on("tested") && on("half"), "node-{i}");
        seen[on("on_tested") as usize] += 1;
    }
    // The experiment-overridden link really decides: some nodes are turned off through it.
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
}

#[test]
fn a_plan_merges_its_links_tests_into_one_conjunction() {
    // `top` and its prerequisite `base` each restrict environments, height, progress and the
    // client version, and each has its own rollout: the check plan holds one environment mask
    // (their intersection), one minimum height and progress (the larger), one rollout and one
    // custom constraint in fixed fields, and the other rollout and constraint in the rest.
    let t = table(
        "[features.base]\nenabled = true\nrollout_percentage = 60\n\
         [features.base.targets]\nenvironments = [\"mainnet\", \"testnet\"]\n\
         [features.base.conditions]\nchain_height = 100\nsync_progress = 0.5\n\
         custom = [{ attribute = \"client_version\", operator = \"semver_gte\", value = \"2.0.0\" }]\n\
         [features.top]\nenabled = true\nrollout_percentage = 70\nrequires = [\"base\"]\n\
         [features.top.targets]\nenvironments = [\"testnet\", \"canary\"]\n\
         [features.top.conditions]\nchain_height = 300\nsync_progress = 0.9\n\
         custom = [{ attribute = \"client_version\", operator = \"semver_lt\", value = \"3.0.0\" }]\n",
    );
    let r = t.reader();
    let mut on_count = 0;
    for i in 0..60 {
        for env in Environment::ALL {
            for height in [50, 200, 400] {
                for progress in [0.3, 0.7, 0.95] {
                    for version in ["1.9.0", "2.5.0", "3.1.0"] {
                        let ctx = EvaluationContext::new(format!("node-{i}"))
                            .with_environment(env)
                            .with_chain_height(height)
                            .with_sync_progress(progress)
                            .with_attribute("client_version", version);
                        let (top, base) = (r.check_name("top", &ctx), r.check_name("base", &ctx));
                        let why = format!("node-{i} {env:?} {height} {progress} {version}");
                        assert_eq!(top, r.explain_name("top", &ctx).enabled, "{why}");
                        assert_eq!(base, r.explain_name("base", &ctx).enabled, "{why}");
                        if top {
                            assert!(base, "{why}");
                            assert_eq!(env, Environment::Testnet, "{why}");
                            assert!(height >= 300 && progress >= 0.9, "{why}");
                            assert_eq!(version, "2.5.0", "{why}");
                            on_count += 1;
                        }
                    }
                }
            }
        }
    }
    // Both rollouts take part: of the 60 nodes, about 60 % × 70 % pass them.
    assert!((12..=40).contains(&on_count), "{on_count}");
}
