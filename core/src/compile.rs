//! Compilation: a [`Config`] checked and turned into an evaluation-ready table.
//!
//! Everything a check needs is computed here, once per publication: percentages become
//! integer thresholds, salts become hashes, target lists become sorted hash sets, CIDRs become
//! prefix/mask pairs, custom constraints are parsed (numbers, semantic versions), prerequisites
//! and experiment overrides become slot indices. The check then never parses, hashes a string,
//! formats or allocates.
//!
//! Compilation also enforces every semantic rule of the configuration and reports *all*
//! problems at once as [`Diagnostics`], each naming its flag or experiment and the field as a
//! [`FieldPath`] (`conditions.custom[1].value`), so that the std adapter can point at file,
//! line and column.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::answer::TargetKind;
use crate::bucketing::{self, Domain, SCALE};
use crate::compiled::{
    Audience, CompiledConditions, CompiledTargets, CompiledValue, Constraint, ExperimentData,
    FlagData, KeySource, Kind, Operand, Plan, RuleData, Serve, Slot, Table, Test, VariantData,
};
pub use crate::compiled::{Clock, Compiled, CompiledTable};
pub use crate::diagnostics::{Diagnostic, Diagnostics, FieldPath, Scope, Severity};
use crate::encoding::{name_hash, release_of, short_words};
use crate::model::{
    BucketBy, Conditions, Config, ConstraintValue, CustomConstraint, Experiment, FeatureFlag,
    FlagType, Operator, Rule, ServeValue, Targets, VariantValue,
};
use crate::sets::{IpSet, KeySet};

/// How deep prerequisites may nest (`a` requires `b` requires `c` ... is depth 3). Evaluation
/// recurses through prerequisites, so the depth is bounded to keep the stack small.
pub const MAX_PREREQUISITE_DEPTH: usize = 16;

/// A spliced plan longer than this (diamonds of prerequisites repeat tests) keeps the
/// prerequisite as a `Requires` test instead.
const MAX_PLAN: usize = 64;

/// Sets the check plan of every `Complex` slot without experiment overrides (see [`Test`]).
/// `kinds` are the slots' kinds; the prerequisite graph is acyclic and at most
/// `MAX_PREREQUISITE_DEPTH` deep (compilation has rejected anything else), so the recursion
/// ends.
fn build_plans(flags: &mut [FlagData], kinds: &[Kind]) {
    /// The plan of `slot`, built once into `plans` (a prerequisite's plan is spliced into every
    /// flag that requires it).
    fn plan_of(
        slot: usize,
        flags: &[FlagData],
        kinds: &[Kind],
        plans: &mut [Option<Vec<Test>>],
    ) -> Vec<Test> {
        if let Some(plan) = &plans[slot] {
            return plan.clone();
        }
        let f = &flags[slot];
        let at = slot as u32;
        let mut plan = Vec::new();
        let (c, t) = (&f.conditions, &f.targets);
        plan.extend(t.environments.map(Test::Environments));
        plan.extend(c.chain_height.map(Test::ChainHeight));
        plan.extend(c.sync_progress.map(Test::SyncProgress));
        if c.after.is_some() || c.before.is_some() {
            plan.push(Test::Window(at));
        }
        if f.ppm.is_some_and(|p| p < SCALE) {
            plan.push(Test::Rollout(at));
        }
        let lists = [
            (t.node_ids.is_some(), TargetKind::NodeIds),
            (t.validator_keys.is_some(), TargetKind::ValidatorKeys),
            (t.ip_ranges.is_some(), TargetKind::IpRanges),
        ];
        for (present, kind) in lists {
            if present {
                plan.push(Test::Target(at, kind));
            }
        }
        plan.extend((0..c.custom.len()).map(|i| Test::Custom(at, i as u16)));
        for &r in &f.requires {
            let spliced = match kinds.get(r as usize) {
                Some(Kind::Enabled | Kind::Full) => Some(Vec::new()),
                Some(Kind::Rollout) => Some(alloc::vec![Test::Rollout(r)]),
                Some(Kind::NodeTargets) => Some(alloc::vec![Test::Target(r, TargetKind::NodeIds)]),
                Some(Kind::Complex) if !flags[r as usize].in_full => {
                    Some(plan_of(r as usize, flags, kinds, plans))
                }
                _ => None,
            };
            match spliced {
                Some(tests) if plan.len() + tests.len() <= MAX_PLAN => plan.extend(tests),
                _ => plan.push(Test::Requires(r)),
            }
        }
        plan.sort_by_key(Test::cost);
        plans[slot] = Some(plan.clone());
        plan
    }

    let mut plans: Vec<Option<Vec<Test>>> = alloc::vec![None; flags.len()];
    for slot in 0..flags.len() {
        if kinds.get(slot) == Some(&Kind::Complex) && !flags[slot].in_full {
            plan_of(slot, flags, kinds, &mut plans);
        }
    }
    let plans: Vec<Plan> = plans
        .iter()
        .map(|tests| {
            tests
                .as_deref()
                .map_or_else(Plan::default, |t| Plan::new(t, flags))
        })
        .collect();
    for (f, plan) in flags.iter_mut().zip(plans) {
        f.plan = plan;
    }
}

