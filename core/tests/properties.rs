//! Properties over generated configurations (segments, flags with rules) and contexts:
//! `explain` agrees with `check`, the first matching rule decides as a reference evaluator of
//! the model says, a rule's rollout and the fallthrough share one bucket per context, rollouts
//! are monotonic and independent, a configuration survives serialize -> parse.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;
use vexil_core::bucketing::{self, Domain};
use vexil_core::model::{
    BucketBy, Conditions, Config, ConstraintValue, CustomConstraint, Experiment, FeatureFlag,
    Operator, Rule, Segment, Targets, Timestamp, Variant,
};
use vexil_core::{Detail, Environment, EvaluationContext, FlagTable, Reason};

/// 64 cases per property (2 under Miri); `PROPTEST_CASES` asks for more.
fn cases() -> u32 {
    if cfg!(miri) {
        2
    } else {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64)
    }
}

const NODES: &[&str] = &["node-1", "node-2", "canary-1", "validator-7", ""];
const REGIONS: &[&str] = &["eu-west", "eu-central", "us-east"];
const VERSIONS: &[&str] = &["1.0.0", "2.1.0", "2.1.0-rc.1", "10.0.0", "garbage"];

fn environment() -> impl Strategy<Value = Environment> {
    prop::sample::select(Environment::ALL.to_vec())
}

fn instant() -> impl Strategy<Value = Timestamp> {
    (1_700_000_000i64..1_800_000_000)
        .prop_map(|s| Timestamp::from(chrono::DateTime::from_timestamp(s, 0).unwrap()))
}

fn percentage() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(100.0),
        (0u32..=1_000_000).prop_map(|p| f64::from(p) / 10_000.0)
    ]
}

fn constraint() -> impl Strategy<Value = CustomConstraint> {
    let region = prop::sample::select(REGIONS.to_vec());
    prop_oneof![
        region.clone().prop_map(|r| CustomConstraint {
            attribute: "region".into(),
            operator: Operator::Equals,
            value: Some(ConstraintValue::String(r.into())),
            values: None,
        }),
        prop::sample::subsequence(REGIONS.to_vec(), 1..=3).prop_map(|rs| CustomConstraint {
            attribute: "region".into(),
            operator: Operator::NotIn,
            value: None,
            values: Some(rs.into_iter().map(String::from).collect()),
        }),
        (0.0f64..5.0).prop_map(|n| CustomConstraint {
            attribute: "load".into(),
            operator: Operator::Lt,
            value: Some(ConstraintValue::Number(n)),
            values: None,
        }),
        prop::sample::select(vec!["1.0.0", "2.1.0", "2.1.0-rc.1"]).prop_map(|v| CustomConstraint {
            attribute: "client_version".into(),
            operator: Operator::SemverGte,
            value: Some(ConstraintValue::String(v.into())),
            values: None,
        }),
        Just(CustomConstraint {
            attribute: "region".into(),
            operator: Operator::Exists,
            value: None,
            values: None,
        }),
    ]
}

const KEYS: &[&str] = &["0xabc", "0xdef", "0x123"];

fn node_ids() -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(NODES[..4].to_vec(), 1..=3)
        .prop_map(|n| n.into_iter().map(String::from).collect())
}

fn environments() -> impl Strategy<Value = Vec<Environment>> {
    prop::sample::subsequence(Environment::ALL.to_vec(), 1..=3)
}

/// A flag's conditions: every kind but `before`.
fn conditions() -> impl Strategy<Value = Conditions> {
    (
        prop::option::of(instant()),
        prop::option::of(0u64..2_000),
        prop::option::of(0.0f64..=1.0),
        prop::collection::vec(constraint(), 0..3),
    )
        .prop_map(|(after, chain_height, sync_progress, custom)| Conditions {
            after,
            before: None,
            chain_height,
            sync_progress,
            custom,
        })
}

/// A flag's target lists: node ids, environments, IP ranges.
fn targets() -> impl Strategy<Value = Targets> {
    (
        prop::option::of(node_ids()),
        prop::option::of(environments()),
        prop::option::of(Just(vec![
            "10.0.0.0/8".to_string(),
            "2001:db8::/32".to_string(),
        ])),
    )
        .prop_map(|(node_ids, environments, ip_ranges)| Targets {
            node_ids,
            validator_keys: None,
            ip_ranges,
            environments,
        })
}

