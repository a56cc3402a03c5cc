//! Rules and segments: step 7 of the evaluation order, between the gates (steps 1 to 6) and
//! the fallthrough rollout (steps 8 and 9), with the rule's index in the detail.

mod common;

use common::{micros, publish, table};
use vexil_core::{Detail, Environment, EvaluationContext, FlagTable, Reason, TargetKind};

const CONFIG: &str = r#"
[segments.canaries]
targets = { environments = ["canary"] }

[segments.synced_eu]
targets = { ip_ranges = ["10.8.0.0/16"] }
conditions = { sync_progress = 0.99, custom = [ { attribute = "region", operator = "starts_with", value = "eu-" } ] }

[segments.after_march]
conditions = { after = 2024-03-01T00:00:00Z }

# The example of the configuration guide: every canary, never node-13, half of the synced EU
# nodes, and 5 % of the rest.
[features.new_mempool]
enabled = true
rollout_percentage = 5
rules = [
  { segments = ["canaries"], serve = true },
  { targets = { node_ids = ["node-13"] }, serve = false },
  { segments = ["synced_eu"], rollout_percentage = 50 },
]

# "on for the canaries OR for these validators": two rules, nothing else on.
[features.canaries_or_validators]
enabled = true
rollout_percentage = 0
rules = [
  { segments = ["canaries"], serve = true },
  { targets = { validator_keys = ["val-1", "val-2"] }, serve = true },
]

# The gates still gate: a rule never turns on what the kill switch, a prerequisite, a
# condition or a target list turns off.
[features.killed]
enabled = false
rules = [{ serve = true }]

[features.needs_killed]
enabled = true
requires = ["killed"]
rules = [{ serve = true }]

[features.gated]
enabled = true
conditions = { chain_height = 100 }
targets = { environments = ["canary", "mainnet"] }
rules = [{ segments = ["canaries"], serve = false }]

# Every segment a rule names must match, and its own parts too.
[features.all_parts]
enabled = true
rules = [
  { segments = ["canaries", "after_march"], targets = { node_ids = ["node-1"] }, serve = false },
]

# The first rule that matches decides, even when a later one would say otherwise.
[features.first_wins]
enabled = true
rollout_percentage = 0
rules = [
  { targets = { environments = ["canary"] }, rollout_percentage = 0 },
  { segments = ["canaries"], serve = true },
]

# A rule's 100 % includes a context without a bucket key; its 0 < p < 100 does not.
[features.full_rule]
enabled = true
rules = [
  { targets = { environments = ["testnet"] }, rollout_percentage = 100 },
  { targets = { environments = ["canary"] }, rollout_percentage = 50 },
]

# An experiment override decides before the rules.
[features.overridden]
enabled = true
rules = [{ serve = false }]

[experiments.march]
start_time = 2024-03-01T00:00:00Z
end_time = 2024-04-01T00:00:00Z
variants = [ { name = "on", percentage = 100, feature_overrides = { overridden = true } } ]
"#;

fn ctx(node: &str, env: Option<Environment>) -> EvaluationContext {
    match env {
        Some(e) => EvaluationContext::new(node).with_environment(e),
        None => EvaluationContext::new(node),
    }
}

fn eu(node: &str) -> EvaluationContext {
    ctx(node, Some(Environment::Mainnet))
        .with_ip_address("10.8.3.4".parse().unwrap())
        .with_sync_progress(0.995)
        .with_attribute("region", "eu-west")
}

fn at(mut c: EvaluationContext, rfc3339: &str) -> EvaluationContext {
    c.set_now_micros(micros(rfc3339));
    c
}

/// The answer, the reason and the detail a case expects.
type Want = (bool, Reason, Detail);