/// The field path of these keys, one under the other: `keys(&["conditions", "before"])` is
/// `conditions.before`.
fn keys(keys: &[&'static str]) -> FieldPath {
    keys.iter()
        .fold(FieldPath::new(), |path, &key| path.key(key))
}

/// What a rollout or an experiment with this `bucket_by` buckets on.
fn key_source(b: Option<&BucketBy>) -> KeySource {
    match b {
        None | Some(BucketBy::NodeId) => KeySource::NodeId,
        Some(BucketBy::ValidatorKey) => KeySource::ValidatorKey,
        Some(BucketBy::Attribute(a)) => KeySource::Attribute(a.clone(), name_hash(a)),
    }
}

// === compile ===

/// Compiles a configuration for a table of capacity `N`.
///
/// `known` are the flags compiled into the binary (the generated `FlagId::NAMES`), in slot
/// order: `known[i]` gets slot `i`; flags only in the configuration get the slots after them,
/// in name order. Returns the table and its warnings, or every problem found.
pub fn compile<const N: usize>(
    config: &Config,
    known: &[&str],
) -> Result<Compiled<N>, Diagnostics> {
    let mut diags = Diagnostics::default();

    // Slot assignment: compiled-in flags first, in their order, then the rest by name.
    let mut slot_names: Vec<&str> = Vec::with_capacity(known.len() + config.features.len());
    let mut seen = BTreeSet::new();
    for &name in known {
        if seen.insert(name) {
            slot_names.push(name);
        }
    }
    for name in config.features.keys() {
        if seen.insert(name.as_str()) {
            slot_names.push(name);
        }
    }
    if !known.is_empty() {
        for &name in known {
            if !config.features.contains_key(name) {
                diags.warning(
                    &Scope::Feature(name.to_owned()),
                    FieldPath::new(),
                    format!(
                        "flag `{name}` is compiled into this binary but not defined in the \
                         configuration; it evaluates to false (unknown_flag)"
                    ),
                );
            }
        }
        let known_set: BTreeSet<&str> = known.iter().copied().collect();
        for name in config.features.keys() {
            if !known_set.contains(name.as_str()) {
                diags.warning(
                    &Scope::Feature(name.clone()),
                    FieldPath::new(),
                    format!(
                        "flag `{name}` is not compiled into this binary; it is reachable by name \
                         only"
                    ),
                );
            }
        }
    }
    if slot_names.len() > N {
        diags.error(
            &Scope::Config,
            keys(&["features"]),
            format!(
                "{} flags exceed the table's capacity of {N}",
                slot_names.len()
            ),
        );
        return Err(diags);
    }
    let slot_of: BTreeMap<&str, u32> = slot_names
        .iter()
        .enumerate()
        .map(|(i, &n)| (n, i as u32))
        .collect();

    let (segments, segment_of) = compile_segments(config, &mut diags);
    let mut segment_used = alloc::vec![false; segments.len()];
    let mut flags: Vec<FlagData> = slot_names
        .iter()
        .map(|&name| match config.features.get(name) {
            Some(flag) => {
                let mut f = compile_flag(name, flag, config, &slot_of, &mut diags);
                f.rules = compile_rules(name, flag, &segment_of, &mut segment_used, &mut diags);
                f
            }
            None => undefined_flag(name),
        })
        .collect();
    for (segment, used) in segments.iter().zip(&segment_used) {
        if !used {
            diags.warning(
                &Scope::Segment(segment.name.clone()),
                FieldPath::new(),
                "not used by any rule; name it in a rule's `segments` or remove it".to_owned(),
            );
        }
    }

    check_prerequisite_graph(config, &mut diags);

    let experiments = compile_experiments(config, &slot_of, &mut diags);
    for (e, exp) in experiments.iter().enumerate() {
        let mut touched: BTreeSet<u32> = BTreeSet::new();
        for v in &exp.variants {
            touched.extend(v.overrides.iter().map(|&(s, _)| s));
        }
        for s in touched {
            flags[s as usize].experiments.push(e as u32);
        }
    }
    for f in &mut flags {
        f.in_full =
            !f.experiments.is_empty() || !f.rules.is_empty() || f.flag_type != FlagType::Boolean;
        f.reads_clock = !f.experiments.is_empty()
            || f.conditions.after.is_some()
            || f.conditions.before.is_some()
            || f.rules.iter().any(|r| {
                r.audience.reads_clock()
                    || r.segments
                        .iter()
                        .any(|&s| segments[s as usize].reads_clock())
            });
    }

    if diags.has_errors() {
        return Err(diags);
    }
    resolve_static_prerequisites(&mut flags);

    let mut kinds = [Kind::Unknown; N];
    let mut slots = [Slot::UNUSED; N];
    let mut node_filters = Vec::new();
    for ((kind, slot), f) in kinds.iter_mut().zip(slots.iter_mut()).zip(&flags) {
        *kind = kind_of(f);
        *slot = Slot::rollout(f.salt, f.threshold);
        if *kind == Kind::NodeTargets {
            if let Some(set) = &f.targets.node_ids {
                let filter = set.filter();
                *slot = Slot::node_filter(node_filters.len(), filter.len() - 1);
                node_filters.extend_from_slice(&filter);
            }
        }
    }
    // `flags.len() <= N`: checked with the slot names above.
    let used = flags.len();
    build_plans(&mut flags, &kinds[..used]);
    let mut by_name: Vec<(u64, u32)> = slot_names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| bucketing::key_hash(n).map(|h| (h, i as u32)))
        .collect();
    by_name.sort_unstable();

    let table = Box::new(Table::new(
        &kinds,
        slots,
        flags,
        by_name,
        experiments,
        segments,
        node_filters,
    ));
    Ok(Compiled {
        table: CompiledTable { inner: table },
        warnings: diags.0,
    })
}

