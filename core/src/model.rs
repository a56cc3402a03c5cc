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
        }
    }
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
/// present must hold, none matches every context) and exactly one serve part (`serve` or
/// `rollout_percentage`).
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
    /// Serve: the flag's value for every matching context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<bool>,
    /// Serve: on for this share of matching contexts, bucketed as the flag's own rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0, max = 100)))]
    pub rollout_percentage: Option<f64>,
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
    /// Flag values forced for contexts in this variant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_overrides: BTreeMap<String, bool>,
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

    use super::{BucketBy, ConstraintValue, Timestamp};

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