/// The conditions of a segment or a rule: only those [`conditions_hold`] evaluates.
fn match_conditions() -> impl Strategy<Value = Conditions> {
    (
        prop::option::of(0u64..2_000),
        prop::option::of(0.0f64..=1.0),
    )
        .prop_map(|(chain_height, sync_progress)| Conditions {
            chain_height,
            sync_progress,
            ..Conditions::default()
        })
}

/// The target lists of a segment or a rule: only those [`targets_hold`] evaluates.
fn match_targets() -> impl Strategy<Value = Targets> {
    (
        prop::option::of(node_ids()),
        prop::option::of(
            prop::sample::subsequence(KEYS.to_vec(), 1..=2)
                .prop_map(|k| k.into_iter().map(String::from).collect()),
        ),
        prop::option::of(environments()),
    )
        .prop_map(|(node_ids, validator_keys, environments)| Targets {
            node_ids,
            validator_keys,
            ip_ranges: None,
            environments,
        })
}

/// A segment: targets, conditions or both (a segment needs one of them).
fn segment() -> impl Strategy<Value = Segment> {
    (
        prop::option::of("[a-z ]{0,12}"),
        prop_oneof![
            match_targets().prop_map(|t| (Some(t), None)),
            match_conditions().prop_map(|c| (None, Some(c))),
            (match_targets(), match_conditions()).prop_map(|(t, c)| (Some(t), Some(c))),
        ],
    )
        .prop_map(|(description, (targets, conditions))| Segment {
            description,
            targets,
            conditions,
        })
        // Empty tables are no part: such a segment is refused.
        .prop_filter("a segment needs a target list or a condition", |s| {
            !(s.targets.as_ref().is_none_or(Targets::is_empty)
                && s.conditions.as_ref().is_none_or(Conditions::is_empty))
        })
}

/// A rule naming some of `segments` (when there are any), with or without targets and
/// conditions (with none of the three, a catch-all), serving a value or a rollout.
fn rule(segments: Vec<String>) -> impl Strategy<Value = Rule> {
    let names = if segments.is_empty() {
        Just(None).boxed()
    } else {
        let most = segments.len().min(2);
        prop::option::of(prop::sample::subsequence(segments, 1..=most)).boxed()
    };
    (
        names,
        prop::option::of(match_targets()),
        prop::option::of(match_conditions()),
        prop_oneof![
            any::<bool>().prop_map(|v| (Some(v.into()), None)),
            percentage().prop_map(|p| (None, Some(p))),
        ],
    )
        .prop_map(
            |(segments, targets, conditions, (serve, rollout_percentage))| Rule {
                segments,
                targets,
                conditions,
                serve,
                rollout_percentage,
                split: None,
            },
        )
}

fn flag(earlier: Vec<String>, segments: Vec<String>) -> impl Strategy<Value = FeatureFlag> {
    let requires = if earlier.is_empty() {
        Just(Vec::new()).boxed()
    } else {
        prop::sample::subsequence(earlier.clone(), 0..=earlier.len().min(2)).boxed()
    };
    (
        // Mostly on, so that the later steps are reached.
        prop::bool::weighted(0.8),
        prop::option::of(percentage()),
        requires,
        prop::option::of(conditions()),
        prop::option::of(targets()),
        prop::option::of(prop_oneof![
            Just(BucketBy::NodeId),
            Just(BucketBy::ValidatorKey),
            Just(BucketBy::Attribute("region".into()))
        ]),
        prop::option::of("[a-z]{1,8}"),
        prop_oneof![
            2 => Just(Vec::new()),
            3 => prop::collection::vec(rule(segments), 1..=4),
        ],
    )
        .prop_map(
            |(enabled, rollout, requires, conditions, targets, bucket_by, salt, rules)| {
                let mut f = FeatureFlag::new(enabled);
                f.rollout_percentage = rollout;
                f.requires = requires;
                f.bucket_by = bucket_by;
                f.salt = salt;
                f.conditions = conditions;
                f.targets = targets;
                f.rules = rules;
                f
            },
        )
}

