//! The configuration model: what a `features.toml` holds (`docs/configuration.md`).
//!
//! Every struct denies unknown fields, so a typo such as `enabeld` is an error, not a silently
//! ignored key. The types deserialize from any serde format; with `toml` they accept TOML's
//! native offset date-times as well as RFC 3339 strings. Semantic rules (ranges, CIDRs,
//! prerequisites, experiment windows, ...) are checked by [`compile`](crate::compile()), which
//! reports every problem at once.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Named audiences that flags' rules refer to, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, Segment>,
    /// Flags by name.
    #[serde(default)]
    pub features: BTreeMap<String, FeatureFlag>,
    /// Experiments by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub experiments: BTreeMap<String, Experiment>,
}

impl Config {
    /// Every instant at which an answer may change with time alone: the `after` and `before`
    /// of every flag's, rule's and segment's conditions, and every experiment's start and end.
    pub fn instants(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let window = |c: Option<&Conditions>| c.map_or([None, None], |c| [c.after, c.before]);
        let flags = self.features.values().flat_map(move |f| {
            let own = window(f.conditions.as_ref());
            let rules = f
                .rules
                .iter()
                .flat_map(move |r| window(r.conditions.as_ref()));
            own.into_iter().chain(rules)
        });
        let segments = self
            .segments
            .values()
            .flat_map(move |s| window(s.conditions.as_ref()));
        let experiments = self
            .experiments
            .values()
            .flat_map(|e| [Some(e.start_time), e.end_time]);
        flags.chain(segments).chain(experiments).flatten()
    }
}

/// One flag (`[features.NAME]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FeatureFlag {
    /// `false` is the kill switch: it wins over everything.
    pub enabled: bool,
    /// Share of contexts that get the flag, 0..=100 (resolution 0.0001 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 100)))]
    pub rollout_percentage: Option<f64>,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free string key/values for people and tools (`risk`, `owner`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When the flag was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the flag was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// Who changed it last (recorded in the audit log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Prerequisites: every one must be on for the same context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Bucketing salt; defaults to the flag's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// What a percentage rollout buckets on; defaults to `node_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<BucketBy>,
    /// Conditions that must all hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Conditions>,
    /// Target lists: every present list must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// Ordered rules, tried after the gates above: the first whose match part holds decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// The type of the flag's values (`type`); boolean when absent.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub flag_type: Option<FlagType>,
    /// A typed flag's values by variant name; a boolean flag has none (its values are `true`
    /// and `false`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, VariantValue>,
    /// The variant a typed flag serves on the on path (enabled, rollout included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_variant: Option<String>,
    /// The variant a typed flag serves on every off path (disabled, prerequisite failed,
    /// condition failed, target mismatch, rollout excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_variant: Option<String>,
}

impl FeatureFlag {
    /// A flag with only `enabled` set.
    pub fn new(enabled: bool) -> Self {
        FeatureFlag {
            enabled,
            rollout_percentage: None,
            description: None,
            metadata: BTreeMap::new(),
            created_at: None,
            updated_at: None,
            updated_by: None,
            requires: Vec::new(),
            salt: None,
            bucket_by: None,
            conditions: None,
            targets: None,
            rules: Vec::new(),
            flag_type: None,
            variants: BTreeMap::new(),
            on_variant: None,
            off_variant: None,
        }
    }

    /// The flag's type: [`FlagType::Boolean`] when `type` is absent.
    pub fn value_type(&self) -> FlagType {
        self.flag_type.unwrap_or(FlagType::Boolean)
    }
}

/// The type of a flag's values (`type = "integer"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum FlagType {
    /// `true` or `false` (the default).
    #[default]
    Boolean,
    /// A string.
    String,
    /// A TOML integer (`i64`).
    Integer,
    /// A TOML float or integer (`f64`).
    Float,
    /// Any TOML value (table, array or scalar), handed out as JSON text.
    Json,
}

impl FlagType {
    /// The type as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Integer => "integer",
            FlagType::Float => "float",
            FlagType::Json => "json",
        }
    }
}

impl FlagType {
    /// The type with its article, as messages name a flag of it: `an integer`, `a string`.
    pub fn with_article(self) -> &'static str {
        match self {
            FlagType::Boolean => "a boolean",
            FlagType::String => "a string",
            FlagType::Integer => "an integer",
            FlagType::Float => "a float",
            FlagType::Json => "a json",
        }
    }
}

impl fmt::Display for FlagType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of one variant of a typed flag, as written in the file: any TOML value. TOML
/// date-times are kept as their text.
#[derive(Clone, Debug, PartialEq)]
pub enum VariantValue {
    /// `true` or `false`.
    Bool(bool),
    /// An integer (a `u64` above `i64::MAX` is rejected).
    Integer(i64),
    /// A float.
    Float(f64),
    /// A string, or a TOML date-time as its text.
    String(String),
    /// An array.
    Array(Vec<VariantValue>),
    /// A table.
    Table(BTreeMap<String, VariantValue>),
}