fn undefined_flag(name: &str) -> FlagData {
    FlagData {
        name: name.to_owned(),
        defined: false,
        enabled: false,
        ppm: None,
        salt: 0,
        threshold: 0,
        key: KeySource::NodeId,
        requires: Vec::new(),
        conditions: CompiledConditions::default(),
        targets: CompiledTargets::default(),
        has_conditions: false,
        has_targets: false,
        experiments: Vec::new(),
        rules: Vec::new(),
        in_full: false,
        reads_clock: false,
        plan: Plan::default(),
        flag_type: FlagType::Boolean,
        values: Vec::new(),
        on: 1,
        off: 0,
    }
}

/// Whether a flag is on for every context: defined, enabled, nothing that depends on the
/// context, and no partial rollout.
fn always_on(f: &FlagData) -> bool {
    f.defined
        && f.enabled
        && f.requires.is_empty()
        && !f.has_conditions
        && !f.has_targets
        && f.experiments.is_empty()
        && f.rules.is_empty()
        && f.ppm.is_none_or(|p| p >= SCALE)
}

/// Drops prerequisites that are on for every context: step 3 can never fail on them, so the
/// answer and its reason are unchanged, and a flag whose prerequisites are all such switches
/// is decided from its slot. Repeated until nothing changes, so chains of them collapse
/// (at most `MAX_PREREQUISITE_DEPTH + 1` passes).
fn resolve_static_prerequisites(flags: &mut [FlagData]) {
    loop {
        let on: Vec<bool> = flags.iter().map(always_on).collect();
        let mut changed = false;
        for f in flags.iter_mut() {
            let before = f.requires.len();
            f.requires.retain(|&r| !on[r as usize]);
            changed |= f.requires.len() != before;
        }
        if !changed {
            return;
        }
    }
}

fn kind_of(f: &FlagData) -> Kind {
    if !f.defined {
        Kind::Unknown
    } else if !f.enabled && f.flag_type == FlagType::Boolean {
        // A disabled typed flag is `Complex` (below): its explanation names its off variant,
        // which the kind alone does not know.
        Kind::Disabled
    } else if f.requires.is_empty()
        && !f.has_conditions
        && !f.in_full
        && f.ppm.is_none()
        && f.targets.node_ids.is_some()
        && f.targets.validator_keys.is_none()
        && f.targets.ip_ranges.is_none()
        && f.targets.environments.is_none()
    {
        Kind::NodeTargets
    } else if !f.requires.is_empty() || f.has_conditions || f.has_targets || f.in_full {
        Kind::Complex
    } else {
        match f.ppm {
            None => Kind::Enabled,
            Some(p) if p >= SCALE => Kind::Full,
            Some(_) if f.key != KeySource::NodeId => Kind::Complex,
            Some(_) => Kind::Rollout,
        }
    }
}

fn check_percentage(value: f64, diags: &mut Diagnostics, scope: &Scope, field: FieldPath) -> u32 {
    match bucketing::percentage_to_ppm(value) {
        Some(ppm) => ppm,
        None => {
            let message = format!("`{field}` must be a number from 0 to 100, found {value}");
            diags.error(scope, field, message);
            0
        }
    }
}

fn compile_flag(
    name: &str,
    flag: &FeatureFlag,
    config: &Config,
    slot_of: &BTreeMap<&str, u32>,
    diags: &mut Diagnostics,
) -> FlagData {
    let scope = Scope::Feature(name.to_owned());
    if name.is_empty() {
        diags.error(
            &scope,
            FieldPath::new(),
            "a flag name must not be empty".to_owned(),
        );
    }
    let ppm = flag
        .rollout_percentage
        .map(|p| check_percentage(p, diags, &scope, keys(&["rollout_percentage"])));
    let salt = bucketing::salt_hash(Domain::Rollout, flag.salt.as_deref().unwrap_or(name));
    let threshold = match ppm {
        Some(p) if p < SCALE => bucketing::threshold(p),
        _ => u64::MAX,
    };

    let mut requires = Vec::new();
    for (i, r) in flag.requires.iter().enumerate() {
        match slot_of.get(r.as_str()) {
            Some(&s) if r != name => {
                requires.push(s);
                let t = config
                    .features
                    .get(r.as_str())
                    .map_or(FlagType::Boolean, FeatureFlag::value_type);
                if t != FlagType::Boolean {
                    diags.error(
                        &scope,
                        keys(&["requires"]).index(i),
                        format!(
                            "flag `{name}` requires `{r}`, {} flag; prerequisites must be \
                             boolean flags",
                            t.with_article()
                        ),
                    );
                }
            }
            Some(_) => diags.error(
                &scope,
                keys(&["requires"]).index(i),
                format!("flag `{name}` requires itself"),
            ),
            None => diags.error(
                &scope,
                keys(&["requires"]).index(i),
                format!("flag `{name}` requires unknown flag `{r}`"),
            ),
        }
    }

    let Audience {
        conditions,
        targets,
        ..
    } = compile_audience(
        flag.conditions.as_ref(),
        flag.targets.as_ref(),
        &scope,
        FieldPath::new(),
        diags,
    );
    let (values, on, off) = compile_variants(flag, &scope, diags);

    FlagData {
        name: name.to_owned(),
        defined: true,
        enabled: flag.enabled,
        ppm,
        salt,
        threshold,
        key: key_source(flag.bucket_by.as_ref()),
        requires,
        has_conditions: !conditions.is_empty(),
        has_targets: !targets.is_empty(),
        conditions,
        targets,
        experiments: Vec::new(),
        rules: Vec::new(),
        in_full: false,
        reads_clock: false,
        plan: Plan::default(),
        flag_type: flag.value_type(),
        values,
        on,
        off,
    }
}

