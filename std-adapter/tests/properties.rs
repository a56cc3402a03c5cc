//! Properties of the adapter: validation never panics on arbitrary TOML values, and a
//! configuration has no changes against itself.

use proptest::prelude::*;
use vexil::validate::{self, Limits};

fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(toml::Value::Boolean),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<f64>().prop_map(toml::Value::Float),
        ".{0,12}".prop_map(toml::Value::String),
        Just(toml::Value::String("2024-02-01T00:00:00Z".into())),
        Just(toml::Value::String("10.0.0.0/8".into())),
        Just(
            "2024-02-01T00:00:00"
                .parse::<toml::value::Datetime>()
                .map(toml::Value::Datetime)
                .unwrap()
        ),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "enabled",
                    "rollout_percentage",
                    "requires",
                    "targets",
                    "conditions",
                    "custom",
                    "node_ids",
                    "ip_ranges",
                    "environments",
                    "after",
                    "before",
                    "attribute",
                    "operator",
                    "value",
                    "values",
                    "variants",
                    "name",
                    "percentage",
                    "feature_overrides",
                    "start_time",
                    "end_time",
                    "salt",
                    "bucket_by",
                    "x",
                ])
                .prop_map(String::from),
                inner,
                0..5,
            )
            .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    (
        prop::collection::btree_map("[a-z]{1,6}", toml_value(), 0..4),
        prop::collection::btree_map("[a-z]{1,6}", toml_value(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(features, experiments, stray)| {
            let mut root = toml::Table::new();
            root.insert(
                "features".into(),
                toml::Value::Table(features.into_iter().collect()),
            );
            if !experiments.is_empty() {
                root.insert(
                    "experiments".into(),
                    toml::Value::Table(experiments.into_iter().collect()),
                );
            }
            if stray {
                root.insert("stray".into(), toml::Value::Integer(1));
            }
            toml::to_string(&root).unwrap_or_default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validation_never_panics_and_errors_carry_positions(text in document()) {
        match validate::validate_bytes::<64>(text.as_bytes(), "p.toml", &["enabled"], &Limits::default()) {
            Ok(v) => {
                // Whatever validates also compiles and evaluates.
                let table: vexil_core::FlagTable<64> = vexil_core::FlagTable::new(&[]);
                table.publish(v.table);
                let s = table.snapshot();
                for (i, _, _) in s.flags() {
                    let _ = s.explain(i, &vexil::EvaluationContext::new("n"));
                }
            }
            Err(r) => {
                prop_assert!(r.errors().count() > 0);
                for p in r.errors() {
                    prop_assert!(p.to_string().starts_with("p.toml:"));
                    prop_assert!(p.line <= text.lines().count() + 1, "{} in\n{}", p, text);
                }
            }
        }
    }

    #[test]
    fn a_config_has_no_changes_against_itself(text in document()) {
        if let Ok(config) = validate::parse_config(&text, "p.toml") {
            prop_assert!(vexil::diff::diff(&config, &config).is_empty());
        }
    }
}

#[test]
fn the_bundled_config_has_no_changes_against_itself() {
    let c = validate::read_config(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/features.toml"
    ))
    .unwrap();
    assert!(vexil::diff::diff(&c, &c).is_empty());
}
