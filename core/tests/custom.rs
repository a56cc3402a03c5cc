//! Custom constraints: every operator, missing attributes, numbers and semver precedence.

mod common;

use vexil_core::{ConditionKind, Detail, EvaluationContext, Reason};

fn flag(operator: &str, operand: &str) -> String {
    flag_on("a", operator, operand)
}

fn flag_on(attribute: &str, operator: &str, operand: &str) -> String {
    format!(
        "[features.f]\nenabled = true\n[features.f.conditions]\ncustom = [{{ attribute = \"{attribute}\", operator = \"{operator}\"{operand} }}]\n"
    )
}

/// `(operator, operand, attribute value or None, expected)`.
const CASES: &[(&str, &str, Option<&str>, bool)] = &[
    ("equals", ", value = \"x\"", Some("x"), true),
    ("equals", ", value = \"x\"", Some("y"), false),
    ("equals", ", value = \"x\"", None, false),
    ("not_equals", ", value = \"x\"", Some("y"), true),
    ("not_equals", ", value = \"x\"", Some("x"), false),
    ("not_equals", ", value = \"x\"", None, true),
    ("in", ", values = [\"x\", \"y\"]", Some("y"), true),
    ("in", ", values = [\"x\", \"y\"]", Some("z"), false),
    ("in", ", values = [\"x\", \"y\"]", None, false),
    ("not_in", ", values = [\"x\", \"y\"]", Some("z"), true),
    ("not_in", ", values = [\"x\", \"y\"]", Some("x"), false),
    ("not_in", ", values = [\"x\", \"y\"]", None, true),
    ("exists", "", Some(""), true),
    ("exists", "", None, false),
    ("not_exists", "", None, true),
    ("not_exists", "", Some("x"), false),
    ("gt", ", value = 10", Some("10.5"), true),
    ("gt", ", value = 10", Some("10"), false),
    ("gt", ", value = 10", Some("ten"), false),
    ("gt", ", value = 10", None, false),
    ("gte", ", value = 10", Some("10"), true),
    ("gte", ", value = 10", Some("9.99"), false),
    ("lt", ", value = 2.5", Some("-1"), true),
    ("lt", ", value = 2.5", Some("2.5"), false),
    ("lte", ", value = 2.5", Some("2.5"), true),
    ("lte", ", value = 2.5", Some("1e3"), false),
    ("lte", ", value = 2.5", Some("NaN"), false),
    ("starts_with", ", value = \"eu-\"", Some("eu-west"), true),
    ("starts_with", ", value = \"eu-\"", Some("us-east"), false),
    ("starts_with", ", value = \"eu-\"", None, false),
    ("ends_with", ", value = \"-west\"", Some("eu-west"), true),
    ("ends_with", ", value = \"-west\"", Some("eu-east"), false),
    ("contains", ", value = \"u-w\"", Some("eu-west"), true),
    ("contains", ", value = \"u-w\"", Some("eu-east"), false),
    (
        "semver_eq",
        ", value = \"1.0.0\"",
        Some("1.0.0+build.5"),
        true,
    ),
    (
        "semver_eq",
        ", value = \"1.0.0\"",
        Some("1.0.0-rc.1"),
        false,
    ),
    ("semver_gt", ", value = \"1.0.0\"", Some("1.10.0"), true),
    (
        "semver_gt",
        ", value = \"1.0.0\"",
        Some("not-a-version"),
        false,
    ),
    ("semver_gt", ", value = \"1.0.0\"", None, false),
    ("semver_gte", ", value = \"2.1.0\"", Some("2.1.0"), true),
    (
        "semver_gte",
        ", value = \"2.1.0\"",
        Some("2.1.0-beta"),
        false,
    ),
    (
        "semver_lt",
        ", value = \"1.0.0\"",
        Some("1.0.0-alpha"),
        true,
    ),
    ("semver_lt", ", value = \"1.0.0\"", Some("1.0.0"), false),
    ("semver_lte", ", value = \"1.0.0\"", Some("1.0.0"), true),
    ("semver_lte", ", value = \"1.0.0\"", Some("1.0.1"), false),
];

#[test]
fn every_operator() {
    for &(op, operand, value, expected) in CASES {
        let t = common::table(&flag(op, operand));
        let mut ctx = EvaluationContext::new("n");
        if let Some(v) = value {
            ctx.set_attribute("a", v);
        }
        let e = t.reader().explain_name("f", &ctx);
        assert_eq!(e.enabled, expected, "{op}{operand} on {value:?}");
        if !expected {
            assert_eq!(e.reason, Reason::ConditionFailed);
            assert_eq!(e.detail, Detail::Condition(ConditionKind::Custom(0)));
        }
    }
}

#[test]
fn semver_precedence_chain() {
    // 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0 < 1.10.0, and build metadata is ignored.
    let chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0", "1.10.0"];
    for (i, lower) in chain.iter().enumerate() {
        for (j, higher) in chain.iter().enumerate() {
            let t = common::table(&flag("semver_lt", &format!(", value = \"{higher}\"")));
            let ctx = EvaluationContext::new("n").with_attribute("a", *lower);
            assert_eq!(
                t.reader().check_name("f", &ctx),
                i < j,
                "{lower} < {higher} should be {}",
                i < j
            );
        }
    }
    let t = common::table(&flag("semver_eq", ", value = \"1.0.0+a\""));
    let ctx = EvaluationContext::new("n").with_attribute("a", "1.0.0+b");
    assert!(
        t.reader().check_name("f", &ctx),
        "build metadata is ignored"
    );
}