/// A valid configuration: segments `s0..sm`, flags `f0..fn`, each requiring only earlier
/// ones (no cycles) and with up to 4 rules over the segments, and optionally an experiment
/// overriding some of them.
fn config() -> impl Strategy<Value = Config> {
    (1usize..7, 0usize..4).prop_flat_map(|(n, m)| {
        let names: Vec<String> = (0..m).map(|i| format!("s{i}")).collect();
        let flags: Vec<BoxedStrategy<FeatureFlag>> = (0..n)
            .map(|i| flag((0..i).map(|j| format!("f{j}")).collect(), names.clone()).boxed())
            .collect();
        (
            flags,
            prop::collection::vec(segment(), m),
            prop::option::of((instant(), 0.0f64..50.0, 0.0f64..50.0, any::<bool>())),
        )
            .prop_map(move |(flags, segments, experiment)| {
                let mut c = Config::default();
                for (i, f) in flags.into_iter().enumerate() {
                    c.features.insert(format!("f{i}"), f);
                }
                for (i, s) in segments.into_iter().enumerate() {
                    c.segments.insert(format!("s{i}"), s);
                }
                if let Some((start, a, b, value)) = experiment {
                    c.experiments.insert(
                        "e".into(),
                        Experiment {
                            start_time: start,
                            end_time: None,
                            metrics: Vec::new(),
                            bucket_by: None,
                            variants: vec![
                                Variant {
                                    name: "a".into(),
                                    percentage: a,
                                    feature_overrides: BTreeMap::from([(
                                        "f0".to_string(),
                                        value.into(),
                                    )]),
                                },
                                Variant {
                                    name: "b".into(),
                                    percentage: b,
                                    feature_overrides: BTreeMap::new(),
                                },
                            ],
                        },
                    );
                }
                c
            })
    })
}

fn context() -> impl Strategy<Value = EvaluationContext> {
    (
        prop::sample::select(NODES.to_vec()),
        prop::option::of(environment()),
        0u64..2_000,
        0.0f64..=1.0,
        prop::option::of(prop::sample::select(vec!["0xabc", "0xdef"])),
        prop::option::of(prop::sample::select(vec![
            "10.1.2.3",
            "192.168.0.1",
            "2001:db8::1",
            "::ffff:10.0.0.9",
        ])),
        prop::option::of(prop::sample::select(REGIONS.to_vec())),
        prop::option::of(prop::sample::select(VERSIONS.to_vec())),
        prop::option::of(0.0f64..5.0),
        prop::option::of(instant()),
    )
        .prop_map(|(node, env, h, p, key, ip, region, version, load, now)| {
            let mut ctx = EvaluationContext::new(node)
                .with_chain_height(h)
                .with_sync_progress(p);
            if let Some(e) = env {
                ctx = ctx.with_environment(e);
            }
            if let Some(k) = key {
                ctx = ctx.with_validator_key(k);
            }
            if let Some(ip) = ip {
                ctx = ctx.with_ip_address(ip.parse::<IpAddr>().unwrap());
            }
            if let Some(r) = region {
                ctx.set_attribute("region", r);
            }
            if let Some(v) = version {
                ctx.set_attribute("client_version", v);
            }
            if let Some(l) = load {
                ctx.set_attribute("load", l.to_string());
            }
            if let Some(t) = now {
                ctx.set_now_micros(t.unix_micros());
            }
            ctx
        })
}

// === The reference: step 7 and the rollouts, from the model ===

/// Whether every target list present holds. Only the lists [`match_targets`] generates.
fn targets_hold(t: &Targets, ctx: &EvaluationContext) -> bool {
    assert!(
        t.ip_ranges.is_none(),
        "the reference does not evaluate IP ranges"
    );
    t.node_ids
        .as_ref()
        .is_none_or(|ids| ids.iter().any(|id| id == ctx.node_id()))
        && t.validator_keys.as_ref().is_none_or(|keys| {
            ctx.validator_key()
                .is_some_and(|k| keys.iter().any(|x| x == k))
        })
        && t.environments
            .as_ref()
            .is_none_or(|envs| ctx.environment().is_some_and(|e| envs.contains(&e)))
}

