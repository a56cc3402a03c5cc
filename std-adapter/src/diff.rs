//! Field-level differences between two configurations, as the audit log records them and
//! `vexil diff` prints them.
//!
//! Each flag, segment and experiment is compared field by field, down to dotted paths
//! (`conditions.after`, `targets.node_ids`, `metadata.owner`) and into lists of tables by index
//! (`rules[1].serve`, `variants[0].percentage`); a change is one path whose value differs. A
//! list of values (`targets.node_ids`) is one field. An item or a list element added or
//! removed is one change with the whole item (field `*`) or element (`rules[2]`) as the new
//! or old value.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use vexil_core::model::Config;

/// One changed field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// The flag, for a flag's field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// The experiment, for an experiment's field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The segment, for a segment's field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The field path, or `*` for the whole item (added or removed).
    pub field: String,
    /// The value before (`null` when absent).
    pub old: Value,
    /// The value after (`null` when absent).
    pub new: Value,
    /// The flag's `updated_by` (after the change, or before it for a removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl FieldChange {
    /// The changed key as written in the file: `features.NAME.FIELD`, `segments.NAME.FIELD`,
    /// `experiments.NAME.FIELD`, or the item's own path for a whole item added or removed.
    pub fn key_path(&self) -> String {
        let item = [
            ("features", &self.flag),
            ("segments", &self.segment),
            ("experiments", &self.experiment),
        ]
        .into_iter()
        .find_map(|(section, name)| Some(format!("{section}.{}", name.as_ref()?)))
        .unwrap_or_default();
        if self.field == "*" {
            item
        } else {
            format!("{item}.{}", self.field)
        }
    }
}

/// Every changed field between two configurations: flags, then segments, then experiments,
/// each in name and field order.
pub fn diff(old: &Config, new: &Config) -> Vec<FieldChange> {
    let mut out = Vec::new();
    section_changes(&mut out, &old.features, &new.features, |name, a, b| Item {
        flag: Some(name.clone()),
        updated_by: b.or(a).and_then(|f| f.updated_by.clone()),
        ..Item::default()
    });
    section_changes(&mut out, &old.segments, &new.segments, |name, _, _| Item {
        segment: Some(name.clone()),
        ..Item::default()
    });
    section_changes(
        &mut out,
        &old.experiments,
        &new.experiments,
        |name, _, _| Item {
            experiment: Some(name.clone()),
            ..Item::default()
        },
    );
    out
}

/// The changes of every item of one top-level table, in name order; `item` says which item a
/// name is (and who changed it), from its old and new definitions.
fn section_changes<T: Serialize>(
    out: &mut Vec<FieldChange>,
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    item: impl Fn(&String, Option<&T>, Option<&T>) -> Item,
) {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let (a, b) = (old.get(name), new.get(name));
        item_changes(out, &item(name, a, b), a.map(to_value), b.map(to_value));
    }
}

/// The flags whose definition a list of changes touches: the flags changed, and the flags
/// whose rules name a changed segment (in the old or the new configuration).
pub fn changed_flags(changes: &[FieldChange], old: &Config, new: &Config) -> Vec<String> {
    let segments: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| c.segment.as_deref())
        .collect();
    let mut flags: BTreeSet<String> = changes.iter().filter_map(|c| c.flag.clone()).collect();
    if !segments.is_empty() {
        for (name, flag) in old.features.iter().chain(&new.features) {
            let names_one = flag
                .rules
                .iter()
                .flat_map(|r| r.segments.iter().flatten())
                .any(|s| segments.contains(s.as_str()));
            if names_one {
                flags.insert(name.clone());
            }
        }
    }
    flags.into_iter().collect()
}

fn to_value<T: Serialize>(item: &T) -> Value {
    serde_json::to_value(item).unwrap_or(Value::Null)
}

/// Which item changes are about, and who changed a flag.
#[derive(Default)]
struct Item {
    flag: Option<String>,
    experiment: Option<String>,
    segment: Option<String>,
    updated_by: Option<String>,
}

fn item_changes(out: &mut Vec<FieldChange>, item: &Item, old: Option<Value>, new: Option<Value>) {
    let change = |field: String, old: Value, new: Value| FieldChange {
        flag: item.flag.clone(),
        experiment: item.experiment.clone(),
        segment: item.segment.clone(),
        field,
        old,
        new,
        updated_by: item.updated_by.clone(),
    };
    match (old, new) {
        (None, None) => {}
        (None, Some(new)) => out.push(change("*".to_owned(), Value::Null, new)),
        (Some(old), None) => out.push(change("*".to_owned(), old, Value::Null)),
        (Some(old), Some(new)) => {
            let mut fields = BTreeMap::new();
            compare("", Some(&old), Some(&new), &mut fields);
            out.extend(
                fields
                    .into_iter()
                    .map(|(field, (old, new))| change(field, old, new)),
            );
        }
    }
}

