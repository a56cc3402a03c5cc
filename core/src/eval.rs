//! Evaluation, step by step in the documented order (`docs/evaluation.md`), with the reason for
//! every answer.

use core::cmp::Ordering;

use crate::answer::{
    ConditionKind, Detail, Evaluation, Reason, Resolution, Resolved, TargetKind, Value,
};
use crate::bucketing::{self, SCALE};
use crate::compiled::{
    Audience, CompiledConditions, CompiledTargets, Constraint, ExperimentData, FlagData, KeySource,
    Kind, Operand, Plan, RuleData, Serve, Slot, Table, Test, RETIRED,
};
use crate::context::{Attribute, EvaluationContext};
use crate::encoding::short_words;
use crate::flag_key::FlagIndex;
use crate::model::Operator;
use crate::sets::may_contain;
use crate::sync;

// === impl Table ===

impl<const N: usize> Table<N> {
    /// The check: the kind decides plain flags, the slot node-id rollouts and node-id target
    /// lists; the rest is evaluated in full, out of line.
    #[inline(always)]
    pub(crate) fn check(&self, slot: usize, ctx: &EvaluationContext) -> bool {
        match self.kinds.get(slot) {
            Some(byte) => self.check_byte(byte.load(sync::Ordering::Relaxed) & !RETIRED, slot, ctx),
            None => false,
        }
    }

    /// A slot's kind, whether or not this table has been retired (`None` past the capacity).
    #[inline(always)]
    pub(crate) fn kind(&self, slot: usize) -> Option<Kind> {
        let byte = self.kinds.get(slot)?.load(sync::Ordering::Relaxed);
        Some(Kind::from_byte(byte))
    }

    /// A reader's check: [`check`](Table::check), or `None` if a publication has retired this
    /// table (then the reader must load the current one). The retired mark costs nothing on
    /// the plain kinds' path: a marked byte fails their one compare.
    #[inline(always)]
    pub(crate) fn check_unless_retired(
        &self,
        slot: usize,
        ctx: &EvaluationContext,
    ) -> Option<bool> {
        let Some(byte) = self.kinds.get(slot) else {
            return Some(false);
        };
        let byte = byte.load(sync::Ordering::Relaxed);
        if byte <= Kind::Full as u8 {
            return Some(byte & 1 != 0);
        }
        // Every other kind is laid out after the plain kinds' path, so that the plain answer
        // runs straight on to the caller's count: one block, one taken branch per loop of
        // checks, rather than a jump to a count block shared with the other kinds
        // (benches/NOTES.md, "The plain kinds' path laid out straight").
        cold_path();
        if byte & RETIRED != 0 {
            return None;
        }
        Some(self.check_byte(byte, slot, ctx))
    }

    /// The check of a slot whose kind byte has been read, without [`RETIRED`]. The byte is
    /// compared as it is, not converted to a [`Kind`] first: one compare answers the plain
    /// kinds.
    #[inline(always)]
    fn check_byte(&self, kind: u8, slot: usize, ctx: &EvaluationContext) -> bool {
        if kind <= Kind::Full as u8 {
            return kind & 1 != 0;
        }
        // The slot's address only after the plain kinds have answered.
        let Some(s) = self.slots.get(slot) else {
            return false;
        };
        if kind == Kind::Rollout as u8 {
            return rollout_includes(ctx.node_key(), s.salt(), s.threshold());
        }
        if kind == Kind::NodeTargets as u8 {
            return self.node_targets_match(s, slot, ctx);
        }
        self.check_complex(slot, ctx)
    }

    /// A `NodeTargets` slot: a test of the set's filter in `node_filters`; only a node the
    /// filter passes reaches the flag's own set.
    #[inline(always)]
    fn node_targets_match(&self, s: &Slot, slot: usize, ctx: &EvaluationContext) -> bool {
        let Some(key) = ctx.node_key() else {
            return false;
        };
        may_contain(&self.node_filters, s.filter_offset(), s.filter_mask(), key)
            && self.node_target_confirm(slot, ctx)
    }

    #[cold]
    #[inline(never)]
    fn node_target_confirm(&self, slot: usize, ctx: &EvaluationContext) -> bool {
        self.flags
            .get(slot)
            .and_then(|f| f.targets.node_ids.as_ref())
            .is_some_and(|set| set.contains(ctx.node_key(), ctx.node_id()))
    }

