//! Compilation rejects every semantically invalid configuration with a diagnostic naming the
//! flag or experiment and the field, and reports all problems at once.

mod common;

use vexil_core::compile::MAX_PREREQUISITE_DEPTH;
use vexil_core::model::{Config, FeatureFlag};
use vexil_core::{compile, Diagnostics, FlagTable, Scope, Severity};

fn diagnostics(toml_text: &str) -> Diagnostics {
    match compile::<1024>(&common::config(toml_text), &[]) {
        Ok(c) => Diagnostics(c.warnings),
        Err(d) => d,
    }
}

fn feature(name: &str) -> Scope {
    Scope::Feature(name.to_owned())
}

fn experiment(name: &str) -> Scope {
    Scope::Experiment(name.to_owned())
}

/// `(what, config, severity, scope, field, words in the message)`.
fn cases() -> Vec<(
    &'static str,
    String,
    Severity,
    Scope,
    &'static str,
    &'static str,
)> {
    use Severity::*;
    let f = |body: &str| format!("[features.f]\nenabled = true\n{body}");
    let custom = |c: &str| f(&format!("[features.f.conditions]\ncustom = [{c}]\n"));
    let exp = |body: &str| {
        format!(
            "[features.f]\nenabled = true\n[experiments.e]\nstart_time = 2024-01-01T00:00:00Z\n{body}"
        )
    };
    vec![
        ("empty flag name", "[features.\"\"]\nenabled = true\n".into(), Error, feature(""), "", "must not be empty"),
        ("percentage above 100", f("rollout_percentage = 100.5"), Error, feature("f"), "rollout_percentage", "from 0 to 100, found 100.5"),
        ("negative percentage", f("rollout_percentage = -1"), Error, feature("f"), "rollout_percentage", "found -1"),
        ("NaN percentage", f("rollout_percentage = nan"), Error, feature("f"), "rollout_percentage", "found NaN"),
        ("infinite percentage", f("rollout_percentage = inf"), Error, feature("f"), "rollout_percentage", "found inf"),
        ("sync_progress above 1", f("[features.f.conditions]\nsync_progress = 1.5"), Error, feature("f"), "conditions.sync_progress", "0.0 to 1.0"),
        ("before not after after", f("[features.f.conditions]\nafter = 2024-02-01T00:00:00Z\nbefore = 2024-02-01T00:00:00Z"), Error, feature("f"), "conditions.before", "later than"),
        ("invalid CIDR", f("[features.f.targets]\nip_ranges = [\"10.0.0.0/33\"]"), Error, feature("f"), "targets.ip_ranges[0]", "not a valid CIDR"),
        ("CIDR garbage", f("[features.f.targets]\nip_ranges = [\"10.0.0.0/8\", \"banana\"]"), Error, feature("f"), "targets.ip_ranges[1]", "`banana`"),
        ("CIDR host bits", f("[features.f.targets]\nip_ranges = [\"10.1.2.3/8\"]"), Warning, feature("f"), "targets.ip_ranges[0]", "host bits"),
        ("empty node list", f("[features.f.targets]\nnode_ids = []"), Error, feature("f"), "targets.node_ids", "match nothing"),
        ("empty environment list", f("[features.f.targets]\nenvironments = []"), Error, feature("f"), "targets.environments", "match nothing"),
        ("unknown prerequisite", f("requires = [\"ghost\"]"), Error, feature("f"), "requires[0]", "unknown flag `ghost`"),
        ("self prerequisite", f("requires = [\"f\"]"), Error, feature("f"), "requires[0]", "requires itself"),
        (
            "prerequisite cycle",
            "[features.a]\nenabled = true\nrequires = [\"b\"]\n[features.b]\nenabled = true\nrequires = [\"a\"]\n".into(),
            Error, feature("a"), "requires", "cycle: a -> b -> a",
        ),
        ("in without values", custom("{ attribute = \"a\", operator = \"in\", value = \"x\" }"), Error, feature("f"), "conditions.custom[0].value", "`values` list"),
        ("empty in list", custom("{ attribute = \"a\", operator = \"in\", values = [] }"), Error, feature("f"), "conditions.custom[0].values", "non-empty"),
        ("gt with a string", custom("{ attribute = \"a\", operator = \"gt\", value = \"x\" }"), Error, feature("f"), "conditions.custom[0].value", "finite number"),
        ("equals without value", custom("{ attribute = \"a\", operator = \"equals\" }"), Error, feature("f"), "conditions.custom[0].operator", "needs a `value`"),
        ("exists with value", custom("{ attribute = \"a\", operator = \"exists\", value = \"x\" }"), Error, feature("f"), "conditions.custom[0].operator", "neither"),
        ("invalid semver value", custom("{ attribute = \"a\", operator = \"semver_gte\", value = \"2.1\" }"), Error, feature("f"), "conditions.custom[0].value", "not a valid semantic version"),
        ("semver as a number", custom("{ attribute = \"a\", operator = \"semver_lt\", value = 2 }"), Error, feature("f"), "conditions.custom[0].value", "semantic version string"),
        ("empty attribute", custom("{ attribute = \"\", operator = \"exists\" }"), Error, feature("f"), "conditions.custom[0].attribute", "non-empty"),
        (
            "variants over 100",
            exp("variants = [{ name = \"a\", percentage = 60 }, { name = \"b\", percentage = 50 }]"),
            Error, experiment("e"), "variants", "sum to 110",
        ),
        (
            "duplicate variant",
            exp("variants = [{ name = \"a\", percentage = 10 }, { name = \"a\", percentage = 10 }]"),
            Error, experiment("e"), "variants[1].name", "duplicate variant name `a`",
        ),
        (
            "override of an unknown flag",
            exp("variants = [{ name = \"a\", percentage = 10, feature_overrides = { ghost = true } }]"),
            Error, experiment("e"), "variants[0].feature_overrides.ghost", "unknown flag `ghost`",
        ),
        (
            "end before start",
            exp("end_time = 2023-01-01T00:00:00Z\nvariants = [{ name = \"a\", percentage = 10 }]"),
            Error, experiment("e"), "end_time", "later than `start_time`",
        ),
        ("no variants", exp("variants = []"), Error, experiment("e"), "variants", "at least one variant"),
        ("NaN variant", exp("variants = [{ name = \"a\", percentage = nan }]"), Error, experiment("e"), "variants[0].percentage", "found NaN"),
        (
            "overlapping experiments on one flag",
            "[features.f]\nenabled = true\n\
             [experiments.a]\nstart_time = 2024-01-01T00:00:00Z\nend_time = 2024-03-01T00:00:00Z\n\
             variants = [{ name = \"x\", percentage = 50, feature_overrides = { f = true } }]\n\
             [experiments.b]\nstart_time = 2024-02-01T00:00:00Z\n\
             variants = [{ name = \"y\", percentage = 50, feature_overrides = { f = false } }]\n".into(),
            Error, experiment("b"), "variants", "`a` and `b` both override flag `f`",
        ),
    ]
}

