//! Properties over generated configurations and contexts: `explain` agrees with `check`,
//! rollouts are monotonic and independent, a configuration survives serialize -> parse.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;
use vexil_core::bucketing::{self, Domain};
use vexil_core::model::{
    BucketBy, Conditions, Config, ConstraintValue, CustomConstraint, Experiment, FeatureFlag,
    Operator, Targets, Timestamp, Variant,
};
use vexil_core::{Environment, EvaluationContext, FlagTable};

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

fn flag(earlier: Vec<String>) -> impl Strategy<Value = FeatureFlag> {
    let requires = if earlier.is_empty() {
        Just(Vec::new()).boxed()
    } else {
        prop::sample::subsequence(earlier.clone(), 0..=earlier.len().min(2)).boxed()
    };
    (
        any::<bool>(),
        prop::option::of(percentage()),
        requires,
        prop::option::of((
            prop::option::of(instant()),
            prop::option::of(0u64..2_000),
            prop::option::of(0.0f64..=1.0),
            prop::collection::vec(constraint(), 0..3),
        )),
        prop::option::of((
            prop::option::of(prop::sample::subsequence(NODES[..4].to_vec(), 1..=3)),
            prop::option::of(prop::sample::subsequence(Environment::ALL.to_vec(), 1..=3)),
            prop::option::of(Just(vec![
                "10.0.0.0/8".to_string(),
                "2001:db8::/32".to_string(),
            ])),
        )),
        prop::option::of(prop_oneof![
            Just(BucketBy::NodeId),
            Just(BucketBy::ValidatorKey),
            Just(BucketBy::Attribute("region".into()))
        ]),
        prop::option::of("[a-z]{1,8}"),
    )
        .prop_map(
            |(enabled, rollout, requires, conditions, targets, bucket_by, salt)| {
                let mut f = FeatureFlag::new(enabled);
                f.rollout_percentage = rollout;
                f.requires = requires;
                f.bucket_by = bucket_by;
                f.salt = salt;
                f.conditions =
                    conditions.map(|(after, chain_height, sync_progress, custom)| Conditions {
                        after,
                        before: None,
                        chain_height,
                        sync_progress,
                        custom,
                    });
                f.targets = targets.map(|(nodes, envs, ips)| Targets {
                    node_ids: nodes.map(|n| n.into_iter().map(String::from).collect()),
                    validator_keys: None,
                    ip_ranges: ips,
                    environments: envs,
                });
                f
            },
        )
}

/// A valid configuration: flags `f0..fn`, each requiring only earlier ones (no cycles), and
/// optionally an experiment overriding some of them.
fn config() -> impl Strategy<Value = Config> {
    (1usize..7).prop_flat_map(|n| {
        let flags: Vec<BoxedStrategy<FeatureFlag>> = (0..n)
            .map(|i| flag((0..i).map(|j| format!("f{j}")).collect()).boxed())
            .collect();
        (
            flags,
            prop::option::of((instant(), 0.0f64..50.0, 0.0f64..50.0, any::<bool>())),
        )
            .prop_map(move |(flags, experiment)| {
                let mut c = Config::default();
                for (i, f) in flags.into_iter().enumerate() {
                    c.features.insert(format!("f{i}"), f);
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
                                    feature_overrides: BTreeMap::from([("f0".to_string(), value)]),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn explain_agrees_with_check(config in config(), ctxs in prop::collection::vec(context(), 1..8)) {
        let table: FlagTable = FlagTable::new(&[]);
        let compiled = table.compile(&config).map_err(|d| TestCaseError::fail(d.to_string()))?;
        table.publish(compiled.table);
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

    #[test]
    fn a_config_survives_serialize_then_parse(config in config()) {
        let text = toml::to_string(&config).unwrap();
        let again: Config = toml::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(config, again);
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