#[test]
fn all_constraints_must_hold_and_the_first_failure_is_named() {
    let t = common::table(
        r#"
[features.f]
enabled = true
[features.f.conditions]
custom = [
  { attribute = "region", operator = "in", values = ["eu-west", "eu-central"] },
  { attribute = "client_version", operator = "semver_gte", value = "2.1.0" },
]
"#,
    );
    let r = t.reader();
    let ctx = |region: &str, version: &str| {
        EvaluationContext::new("n")
            .with_attribute("region", region)
            .with_attribute("client_version", version)
    };
    assert!(r.check_name("f", &ctx("eu-west", "2.1.0")));
    assert_eq!(
        r.explain_name("f", &ctx("us-east", "1.0.0")).detail,
        Detail::Condition(ConditionKind::Custom(0))
    );
    assert_eq!(
        r.explain_name("f", &ctx("eu-central", "2.0.9")).detail,
        Detail::Condition(ConditionKind::Custom(1))
    );
}

#[test]
fn every_semver_operator_agrees_with_semver_precedence() {
    // Releases take the (major, minor, patch) path, pre-releases the full comparison; both
    // must give what the `semver` crate's precedence gives.
    let versions = [
        "0.9.9",
        "1.0.0",
        "1.0.0+meta",
        "1.0.1",
        "1.1.0",
        "1.10.0",
        "2.0.0",
        "1.0.0-alpha",
        "1.0.0-rc.1",
        "1.1.0-beta",
    ];
    type Accepts = fn(std::cmp::Ordering) -> bool;
    let ops: [(&str, Accepts); 5] = [
        ("semver_eq", |o| o.is_eq()),
        ("semver_gt", |o| o.is_gt()),
        ("semver_gte", |o| o.is_ge()),
        ("semver_lt", |o| o.is_lt()),
        ("semver_lte", |o| o.is_le()),
    ];
    // Names of 8 to 16 bytes take the check's inline name compare; the others its slice
    // compare. Each context also holds names that share a prefix or a suffix with the
    // constraint's (some of its length), set to a value that the operator answers differently.
    let names = [
        "a",
        "version1",
        "client_version",
        "sixteen_bytes_ab",
        "seventeen_bytes_a",
    ];
    for name in names {
        for want in versions {
            for (op, expect) in ops {
                let t = common::table(&flag_on(name, op, &format!(", value = \"{want}\"")));
                let r = t.reader();
                for have in versions {
                    let ord = semver::Version::parse(have)
                        .unwrap()
                        .cmp_precedence(&semver::Version::parse(want).unwrap());
                    // A decoy read in place of the attribute would change the answer.
                    let accepted = versions.iter().find(|v| {
                        expect(
                            semver::Version::parse(v)
                                .unwrap()
                                .cmp_precedence(&semver::Version::parse(want).unwrap()),
                        )
                    });
                    let decoy = match (expect(ord), accepted) {
                        (false, Some(v)) => v,
                        _ => "no-version",
                    };
                    let mut ctx = EvaluationContext::new("n").with_attribute(name, have);
                    for other in [&name[1..], &name[..name.len() - 1]] {
                        ctx.set_attribute(other, decoy);
                    }
                    ctx.set_attribute(format!("{name}x"), decoy);
                    ctx.set_attribute(format!("x{name}"), decoy);
                    // The same length, one byte apart at either end.
                    ctx.set_attribute(format!("{}#", &name[..name.len() - 1]), decoy);
                    ctx.set_attribute(format!("#{}", &name[1..]), decoy);
                    let at = format!("{have} {op} {want} on `{name}`");
                    assert_eq!(r.check_name("f", &ctx), expect(ord), "{at}");
                    assert_eq!(r.explain_name("f", &ctx).enabled, expect(ord), "{at}");
                }
            }
        }
    }
}

#[test]
fn a_version_constraint_on_a_missing_or_unversioned_attribute_fails() {
    for name in ["a", "client_version", "seventeen_bytes_a"] {
        let t = common::table(&flag_on(name, "semver_lte", ", value = \"9.0.0\""));
        let r = t.reader();
        let longer = format!("{name}_");
        for ctx in [
            EvaluationContext::new("n"),
            EvaluationContext::new("n").with_attribute(longer.as_str(), "1.0.0"),
            EvaluationContext::new("n").with_attribute(name, "one"),
        ] {
            assert!(!r.check_name("f", &ctx), "{name} in {:?}", ctx.attributes());
            assert_eq!(
                r.explain_name("f", &ctx).detail,
                Detail::Condition(ConditionKind::Custom(0))
            );
        }
        let ctx = EvaluationContext::new("n").with_attribute(name, "1.0.0");
        assert!(r.check_name("f", &ctx), "{name}");
    }
}
