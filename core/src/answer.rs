//! The answers: what evaluation says about a flag for a context, and why.

use core::fmt;

use crate::flag_key::FlagIndex;

/// Why a flag evaluated the way it did (`docs/evaluation.md`, in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// 1. The flag is not defined by the published configuration.
    UnknownFlag,
    /// 2. `enabled = false`: the kill switch.
    Disabled,
    /// 3. A prerequisite is off for this context.
    PrerequisiteFailed,
    /// 4. An active experiment's variant sets the flag.
    ExperimentOverride,
    /// 5. A condition does not hold.
    ConditionFailed,
    /// 6. A target list does not match.
    TargetMismatch,
    /// 7. A rule matched and served its value ([`Detail::Rule`] names it).
    RuleMatch,
    /// 7. A rule matched and its rollout percentage decided ([`Detail::Rule`] names it).
    RuleSplit,
    /// 8. Outside the rollout percentage.
    RolloutExcluded,
    /// 9. Inside the rollout percentage (100 % included).
    RolloutIncluded,
    /// 9. On, with no rollout percentage.
    Enabled,
    /// A typed resolution asked a flag for a value of another type: the caller's default was
    /// returned, with the flag's off variant's index. (An unknown flag's resolution keeps
    /// [`Reason::UnknownFlag`].)
    TypeMismatch,
}

impl Reason {
    /// The reason as the command line, audit log and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownFlag => "unknown_flag",
            Reason::Disabled => "disabled",
            Reason::PrerequisiteFailed => "prerequisite_failed",
            Reason::ExperimentOverride => "experiment_override",
            Reason::ConditionFailed => "condition_failed",
            Reason::TargetMismatch => "target_mismatch",
            Reason::RuleMatch => "rule_match",
            Reason::RuleSplit => "rule_split",
            Reason::RolloutExcluded => "rollout_excluded",
            Reason::RolloutIncluded => "rollout_included",
            Reason::Enabled => "enabled",
            Reason::TypeMismatch => "type_mismatch",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which condition failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// `now >= after` did not hold (or the context has no `now`).
    After,
    /// `now < before` did not hold (or the context has no `now`).
    Before,
    /// The chain height is below the condition's.
    ChainHeight,
    /// The sync progress is below the condition's.
    SyncProgress,
    /// The custom constraint at this index of `conditions.custom`.
    Custom(u16),
}

impl ConditionKind {
    /// The condition's field name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionKind::After => "after",
            ConditionKind::Before => "before",
            ConditionKind::ChainHeight => "chain_height",
            ConditionKind::SyncProgress => "sync_progress",
            ConditionKind::Custom(_) => "custom",
        }
    }
}

/// Which target list did not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// `targets.node_ids`.
    NodeIds,
    /// `targets.validator_keys`.
    ValidatorKeys,
    /// `targets.ip_ranges`.
    IpRanges,
    /// `targets.environments`.
    Environments,
}

impl TargetKind {
    /// Every kind, in the order the evaluation tests them (step 6 of the evaluation order).
    pub(crate) const IN_ORDER: [TargetKind; 4] = [
        TargetKind::NodeIds,
        TargetKind::ValidatorKeys,
        TargetKind::IpRanges,
        TargetKind::Environments,
    ];

    /// The target list's field name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::NodeIds => "node_ids",
            TargetKind::ValidatorKeys => "validator_keys",
            TargetKind::IpRanges => "ip_ranges",
            TargetKind::Environments => "environments",
        }
    }
}

/// What decided, beyond the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detail {
    /// Nothing more to say.
    None,
    /// The (direct) prerequisite that evaluated to false.
    Prerequisite(FlagIndex),
    /// The first condition that did not hold.
    Condition(ConditionKind),
    /// The first target list that did not match.
    Target(TargetKind),
    /// The experiment and variant whose override decided (indices; names through a
    /// [`Snapshot`](crate::Snapshot)).
    Variant {
        /// The experiment's index.
        experiment: u32,
        /// The variant's index in the experiment.
        variant: u32,
    },
    /// The index of the rule in the flag's `rules` that decided.
    Rule(u32),
}

/// The full answer for one flag and one context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Evaluation {
    /// The answer `check` gives.
    pub enabled: bool,
    /// Why.
    pub reason: Reason,
    /// What decided, where there is more to say.
    pub detail: Detail,
    /// The index of the variant served: for a boolean flag 0 is `false` and 1 is `true`; for
    /// a typed flag, its variants in name order. An unknown flag serves 0.
    pub variant: u32,
    /// The generation of the table that answered.
    pub generation: u64,
}

/// A flag's value, borrowed from the snapshot that resolved it (nothing is allocated).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// A boolean flag's value.
    Bool(bool),
    /// An `integer` flag's value.
    Integer(i64),
    /// A `float` flag's value.
    Float(f64),
    /// A `string` flag's value.
    String(&'a str),
    /// A `json` flag's value, as JSON text.
    Json(&'a str),
}

impl<'a> Value<'a> {
    /// An `integer` flag's value.
    pub fn integer(self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(i),
            _ => None,
        }
    }

    /// A `float` flag's value.
    pub fn float(self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(x),
            _ => None,
        }
    }

    /// A boolean flag's value.
    pub fn boolean(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A `string` flag's value.
    pub fn string(self) -> Option<&'a str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A `json` flag's value, as JSON text.
    pub fn json(self) -> Option<&'a str> {
        match self {
            Value::Json(s) => Some(s),
            _ => None,
        }
    }
}

/// A flag's typed resolution: the value served, its variant's name, why, and the generation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resolved<'a> {
    /// The value of the variant served.
    pub value: Value<'a>,
    /// The name of the variant served (`"true"`/`"false"` for a boolean flag; `"false"` for a
    /// flag the table does not define).
    pub variant: &'a str,
    /// The evaluation behind it ([`Evaluation::variant`] is the variant's index).
    pub evaluation: Evaluation,
}

/// The answer of a typed accessor ([`Snapshot::integer`](crate::Snapshot::integer) and the
/// like): the value, or the caller's default with [`Reason::TypeMismatch`] (a flag of another
/// type) or [`Reason::UnknownFlag`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resolution<T> {
    /// The value served, or the caller's default.
    pub value: T,
    /// The index of the variant served (for a type mismatch, the flag's off variant).
    pub variant: u32,
    /// Why.
    pub reason: Reason,
    /// What decided, where there is more to say.
    pub detail: Detail,
    /// The generation of the table that answered.
    pub generation: u64,
}