/// The index of a typed flag's variant by name (variants are in name order).
fn variant_index(flag: &FeatureFlag, variant: &str) -> Option<u32> {
    flag.variants
        .keys()
        .position(|v| v == variant)
        .map(|i| i as u32)
}

/// The variants of a flag whose name is `variant`, for messages: `few, many, normal`.
fn variant_list(flag: &FeatureFlag) -> String {
    let names: Vec<&str> = flag.variants.keys().map(String::as_str).collect();
    names.join(", ")
}

/// The variant a rule's `serve` or an experiment's override names, as an index; `None` (with an
/// error at `field`) when it does not fit the flag's type.
fn served_variant(
    flag: &FeatureFlag,
    value: &ServeValue,
    scope: &Scope,
    field: FieldPath,
    diags: &mut Diagnostics,
) -> Option<u32> {
    match (flag.value_type(), value) {
        (FlagType::Boolean, ServeValue::Bool(b)) => Some(u32::from(*b)),
        (FlagType::Boolean, ServeValue::Variant(v)) => {
            let message =
                format!("`{field}` of a boolean flag is `true` or `false`, found \"{v}\"");
            diags.error(scope, field, message);
            None
        }
        (t, ServeValue::Bool(b)) => {
            let message = format!(
                "`{field}` of {} flag names one of its variants ({}), found `{b}`",
                t.with_article(),
                variant_list(flag)
            );
            diags.error(scope, field, message);
            None
        }
        (_, ServeValue::Variant(v)) => {
            let index = variant_index(flag, v);
            if index.is_none() {
                let message = format!(
                    "`{field}` names unknown variant `{v}` (variants: {})",
                    variant_list(flag)
                );
                diags.error(scope, field, message);
            }
            index
        }
    }
}

/// A flag's variants with their compiled values, its on variant and its off variant (a boolean
/// flag: none, 1 and 0). Every problem is reported: a typed flag without variants, or whose
/// `on_variant` or `off_variant` is missing or names no variant, a value of another type, and
/// a boolean flag with any of these fields.
fn compile_variants(
    flag: &FeatureFlag,
    scope: &Scope,
    diags: &mut Diagnostics,
) -> (Vec<(String, CompiledValue)>, u32, u32) {
    let t = flag.value_type();
    if t == FlagType::Boolean {
        let parts = [
            ("variants", !flag.variants.is_empty()),
            ("on_variant", flag.on_variant.is_some()),
            ("off_variant", flag.off_variant.is_some()),
        ];
        for (field, present) in parts {
            if present {
                diags.error(
                    scope,
                    keys(&[field]),
                    format!(
                        "a boolean flag has no `{field}` (its values are `true` and `false`); \
                         give it a `type` to serve other values"
                    ),
                );
            }
        }
        return (Vec::new(), 1, 0);
    }
    if flag.variants.is_empty() {
        diags.error(
            scope,
            keys(&["variants"]),
            format!(
                "{} flag needs `variants`, a table of variant names and values",
                t.with_article()
            ),
        );
    }
    let mut values = Vec::with_capacity(flag.variants.len());
    for (name, value) in &flag.variants {
        let compiled = match (t, value) {
            (FlagType::Integer, VariantValue::Integer(i)) => Some(CompiledValue::Integer(*i)),
            (FlagType::Float, VariantValue::Float(x)) => Some(CompiledValue::Float(*x)),
            (FlagType::Float, VariantValue::Integer(i)) => Some(CompiledValue::Float(*i as f64)),
            (FlagType::String, VariantValue::String(s)) => Some(CompiledValue::String(s.clone())),
            (FlagType::Json, v) => {
                let mut text = String::new();
                v.write_json(&mut text);
                Some(CompiledValue::Json(text))
            }
            _ => None,
        };
        match compiled {
            Some(c) => values.push((name.clone(), c)),
            None => {
                let want = match t {
                    FlagType::Integer => "an integer",
                    FlagType::Float => "a float or an integer",
                    _ => "a string",
                };
                diags.error(
                    scope,
                    keys(&["variants"]).key(name.clone()),
                    format!(
                        "variant `{name}` of {} flag must be {want}, found {}",
                        t.with_article(),
                        value.describe()
                    ),
                );
                values.push((name.clone(), CompiledValue::Integer(0)));
            }
        }
    }
    let mut end = |field: &'static str, named: Option<&String>| match named {
        None => {
            diags.error(
                scope,
                keys(&["type"]),
                format!(
                    "{} flag needs `{field}`, the name of one of its variants",
                    t.with_article()
                ),
            );
            0
        }
        Some(v) => variant_index(flag, v).unwrap_or_else(|| {
            if !flag.variants.is_empty() {
                diags.error(
                    scope,
                    keys(&[field]),
                    format!(
                        "`{field}` names unknown variant `{v}` (variants: {})",
                        variant_list(flag)
                    ),
                );
            }
            0
        }),
    };
    let on = end("on_variant", flag.on_variant.as_ref());
    let off = end("off_variant", flag.off_variant.as_ref());
    if let (Some(a), Some(b)) = (&flag.on_variant, &flag.off_variant) {
        if a == b && variant_index(flag, a).is_some() {
            diags.warning(
                scope,
                keys(&["off_variant"]),
                format!(
                    "`on_variant` and `off_variant` are both `{a}`: every context is served \
                     `{a}` and the flag is never on"
                ),
            );
        }
    }
    (values, on, off)
}