/// Checks one flag for one context every way there is: explain (answer, reason, detail),
/// reader and snapshot checks by name and by index.
fn expect(t: &FlagTable, what: &str, flag: &str, c: &EvaluationContext, want: Want) {
    let reader = t.reader();
    let e = reader.explain_name(flag, c);
    assert_eq!(
        (e.enabled, e.reason, e.detail),
        want,
        "{what}: flag `{flag}`"
    );
    assert_eq!(reader.check_name(flag, c), want.0, "{what}: check");
    let s = reader.snapshot();
    assert_eq!(s.check_name(flag, c), want.0, "{what}: snapshot");
    let i = s.index_of(flag).unwrap();
    assert_eq!(reader.check(i, c), want.0, "{what}: by index");
    assert_eq!(s.explain(i, c), e, "{what}: snapshot explain");
}

/// The first node id for which `flag` answers `on` (with or without a rule deciding).
fn node_where(t: &FlagTable, flag: &str, make: fn(&str) -> EvaluationContext, on: bool) -> String {
    let reader = t.reader();
    (0..)
        .map(|i| format!("node-{i}"))
        .find(|n| reader.check_name(flag, &make(n)) == on)
        .unwrap()
}

#[test]
fn step_seven_every_rule_reason_with_its_index() {
    let t = table(CONFIG);
    use Reason::*;
    let canary = Some(Environment::Canary);
    let mainnet = Some(Environment::Mainnet);
    let cases: Vec<(&str, &str, EvaluationContext, Want)> = vec![
        (
            "a canary: rule 0 serves true",
            "new_mempool",
            ctx("node-13", canary),
            (true, RuleMatch, Detail::Rule(0)),
        ),
        (
            "node-13 off the canaries: rule 1 serves false",
            "new_mempool",
            ctx("node-13", mainnet),
            (false, RuleMatch, Detail::Rule(1)),
        ),
        (
            "an EU node missing one part of the segment (progress) falls through",
            "new_mempool",
            eu("node-1").with_sync_progress(0.5),
            {
                let on = t
                    .reader()
                    .check_name("new_mempool", &ctx("node-1", mainnet));
                (
                    on,
                    if on { RolloutIncluded } else { RolloutExcluded },
                    Detail::None,
                )
            },
        ),
        (
            "canaries OR validators: a canary",
            "canaries_or_validators",
            ctx("n", canary),
            (true, RuleMatch, Detail::Rule(0)),
        ),
        (
            "canaries OR validators: a listed validator",
            "canaries_or_validators",
            ctx("n", mainnet).with_validator_key("val-2"),
            (true, RuleMatch, Detail::Rule(1)),
        ),
        (
            "canaries OR validators: neither falls through to 0 %",
            "canaries_or_validators",
            ctx("n", mainnet).with_validator_key("val-3"),
            (false, RolloutExcluded, Detail::None),
        ),
        (
            "the kill switch beats a catch-all rule",
            "killed",
            ctx("n", canary),
            (false, Disabled, Detail::None),
        ),
        (
            "a failed prerequisite beats a catch-all rule",
            "needs_killed",
            ctx("n", canary),
            (
                false,
                PrerequisiteFailed,
                Detail::Prerequisite(t.snapshot().index_of("killed").unwrap()),
            ),
        ),
        (
            "a failed condition beats the rules",
            "gated",
            ctx("n", canary),
            (
                false,
                ConditionFailed,
                Detail::Condition(vexil_core::ConditionKind::ChainHeight),
            ),
        ),
        (
            "a failed target list beats the rules",
            "gated",
            ctx("n", Some(Environment::Testnet)).with_chain_height(100),
            (
                false,
                TargetMismatch,
                Detail::Target(TargetKind::Environments),
            ),
        ),
        (
            "gates pass, the rule decides",
            "gated",
            ctx("n", canary).with_chain_height(100),
            (false, RuleMatch, Detail::Rule(0)),
        ),
        (
            "gates pass, no rule matches: enabled",
            "gated",
            ctx("n", mainnet).with_chain_height(100),
            (true, Enabled, Detail::None),
        ),
        (
            "every part of the rule holds",
            "all_parts",
            at(ctx("node-1", canary), "2024-03-01T00:00:00Z"),
            (false, RuleMatch, Detail::Rule(0)),
        ),
        (
            "one segment's condition fails (before March)",
            "all_parts",
            at(ctx("node-1", canary), "2024-02-29T23:59:59Z"),
            (true, Enabled, Detail::None),
        ),
        (
            "no instant: a time condition does not hold",
            "all_parts",
            ctx("node-1", canary),
            (true, Enabled, Detail::None),
        ),
        (
            "the rule's own target list fails",
            "all_parts",
            at(ctx("node-2", canary), "2024-03-02T00:00:00Z"),
            (true, Enabled, Detail::None),
        ),
        (
            "the first matching rule decides (0 %), not the later serve = true",
            "first_wins",
            ctx("n", canary),
            (false, RuleSplit, Detail::Rule(0)),
        ),
        (
            "a rule's 100 % includes a context without a key",
            "full_rule",
            ctx("", Some(Environment::Testnet)),
            (true, RuleSplit, Detail::Rule(0)),
        ),
        (
            "a rule's 50 % excludes a context without a key",
            "full_rule",
            ctx("", canary),
            (false, RuleSplit, Detail::Rule(1)),
        ),
        (
            "an experiment override beats the rules",
            "overridden",
            at(ctx("n", canary), "2024-03-15T00:00:00Z"),
            (
                true,
                ExperimentOverride,
                Detail::Variant {
                    experiment: 0,
                    variant: 0,
                },
            ),
        ),
        (
            "outside the experiment, the catch-all rule decides",
            "overridden",
            at(ctx("n", canary), "2024-04-15T00:00:00Z"),
            (false, RuleMatch, Detail::Rule(0)),
        ),
    ];
    for (what, flag, c, want) in &cases {
        expect(&t, what, flag, c, *want);
    }
    // Rule 2's rollout: both sides exist, and each says rule_split with rule 2.
    let inside = node_where(&t, "new_mempool", eu, true);
    let outside = node_where(&t, "new_mempool", eu, false);
    expect(
        &t,
        "EU, inside 50 %",
        "new_mempool",
        &eu(&inside),
        (true, RuleSplit, Detail::Rule(2)),
    );
    expect(
        &t,
        "EU, outside 50 %",
        "new_mempool",
        &eu(&outside),
        (false, RuleSplit, Detail::Rule(2)),
    );
}