/// Whether every condition present holds. Only the conditions [`match_conditions`] generates.
fn conditions_hold(c: &Conditions, ctx: &EvaluationContext) -> bool {
    assert!(
        c.after.is_none() && c.before.is_none() && c.custom.is_empty(),
        "the reference evaluates chain_height and sync_progress only"
    );
    c.chain_height.is_none_or(|h| ctx.chain_height() >= h)
        && c.sync_progress.is_none_or(|p| ctx.sync_progress() >= p)
}

fn audience_holds(t: Option<&Targets>, c: Option<&Conditions>, ctx: &EvaluationContext) -> bool {
    t.is_none_or(|t| targets_hold(t, ctx)) && c.is_none_or(|c| conditions_hold(c, ctx))
}

/// Whether a rule's match part holds: every segment it names, its targets, its conditions.
fn rule_matches(config: &Config, rule: &Rule, ctx: &EvaluationContext) -> bool {
    rule.segments.iter().flatten().all(|name| {
        let s = &config.segments[name];
        audience_holds(s.targets.as_ref(), s.conditions.as_ref(), ctx)
    }) && audience_holds(rule.targets.as_ref(), rule.conditions.as_ref(), ctx)
}

/// Whether a flag's rollout of `p` % includes the context, from the bucketing contract: the
/// flag's salt (its name by default) and its bucket key.
fn rollout_holds(name: &str, flag: &FeatureFlag, p: f64, ctx: &EvaluationContext) -> bool {
    let salt = bucketing::salt_hash(Domain::Rollout, flag.salt.as_deref().unwrap_or(name));
    let key = match flag.bucket_by.as_ref().unwrap_or(&BucketBy::NodeId) {
        BucketBy::NodeId => bucketing::key_hash(ctx.node_id()),
        BucketBy::ValidatorKey => ctx.validator_key().and_then(bucketing::key_hash),
        BucketBy::Attribute(a) => ctx.attribute(a).and_then(bucketing::key_hash),
    };
    bucketing::in_rollout(key, salt, bucketing::percentage_to_ppm(p).unwrap())
}

/// Steps 7 to 9 for a flag whose gates (steps 1 to 6) pass: the first rule whose match part
/// holds decides, else the fallthrough rollout.
fn after_the_gates(
    config: &Config,
    name: &str,
    flag: &FeatureFlag,
    ctx: &EvaluationContext,
) -> (bool, Reason, Detail) {
    let first = flag
        .rules
        .iter()
        .position(|rule| rule_matches(config, rule, ctx));
    if let Some(i) = first {
        let rule = &flag.rules[i];
        let detail = Detail::Rule(i as u32);
        return match (&rule.serve, rule.rollout_percentage) {
            (Some(v), None) => (*v == true.into(), Reason::RuleMatch, detail),
            (None, Some(p)) => (rollout_holds(name, flag, p, ctx), Reason::RuleSplit, detail),
            _ => unreachable!("the generator gives a rule one serve part"),
        };
    }
    match flag.rollout_percentage {
        None => (true, Reason::Enabled, Detail::None),
        Some(p) if rollout_holds(name, flag, p, ctx) => {
            (true, Reason::RolloutIncluded, Detail::None)
        }
        Some(_) => (false, Reason::RolloutExcluded, Detail::None),
    }
}

/// Whether a reason of steps 2 to 6 is one this flag has the gate for.
fn has_gate(config: &Config, name: &str, flag: &FeatureFlag, reason: Reason) -> bool {
    match reason {
        Reason::Disabled => !flag.enabled,
        Reason::PrerequisiteFailed => !flag.requires.is_empty(),
        Reason::ExperimentOverride => config
            .experiments
            .values()
            .flat_map(|e| &e.variants)
            .any(|v| v.feature_overrides.contains_key(name)),
        Reason::ConditionFailed => flag.conditions.is_some(),
        Reason::TargetMismatch => flag.targets.is_some(),
        _ => false,
    }
}