/// A flag's, a segment's or a rule's conditions and targets, their fields under `base`.
fn compile_audience(
    conditions: Option<&Conditions>,
    targets: Option<&Targets>,
    scope: &Scope,
    base: FieldPath,
    diags: &mut Diagnostics,
) -> Audience {
    let conditions: CompiledConditions = conditions
        .map(|c| compile_conditions(c, scope, base.clone().key("conditions"), diags))
        .unwrap_or_default();
    Audience {
        name: String::new(),
        has_conditions: !conditions.is_empty(),
        conditions,
        targets: targets
            .map(|t| compile_targets(t, scope, base.key("targets"), diags))
            .unwrap_or_default(),
    }
}

/// The segments, in name order, and the index of each name.
fn compile_segments<'c>(
    config: &'c Config,
    diags: &mut Diagnostics,
) -> (Vec<Audience>, BTreeMap<&'c str, u32>) {
    let mut segments = Vec::with_capacity(config.segments.len());
    let mut index = BTreeMap::new();
    for (name, segment) in &config.segments {
        let scope = Scope::Segment(name.clone());
        if segment.targets.as_ref().is_none_or(Targets::is_empty)
            && segment.conditions.as_ref().is_none_or(Conditions::is_empty)
        {
            diags.error(
                &scope,
                FieldPath::new(),
                "a segment needs a target list or a condition (a rule with no `segments`, \
                 `targets` or `conditions` already matches every context)"
                    .to_owned(),
            );
        }
        let mut audience = compile_audience(
            segment.conditions.as_ref(),
            segment.targets.as_ref(),
            &scope,
            FieldPath::new(),
            diags,
        );
        audience.name = name.clone();
        index.insert(name.as_str(), segments.len() as u32);
        segments.push(audience);
    }
    (segments, index)
}

/// A flag's rules; marks the segments they name as used.
fn compile_rules(
    name: &str,
    flag: &FeatureFlag,
    segment_of: &BTreeMap<&str, u32>,
    segment_used: &mut [bool],
    diags: &mut Diagnostics,
) -> Vec<RuleData> {
    let scope = Scope::Feature(name.to_owned());
    let mut rules = Vec::with_capacity(flag.rules.len());
    let mut catch_all: Option<usize> = None;
    for (i, rule) in flag.rules.iter().enumerate() {
        let base = keys(&["rules"]).index(i);
        if let Some(first) = catch_all {
            diags.warning(
                &scope,
                base.clone(),
                format!(
                    "rule {i} is never reached: rule {first} has no `segments`, `targets` or \
                     `conditions`, so it matches every context"
                ),
            );
        }
        let segments = rule_segments(rule, &base, segment_of, segment_used, &scope, diags);
        let audience = compile_audience(
            rule.conditions.as_ref(),
            rule.targets.as_ref(),
            &scope,
            base.clone(),
            diags,
        );
        let serve = compile_serve(i, rule, flag, &base, &scope, diags);
        if catch_all.is_none() && rule.matches_everything() {
            catch_all = Some(i);
        }
        rules.push(RuleData {
            segments,
            audience,
            serve,
        });
    }
    if let (Some(first), Some(_)) = (catch_all, flag.rollout_percentage) {
        diags.warning(
            &scope,
            keys(&["rollout_percentage"]),
            format!(
                "the fallthrough `rollout_percentage` is never reached: rule {first} matches \
                 every context"
            ),
        );
    }
    rules
}