#[test]
fn a_rule_without_a_match_part_ends_the_rules() {
    // A catch-all decides for every context the rules before it do not, with or without a key.
    let t = table(
        r#"
[features.f]
enabled = true
rollout_percentage = 100
rules = [ { targets = { node_ids = ["a"] }, serve = true }, { serve = false } ]
"#,
    );
    expect(
        &t,
        "listed",
        "f",
        &ctx("a", None),
        (true, Reason::RuleMatch, Detail::Rule(0)),
    );
    expect(
        &t,
        "anyone else",
        "f",
        &ctx("b", None),
        (false, Reason::RuleMatch, Detail::Rule(1)),
    );
    expect(
        &t,
        "no key",
        "f",
        &ctx("", None),
        (false, Reason::RuleMatch, Detail::Rule(1)),
    );
}

/// 100,000 node ids.
fn nodes() -> Vec<String> {
    (0..100_000).map(|i| format!("validator-{i:06}")).collect()
}

/// A flag whose every context matches its rule (a catch-all is not used, so that the
/// fallthrough stays reachable): canaries take the rule's percentage, the others the
/// fallthrough's.
fn ladder_config(rule: f64, fallthrough: f64) -> String {
    format!(
        r#"
[segments.canaries]
targets = {{ environments = ["canary"] }}
[features.f]
enabled = true
rollout_percentage = {fallthrough}
rules = [ {{ segments = ["canaries"], rollout_percentage = {rule} }} ]
"#
    )
}