    /// A `Complex` slot: the flag's check plan, or the full evaluation for a flag that
    /// experiments override or that has rules. The plan's fixed tests run straight through (each a predicted
    /// branch); only the rest goes through the test loop.
    #[inline(never)]
    fn check_complex(&self, slot: usize, ctx: &EvaluationContext) -> bool {
        let Some(flag) = self.flags.get(slot) else {
            return false;
        };
        if flag.in_full {
            return self.decide_check(slot, ctx);
        }
        let plan = &flag.plan;
        let fixed = plan
            .environments
            .is_none_or(|mask| environment_matches(mask, ctx))
            && plan.chain_height.is_none_or(|min| height_reached(min, ctx))
            && plan
                .sync_progress
                .is_none_or(|min| progress_reached(min, ctx))
            && plan
                .rollout
                .is_none_or(|(salt, threshold)| rollout_includes(ctx.node_key(), salt, threshold));
        if !fixed {
            return false;
        }
        // Every call below is the function's last act, so the common path keeps no register
        // across a call (and saves none on entry).
        if let Some(c) = &plan.custom {
            match c.release_holds(ctx) {
                Some(true) => {}
                Some(false) => return false,
                None => return self.custom_then_rest(plan, ctx),
            }
        }
        self.rest_holds(plan, ctx)
    }

    /// The tests of a plan beyond its fixed ones and its custom constraint.
    #[inline(always)]
    fn rest_holds(&self, plan: &Plan, ctx: &EvaluationContext) -> bool {
        plan.rest.is_empty() || self.holds_all(&plan.rest, ctx)
    }

    /// `check_complex` for a flag checked in full.
    #[inline(never)]
    fn decide_check(&self, slot: usize, ctx: &EvaluationContext) -> bool {
        self.decide(slot, ctx).0
    }

    /// A plan's custom constraint that `release_holds` left undecided, then its other tests.
    #[inline(never)]
    fn custom_then_rest(&self, plan: &Plan, ctx: &EvaluationContext) -> bool {
        plan.custom.as_ref().is_none_or(|c| c.holds(ctx)) && self.rest_holds(plan, ctx)
    }

    /// The tests of a plan beyond its fixed ones, cheapest first.
    #[inline(never)]
    fn holds_all(&self, tests: &[Test], ctx: &EvaluationContext) -> bool {
        tests.iter().all(|&test| self.holds(test, ctx))
    }

    fn holds(&self, test: Test, ctx: &EvaluationContext) -> bool {
        let flag = |at: u32| self.flags.get(at as usize);
        match test {
            Test::Environments(mask) => environment_matches(mask, ctx),
            Test::ChainHeight(min) => height_reached(min, ctx),
            Test::SyncProgress(min) => progress_reached(min, ctx),
            Test::Rollout(at) => {
                flag(at).is_some_and(|f| rollout_includes(f.key.key(ctx), f.salt, f.threshold))
            }
            Test::Custom(at, i) => flag(at)
                .and_then(|f| f.conditions.custom.get(i as usize))
                .is_some_and(|c| c.holds(ctx)),
            Test::Window(at) => flag(at).is_some_and(|f| {
                let (c, now) = (&f.conditions, self.now(ctx));
                c.after.is_none_or(|after| after_reached(after, now))
                    && c.before
                        .is_none_or(|before| before_not_reached(before, now))
            }),
            Test::Target(at, kind) => flag(at).is_some_and(|f| f.targets.matches(kind, ctx)),
            Test::Requires(r) => self.check(r as usize, ctx),
        }
    }