/// A rule's serve part: exactly one of `serve`, `rollout_percentage` and (typed flags) `split`.
fn compile_serve(
    i: usize,
    rule: &Rule,
    flag: &FeatureFlag,
    base: &FieldPath,
    scope: &Scope,
    diags: &mut Diagnostics,
) -> Serve {
    let parts = [
        ("serve", rule.serve.is_some()),
        ("rollout_percentage", rule.rollout_percentage.is_some()),
        ("split", rule.split.is_some()),
    ];
    let mut present = parts.iter().filter(|(_, p)| *p).map(|&(f, _)| f);
    let (Some(first), second) = (present.next(), present.next()) else {
        diags.error(
            scope,
            base.clone(),
            format!(
                "rule {i} serves nothing: give it `serve` or `rollout_percentage` (or `split`, \
                 on a typed flag)"
            ),
        );
        return Serve::Variant(0);
    };
    if let Some(second) = second {
        diags.error(
            scope,
            base.clone().key(second),
            format!("rule {i} has both `{first}` and `{second}`; a rule serves one way"),
        );
        return Serve::Variant(0);
    }
    if let Some(value) = &rule.serve {
        let field = base.clone().key("serve");
        return Serve::Variant(served_variant(flag, value, scope, field, diags).unwrap_or(0));
    }
    if let Some(p) = rule.rollout_percentage {
        let ppm = check_percentage(p, diags, scope, base.clone().key("rollout_percentage"));
        let threshold = if ppm < SCALE {
            bucketing::threshold(ppm)
        } else {
            u64::MAX
        };
        return Serve::Rollout { ppm, threshold };
    }
    let shares = rule.split.as_deref().unwrap_or_default();
    let field = base.clone().key("split");
    if flag.value_type() == FlagType::Boolean {
        diags.error(
            scope,
            field,
            format!(
                "`split` serves variants of a typed flag; a boolean flag's rule {i} uses \
                 `rollout_percentage`"
            ),
        );
        return Serve::Variant(0);
    }
    let mut out = Vec::with_capacity(shares.len());
    let mut upper: u32 = 0;
    let mut total = 0.0;
    for (j, share) in shares.iter().enumerate() {
        let at = field.clone().index(j);
        let variant = variant_index(flag, &share.variant);
        if variant.is_none() {
            let field = at.clone().key("variant");
            let message = format!(
                "`{field}` names unknown variant `{}` (variants: {})",
                share.variant,
                variant_list(flag)
            );
            diags.error(scope, field, message);
        }
        let ppm = check_percentage(share.percentage, diags, scope, at.key("percentage"));
        if share.percentage.is_finite() {
            total += share.percentage;
        }
        upper = upper.saturating_add(ppm).min(SCALE);
        out.push((upper, variant.unwrap_or(0)));
    }
    // A range rather than `f64::abs`, which `core` may lack at the crate's minimum Rust.
    if !(100.0 - 1e-9..=100.0 + 1e-9).contains(&total) {
        let message = format!("the shares of `{field}` sum to {total}, not 100");
        diags.error(scope, field, message);
    }
    // The shares cover every position, whatever the rounding of each.
    if let Some(last) = out.last_mut() {
        last.0 = SCALE;
    }
    Serve::Split(out.into_boxed_slice())
}

/// The segments a rule names, as indices; unknown names and an empty list are errors.
fn rule_segments(
    rule: &Rule,
    base: &FieldPath,
    segment_of: &BTreeMap<&str, u32>,
    segment_used: &mut [bool],
    scope: &Scope,
    diags: &mut Diagnostics,
) -> Vec<u32> {
    let Some(names) = &rule.segments else {
        return Vec::new();
    };
    let field = base.clone().key("segments");
    if names.is_empty() {
        diags.error(
            scope,
            field.clone(),
            format!("`{field}` is empty; name at least one segment or remove it"),
        );
    }
    let mut out = Vec::with_capacity(names.len());
    for (j, segment) in names.iter().enumerate() {
        match segment_of.get(segment.as_str()) {
            Some(&s) => {
                segment_used[s as usize] = true;
                out.push(s);
            }
            None => diags.error(
                scope,
                field.clone().index(j),
                format!("unknown segment `{segment}` (define it as `[segments.{segment}]`)"),
            ),
        }
    }
    out
}

/// Conditions, their fields under `base` (`conditions`, `rules[0].conditions`).
fn compile_conditions(
    c: &Conditions,
    scope: &Scope,
    base: FieldPath,
    diags: &mut Diagnostics,
) -> CompiledConditions {
    if let (Some(after), Some(before)) = (c.after, c.before) {
        if before.unix_micros() <= after.unix_micros() {
            let field = base.clone().key("before");
            let after_field = base.clone().key("after");
            let message =
                format!("`{field}` ({before}) must be later than `{after_field}` ({after})");
            diags.error(scope, field, message);
        }
    }
    if let Some(p) = c.sync_progress {
        if !(0.0..=1.0).contains(&p) {
            let field = base.clone().key("sync_progress");
            let message = format!("`{field}` must be a number from 0.0 to 1.0, found {p}");
            diags.error(scope, field, message);
        }
    }
    let custom = c
        .custom
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            compile_constraint(k, base.clone().key("custom").index(i), scope, diags)
        })
        .collect();
    CompiledConditions {
        after: c.after.map(|t| t.unix_micros()),
        before: c.before.map(|t| t.unix_micros()),
        chain_height: c.chain_height,
        sync_progress: c.sync_progress,
        custom,
    }
}

