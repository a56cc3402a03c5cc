//! Typed flags: every type through every path of the evaluation order, with
//! the variant served, its value, the reason, `check` as "the variant served is not the off
//! variant", type mismatches, the shares of a split, and a split's golden assignments checked
//! against an independent computation from the bucketing primitives.

mod common;

use vexil_core::bucketing::{self, Domain, SCALE};
use vexil_core::{Environment, EvaluationContext, Reason, Snapshot, Value};

/// The types under test, with their three variants' values as written in the file: `alpha`,
/// `beta` (the off variant) and `gamma` (the on variant), and as resolution hands them out.
struct Type {
    name: &'static str,
    /// `type = ...` and `variants = ...` lines; empty for boolean.
    head: &'static str,
    /// `(variant name, value)` for off, on and the other variant.
    off: (&'static str, Value<'static>),
    on: (&'static str, Value<'static>),
    other: (&'static str, Value<'static>),
    /// How a rule serves the other variant, and an override names it.
    other_literal: &'static str,
}

const TYPES: [Type; 5] = [
    Type {
        name: "boolean",
        head: "",
        off: ("false", Value::Bool(false)),
        on: ("true", Value::Bool(true)),
        // A boolean flag has two variants: its "other" is its on variant.
        other: ("true", Value::Bool(true)),
        other_literal: "true",
    },
    Type {
        name: "integer",
        head: "type = \"integer\"\nvariants = { alpha = -7, beta = 25, gamma = 100 }\n\
               on_variant = \"gamma\"\noff_variant = \"beta\"\n",
        off: ("beta", Value::Integer(25)),
        on: ("gamma", Value::Integer(100)),
        other: ("alpha", Value::Integer(-7)),
        other_literal: "\"alpha\"",
    },
    Type {
        name: "float",
        head: "type = \"float\"\nvariants = { alpha = 0.5, beta = 1, gamma = 2.25 }\n\
               on_variant = \"gamma\"\noff_variant = \"beta\"\n",
        off: ("beta", Value::Float(1.0)),
        on: ("gamma", Value::Float(2.25)),
        other: ("alpha", Value::Float(0.5)),
        other_literal: "\"alpha\"",
    },
    Type {
        name: "string",
        head: "type = \"string\"\nvariants = { alpha = \"a\", beta = \"b\", gamma = \"c\\\"d\" }\n\
               on_variant = \"gamma\"\noff_variant = \"beta\"\n",
        off: ("beta", Value::String("b")),
        on: ("gamma", Value::String("c\"d")),
        other: ("alpha", Value::String("a")),
        other_literal: "\"alpha\"",
    },
    Type {
        name: "json",
        head: "type = \"json\"\n\
               variants = { alpha = { k = [1, \"x\", 2.5], b = true }, beta = 3, gamma = \"s\" }\n\
               on_variant = \"gamma\"\noff_variant = \"beta\"\n",
        off: ("beta", Value::Json("3")),
        on: ("gamma", Value::Json("\"s\"")),
        other: ("alpha", Value::Json(r#"{"b":true,"k":[1,"x",2.5]}"#)),
        other_literal: "\"alpha\"",
    },
];

/// Every path's flag for one type, `T_<path>`.
fn flags_of(t: &Type) -> String {
    let n = t.name;
    let head = t.head;
    let other = t.other_literal;
    // A boolean flag has no split: its third rule serves instead.
    let third = if n == "boolean" {
        "{ targets = { environments = [\"development\"] }, serve = true }".to_owned()
    } else {
        "{ targets = { environments = [\"development\"] }, split = [ \
         { variant = \"alpha\", percentage = 30 }, { variant = \"beta\", percentage = 30 }, \
         { variant = \"gamma\", percentage = 40 } ] }"
            .to_owned()
    };
    format!(
        r#"
[features.{n}_enabled]
enabled = true
{head}
[features.{n}_disabled]
enabled = false
{head}
[features.{n}_rollout]
enabled = true
rollout_percentage = 50
{head}
[features.{n}_gated]
enabled = true
requires = ["gold"]
conditions = {{ chain_height = 100 }}
targets = {{ environments = ["mainnet", "canary", "development"] }}
{head}
[features.{n}_ruled]
enabled = true
rollout_percentage = 0
rules = [
  {{ segments = ["canaries"], serve = {other} }},
  {{ targets = {{ environments = ["testnet"] }}, rollout_percentage = 50 }},
  {third},
]
{head}
[features.{n}_overridden]
enabled = true
rollout_percentage = 0
{head}
"#
    )
}

fn config() -> String {
    let mut text = String::from(
        r#"
[segments.canaries]
targets = { environments = ["canary"] }

[features.gold]
enabled = true
conditions = { custom = [ { attribute = "tier", operator = "equals", value = "gold" } ] }

[experiments.exp]
start_time = 2024-01-01T00:00:00Z
variants = [ { name = "all", percentage = 100, feature_overrides = { "#,
    );
    let overrides: Vec<String> = TYPES
        .iter()
        .map(|t| format!("{}_overridden = {}", t.name, t.other_literal))
        .collect();
    text.push_str(&overrides.join(", "));
    text.push_str(" } } ]\n");
    for t in &TYPES {
        text.push_str(&flags_of(t));
    }
    text
}

fn ctx(node: &str, env: Environment) -> EvaluationContext {
    EvaluationContext::new(node)
        .with_environment(env)
        .with_chain_height(100)
        .with_attribute("tier", "gold")
}

/// Whether the flag's own 50 % rollout includes `node` (the bucketing contract, not the table).
fn in_rollout(flag: &str, node: &str, ppm: u32) -> bool {
    bucketing::in_rollout(
        bucketing::key_hash(node),
        bucketing::salt_hash(Domain::Rollout, flag),
        ppm,
    )
}

/// A node that the flag's 50 % rollout includes (`true`) or excludes (`false`).
fn node_where(flag: &str, included: bool) -> String {
    (0..)
        .map(|i| format!("node-{i}"))
        .find(|n| in_rollout(flag, n, SCALE / 2) == included)
        .unwrap()
}

/// The index of a variant by name: boolean `false`/`true` are 0/1; typed flags' variants are
/// in name order (alpha, beta, gamma).
fn index_of(t: &Type, variant: &str) -> u32 {
    let names: &[&str] = if t.name == "boolean" {
        &["false", "true"]
    } else {
        &["alpha", "beta", "gamma"]
    };
    names.iter().position(|&n| n == variant).unwrap() as u32
}

/// Resolves `flag` for `c` and checks the variant, value, reason, index, `check` and the typed
/// accessor of the flag's own type.
fn expect(
    s: &Snapshot<'_>,
    t: &Type,
    flag: &str,
    c: &EvaluationContext,
    want: (&str, Value<'_>),
    reason: Reason,
) {
    let r = s.value_name(flag, c);
    let what = format!("{flag} for {:?}", c.node_id());
    assert_eq!((r.variant, r.value), want, "{what}: variant and value");
    assert_eq!(r.evaluation.reason, reason, "{what}: reason");
    assert_eq!(r.evaluation.variant, index_of(t, want.0), "{what}: index");
    let on = want.0 != t.off.0;
    assert_eq!(r.evaluation.enabled, on, "{what}: enabled");
    assert_eq!(s.check_name(flag, c), on, "{what}: check is variant != off");
    let i = s.index_of(flag).unwrap();
    assert_eq!(s.explain(i, c), r.evaluation, "{what}: explain");
    assert_eq!(s.value(i, c), r, "{what}: by key and by name");
    // The accessor of the flag's own type gives the same value.
    let got = match want.1 {
        Value::Bool(_) => Value::Bool(s.boolean(i, c, !on).value),
        Value::Integer(_) => Value::Integer(s.integer(i, c, i64::MIN).value),
        Value::Float(_) => Value::Float(s.float(i, c, f64::NAN).value),
        Value::String(_) => Value::String(s.string(i, c, "default").value),
        Value::Json(_) => Value::Json(s.json(i, c, "default").value),
        _ => unreachable!("the types under test"),
    };
    assert_eq!(got, want.1, "{what}: typed accessor");
}

#[test]
fn every_type_through_every_path() {
    let table = common::table(&config());
    let s = table.snapshot();
    let mainnet = Environment::Mainnet;
    let mut now = ctx("node-1", mainnet);
    now.set_now_micros(common::micros("2025-01-01T00:00:00Z"));
    for t in &TYPES {
        let n = t.name;
        let f = |path: &str| format!("{n}_{path}");
        let c = ctx("node-1", mainnet);
        expect(&s, t, &f("enabled"), &c, t.on, Reason::Enabled);
        expect(&s, t, &f("disabled"), &c, t.off, Reason::Disabled);
        // Rollout: a node in, a node out, a context without a key.
        let rollout = f("rollout");
        let inside = ctx(&node_where(&rollout, true), mainnet);
        let outside = ctx(&node_where(&rollout, false), mainnet);
        expect(&s, t, &rollout, &inside, t.on, Reason::RolloutIncluded);
        expect(&s, t, &rollout, &outside, t.off, Reason::RolloutExcluded);
        let keyless = ctx("", mainnet);
        expect(&s, t, &rollout, &keyless, t.off, Reason::RolloutExcluded);
        // The gates: a prerequisite, a condition, a target list.
        let gated = f("gated");
        expect(&s, t, &gated, &c, t.on, Reason::Enabled);
        let not_gold = EvaluationContext::new("node-1")
            .with_environment(mainnet)
            .with_chain_height(100);
        expect(&s, t, &gated, &not_gold, t.off, Reason::PrerequisiteFailed);
        let low = ctx("node-1", mainnet).with_chain_height(99);
        expect(&s, t, &gated, &low, t.off, Reason::ConditionFailed);
        let testnet = ctx("node-1", Environment::Testnet);
        expect(&s, t, &gated, &testnet, t.off, Reason::TargetMismatch);
        // Rules: a served variant, a rule's rollout both ways, the fallthrough.
        let ruled = f("ruled");
        let canary = ctx("node-1", Environment::Canary);
        expect(&s, t, &ruled, &canary, t.other, Reason::RuleMatch);
        let rule_in = ctx(&node_where(&ruled, true), Environment::Testnet);
        let rule_out = ctx(&node_where(&ruled, false), Environment::Testnet);
        expect(&s, t, &ruled, &rule_in, t.on, Reason::RuleSplit);
        expect(&s, t, &ruled, &rule_out, t.off, Reason::RuleSplit);
        expect(&s, t, &ruled, &c, t.off, Reason::RolloutExcluded);
        // An experiment's override by variant name (active only with an instant).
        let overridden = f("overridden");
        expect(
            &s,
            t,
            &overridden,
            &now,
            t.other,
            Reason::ExperimentOverride,
        );
        expect(&s, t, &overridden, &c, t.off, Reason::RolloutExcluded);
        // Unknown: `false`, variant 0.
        let r = s.value_name("no_such_flag", &c);
        assert_eq!((r.variant, r.value), ("false", Value::Bool(false)));
        assert_eq!(
            (r.evaluation.reason, r.evaluation.variant),
            (Reason::UnknownFlag, 0)
        );
    }
}

#[test]
fn a_split_serves_by_position_and_a_keyless_context_the_off_variant() {
    let table = common::table(&config());
    let s = table.snapshot();
    let t = &TYPES[1];
    let flag = "integer_ruled";
    let salt = bucketing::salt_hash(Domain::Rollout, flag);
    for i in 0..200 {
        let node = format!("node-{i}");
        let position =
            bucketing::position(bucketing::bucket(bucketing::key_hash(&node).unwrap(), salt));
        let want = match position {
            p if p < 300_000 => t.other,
            p if p < 600_000 => t.off,
            _ => t.on,
        };
        let c = ctx(&node, Environment::Development);
        expect(&s, t, flag, &c, want, Reason::RuleSplit);
    }
    let keyless = ctx("", Environment::Development);
    expect(&s, t, flag, &keyless, t.off, Reason::RuleSplit);
}

#[test]
fn split_shares_hold_for_100_000_keys() {
    let table = common::table(&config());
    let s = table.snapshot();
    let i = s.index_of("integer_ruled").unwrap();
    let mut c = ctx("", Environment::Development);
    let mut counts = [0usize; 3];
    const KEYS: usize = 100_000;
    for k in 0..KEYS {
        c.set_node_id(format!("key-{k}"));
        counts[s.explain(i, &c).variant as usize] += 1;
    }
    // alpha 30 %, beta 30 %, gamma 40 %, each within 4 standard deviations.
    for (count, share) in counts.into_iter().zip([0.3, 0.3, 0.4]) {
        let n = KEYS as f64;
        let sigma = (n * share * (1.0 - share)).sqrt();
        let off = (count as f64 - n * share).abs();
        assert!(off < 4.0 * sigma, "{count} of {KEYS} for a {share} share");
    }
}

#[test]
fn another_type_gives_the_default_with_type_mismatch() {
    let table = common::table(&config());
    let s = table.snapshot();
    let c = ctx("node-1", Environment::Mainnet);
    for t in &TYPES {
        let i = s.index_of(&format!("{}_enabled", t.name)).unwrap();
        let off = index_of(t, t.off.0);
        let own = s.value(i, &c).evaluation.generation;
        let mismatched = |reason: Reason, variant: u32, generation: u64, kind: &str| {
            assert_eq!(reason, Reason::TypeMismatch, "{} asked for {kind}", t.name);
            assert_eq!(variant, off, "{} asked for {kind}: the off variant", t.name);
            assert_eq!(generation, own);
        };
        if !matches!(t.on.1, Value::Integer(_)) {
            let r = s.integer(i, &c, 7);
            assert_eq!(r.value, 7);
            mismatched(r.reason, r.variant, r.generation, "an integer");
        }
        if !matches!(t.on.1, Value::Float(_)) {
            let r = s.float(i, &c, 7.5);
            assert_eq!(r.value, 7.5);
            mismatched(r.reason, r.variant, r.generation, "a float");
        }
        if !matches!(t.on.1, Value::Bool(_)) {
            let r = s.boolean(i, &c, true);
            assert!(r.value);
            mismatched(r.reason, r.variant, r.generation, "a boolean");
        }
        if !matches!(t.on.1, Value::String(_)) {
            let r = s.string(i, &c, "dflt");
            assert_eq!(r.value, "dflt");
            mismatched(r.reason, r.variant, r.generation, "a string");
        }
        if !matches!(t.on.1, Value::Json(_)) {
            let r = s.json(i, &c, "{}");
            assert_eq!(r.value, "{}");
            mismatched(r.reason, r.variant, r.generation, "json");
        }
    }
    assert_eq!(Reason::TypeMismatch.as_str(), "type_mismatch");
    // An unknown flag gives the default, with its own reason.
    let r = s.integer(usize::MAX, &c, 3);
    assert_eq!((r.value, r.reason), (3, Reason::UnknownFlag));
}

#[test]
fn readers_resolve_copyable_values() {
    let table = common::table(&config());
    let reader = table.reader();
    let s = table.snapshot();
    let c = ctx("node-1", Environment::Canary);
    let i = s.index_of("integer_ruled").unwrap();
    let r = reader.integer(i, &c, 0);
    assert_eq!((r.value, r.reason, r.variant), (-7, Reason::RuleMatch, 0));
    let f = s.index_of("float_enabled").unwrap();
    assert_eq!(reader.float(f, &c, 0.0).value, 2.25);
    let b = s.index_of("boolean_disabled").unwrap();
    assert_eq!(
        (
            reader.boolean(b, &c, true).value,
            reader.boolean(b, &c, true).reason
        ),
        (false, Reason::Disabled)
    );
    assert_eq!(reader.integer(f, &c, 9).reason, Reason::TypeMismatch);
}

/// A fixed split and ten fixed node ids, with the variant each is served. The expected
/// variants are written here; the test also recomputes them from the bucketing primitives
/// (key hash, salt hash, bucket, position, the cumulative shares in listed order), so a change
/// of either the bucketing or the split reshuffling a fleet fails here.
#[test]
fn split_golden_assignments() {
    let table = common::table(
        r#"
[features.max_peers]
enabled = true
type = "integer"
variants = { few = 25, normal = 50, many = 100 }
on_variant = "normal"
off_variant = "few"
rules = [ { split = [ { variant = "many", percentage = 12.5 }, { variant = "few", percentage = 37.5 }, { variant = "normal", percentage = 50 } ] } ]
"#,
    );
    const GOLDEN: [(&str, &str); 10] = [
        ("node-0", "many"),
        ("node-1", "normal"),
        ("node-2", "normal"),
        ("node-3", "normal"),
        ("node-4", "normal"),
        ("validator-eu-7", "many"),
        ("validator-us-3", "normal"),
        ("0x5f3a9c", "normal"),
        ("peer-a", "few"),
        ("peer-b", "normal"),
    ];
    let salt = bucketing::salt_hash(Domain::Rollout, "max_peers");
    let shares = [("many", 12.5), ("few", 37.5), ("normal", 50.0)];
    let s = table.snapshot();
    for (node, want) in GOLDEN {
        let position =
            bucketing::position(bucketing::bucket(bucketing::key_hash(node).unwrap(), salt));
        let mut upper = 0u32;
        let independent = shares
            .iter()
            .find(|(_, p)| {
                upper += (p * 10_000.0) as u32;
                position < upper
            })
            .unwrap()
            .0;
        let r = s.value_name("max_peers", &EvaluationContext::new(node));
        assert_eq!(independent, want, "{node}: the bucketing contract");
        assert_eq!(r.variant, want, "{node}: the table");
        assert_eq!(r.evaluation.reason, Reason::RuleSplit);
    }
}

#[test]
fn typed_configs_survive_serialize_then_parse_and_values_read_as_written() {
    use vexil_core::model::{Config, FlagType, ServeValue, VariantValue};
    let original = common::config(&config());
    let text = toml::to_string(&original).unwrap();
    let again: Config = toml::from_str(&text).unwrap();
    assert_eq!(original, again, "{text}");
    let json = serde_json::to_string(&original).unwrap();
    let again: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(original, again, "{json}");

    let f = &original.features["integer_ruled"];
    assert_eq!(f.flag_type, Some(FlagType::Integer));
    assert_eq!(f.variants["alpha"], VariantValue::Integer(-7));
    assert_eq!(
        f.rules[0].serve,
        Some(ServeValue::Variant("alpha".to_owned()))
    );
    assert_eq!(
        original.features["boolean_ruled"].rules[0].serve,
        Some(true.into())
    );

    // A TOML date-time in a json variant is its text; an integer above i64::MAX is refused.
    let c = common::config(
        "[features.j]\nenabled = true\ntype = \"json\"\n\
         variants = { at = 2024-01-01T00:00:00Z, list = [2024-01-02T00:00:00Z] }\n\
         on_variant = \"at\"\noff_variant = \"list\"\n",
    );
    let table = common::table(&toml::to_string(&c).unwrap());
    let s = table.snapshot();
    let e = EvaluationContext::new("n");
    assert_eq!(s.json(0usize, &e, "").value, r#""2024-01-01T00:00:00Z""#);
    let too_big = "[features.b]\nenabled = true\ntype = \"integer\"\n\
                   variants = { huge = 9223372036854775808 }\n";
    let err = toml::from_str::<Config>(too_big).unwrap_err().to_string();
    assert!(err.contains("above 9223372036854775807"), "{err}");
}

#[test]
fn check_is_the_variant_not_being_off_for_every_flag_and_context() {
    let table = common::table(&config());
    let s = table.snapshot();
    let reader = table.reader();
    let envs = [
        Environment::Mainnet,
        Environment::Testnet,
        Environment::Canary,
        Environment::Development,
    ];
    for i in 0..400 {
        let mut c = ctx(&format!("node-{i}"), envs[i % 4]).with_chain_height(99 + (i % 3) as u64);
        if i % 5 == 0 {
            c.set_now_micros(common::micros("2025-01-01T00:00:00Z"));
        }
        for (flag, name, _) in s.flags() {
            let e = s.explain(flag, &c);
            let r = s.value(flag, &c);
            // Typed flags' off variant is `beta`, index 1; a boolean flag's is `false`, 0.
            let typed = TYPES[1..].iter().any(|t| name.starts_with(t.name));
            let off = u32::from(typed);
            assert_eq!(e, r.evaluation, "{name}");
            assert_eq!(e.enabled, e.variant != off, "{name}: on is not off");
            assert_eq!(s.check(flag, &c), e.enabled, "{name}: snapshot check");
            assert_eq!(reader.check(flag, &c), e.enabled, "{name}: reader check");
            if !typed {
                assert_eq!(e.variant, u32::from(e.enabled), "{name}: boolean variant");
                assert_eq!(r.value, Value::Bool(e.enabled), "{name}: boolean value");
            }
        }
    }
}