impl VariantValue {
    /// What kind of value this is, as a message names it (`a string`, `an integer`, ...).
    pub fn describe(&self) -> &'static str {
        match self {
            VariantValue::Bool(_) => "a boolean",
            VariantValue::Integer(_) => "an integer",
            VariantValue::Float(_) => "a float",
            VariantValue::String(_) => "a string",
            VariantValue::Array(_) => "an array",
            VariantValue::Table(_) => "a table",
        }
    }

    /// Writes the value as JSON text: tables with their keys in order, a non-finite float
    /// (TOML `nan`, `inf`) as `null`.
    pub fn write_json(&self, out: &mut String) {
        use core::fmt::Write;
        match self {
            VariantValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            VariantValue::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            VariantValue::Float(x) if x.is_finite() => {
                // `{:?}` keeps a fraction (`1.0`), so the value reads back as a float.
                let _ = write!(out, "{x:?}");
            }
            VariantValue::Float(_) => out.push_str("null"),
            VariantValue::String(s) => write_json_string(s, out),
            VariantValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            VariantValue::Table(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string literal.
fn write_json_string(s: &str, out: &mut String) {
    use core::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Serialize for VariantValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            VariantValue::Bool(b) => s.serialize_bool(*b),
            VariantValue::Integer(i) => s.serialize_i64(*i),
            VariantValue::Float(x) => s.serialize_f64(*x),
            VariantValue::String(v) => s.serialize_str(v),
            VariantValue::Array(items) => s.collect_seq(items),
            VariantValue::Table(map) => s.collect_map(map),
        }
    }
}

impl<'de> Deserialize<'de> for VariantValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = VariantValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value (boolean, integer, float, string, array or table)")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<VariantValue, E> {
                Ok(VariantValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<VariantValue, E> {
                Ok(VariantValue::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<VariantValue, E> {
                i64::try_from(v)
                    .map(VariantValue::Integer)
                    .map_err(|_| E::custom(format_args!("integer {v} is above {}", i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<VariantValue, E> {
                Ok(VariantValue::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VariantValue, E> {
                Ok(VariantValue::String(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<VariantValue, E> {
                Ok(VariantValue::String(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<VariantValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(VariantValue::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<VariantValue, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == TOML_DATETIME_FIELD && out.is_empty() {
                        // A TOML date-time: kept as its text.
                        let text: String = map.next_value()?;
                        return Ok(VariantValue::String(text));
                    }
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(VariantValue::Table(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a rule serves or an experiment forces: `true`/`false` for a boolean flag, a variant's
/// name for a typed flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServeValue {
    /// `true` or `false` (boolean flags).
    Bool(bool),
    /// A variant's name (typed flags).
    Variant(String),
}

impl From<bool> for ServeValue {
    fn from(b: bool) -> Self {
        ServeValue::Bool(b)
    }
}

impl fmt::Display for ServeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeValue::Bool(b) => write!(f, "{b}"),
            ServeValue::Variant(v) => write!(f, "\"{v}\""),
        }
    }
}

impl Serialize for ServeValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ServeValue::Bool(b) => s.serialize_bool(*b),
            ServeValue::Variant(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for ServeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ServeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true`, `false` or a variant name")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ServeValue, E> {
                Ok(ServeValue::Bool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ServeValue, E> {
                Ok(ServeValue::Variant(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One share of a rule's `split`: the contexts whose position falls in this share are served
/// the named variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// The variant served.
    pub variant: String,
    /// Its share of matching contexts, 0..=100; a rule's shares sum to 100.
    #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 100)))]
    pub percentage: f64,
}

/// `[segments.NAME]`: a named audience. It matches a context when every part present matches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Target lists, as a flag's: every present list must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// Conditions, as a flag's: all that are present must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Conditions>,
}

/// One of a flag's `rules`: a match part (any of `segments`, `targets`, `conditions`; all
/// present must hold, none matches every context) and exactly one serve part (`serve`,
/// `rollout_percentage` or, for a typed flag, `split`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Names of segments that must all match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<String>>,
    /// Target lists that must all match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// Conditions that must all hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Conditions>,
    /// Serve: the flag's value for every matching context (`true`/`false` for a boolean flag,
    /// a variant name for a typed flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<ServeValue>,
    /// Serve: on for this share of matching contexts, bucketed as the flag's own rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 100)))]
    pub rollout_percentage: Option<f64>,
    /// Serve (typed flags): variants by share of matching contexts, bucketed as the flag's own
    /// rollout, in listed order; the percentages sum to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<Share>>,
}

impl Rule {
    /// Whether the rule has no match part, or only empty tables (it matches every context).
    pub fn matches_everything(&self) -> bool {
        self.segments.is_none()
            && self.targets.as_ref().is_none_or(Targets::is_empty)
            && self.conditions.as_ref().is_none_or(Conditions::is_empty)
    }
}

/// `[features.NAME.conditions]`: all that are present must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Holds when `now >= after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Timestamp>,
    /// Holds when `now < before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Timestamp>,
    /// Holds when `ctx.chain_height >= chain_height`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_height: Option<u64>,
    /// Holds when `ctx.sync_progress >= sync_progress` (0.0..=1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 1)))]
    pub sync_progress: Option<f64>,
    /// Constraints on the context's custom attributes; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomConstraint>,
}

impl Conditions {
    /// Whether no condition is present (an empty `conditions = {}`).
    pub fn is_empty(&self) -> bool {
        self.after.is_none()
            && self.before.is_none()
            && self.chain_height.is_none()
            && self.sync_progress.is_none()
            && self.custom.is_empty()
    }
}

/// One constraint on a custom attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomConstraint {
    /// The attribute's name.
    pub attribute: String,
    /// The comparison.
    pub operator: Operator,
    /// The operand of single-value operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ConstraintValue>,
    /// The operand of `in` / `not_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// The operators of custom constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    NotExists,
    Gt,
    Gte,
    Lt,
    Lte,
    SemverEq,
    SemverGt,
    SemverGte,
    SemverLt,
    SemverLte,
    StartsWith,
    EndsWith,
    Contains,
}

impl Operator {
    /// The operator as written in the file.
    pub fn as_str(self) -> &'static str {
        use Operator::*;
        match self {
            Equals => "equals",
            NotEquals => "not_equals",
            In => "in",
            NotIn => "not_in",
            Exists => "exists",
            NotExists => "not_exists",
            Gt => "gt",
            Gte => "gte",
            Lt => "lt",
            Lte => "lte",
            SemverEq => "semver_eq",
            SemverGt => "semver_gt",
            SemverGte => "semver_gte",
            SemverLt => "semver_lt",
            SemverLte => "semver_lte",
            StartsWith => "starts_with",
            EndsWith => "ends_with",
            Contains => "contains",
        }
    }
}

/// A constraint's `value`: a string or a number.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstraintValue {
    /// A string operand.
    String(String),
    /// A numeric operand (integers are widened to `f64`).
    Number(f64),
}

impl Serialize for ConstraintValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ConstraintValue::String(v) => s.serialize_str(v),
            ConstraintValue::Number(v) => s.serialize_f64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for ConstraintValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConstraintValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ConstraintValue::String(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ConstraintValue::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ConstraintValue::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ConstraintValue::Number(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[features.NAME.targets]`: each present list must match (AND across lists, OR within one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Node ids, matched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ids: Option<Vec<String>>,
    /// Validator keys, matched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_keys: Option<Vec<String>>,
    /// IPv4 and IPv6 CIDR ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_ranges: Option<Vec<String>>,
    /// Environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<Environment>>,
}

impl Targets {
    /// Whether no target list is present (an empty `targets = {}`).
    pub fn is_empty(&self) -> bool {
        self.node_ids.is_none()
            && self.validator_keys.is_none()
            && self.ip_ranges.is_none()
            && self.environments.is_none()
    }
}

/// The environment a node runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine.
    Development,
    /// A test network.
    Testnet,
    /// The main network.
    Mainnet,
    /// Canary nodes.
    Canary,
}

impl Environment {
    /// Every environment.
    pub const ALL: [Environment; 4] = [
        Environment::Development,
        Environment::Testnet,
        Environment::Mainnet,
        Environment::Canary,
    ];

    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Testnet => "testnet",
            Environment::Mainnet => "mainnet",
            Environment::Canary => "canary",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for Environment {
    type Err = UnknownEnvironment;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(UnknownEnvironment)
    }
}

/// The error of parsing an unknown environment name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnknownEnvironment;

impl fmt::Display for UnknownEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown environment (expected development, testnet, mainnet or canary)")
    }
}

impl core::error::Error for UnknownEnvironment {}

/// What a rollout or experiment buckets on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BucketBy {
    /// The context's `node_id` (the default).
    #[default]
    NodeId,
    /// The context's `validator_key`.
    ValidatorKey,
    /// A custom attribute (`attribute:<name>`).
    Attribute(String),
}

impl fmt::Display for BucketBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketBy::NodeId => f.write_str("node_id"),
            BucketBy::ValidatorKey => f.write_str("validator_key"),
            BucketBy::Attribute(a) => write!(f, "attribute:{a}"),
        }
    }
}

impl Serialize for BucketBy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BucketBy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BucketBy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`node_id`, `validator_key` or `attribute:<name>`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BucketBy, E> {
                match v {
                    "node_id" => Ok(BucketBy::NodeId),
                    "validator_key" => Ok(BucketBy::ValidatorKey),
                    _ => match v.strip_prefix("attribute:") {
                        Some(name) if !name.is_empty() => Ok(BucketBy::Attribute(name.to_string())),
                        _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                    },
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// `[experiments.NAME]`: an A/B test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// The experiment is active from this instant (inclusive) ...
    pub start_time: Timestamp,
    /// ... until this one (exclusive); open-ended when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    /// Names of the metrics the experiment is judged by (informational).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// What variants are assigned by; defaults to `node_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<BucketBy>,
    /// The variants, in assignment order.
    pub variants: Vec<Variant>,
}

/// One variant of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The variant's name.
    pub name: String,
    /// Its share of contexts, 0..=100.
    #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 100)))]
    pub percentage: f64,
    /// Flag values forced for contexts in this variant: `true`/`false` for a boolean flag, a
    /// variant name for a typed flag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_overrides: BTreeMap<String, ServeValue>,
}

/// An instant with its UTC offset, as written in the file.
///
/// Deserializes from a TOML offset date-time (`2024-02-01T00:00:00Z`) or an RFC 3339 string
/// (`"2024-02-01T00:00:00Z"`, as in the original ticket's sample). Local date-times and dates
/// (no offset) are rejected: an instant without an offset is ambiguous across a fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp(pub DateTime<FixedOffset>);

impl Timestamp {
    /// Parses an RFC 3339 date-time with an offset.
    pub fn parse(s: &str) -> Result<Timestamp, TimestampError> {
        DateTime::parse_from_rfc3339(s)
            .map(Timestamp)
            .map_err(|_| TimestampError)
    }

    /// The instant in UTC.
    pub fn to_utc(self) -> DateTime<Utc> {
        self.0.with_timezone(&Utc)
    }

    /// Microseconds since the Unix epoch (the unit evaluation compares in).
    pub fn unix_micros(self) -> i64 {
        self.0.timestamp_micros()
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t.fixed_offset())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // RFC 3339, `Z` for UTC, seconds fraction only when present.
        write!(
            f,
            "{}",
            self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )
    }
}

/// The error of a date-time without an offset or otherwise not RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimestampError;

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TIMESTAMP_EXPECTED)
    }
}

impl core::error::Error for TimestampError {}

const TIMESTAMP_EXPECTED: &str =
    "an offset date-time (RFC 3339 with `Z` or `+hh:mm`, e.g. 2024-02-01T00:00:00Z)";

/// The field name under which the `toml` crate hands out its native date-times.
const TOML_DATETIME_FIELD: &str = "$__toml_private_datetime";

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(TIMESTAMP_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(|_| {
                    E::custom(format_args!(
                        "invalid date-time `{v}`: expected {TIMESTAMP_EXPECTED}"
                    ))
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Timestamp, A::Error> {
                match map.next_key::<String>()? {
                    Some(k) if k == TOML_DATETIME_FIELD => {
                        let s: String = map.next_value()?;
                        self.visit_str(&s)
                    }
                    _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(feature = "schema")]
mod schema {
    use alloc::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    use super::{BucketBy, ConstraintValue, ServeValue, Timestamp, VariantValue};

    impl JsonSchema for VariantValue {
        fn schema_name() -> Cow<'static, str> {
            "VariantValue".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "A variant's value: of the flag's type (json: any value)"
            })
        }
    }

    impl JsonSchema for ServeValue {
        fn schema_name() -> Cow<'static, str> {
            "ServeValue".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": ["boolean", "string"],
                "description": "true/false for a boolean flag, a variant name for a typed flag"
            })
        }
    }

    impl JsonSchema for Timestamp {
        fn schema_name() -> Cow<'static, str> {
            "Timestamp".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "format": "date-time",
                "description": "An offset date-time: a TOML offset date-time or an RFC 3339 string"
            })
        }
    }

    impl JsonSchema for BucketBy {
        fn schema_name() -> Cow<'static, str> {
            "BucketBy".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "pattern": "^(node_id|validator_key|attribute:.+)$",
                "description": "node_id (default), validator_key or attribute:<name>"
            })
        }
    }

    impl JsonSchema for ConstraintValue {
        fn schema_name() -> Cow<'static, str> {
            "ConstraintValue".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": ["string", "number"],
                "description": "A string, a number (gt/gte/lt/lte) or a semantic version (semver_*)"
            })
        }
    }
}