/// A custom constraint at `field` (`conditions.custom[1]`).
fn compile_constraint(
    c: &CustomConstraint,
    field: FieldPath,
    scope: &Scope,
    diags: &mut Diagnostics,
) -> Option<Constraint> {
    use Operator::*;
    let op = c.operator;
    let mut fail = |sub: &'static str, message: String| {
        diags.error(scope, field.clone().key(sub), message);
        None
    };
    if c.attribute.is_empty() {
        return fail(
            "attribute",
            "a custom constraint needs a non-empty `attribute`".to_owned(),
        );
    }
    let operand = match op {
        Exists | NotExists => {
            if c.value.is_some() || c.values.is_some() {
                return fail(
                    "operator",
                    format!(
                        "operator `{}` takes neither `value` nor `values`",
                        op.as_str()
                    ),
                );
            }
            Operand::None
        }
        In | NotIn => {
            if c.value.is_some() {
                return fail(
                    "value",
                    format!(
                        "operator `{}` takes a `values` list, not `value`",
                        op.as_str()
                    ),
                );
            }
            match &c.values {
                Some(v) if !v.is_empty() => {
                    let mut v = v.clone();
                    v.sort();
                    v.dedup();
                    Operand::Set(v)
                }
                Some(_) => {
                    return fail(
                        "values",
                        format!("operator `{}` needs a non-empty `values` list", op.as_str()),
                    )
                }
                None => {
                    return fail(
                        "operator",
                        format!("operator `{}` needs a `values` list", op.as_str()),
                    )
                }
            }
        }
        _ => {
            if c.values.is_some() {
                return fail(
                    "values",
                    format!(
                        "operator `{}` takes a single `value`, not `values`",
                        op.as_str()
                    ),
                );
            }
            let Some(value) = &c.value else {
                return fail(
                    "operator",
                    format!("operator `{}` needs a `value`", op.as_str()),
                );
            };
            match (op, value) {
                (Gt | Gte | Lt | Lte, ConstraintValue::Number(n)) if n.is_finite() => {
                    Operand::Num(*n)
                }
                (Gt | Gte | Lt | Lte, _) => {
                    return fail(
                        "value",
                        format!(
                            "operator `{}` needs a finite number as `value`",
                            op.as_str()
                        ),
                    )
                }
                (
                    SemverEq | SemverGt | SemverGte | SemverLt | SemverLte,
                    ConstraintValue::String(s),
                ) => match semver::Version::parse(s) {
                    Ok(v) => {
                        let release = release_of(&v);
                        Operand::Version(v, release)
                    }
                    Err(e) => {
                        return fail(
                            "value",
                            format!("`{s}` is not a valid semantic version: {e}"),
                        )
                    }
                },
                (SemverEq | SemverGt | SemverGte | SemverLt | SemverLte, _) => {
                    return fail(
                        "value",
                        format!(
                            "operator `{}` needs a semantic version string as `value`",
                            op.as_str()
                        ),
                    )
                }
                (_, ConstraintValue::String(s)) => Operand::Str(s.clone()),
                (_, ConstraintValue::Number(_)) => {
                    return fail(
                        "value",
                        format!("operator `{}` needs a string as `value`", op.as_str()),
                    )
                }
            }
        }
    };
    Some(Constraint {
        attribute_hash: name_hash(&c.attribute),
        attribute_words: short_words(c.attribute.as_bytes()).unwrap_or_default(),
        attribute: c.attribute.clone(),
        operator: op,
        operand,
    })
}

/// Target lists, their fields under `base` (`targets`, `rules[0].targets`).
fn compile_targets(
    t: &Targets,
    scope: &Scope,
    base: FieldPath,
    diags: &mut Diagnostics,
) -> CompiledTargets {
    let empty = |diags: &mut Diagnostics, list: &'static str| {
        let field = base.clone().key(list);
        let message =
            format!("`{field}` is empty, so it would match nothing; remove it or add entries");
        diags.error(scope, field, message);
    };
    let mut out = CompiledTargets::default();
    if let Some(ids) = &t.node_ids {
        if ids.is_empty() {
            empty(diags, "node_ids");
        }
        out.node_ids = Some(KeySet::new(ids));
    }
    if let Some(keys) = &t.validator_keys {
        if keys.is_empty() {
            empty(diags, "validator_keys");
        }
        out.validator_keys = Some(KeySet::new(keys));
    }
    if let Some(envs) = &t.environments {
        if envs.is_empty() {
            empty(diags, "environments");
        }
        out.environments = Some(envs.iter().fold(0, |m, e| m | e.bit()));
    }
    if let Some(ranges) = &t.ip_ranges {
        if ranges.is_empty() {
            empty(diags, "ip_ranges");
        }
        let mut set = IpSet::default();
        for (i, r) in ranges.iter().enumerate() {
            let field = base.clone().key("ip_ranges").index(i);
            match r.parse::<ipnet::IpNet>() {
                Ok(net) => {
                    if net.trunc() != net {
                        diags.warning(
                            scope,
                            field.clone(),
                            format!(
                                "CIDR `{r}` has host bits set; they are ignored (the range is `{}`)",
                                net.trunc()
                            ),
                        );
                    }
                    set.push(net);
                }
                Err(_) => diags.error(
                    scope,
                    field,
                    format!(
                        "`{r}` is not a valid CIDR range (e.g. `10.0.0.0/8` or `2001:db8::/32`)"
                    ),
                ),
            }
        }
        out.ip_ranges = Some(set);
    }
    out
}

/// Cycles and depth of `requires`, reported once per flag that starts a bad chain.
fn check_prerequisite_graph(config: &Config, diags: &mut Diagnostics) {
    // Depth of the longest chain below each flag; `None` while on the DFS stack.
    let mut depth: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    fn visit<'c>(
        name: &'c str,
        config: &'c Config,
        depth: &mut BTreeMap<&'c str, Option<usize>>,
        path: &mut Vec<&'c str>,
        diags: &mut Diagnostics,
    ) -> usize {
        match depth.get(name) {
            Some(Some(d)) => return *d,
            Some(None) => {
                let start = path.iter().position(|&p| p == name).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(name);
                diags.error(
                    &Scope::Feature(name.to_owned()),
                    keys(&["requires"]),
                    format!("prerequisites form a cycle: {}", cycle.join(" -> ")),
                );
                return 0;
            }
            None => {}
        }
        let Some(flag) = config.features.get(name) else {
            return 0;
        };
        depth.insert(name, None);
        path.push(name);
        let mut d = 0;
        for r in &flag.requires {
            if r != name && config.features.contains_key(r.as_str()) {
                d = d.max(1 + visit(r, config, depth, path, diags));
            }
        }
        path.pop();
        depth.insert(name, Some(d));
        d
    }
    for name in config.features.keys() {
        let mut path = Vec::new();
        let d = visit(name, config, &mut depth, &mut path, diags);
        if d > MAX_PREREQUISITE_DEPTH {
            diags.error(
                &Scope::Feature(name.clone()),
                keys(&["requires"]),
                format!(
                    "prerequisites of `{name}` nest {d} deep; at most {MAX_PREREQUISITE_DEPTH} are allowed"
                ),
            );
        }
    }
}