    /// The check with its reason and detail. Like the check, the slot answers every kind but
    /// `Complex` without the full evaluation. Only boolean flags have the other kinds (a typed
    /// flag is `Complex`, even disabled), so their variant is their answer: 1 on, 0 off.
    #[inline]
    pub(crate) fn explain(&self, slot: usize, ctx: &EvaluationContext) -> Evaluation {
        let (enabled, variant, reason, detail) = match self.kind(slot).zip(self.slots.get(slot)) {
            None | Some((Kind::Unknown, _)) => (false, 0, Reason::UnknownFlag, Detail::None),
            Some((Kind::Disabled, _)) => (false, 0, Reason::Disabled, Detail::None),
            Some((Kind::Enabled, _)) => (true, 1, Reason::Enabled, Detail::None),
            Some((Kind::Full, _)) => (true, 1, Reason::RolloutIncluded, Detail::None),
            Some((Kind::Rollout, s)) => {
                if rollout_includes(ctx.node_key(), s.salt(), s.threshold()) {
                    (true, 1, Reason::RolloutIncluded, Detail::None)
                } else {
                    (false, 0, Reason::RolloutExcluded, Detail::None)
                }
            }
            Some((Kind::NodeTargets, s)) => {
                if self.node_targets_match(s, slot, ctx) {
                    (true, 1, Reason::Enabled, Detail::None)
                } else {
                    (
                        false,
                        0,
                        Reason::TargetMismatch,
                        Detail::Target(TargetKind::NodeIds),
                    )
                }
            }
            Some((Kind::Complex, _)) => self.decide(slot, ctx),
        };
        Evaluation {
            enabled,
            reason,
            detail,
            variant,
            generation: self.generation,
        }
    }

    /// The documented order, steps 1 to 9: whether the flag is on, the variant served, the
    /// reason and the detail. Every off path serves the flag's off variant, the on paths its
    /// on variant; the flag is on when the variant served is not its off variant (for a
    /// boolean flag, variant 1 is on and 0 off). Out of line, so that the slot fast paths of
    /// `check` and `explain` do not pay for its frame.
    #[inline(never)]
    fn decide(&self, slot: usize, ctx: &EvaluationContext) -> (bool, u32, Reason, Detail) {
        // 1. unknown
        let Some(flag) = self.flags.get(slot).filter(|f| f.defined) else {
            return (false, 0, Reason::UnknownFlag, Detail::None);
        };
        let off = |reason, detail| (false, flag.off, reason, detail);
        let serve = |variant: u32, reason, detail| (variant != flag.off, variant, reason, detail);
        // 2. kill switch
        if !flag.enabled {
            return off(Reason::Disabled, Detail::None);
        }
        // 3. prerequisites
        for &r in &flag.requires {
            if !self.check(r as usize, ctx) {
                return off(
                    Reason::PrerequisiteFailed,
                    Detail::Prerequisite(FlagIndex(r)),
                );
            }
        }
        // The instant, read from the clock at most once and only when something needs it.
        let now = if flag.reads_clock {
            self.now(ctx)
        } else {
            None
        };
        // 4. experiment overrides
        for &e in &flag.experiments {
            let exp = &self.experiments[e as usize];
            if let Some(v) = exp.assign(ctx, now) {
                if let Some(variant) = exp.variants[v].override_for(slot as u32) {
                    return serve(
                        variant,
                        Reason::ExperimentOverride,
                        Detail::Variant {
                            experiment: e,
                            variant: v as u32,
                        },
                    );
                }
            }
        }
        // 5. conditions
        if flag.has_conditions {
            if let Some(kind) = failing_condition(&flag.conditions, ctx, now) {
                return off(Reason::ConditionFailed, Detail::Condition(kind));
            }
        }
        // 6. targets
        if flag.has_targets {
            if let Some(kind) = failing_target(&flag.targets, ctx) {
                return off(Reason::TargetMismatch, Detail::Target(kind));
            }
        }
        // 7. rules: the first whose match part holds decides
        if !flag.rules.is_empty() {
            if let Some((variant, reason, detail)) = self.first_rule(flag, ctx, now) {
                return serve(variant, reason, detail);
            }
        }
        // 8. and 9. rollout (for a flag with rules, the fallthrough)
        match flag.ppm {
            None => serve(flag.on, Reason::Enabled, Detail::None),
            Some(p) if p >= SCALE => serve(flag.on, Reason::RolloutIncluded, Detail::None),
            Some(_) => {
                if rollout_includes(flag.key.key(ctx), flag.salt, flag.threshold) {
                    serve(flag.on, Reason::RolloutIncluded, Detail::None)
                } else {
                    off(Reason::RolloutExcluded, Detail::None)
                }
            }
        }
    }