#[test]
fn each_rule_names_scope_field_and_problem() {
    for (what, text, severity, scope, field, words) in cases() {
        let d = diagnostics(&text);
        let found = d.0.iter().find(|d| d.scope == scope && d.field == field);
        let found = found.unwrap_or_else(|| panic!("{what}: no diagnostic at {field}; got:\n{d}"));
        assert_eq!(found.severity, severity, "{what}: {found}");
        assert!(
            found.message.contains(words),
            "{what}: `{}` lacks `{words}`",
            found.message
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let d = diagnostics(
        "[features.a]\nenabled = true\nrollout_percentage = 101\nrequires = [\"ghost\"]\n\
         [features.a.targets]\nip_ranges = [\"x\"]\nnode_ids = []\n\
         [features.b]\nenabled = true\nrollout_percentage = nan\n",
    );
    assert_eq!(d.errors().count(), 5, "{d}");
}

#[test]
fn adjacent_experiment_windows_do_not_overlap() {
    let d = diagnostics(
        "[features.f]\nenabled = true\n\
         [experiments.a]\nstart_time = 2024-01-01T00:00:00Z\nend_time = 2024-02-01T00:00:00Z\n\
         variants = [{ name = \"x\", percentage = 50, feature_overrides = { f = true } }]\n\
         [experiments.b]\nstart_time = 2024-02-01T00:00:00Z\n\
         variants = [{ name = \"y\", percentage = 50, feature_overrides = { f = false } }]\n",
    );
    assert!(!d.has_errors(), "{d}");
}

#[test]
fn prerequisite_depth_is_bounded() {
    let chain = |depth: usize| {
        let mut config = Config::default();
        for i in 0..=depth {
            let mut flag = FeatureFlag::new(true);
            if i < depth {
                flag.requires = vec![format!("f{}", i + 1)];
            }
            config.features.insert(format!("f{i}"), flag);
        }
        config
    };
    assert!(compile::<1024>(&chain(MAX_PREREQUISITE_DEPTH), &[]).is_ok());
    let err = compile::<1024>(&chain(MAX_PREREQUISITE_DEPTH + 1), &[]).unwrap_err();
    assert!(err
        .errors()
        .any(|d| d.scope == feature("f0") && d.message.contains("nest")));
}

#[test]
fn capacity_is_enforced() {
    let mut config = Config::default();
    for i in 0..5 {
        config
            .features
            .insert(format!("f{i}"), FeatureFlag::new(true));
    }
    let table: FlagTable<4> = FlagTable::new(&[]);
    let err = table.compile(&config).unwrap_err();
    let d = err.errors().next().unwrap();
    assert_eq!(d.scope, Scope::Config);
    assert_eq!(d.field, "features");
    assert!(
        d.message
            .contains("5 flags exceed the table's capacity of 4"),
        "{d}"
    );
    config.features.remove("f4");
    assert!(table.compile(&config).is_ok());
}

#[test]
fn known_and_unknown_flags_are_warned_about() {
    let c = compile::<1024>(
        &common::config("[features.a]\nenabled = true\n[features.extra]\nenabled = true\n"),
        &["a", "missing"],
    )
    .unwrap();
    let w: Vec<String> = c.warnings.iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("`missing` is compiled into this binary but not defined")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("`extra` is not compiled into this binary")),
        "{w:?}"
    );
    assert_eq!(w.len(), 2);
}