/// The configuration with the gates of every flag with rules taken away (on, no
/// prerequisites, conditions, targets or experiment overrides): rules and fallthrough decide.
fn without_gates(config: &Config) -> Config {
    let mut open = config.clone();
    let ruled: Vec<String> = open
        .features
        .iter()
        .filter(|(_, f)| !f.rules.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    for name in &ruled {
        let f = open.features.get_mut(name).unwrap();
        f.enabled = true;
        f.requires.clear();
        f.conditions = None;
        f.targets = None;
    }
    for v in open.experiments.values_mut().flat_map(|e| &mut e.variants) {
        v.feature_overrides.retain(|n, _| !ruled.contains(n));
    }
    open
}

fn published(config: &Config) -> Result<FlagTable, TestCaseError> {
    let table: FlagTable = FlagTable::new(&[]);
    let compiled = table
        .compile(config)
        .map_err(|d| TestCaseError::fail(d.to_string()))?;
    table.publish(compiled.table);
    Ok(table)
}

/// One flag `f` with one rule that is no catch-all (an environment list and maybe a chain
/// height and a sync progress, directly or through a segment), the rule and the fallthrough
/// both at `p` %; and which part a context breaks to miss the rule.
fn one_rule_flag() -> impl Strategy<Value = (Config, Vec<Environment>, Conditions, usize)> {
    (
        percentage(),
        environments(),
        prop::option::of(1u64..2_000),
        prop::option::of(0.01f64..=1.0),
        any::<bool>(),
        prop::option::of(prop_oneof![
            Just(BucketBy::NodeId),
            Just(BucketBy::ValidatorKey),
            Just(BucketBy::Attribute("region".into()))
        ]),
        prop::option::of("[a-z]{1,8}"),
        0usize..3,
    )
        .prop_map(
            |(p, envs, chain_height, sync_progress, via_segment, bucket_by, salt, miss)| {
                let targets = Targets {
                    environments: Some(envs.clone()),
                    ..Targets::default()
                };
                let conditions = Conditions {
                    chain_height,
                    sync_progress,
                    ..Conditions::default()
                };
                let has_conditions = chain_height.is_some() || sync_progress.is_some();
                let mut rule = Rule {
                    rollout_percentage: Some(p),
                    ..Rule::default()
                };
                let mut c = Config::default();
                if via_segment {
                    c.segments.insert(
                        "s".into(),
                        Segment {
                            description: None,
                            targets: Some(targets),
                            conditions: has_conditions.then(|| conditions.clone()),
                        },
                    );
                    rule.segments = Some(vec!["s".into()]);
                } else {
                    rule.targets = Some(targets);
                    rule.conditions = has_conditions.then(|| conditions.clone());
                }
                let mut f = FeatureFlag::new(true);
                f.rollout_percentage = Some(p);
                f.bucket_by = bucket_by;
                f.salt = salt;
                f.rules = vec![rule];
                c.features.insert("f".into(), f);
                (c, envs, conditions, miss)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn explain_agrees_with_check(config in config(), ctxs in prop::collection::vec(context(), 1..8)) {
        // As generated, and without the gates of the flags with rules (so that their rules
        // and fallthroughs answer more often than their gates).
        for config in [without_gates(&config), config] {
            let table = published(&config)?;
            let reader = table.reader();
            let snapshot = reader.snapshot();
            for ctx in &ctxs {
                for (index, name, _) in snapshot.flags() {
                    let e = reader.explain(index, ctx);
                    prop_assert_eq!(reader.check(index, ctx), e.enabled, "{} {:?}", name, e);
                    prop_assert_eq!(reader.check_name(name, ctx), e.enabled);
                    prop_assert_eq!(snapshot.check(index, ctx), e.enabled);
                    prop_assert_eq!(snapshot.explain_name(name, ctx), e);
                }
            }
        }
    }

    #[test]
    fn a_config_survives_serialize_then_parse(config in config()) {
        let text = toml::to_string(&config).unwrap();
        let again: Config = toml::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(config, again);
    }

    #[test]
    fn the_first_matching_rule_decides(config in config(), ctxs in prop::collection::vec(context(), 1..8)) {
        let table = published(&config)?;
        let open = published(&without_gates(&config))?;
        let (reader, open_reader) = (table.reader(), open.reader());
        for (name, flag) in config.features.iter().filter(|(_, f)| !f.rules.is_empty()) {
            for ctx in &ctxs {
                let want = after_the_gates(&config, name, flag, ctx);
                // Without its gates, the flag answers as the reference: rule i's reason and
                // index exactly when rule i is the first whose match part holds, its `serve`
                // or its rollout, and the fallthrough when no rule matches.
                let e = open_reader.explain_name(name, ctx);
                prop_assert_eq!((e.enabled, e.reason, e.detail), want, "{} {:?}", name, ctx);
                prop_assert_eq!(open_reader.check_name(name, ctx), want.0);
                // With them, a gate the flag has decides, or the rules and fallthrough do,
                // exactly as without the gates.
                let e = reader.explain_name(name, ctx);
                if !has_gate(&config, name, flag, e.reason) {
                    prop_assert_eq!((e.enabled, e.reason, e.detail), want, "{} {:?}", name, ctx);
                }
            }
        }
    }

    #[test]
    fn a_context_has_one_position_across_a_rule_and_the_fallthrough(
        (config, envs, conditions, miss) in one_rule_flag(),
        ctx in context(),
    ) {
        let table = published(&config)?;
        let reader = table.reader();
        let flag = &config.features["f"];
        let p = flag.rollout_percentage.unwrap();
        // The same context (the same bucket key), once matching the rule and once not.
        let mut hit = ctx.clone().with_environment(envs[0]);
        hit.set_chain_height(ctx.chain_height().max(conditions.chain_height.unwrap_or(0)));
        hit.set_sync_progress(1.0);
        let outside = Environment::ALL.into_iter().find(|e| !envs.contains(e)).unwrap();
        let miss = match (miss, conditions.chain_height, conditions.sync_progress) {
            (1, Some(h), _) => hit.clone().with_chain_height(h - 1),
            (2, _, Some(s)) => hit.clone().with_sync_progress(s / 2.0),
            _ => hit.clone().with_environment(outside),
        };
        let on = rollout_holds("f", flag, p, &ctx);
        let e = reader.explain_name("f", &hit);
        prop_assert_eq!((e.enabled, e.reason, e.detail), (on, Reason::RuleSplit, Detail::Rule(0)));
        let e = reader.explain_name("f", &miss);
        let fallthrough = if on { Reason::RolloutIncluded } else { Reason::RolloutExcluded };
        prop_assert_eq!((e.enabled, e.reason, e.detail), (on, fallthrough, Detail::None));
        prop_assert_eq!(reader.check_name("f", &hit), reader.check_name("f", &miss));
    }

    #[test]
    fn raising_a_percentage_never_removes_a_key(
        salt in ".{0,20}", key in ".{0,40}", a in 0u32..=1_000_000, b in 0u32..=1_000_000
    ) {
        let (low, high) = (a.min(b), a.max(b));
        let salt = bucketing::salt_hash(Domain::Rollout, &salt);
        let key = bucketing::key_hash(&key);
        prop_assert!(!bucketing::in_rollout(key, salt, low) || bucketing::in_rollout(key, salt, high));
        prop_assert!(!bucketing::in_rollout(key, salt, 0));
        prop_assert!(bucketing::in_rollout(key, salt, bucketing::SCALE));
    }

    #[test]
    fn different_salts_give_independent_rollouts(a in "[a-z_]{1,12}", b in "[a-z_]{1,12}") {
        prop_assume!(a != b);
        let n = if cfg!(miri) { 50 } else { 20_000 };
        let (sa, sb) = (bucketing::salt_hash(Domain::Rollout, &a), bucketing::salt_hash(Domain::Rollout, &b));
        let ppm = bucketing::percentage_to_ppm(10.0).unwrap();
        let both = (0..n)
            .filter_map(|i| bucketing::key_hash(&format!("node-{i}")))
            .filter(|&k| bucketing::in_rollout(Some(k), sa, ppm) && bucketing::in_rollout(Some(k), sb, ppm))
            .count() as f64;
        let n = n as f64;
        let sigma = (n * 0.01 * 0.99).sqrt();
        // 5 sigma: many salt pairs are tried, so a 4-sigma bound would be crossed by chance.
        prop_assert!(cfg!(miri) || (both - n * 0.01).abs() <= 5.0 * sigma, "{} and {}: {} of {}", a, b, both, n);
    }
}