    /// Step 7: the variant, reason and detail of the first rule whose match part holds, if one
    /// does. A rule's rollout and split bucket on the flag's own key and salt, so a context has
    /// one position across the flag's rules and its fallthrough.
    fn first_rule(
        &self,
        flag: &FlagData,
        ctx: &EvaluationContext,
        now: Option<i64>,
    ) -> Option<(u32, Reason, Detail)> {
        let (i, rule) = flag
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| self.rule_matches(rule, ctx, now))?;
        let detail = Detail::Rule(i as u32);
        Some(match &rule.serve {
            Serve::Variant(variant) => (*variant, Reason::RuleMatch, detail),
            Serve::Rollout { ppm, threshold } => {
                let on =
                    *ppm >= SCALE || rollout_includes(flag.key.key(ctx), flag.salt, *threshold);
                (
                    if on { flag.on } else { flag.off },
                    Reason::RuleSplit,
                    detail,
                )
            }
            Serve::Split(shares) => {
                // The position of `bucket < threshold(ppm)` is `position(bucket) < ppm`.
                let variant = flag.key.key(ctx).map_or(flag.off, |key| {
                    let position = bucketing::position(bucketing::bucket(key, flag.salt));
                    shares
                        .iter()
                        .find(|&&(upper, _)| position < upper)
                        .map_or(flag.off, |&(_, v)| v)
                });
                (variant, Reason::RuleSplit, detail)
            }
        })
    }

    /// Whether every segment a rule names and its own targets and conditions match.
    fn rule_matches(&self, rule: &RuleData, ctx: &EvaluationContext, now: Option<i64>) -> bool {
        rule.segments.iter().all(|&s| {
            self.segments
                .get(s as usize)
                .is_some_and(|segment| segment.matches(ctx, now))
        }) && rule.audience.matches(ctx, now)
    }

    /// The context's `now`, or the publisher's clock.
    pub(crate) fn now(&self, ctx: &EvaluationContext) -> Option<i64> {
        ctx.now_micros().or_else(|| self.clock.map(|clock| clock()))
    }
}

// === typed resolution ===

impl<const N: usize> Table<N> {
    /// The variant served, with its name and value, borrowed from this table. An unknown flag
    /// serves `false`.
    pub(crate) fn resolve(&self, slot: usize, ctx: &EvaluationContext) -> Resolved<'_> {
        let evaluation = self.explain(slot, ctx);
        let (variant, value) = self
            .flags
            .get(slot)
            .and_then(|f| f.variant(evaluation.variant))
            .unwrap_or(("false", Value::Bool(false)));
        Resolved {
            value,
            variant,
            evaluation,
        }
    }

    /// The value served if `pick` accepts it; otherwise `default`, with
    /// [`Reason::TypeMismatch`] and the flag's off variant (a flag of another type), or with
    /// [`Reason::UnknownFlag`] (a flag this table does not define).
    pub(crate) fn resolve_as<'a, T>(
        &'a self,
        slot: usize,
        ctx: &EvaluationContext,
        default: T,
        pick: impl FnOnce(Value<'a>) -> Option<T>,
    ) -> Resolution<T> {
        let Resolved {
            value, evaluation, ..
        } = self.resolve(slot, ctx);
        let e = evaluation;
        if e.reason == Reason::UnknownFlag {
            return Resolution {
                value: default,
                variant: e.variant,
                reason: e.reason,
                detail: e.detail,
                generation: e.generation,
            };
        }
        match pick(value) {
            Some(value) => Resolution {
                value,
                variant: e.variant,
                reason: e.reason,
                detail: e.detail,
                generation: e.generation,
            },
            None => Resolution {
                value: default,
                variant: self.flags.get(slot).map_or(0, |f| f.off),
                reason: Reason::TypeMismatch,
                detail: Detail::None,
                generation: e.generation,
            },
        }
    }
}

impl KeySource {
    #[inline]
    fn key(&self, ctx: &EvaluationContext) -> Option<u64> {
        match self {
            KeySource::NodeId => ctx.node_key(),
            KeySource::ValidatorKey => ctx.validator_key_hash(),
            KeySource::Attribute(name, hash) => {
                ctx.attribute_by_hash(*hash, name).and_then(|a| a.key())
            }
        }
    }
}

impl ExperimentData {
    /// Whether `now` is inside `[start, end)`; never without a `now`.
    pub(crate) fn is_active(&self, now: Option<i64>) -> bool {
        now.is_some_and(|now| now >= self.start && self.end.is_none_or(|end| now < end))
    }

