//! Field-level differences between two configurations, as the audit log records them and
//! `vexil diff` prints them.
//!
//! Each flag and experiment is flattened to dotted field paths (`conditions.after`,
//! `targets.node_ids`, `metadata.owner`); a change is one path whose value differs. A flag or
//! experiment added or removed is one change with the field `*` and the whole item as the
//! new or old value.

use std::collections::BTreeMap;

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

/// Every changed field between two configurations, flags first, in name and field order.
pub fn diff(old: &Config, new: &Config) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> =
        old.features.keys().chain(new.features.keys()).collect();
    for name in names {
        let (a, b) = (old.features.get(name), new.features.get(name));
        let updated_by = b.or(a).and_then(|f| f.updated_by.clone());
        item_changes(
            &mut out,
            (Some(name.clone()), None),
            a.map(to_value),
            b.map(to_value),
            updated_by,
        );
    }
    let names: std::collections::BTreeSet<&String> = old
        .experiments
        .keys()
        .chain(new.experiments.keys())
        .collect();
    for name in names {
        let (a, b) = (old.experiments.get(name), new.experiments.get(name));
        item_changes(
            &mut out,
            (None, Some(name.clone())),
            a.map(to_value),
            b.map(to_value),
            None,
        );
    }
    out
}

/// The flags that a list of changes touches (directly, or through an experiment's overrides).
pub fn changed_flags(changes: &[FieldChange]) -> Vec<String> {
    let mut flags: Vec<String> = changes.iter().filter_map(|c| c.flag.clone()).collect();
    flags.sort();
    flags.dedup();
    flags
}

fn to_value<T: Serialize>(item: &T) -> Value {
    serde_json::to_value(item).unwrap_or(Value::Null)
}

fn item_changes(
    out: &mut Vec<FieldChange>,
    (flag, experiment): (Option<String>, Option<String>),
    old: Option<Value>,
    new: Option<Value>,
    updated_by: Option<String>,
) {
    let change = |field: String, old: Value, new: Value| FieldChange {
        flag: flag.clone(),
        experiment: experiment.clone(),
        field,
        old,
        new,
        updated_by: updated_by.clone(),
    };
    match (old, new) {
        (None, None) => {}
        (None, Some(new)) => out.push(change("*".to_owned(), Value::Null, new)),
        (Some(old), None) => out.push(change("*".to_owned(), old, Value::Null)),
        (Some(old), Some(new)) => {
            let (a, b) = (flatten(&old), flatten(&new));
            let fields: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for field in fields {
                let (x, y) = (a.get(field), b.get(field));
                if x != y {
                    out.push(change(
                        field.clone(),
                        x.cloned().unwrap_or(Value::Null),
                        y.cloned().unwrap_or(Value::Null),
                    ));
                }
            }
        }
    }
}

/// Objects become dotted paths; everything else (arrays included) is a leaf.
fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            Value::Object(_) => {}
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
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
        assert_eq!(changed_flags(&changes), ["gone", "new", "x"]);
    }
}