fn compile_experiments(
    config: &Config,
    slot_of: &BTreeMap<&str, u32>,
    diags: &mut Diagnostics,
) -> Vec<ExperimentData> {
    let mut out = Vec::with_capacity(config.experiments.len());
    for (name, exp) in &config.experiments {
        out.push(compile_experiment(name, exp, config, slot_of, diags));
    }
    // Two experiments whose windows overlap must not override the same flag: a context could
    // be in a variant of both, and which one wins would be arbitrary.
    let names: Vec<(&String, &Experiment)> = config.experiments.iter().collect();
    for (j, &(bn, b)) in names.iter().enumerate() {
        for &(an, a) in &names[..j] {
            if !windows_overlap(a, b) {
                continue;
            }
            let fa = overridden(a);
            for flag in overridden(b).intersection(&fa) {
                diags.error(
                    &Scope::Experiment(bn.clone()),
                    keys(&["variants"]),
                    format!(
                        "experiments `{an}` and `{bn}` both override flag `{flag}` and their \
                         windows overlap"
                    ),
                );
            }
        }
    }
    out
}

fn overridden(e: &Experiment) -> BTreeSet<&str> {
    e.variants
        .iter()
        .flat_map(|v| v.feature_overrides.keys().map(String::as_str))
        .collect()
}

fn windows_overlap(a: &Experiment, b: &Experiment) -> bool {
    let end = |e: &Experiment| e.end_time.map_or(i64::MAX, |t| t.unix_micros());
    a.start_time.unix_micros() < end(b) && b.start_time.unix_micros() < end(a)
}

fn compile_experiment(
    name: &str,
    exp: &Experiment,
    config: &Config,
    slot_of: &BTreeMap<&str, u32>,
    diags: &mut Diagnostics,
) -> ExperimentData {
    let scope = Scope::Experiment(name.to_owned());
    if let Some(end) = exp.end_time {
        if end.unix_micros() <= exp.start_time.unix_micros() {
            diags.error(
                &scope,
                keys(&["end_time"]),
                format!(
                    "`end_time` ({end}) must be later than `start_time` ({})",
                    exp.start_time
                ),
            );
        }
    }
    if exp.variants.is_empty() {
        diags.error(
            &scope,
            keys(&["variants"]),
            "an experiment needs at least one variant".to_owned(),
        );
    }
    let mut seen = BTreeSet::new();
    let mut upper: u32 = 0;
    let mut total = 0.0;
    let mut variants = Vec::with_capacity(exp.variants.len());
    for (i, v) in exp.variants.iter().enumerate() {
        if !seen.insert(v.name.as_str()) {
            diags.error(
                &scope,
                keys(&["variants"]).index(i).key("name"),
                format!("duplicate variant name `{}`", v.name),
            );
        }
        let field = keys(&["variants"]).index(i).key("percentage");
        let ppm = check_percentage(v.percentage, diags, &scope, field);
        if v.percentage.is_finite() {
            total += v.percentage;
        }
        upper = upper.saturating_add(ppm).min(SCALE);
        let mut overrides = Vec::new();
        for (flag, value) in &v.feature_overrides {
            let field = keys(&["variants"])
                .index(i)
                .key("feature_overrides")
                .key(flag.clone());
            match (
                slot_of.get(flag.as_str()),
                config.features.get(flag.as_str()),
            ) {
                (Some(&s), Some(f)) => {
                    if let Some(variant) = served_variant(f, value, &scope, field, diags) {
                        overrides.push((s, variant));
                    }
                }
                // A compiled-in flag the file does not define: a boolean override is kept
                // (the flag is unknown, so it never applies).
                (Some(&s), None) => match value {
                    ServeValue::Bool(b) => overrides.push((s, u32::from(*b))),
                    ServeValue::Variant(_) => diags.error(
                        &scope,
                        field,
                        format!("variant `{}` overrides undefined flag `{flag}`", v.name),
                    ),
                },
                (None, _) => diags.error(
                    &scope,
                    field,
                    format!("variant `{}` overrides unknown flag `{flag}`", v.name),
                ),
            }
        }
        overrides.sort_unstable();
        variants.push(VariantData {
            name: v.name.clone(),
            upper,
            overrides,
        });
    }
    if total > 100.0 + 1e-9 {
        diags.error(
            &scope,
            keys(&["variants"]),
            format!("variant percentages sum to {total}, more than 100"),
        );
    }
    ExperimentData {
        name: name.to_owned(),
        start: exp.start_time.unix_micros(),
        end: exp.end_time.map(|t| t.unix_micros()),
        salt: bucketing::salt_hash(Domain::Experiment, name),
        key: key_source(exp.bucket_by.as_ref()),
        variants,
    }
}