    /// The variant of an active experiment this context is in, if any.
    pub(crate) fn assign(&self, ctx: &EvaluationContext, now: Option<i64>) -> Option<usize> {
        if !self.is_active(now) {
            return None;
        }
        let key = self.key.key(ctx)?;
        let position = bucketing::position(bucketing::bucket(key, self.salt));
        self.variants.iter().position(|v| position < v.upper)
    }
}

impl Audience {
    /// Whether every target list and condition present holds. Only the answer matters (no
    /// reason names a rule's failing part), so the lists are tested cheapest first, straight
    /// through, and conditions only when there are any.
    #[inline]
    fn matches(&self, ctx: &EvaluationContext, now: Option<i64>) -> bool {
        let t = &self.targets;
        t.matches(TargetKind::Environments, ctx)
            && t.matches(TargetKind::NodeIds, ctx)
            && t.matches(TargetKind::ValidatorKeys, ctx)
            && t.matches(TargetKind::IpRanges, ctx)
            && (!self.has_conditions || failing_condition(&self.conditions, ctx, now).is_none())
    }
}

fn failing_condition(
    c: &CompiledConditions,
    ctx: &EvaluationContext,
    now: Option<i64>,
) -> Option<ConditionKind> {
    if c.after.is_some_and(|after| !after_reached(after, now)) {
        return Some(ConditionKind::After);
    }
    if c.before
        .is_some_and(|before| !before_not_reached(before, now))
    {
        return Some(ConditionKind::Before);
    }
    if c.chain_height.is_some_and(|min| !height_reached(min, ctx)) {
        return Some(ConditionKind::ChainHeight);
    }
    if c.sync_progress
        .is_some_and(|min| !progress_reached(min, ctx))
    {
        return Some(ConditionKind::SyncProgress);
    }
    c.custom
        .iter()
        .position(|k| !k.holds(ctx))
        .map(|i| ConditionKind::Custom(i as u16))
}

fn failing_target(targets: &CompiledTargets, ctx: &EvaluationContext) -> Option<TargetKind> {
    TargetKind::IN_ORDER
        .into_iter()
        .find(|&kind| !targets.matches(kind, ctx))
}

// Each condition and target test is defined once, here: the check plans (`check`) and the
// ordered evaluation (`explain`) both call these, so the two cannot disagree on one.

/// `after`: the instant has come (never without an instant).
fn after_reached(after: i64, now: Option<i64>) -> bool {
    now.is_some_and(|now| now >= after)
}

/// `before`: the instant has not come yet (never without an instant).
fn before_not_reached(before: i64, now: Option<i64>) -> bool {
    now.is_some_and(|now| now < before)
}

/// A partial rollout: the key's bucket under this salt is below the threshold (never without
/// a key).
#[inline(always)]
fn rollout_includes(key: Option<u64>, salt: u64, threshold: u64) -> bool {
    key.is_some_and(|key| bucketing::bucket(key, salt) < threshold)
}

#[inline(always)]
fn height_reached(min: u64, ctx: &EvaluationContext) -> bool {
    ctx.chain_height() >= min
}

/// A NaN progress holds no condition.
#[inline(always)]
fn progress_reached(min: f64, ctx: &EvaluationContext) -> bool {
    ctx.sync_progress() >= min
}

#[inline(always)]
fn environment_matches(mask: u8, ctx: &EvaluationContext) -> bool {
    ctx.environment().is_some_and(|e| mask & e.bit() != 0)
}

impl CompiledTargets {
    /// Whether the context is in the flag's `kind` list; `true` when the flag has no such list.
    /// Inlined, so that a call with a constant kind is that kind's test alone.
    #[inline(always)]
    fn matches(&self, kind: TargetKind, ctx: &EvaluationContext) -> bool {
        match kind {
            TargetKind::NodeIds => self
                .node_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(ctx.node_key(), ctx.node_id())),
            TargetKind::ValidatorKeys => self.validator_keys.as_ref().is_none_or(|keys| {
                keys.contains(ctx.validator_key_hash(), ctx.validator_key().unwrap_or(""))
            }),
            TargetKind::IpRanges => self
                .ip_ranges
                .as_ref()
                .is_none_or(|ips| ctx.ip_address().is_some_and(|ip| ips.contains(ip))),
            TargetKind::Environments => self
                .environments
                .is_none_or(|mask| environment_matches(mask, ctx)),
        }
    }
}