#[test]
fn rule_rollouts_are_fair_and_share_the_flags_bucket() {
    let nodes = nodes();
    let n = nodes.len() as f64;
    let t: FlagTable = FlagTable::new(&[]);
    for (rule, fallthrough) in [(30.0, 30.0), (2.5, 70.0)] {
        publish(&t, &ladder_config(rule, fallthrough));
        let reader = t.reader();
        let mut on_rule = 0.0;
        let mut on_fallthrough = 0.0;
        for node in &nodes {
            let canary = reader.check_name("f", &ctx(node, Some(Environment::Canary)));
            let other = reader.check_name("f", &ctx(node, Some(Environment::Mainnet)));
            on_rule += f64::from(u8::from(canary));
            on_fallthrough += f64::from(u8::from(other));
            if rule == fallthrough {
                // One position per context: at equal percentages, the rule and the
                // fallthrough give every node the same answer.
                assert_eq!(canary, other, "{node} at {rule} %");
            }
        }
        for (share, p) in [(on_rule, rule), (on_fallthrough, fallthrough)] {
            let q = p / 100.0;
            let sigma = (n * q * (1.0 - q)).sqrt();
            assert!(
                (share - n * q).abs() <= 4.0 * sigma,
                "{share} of {n} at {p} %: more than 4 sigma ({sigma}) from {}",
                n * q
            );
        }
    }
}

#[test]
fn raising_any_of_a_flags_percentages_only_adds_contexts() {
    let nodes: Vec<String> = nodes().into_iter().take(20_000).collect();
    let t: FlagTable = FlagTable::new(&[]);
    // The ladder: the rule's and the fallthrough's percentages, each step raising one of them.
    let ladder = [
        (0.0, 0.0),
        (10.0, 0.0),
        (10.0, 25.0),
        (40.0, 25.0),
        (40.0, 90.0),
        (100.0, 100.0),
    ];
    let mut before: Option<Vec<(bool, bool)>> = None;
    for (rule, fallthrough) in ladder {
        publish(&t, &ladder_config(rule, fallthrough));
        let reader = t.reader();
        let now: Vec<(bool, bool)> = nodes
            .iter()
            .map(|node| {
                (
                    reader.check_name("f", &ctx(node, Some(Environment::Canary))),
                    reader.check_name("f", &ctx(node, Some(Environment::Mainnet))),
                )
            })
            .collect();
        if let Some(before) = &before {
            for ((node, was), is) in nodes.iter().zip(before).zip(&now) {
                assert!(
                    (!was.0 || is.0) && (!was.1 || is.1),
                    "{node} was on and is off after raising to ({rule}, {fallthrough})"
                );
            }
        }
        before = Some(now);
    }
    assert!(
        before.unwrap().iter().all(|&(a, b)| a && b),
        "100 % is everybody"
    );
}

#[test]
fn a_configuration_without_rules_answers_as_before() {
    // The same flags with and without an unused segment: every answer is the same, and so is
    // every bucket (the golden vectors in bucketing.rs are unchanged, and a segment does not
    // move a flag's bucket).
    let plain = r#"
[features.half]
enabled = true
rollout_percentage = 50
[features.listed]
enabled = true
targets = { node_ids = ["validator-000001", "validator-000007"] }
"#;
    let with_segment =
        format!("{plain}\n[segments.unused]\ntargets = {{ environments = [\"canary\"] }}\n");
    let (a, b) = (table(plain), table(&with_segment));
    let (ra, rb) = (a.reader(), b.reader());
    for node in nodes().iter().take(5_000) {
        let c = ctx(node, None);
        for flag in ["half", "listed"] {
            assert_eq!(
                ra.explain_name(flag, &c),
                rb.explain_name(flag, &c),
                "{node} {flag}"
            );
        }
    }
}