#[test]
fn the_bundled_configuration_compiles_cleanly() {
    let c = compile::<1024>(&common::config(&common::bundled()), &[]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.table.len(), 13);
}

#[test]
fn serde_rejects_typos_wrong_types_and_offsetless_times() {
    let err = |text: &str| toml::from_str::<Config>(text).unwrap_err().to_string();
    assert!(err("[features.f]\nenabeld = true\n").contains("unknown field `enabeld`"));
    assert!(err("[features.f]\nenabled = \"yes\"\n").contains("invalid type"));
    assert!(
        err("[features.f]\nenabled = true\n[features.f.targets]\nenvironments = [\"prod\"]\n")
            .contains("unknown variant `prod`")
    );
    assert!(err("[features.f]\nenabled = true\n[features.f.conditions]\ncustom = [{ attribute = \"a\", operator = \"matches\", value = \"x\" }]\n")
        .contains("unknown variant `matches`"));
    let local = err("[features.f]\nenabled = true\ncreated_at = 2024-01-01T00:00:00\n");
    assert!(
        local.contains("invalid date-time `2024-01-01T00:00:00`"),
        "{local}"
    );
    let string = err("[features.f]\nenabled = true\ncreated_at = \"2024-01-01\"\n");
    assert!(string.contains("offset date-time"), "{string}");
    // Both spellings of an offset date-time are accepted and mean the same instant.
    let a: Config =
        toml::from_str("[features.f]\nenabled = true\ncreated_at = 2024-01-01T01:00:00+01:00\n")
            .unwrap();
    let b: Config =
        toml::from_str("[features.f]\nenabled = true\ncreated_at = \"2024-01-01T00:00:00Z\"\n")
            .unwrap();
    let at = |c: &Config| c.features["f"].created_at.unwrap().unix_micros();
    assert_eq!(at(&a), at(&b));
}

#[test]
fn a_config_survives_serialize_then_parse() {
    let original = common::config(&common::bundled());
    let text = toml::to_string(&original).unwrap();
    let again: Config = toml::from_str(&text).unwrap();
    assert_eq!(original, again, "{text}");
}