impl Constraint {
    /// Whether the constraint holds. A version compare between releases (the common one on
    /// hot paths) is inline; anything else is out of line.
    #[inline(always)]
    fn holds(&self, ctx: &EvaluationContext) -> bool {
        self.release_holds(ctx).unwrap_or_else(|| {
            self.holds_otherwise(ctx.attribute_by_hash(self.attribute_hash, &self.attribute))
        })
    }

    /// The common case of `holds`, with no call: a version constraint on an attribute named in
    /// 8 to 16 bytes whose value is a release, or a missing attribute. `None` for the rest.
    #[inline(always)]
    fn release_holds(&self, ctx: &EvaluationContext) -> Option<bool> {
        let Operand::Version(_, Some(want)) = &self.operand else {
            return None;
        };
        for a in ctx.attributes() {
            let name = a.name().as_bytes();
            if a.name_hash() != self.attribute_hash || name.len() != self.attribute.len() {
                continue;
            }
            // Same length: the constraint's words are its name's if this name has words.
            if short_words(name)? != self.attribute_words {
                continue;
            }
            // A value that is no release (or no version) is for `holds_otherwise`.
            let have = a.release()?;
            // Two releases: precedence is the order of (major, minor, patch).
            return Some(self.operator.accepts(have.cmp(want)));
        }
        // No such attribute: no version to compare.
        Some(false)
    }

    #[inline(never)]
    fn holds_otherwise(&self, attr: Option<&Attribute>) -> bool {
        use Operator::*;
        let value = attr.map(|a| a.value());
        match (self.operator, &self.operand) {
            (Exists, _) => attr.is_some(),
            (NotExists, _) => attr.is_none(),
            (Equals, Operand::Str(s)) => value == Some(s.as_str()),
            (NotEquals, Operand::Str(s)) => value != Some(s.as_str()),
            (In, Operand::Set(set)) => value.is_some_and(|v| contains(set, v)),
            (NotIn, Operand::Set(set)) => !value.is_some_and(|v| contains(set, v)),
            (StartsWith, Operand::Str(s)) => value.is_some_and(|v| v.starts_with(s.as_str())),
            (EndsWith, Operand::Str(s)) => value.is_some_and(|v| v.ends_with(s.as_str())),
            (Contains, Operand::Str(s)) => value.is_some_and(|v| v.contains(s.as_str())),
            (Gt | Gte | Lt | Lte, Operand::Num(n)) => match attr.and_then(|a| a.number()) {
                Some(x) => match self.operator {
                    Gt => x > *n,
                    Gte => x >= *n,
                    Lt => x < *n,
                    _ => x <= *n,
                },
                None => false,
            },
            (SemverEq | SemverGt | SemverGte | SemverLt | SemverLte, Operand::Version(want, _)) => {
                // Two releases on an attribute named in 8 to 16 bytes took `release_holds`'s
                // triple compare; everything else (a pre-release, another name length, no
                // version) compares here.
                attr.and_then(|a| a.version())
                    .is_some_and(|have| self.operator.accepts(have.cmp_precedence(want)))
            }
            // Compilation pairs every operator with its operand kind.
            _ => false,
        }
    }
}

impl Operator {
    /// Whether a semver operator accepts an attribute whose precedence compares to the
    /// constraint's version as `ord`.
    #[inline(always)]
    fn accepts(self, ord: Ordering) -> bool {
        // The orderings each operator accepts (bit 0 less, bit 1 equal, bit 2 greater): a
        // table lookup and a shift, not a jump per operator.
        let accepted: u8 = match self {
            Operator::SemverEq => 0b010,
            Operator::SemverGt => 0b100,
            Operator::SemverGte => 0b110,
            Operator::SemverLt => 0b001,
            Operator::SemverLte => 0b011,
            _ => 0,
        };
        accepted >> (ord as i8 + 1) & 1 != 0
    }
}

fn contains(sorted: &[alloc::string::String], v: &str) -> bool {
    sorted.binary_search_by(|s| s.as_str().cmp(v)).is_ok()
}

/// Marks the path that calls it as unlikely, for the layout only (`core::hint::cold_path` is
/// newer than this crate's minimum Rust): a call to a `#[cold]` function makes its block cold,
/// and inlined, it leaves no instruction.
#[cold]
#[inline(always)]
fn cold_path() {}