/// The changed fields below `path`, by path: tables key by key (a table on one side only
/// field by field against nothing), lists of tables element by element, anything else (a
/// value, a list of values) as one field.
fn compare(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut BTreeMap<String, (Value, Value)>,
) {
    let key = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for k in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                compare(&key(k), a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Object(a)), None) => {
            for (k, v) in a {
                compare(&key(k), Some(v), None, out);
            }
        }
        (None, Some(Value::Object(b))) => {
            for (k, v) in b {
                compare(&key(k), None, Some(v), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if tables(a) && tables(b) => {
            for i in 0..a.len().max(b.len()) {
                let (x, y) = (a.get(i), b.get(i));
                let at = format!("{path}[{i}]");
                match (x, y) {
                    (Some(x), Some(y)) => compare(&at, Some(x), Some(y), out),
                    // An element added or removed is one change.
                    _ if x != y => {
                        out.insert(at, (or_null(x), or_null(y)));
                    }
                    _ => {}
                }
            }
        }
        (x, y) if x != y => {
            out.insert(path.to_owned(), (or_null(x), or_null(y)));
        }
        _ => {}
    }
}

/// Whether a list holds tables (rules, variants, custom constraints) and nothing else.
fn tables(list: &[Value]) -> bool {
    !list.is_empty() && list.iter().all(Value::is_object)
}

fn or_null(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn same_config_has_no_changes() {
        let c = config(include_str!("../../config/features.toml"));
        assert!(diff(&c, &c).is_empty());
    }

    #[test]
    fn fields_added_changed_removed_and_whole_flags() {
        let a = config(
            "[features.x]\nenabled = true\nrollout_percentage = 10\nmetadata = { owner = \"a\" }\n\
             [features.gone]\nenabled = true\n",
        );
        let b = config(
            "[features.x]\nenabled = false\nupdated_by = \"alice\"\nmetadata = { owner = \"b\" }\n\
             [features.x.targets]\nnode_ids = [\"n1\"]\n[features.new]\nenabled = true\n",
        );
        let changes = diff(&a, &b);
        let summary: Vec<(String, String)> = changes
            .iter()
            .map(|c| (c.flag.clone().unwrap(), c.field.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("gone", "*"),
                ("new", "*"),
                ("x", "enabled"),
                ("x", "metadata.owner"),
                ("x", "rollout_percentage"),
                ("x", "targets.node_ids"),
                ("x", "updated_by"),
            ]
            .map(|(f, g)| (f.to_owned(), g.to_owned()))
        );
        let enabled = &changes[2];
        assert_eq!(
            (&enabled.old, &enabled.new),
            (&Value::Bool(true), &Value::Bool(false))
        );
        assert_eq!(enabled.updated_by.as_deref(), Some("alice"));
        assert_eq!(changes[4].new, Value::Null);
        assert_eq!(changed_flags(&changes, &a, &b), ["gone", "new", "x"]);
    }

    #[test]
    fn rules_segments_and_variants_field_by_field() {
        let a = config(
            r#"
[segments.canaries]
targets = { environments = ["canary"] }
[segments.eu]
targets = { ip_ranges = ["10.8.0.0/16"] }
[features.x]
enabled = true
rules = [ { segments = ["canaries"], serve = true }, { targets = { node_ids = ["n1"] }, serve = false } ]
[features.y]
enabled = true
rules = [ { segments = ["eu"], rollout_percentage = 10 } ]
[features.z]
enabled = true
[experiments.e]
start_time = 2024-01-01T00:00:00Z
variants = [ { name = "a", percentage = 50 }, { name = "b", percentage = 50 } ]
"#,
        );
        let b = config(
            r#"
[segments.canaries]
targets = { environments = ["canary", "testnet"] }
[segments.eu]
targets = { ip_ranges = ["10.8.0.0/16"] }
[features.x]
enabled = true
rules = [ { segments = ["canaries"], serve = false } ]
[features.y]
enabled = true
rules = [ { segments = ["eu"], rollout_percentage = 20 }, { serve = true } ]
[features.z]
enabled = true
[experiments.e]
start_time = 2024-01-01T00:00:00Z
variants = [ { name = "a", percentage = 40 }, { name = "b", percentage = 60 } ]
"#,
        );
        let changes = diff(&a, &b);
        let summary: Vec<(String, String, String, String)> = changes
            .iter()
            .map(|c| {
                let item = c
                    .flag
                    .clone()
                    .or(c.segment.clone())
                    .or(c.experiment.clone())
                    .unwrap();
                (item, c.field.clone(), c.old.to_string(), c.new.to_string())
            })
            .collect();
        let want = [
            ("x", "rules[0].serve", "true", "false"),
            (
                "x",
                "rules[1]",
                r#"{"targets":{"node_ids":["n1"]},"serve":false}"#,
                "null",
            ),
            ("y", "rules[0].rollout_percentage", "10.0", "20.0"),
            ("y", "rules[1]", "null", r#"{"serve":true}"#),
            (
                "canaries",
                "targets.environments",
                r#"["canary"]"#,
                r#"["canary","testnet"]"#,
            ),
            ("e", "variants[0].percentage", "50.0", "40.0"),
            ("e", "variants[1].percentage", "50.0", "60.0"),
        ]
        .map(|(a, b, c, d)| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned()));
        assert_eq!(summary, want);
        assert_eq!(changes[4].segment.as_deref(), Some("canaries"));
        // The segment's change touches `x`, which names it; `z` is untouched.
        assert_eq!(changed_flags(&changes, &a, &b), ["x", "y"]);
        let only_segment: Vec<FieldChange> = changes
            .into_iter()
            .filter(|c| c.segment.is_some())
            .collect();
        assert_eq!(changed_flags(&only_segment, &a, &b), ["x"]);
    }
}
