//! Compilation: a [`Config`] checked and turned into an evaluation-ready table.
//!
//! Everything a check needs is computed here, once per publication: percentages become
//! integer thresholds, salts become hashes, target lists become sorted hash sets, CIDRs become
//! prefix/mask pairs, custom constraints are parsed (numbers, semantic versions), prerequisites
//! and experiment overrides become slot indices. The check then never parses, hashes a string,
//! formats or allocates.
//!
//! Compilation also enforces every semantic rule of the configuration and reports *all*
//! problems at once as [`Diagnostics`], each naming its flag or experiment and the field path
//! (`conditions.custom[1].value`), so that the std adapter can point at file, line and column.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use crate::bucketing::{self, Domain, SCALE};
use crate::eval::TargetKind;
use crate::model::{
    BucketBy, Conditions, Config, ConstraintValue, CustomConstraint, Experiment, FeatureFlag,
    Operator, Targets,
};
use crate::sync::{AtomicU8, Ordering};

/// How deep prerequisites may nest (`a` requires `b` requires `c` ... is depth 3). Evaluation
/// recurses through prerequisites, so the depth is bounded to keep the stack small.
pub const MAX_PREREQUISITE_DEPTH: usize = 16;

// === diagnostics ===

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Valid, but worth a look.
    Warning,
    /// The configuration is rejected.
    Error,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// What part of the configuration a problem is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The configuration as a whole.
    Config,
    /// `[features.NAME]`.
    Feature(String),
    /// `[experiments.NAME]`.
    Experiment(String),
}

/// One problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The flag or experiment.
    pub scope: Scope,
    /// The field path inside it, e.g. `targets.ip_ranges[0]`; empty for the whole item.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
}

impl Diagnostic {
    fn new(severity: Severity, scope: &Scope, field: impl Into<String>, message: String) -> Self {
        Diagnostic {
            severity,
            scope: scope.clone(),
            field: field.into(),
            message,
        }
    }

    /// The flag this problem is about, if any.
    pub fn flag(&self) -> Option<&str> {
        match &self.scope {
            Scope::Feature(f) => Some(f),
            _ => None,
        }
    }

    /// The TOML key path of the problem: `features.NAME.FIELD`.
    pub fn key_path(&self) -> String {
        let base = match &self.scope {
            Scope::Config => String::new(),
            Scope::Feature(f) => format!("features.{f}"),
            Scope::Experiment(e) => format!("experiments.{e}"),
        };
        match (base.is_empty(), self.field.is_empty()) {
            (true, _) => self.field.clone(),
            (false, true) => base,
            (false, false) => format!("{base}.{}", self.field),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity.as_str(), self.message)?;
        let path = self.key_path();
        if !path.is_empty() {
            write!(f, " (at `{path}`)")?;
        }
        Ok(())
    }
}

/// Every problem of a configuration; an error among them means it was rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    fn error(&mut self, scope: &Scope, field: impl Into<String>, message: String) {
        self.0
            .push(Diagnostic::new(Severity::Error, scope, field, message));
    }

    fn warning(&mut self, scope: &Scope, field: impl Into<String>, message: String) {
        self.0
            .push(Diagnostic::new(Severity::Warning, scope, field, message));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl core::error::Error for Diagnostics {}

// === compiled form ===

/// A compiled configuration, ready to be published to a [`FlagTable`](crate::FlagTable) of
/// the same capacity.
pub struct CompiledTable<const N: usize> {
    pub(crate) inner: Box<Table<N>>,
}

impl<const N: usize> fmt::Debug for CompiledTable<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledTable")
            .field("flags", &self.inner.flags.len())
            .field("experiments", &self.inner.experiments.len())
            .finish()
    }
}

impl<const N: usize> CompiledTable<N> {
    /// Records the SHA-256 of the file this table came from; published with it and shown by
    /// [`Snapshot::digest`](crate::Snapshot::digest).
    pub fn set_digest(&mut self, digest: [u8; 32]) {
        self.inner.digest = digest;
    }

    /// The number of slots in use (compiled-in flags plus flags only in the file).
    pub fn len(&self) -> usize {
        self.inner.flags.len()
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.inner.flags.is_empty()
    }
}

/// The result of a successful compilation: the table and the warnings.
#[derive(Debug)]
pub struct Compiled<const N: usize> {
    /// The table to publish.
    pub table: CompiledTable<N>,
    /// Warnings (the configuration is valid).
    pub warnings: Vec<Diagnostic>,
}

/// One published version of the configuration.
pub(crate) struct Table<const N: usize> {
    pub(crate) generation: u64,
    pub(crate) digest: [u8; 32],
    /// The publisher's clock, for contexts without `now` (see [`Clock`]).
    pub(crate) clock: Option<Clock>,
    #[cfg(vexil_loom)]
    pub(crate) probe: crate::table::Probe,
    /// Every slot's kind, one byte each: a plain or disabled flag's check reads only this
    /// (64 flags to a cache line). The bounds check is against the constant `N`, and slots
    /// past the configuration's flags are `Unknown`. A publication that replaces this table
    /// sets [`RETIRED`] in every byte (see [`Table::retire_kinds`]); nothing else writes them.
    pub(crate) kinds: [AtomicU8; N],
    /// The rollout or node-filter parameters of every slot, read after its kind.
    pub(crate) slots: [Slot; N],
    /// The slots in use: compiled-in flags, then flags only in the configuration.
    pub(crate) flags: Vec<FlagData>,
    /// `(key_hash(name), slot)`, sorted: name lookup without allocation.
    pub(crate) by_name: Vec<(u64, u32)>,
    pub(crate) experiments: Vec<ExperimentData>,
    /// The filters of every `NodeTargets` slot's set (see [`node_filter`]), one after another:
    /// such a slot holds its filter's offset here (in `salt`) and word mask (in `threshold`),
    /// so a check rules a node out without reaching the flag's cold data.
    pub(crate) node_filters: Vec<u64>,
}

/// A clock: microseconds since the Unix epoch. The core has none; a std adapter supplies one
/// with [`FlagTable::with_clock`](crate::FlagTable::with_clock). It is read only when a flag
/// with time conditions or an experiment is evaluated for a context without `now`.
pub type Clock = fn() -> i64;

/// The hot part of a flag after its [`Kind`]: a `Rollout` slot's salt and threshold, or where
/// a `NodeTargets` slot's filter is (see [`Kind::NodeTargets`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) salt: u64,
    pub(crate) threshold: u64,
}

impl Slot {
    const UNUSED: Slot = Slot {
        salt: 0,
        threshold: 0,
    };
}

/// The bit a publication sets in every kind byte of the table it replaces, so that a reader
/// still holding that table finds out from the byte its check reads anyway (a retired byte is
/// above every kind, so it fails the plain kinds' one compare). The kind stays in the low bits
/// for snapshots, which keep answering from the version they hold.
pub(crate) const RETIRED: u8 = 0x80;

/// What a check can decide from the kind alone. The four kinds that need no context come
/// first and their low bit is the answer: `kind <= Full` is decided, `kind & 1` is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Kind {
    /// `enabled = false`.
    Disabled = 0,
    /// On for everybody, no rollout.
    Enabled = 1,
    /// Not defined by the configuration.
    Unknown = 2,
    /// On for everybody through a 100 % rollout.
    Full = 3,
    /// A partial rollout on `node_id`, nothing else: `bucket < threshold`.
    Rollout = 4,
    /// A `node_ids` target list, nothing else: a test of the set's filter, which the slot
    /// locates in [`Table::node_filters`] (`salt` is the offset, `threshold` the word mask).
    NodeTargets = 5,
    /// Anything else: the full evaluation.
    Complex = 6,
}

impl Kind {
    /// The kind in a kind byte, with [`RETIRED`] ignored.
    #[inline(always)]
    pub(crate) fn from_byte(byte: u8) -> Kind {
        match byte & !RETIRED {
            0 => Kind::Disabled,
            1 => Kind::Enabled,
            3 => Kind::Full,
            4 => Kind::Rollout,
            5 => Kind::NodeTargets,
            6 => Kind::Complex,
            // Only `compile` writes kinds, and it writes no other value.
            _ => Kind::Unknown,
        }
    }
}

impl<const N: usize> Table<N> {
    /// Marks every kind byte retired. Called by each publication that is about to swap this
    /// table out, before its swap (idempotent: a publication whose swap fails marks the table
    /// that replaced this one next). `Relaxed`: the swap's `Release` orders the marks before
    /// the new table, so a check that starts after the publication returned sees them.
    pub(crate) fn retire_kinds(&self) {
        for byte in &self.kinds {
            byte.store(byte.load(Ordering::Relaxed) | RETIRED, Ordering::Relaxed);
        }
    }
}

pub(crate) struct FlagData {
    pub(crate) name: String,
    pub(crate) defined: bool,
    pub(crate) enabled: bool,
    pub(crate) ppm: Option<u32>,
    pub(crate) salt: u64,
    pub(crate) threshold: u64,
    pub(crate) key: KeySource,
    pub(crate) requires: Vec<u32>,
    pub(crate) conditions: CompiledConditions,
    pub(crate) targets: CompiledTargets,
    /// Whether any condition or target list is present (so that a flag without them skips
    /// both steps outright).
    pub(crate) has_conditions: bool,
    pub(crate) has_targets: bool,
    /// Experiments that override this flag in some variant.
    pub(crate) experiments: Vec<u32>,
    /// What `check` tests for a `Complex` slot: every test must hold. Empty for a flag that
    /// experiments override (its check runs the full evaluation).
    pub(crate) plan: Plan,
}

/// A flag's check plan (its tests and its spliced prerequisites' tests, see [`Test`]) as the
/// check runs it: the common tests in fixed fields, tested one after another with no
/// dispatch, and the rest in order. Equal to the conjunction of the tests it was built from:
/// environment masks intersect (the context has one environment), minimum heights and
/// progresses take the largest, and the first node-id rollout and the first custom constraint
/// get a field, later ones stay in `rest`.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) environments: Option<u8>,
    pub(crate) chain_height: Option<u64>,
    pub(crate) sync_progress: Option<f64>,
    /// A partial rollout on the node id: `(salt, threshold)`.
    pub(crate) rollout: Option<(u64, u64)>,
    pub(crate) custom: Option<Constraint>,
    /// The other tests, cheapest first.
    pub(crate) rest: Vec<Test>,
}

impl Plan {
    fn new(tests: &[Test], flags: &[FlagData]) -> Plan {
        let mut plan = Plan::default();
        for &test in tests {
            match test {
                Test::Environments(m) => {
                    plan.environments = Some(plan.environments.map_or(m, |have| have & m));
                }
                Test::ChainHeight(m) => {
                    plan.chain_height = Some(plan.chain_height.map_or(m, |have| have.max(m)));
                }
                Test::SyncProgress(m) => {
                    plan.sync_progress = Some(plan.sync_progress.map_or(m, |have| have.max(m)));
                }
                Test::Rollout(at)
                    if plan.rollout.is_none() && flags[at as usize].key == KeySource::NodeId =>
                {
                    let f = &flags[at as usize];
                    plan.rollout = Some((f.salt, f.threshold));
                }
                Test::Custom(at, i) if plan.custom.is_none() => {
                    plan.custom = flags[at as usize]
                        .conditions
                        .custom
                        .get(i as usize)
                        .cloned();
                }
                test => plan.rest.push(test),
            }
        }
        plan
    }
}

/// One test of a check plan. Without experiment overrides, a flag is on exactly when its
/// prerequisites, conditions, targets and rollout all hold (SPEC section 4, steps 3 and 5 to 8),
/// so `check` needs neither the order of the steps nor the reason: a plan is that conjunction,
/// cheapest tests first, with the plans of its prerequisites spliced in (a prerequisite chain
/// is one pass, not one evaluation per link). Tests that read a flag's cold data name its slot.
/// `explain` still runs the full evaluation, and the property tests hold the two to the same
/// answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Test {
    Environments(u8),
    ChainHeight(u64),
    SyncProgress(f64),
    /// The `after` and `before` of this slot's flag, against one reading of the instant.
    Window(u32),
    /// A partial rollout on this slot's flag's key, salt and threshold.
    Rollout(u32),
    /// This slot's flag's target list of this kind (environments have their own test).
    Target(u32, TargetKind),
    /// The custom constraint at this index of this slot's flag.
    Custom(u32, u16),
    /// A prerequisite whose plan is not spliced in (experiments override it, it is off or
    /// undefined, or its plan is too long): its own check.
    Requires(u32),
}

impl Test {
    /// Cheap tests first: context fields, then hashing, then lookups, then the rest.
    fn cost(&self) -> u8 {
        match self {
            Test::Environments(_) | Test::ChainHeight(_) | Test::SyncProgress(_) => 0,
            Test::Window(_) => 1,
            Test::Rollout(_) => 2,
            Test::Target(..) => 3,
            Test::Custom(..) => 4,
            Test::Requires(_) => 5,
        }
    }
}

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
                Some(Kind::Complex) if flags[r as usize].experiments.is_empty() => {
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
        if kinds.get(slot) == Some(&Kind::Complex) && flags[slot].experiments.is_empty() {
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeySource {
    NodeId,
    ValidatorKey,
    /// An attribute, by name and name hash.
    Attribute(String, u64),
}

impl From<Option<&BucketBy>> for KeySource {
    fn from(b: Option<&BucketBy>) -> Self {
        match b {
            None | Some(BucketBy::NodeId) => KeySource::NodeId,
            Some(BucketBy::ValidatorKey) => KeySource::ValidatorKey,
            Some(BucketBy::Attribute(a)) => {
                KeySource::Attribute(a.clone(), crate::context::name_hash(a))
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct CompiledConditions {
    pub(crate) after: Option<i64>,
    pub(crate) before: Option<i64>,
    pub(crate) chain_height: Option<u64>,
    pub(crate) sync_progress: Option<f64>,
    pub(crate) custom: Vec<Constraint>,
}

impl CompiledConditions {
    fn is_empty(&self) -> bool {
        self.after.is_none()
            && self.before.is_none()
            && self.chain_height.is_none()
            && self.sync_progress.is_none()
            && self.custom.is_empty()
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Constraint {
    pub(crate) attribute: String,
    pub(crate) attribute_hash: u64,
    /// The attribute's name as [`short_words`](crate::context::short_words), zeros if it is
    /// not 8 to 16 bytes long.
    pub(crate) attribute_words: [u64; 2],
    pub(crate) operator: Operator,
    pub(crate) operand: Operand,
}

#[derive(Clone, Debug)]
pub(crate) enum Operand {
    None,
    Str(String),
    /// Sorted, deduplicated.
    Set(Vec<String>),
    Num(f64),
    /// The version, and its `(major, minor, patch)` when it has no pre-release.
    Version(semver::Version, Option<[u64; 3]>),
}

#[derive(Default)]
pub(crate) struct CompiledTargets {
    pub(crate) node_ids: Option<KeySet>,
    pub(crate) validator_keys: Option<KeySet>,
    pub(crate) ip_ranges: Option<IpSet>,
    pub(crate) environments: Option<u8>,
}

impl CompiledTargets {
    fn is_empty(&self) -> bool {
        self.node_ids.is_none()
            && self.validator_keys.is_none()
            && self.ip_ranges.is_none()
            && self.environments.is_none()
    }
}

/// A set of strings by key hash: an open-addressing table of the hashes (capacity a power of
/// two, at most half full, linear probing; 0 marks an empty bucket), so a lookup is one or two
/// probes, and a string compare rules out a collision on a hit.
pub(crate) struct KeySet {
    hashes: Vec<u64>,
    names: Vec<String>,
    mask: usize,
}

impl KeySet {
    fn new(items: &[String]) -> KeySet {
        let capacity = (items.len() * 2).next_power_of_two().max(2);
        let mut set = KeySet {
            hashes: alloc::vec![0; capacity],
            names: alloc::vec![String::new(); capacity],
            mask: capacity - 1,
        };
        for item in items {
            let Some(hash) = bucketing::key_hash(item) else {
                continue;
            };
            let hash = hash.max(1);
            let mut from = hash as usize & set.mask;
            loop {
                let (i, h) = probe(&set.hashes, set.mask, hash, from);
                if h == 0 {
                    set.hashes[i] = hash;
                    set.names[i] = item.clone();
                    break;
                }
                if set.names[i] == *item {
                    break;
                }
                from = (i + 1) & set.mask;
            }
        }
        set
    }

    /// Whether the set holds `key`, whose key hash is `hash` (the hash, then the name).
    #[inline]
    pub(crate) fn contains(&self, hash: Option<u64>, key: &str) -> bool {
        let Some(hash) = hash else { return false };
        let hash = hash.max(1);
        let mut from = hash as usize & self.mask;
        loop {
            let (i, h) = probe(&self.hashes, self.mask, hash, from);
            if h == 0 {
                return false;
            }
            if self.names[i] == key {
                return true;
            }
            from = (i + 1) & self.mask;
        }
    }
}

/// Linear probing in a key set's `hashes` (0 = empty, stored hashes raised to at least 1) for
/// `hash` (raised likewise), from slot `from`: the first slot that holds `hash` or is empty,
/// with its hash (0 for empty; a slot past the end counts as empty).
#[inline(always)]
fn probe(hashes: &[u64], mask: usize, hash: u64, mut from: usize) -> (usize, u64) {
    loop {
        let h = hashes.get(from).copied().unwrap_or(0);
        if h == hash || h == 0 {
            return (from, h);
        }
        from = (from + 1) & mask;
    }
}

/// A filter of a key set: one bit per key hash in a power of two of words, at least 32 bits
/// per key (at most one bit in 32 is set, so about 3 % or fewer of the keys not in the set
/// pass). A key hash `h` is bit `h % 64` of word `(h / 64) & mask` (see [`may_contain`]).
/// Built from a [`KeySet`]'s `hashes`, which are raised to at least 1: a stored 1 also sets
/// key 0's bit, so the filter is tested with the raw hash.
fn node_filter(hashes: &[u64]) -> Vec<u64> {
    let keys = hashes.iter().filter(|&&h| h != 0).count();
    let mut words = alloc::vec![0u64; keys.div_ceil(2).next_power_of_two()];
    let mask = words.len() as u64 - 1;
    let mut set = |h: u64| words[((h >> 6) & mask) as usize] |= 1 << (h & 63);
    for &h in hashes.iter().filter(|&&h| h != 0) {
        set(h);
        if h == 1 {
            set(0);
        }
    }
    words
}

/// Whether the filter at `offset` in `filters` with word mask `mask` (see [`node_filter`]) may
/// hold key hash `hash`: `false` if its set certainly does not, `true` if it may (the set
/// itself then decides).
#[inline(always)]
pub(crate) fn may_contain(filters: &[u64], offset: usize, mask: usize, hash: u64) -> bool {
    let word = filters.get(offset + ((hash >> 6) as usize & mask));
    word.is_some_and(|w| w >> (hash & 63) & 1 != 0)
}

/// CIDR ranges as `(network, mask)` pairs.
#[derive(Default)]
pub(crate) struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }
}

pub(crate) struct ExperimentData {
    pub(crate) name: String,
    pub(crate) start: i64,
    pub(crate) end: Option<i64>,
    pub(crate) salt: u64,
    pub(crate) key: KeySource,
    pub(crate) variants: Vec<VariantData>,
}

pub(crate) struct VariantData {
    pub(crate) name: String,
    /// The end (exclusive) of this variant's positions.
    pub(crate) upper: u32,
    /// `(slot, value)`, sorted by slot.
    pub(crate) overrides: Vec<(u32, bool)>,
}

impl VariantData {
    pub(crate) fn override_for(&self, slot: u32) -> Option<bool> {
        self.overrides
            .binary_search_by_key(&slot, |&(s, _)| s)
            .ok()
            .map(|i| self.overrides[i].1)
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
                    "",
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
                    "",
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
            "features",
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

    let mut flags: Vec<FlagData> = slot_names
        .iter()
        .map(|&name| match config.features.get(name) {
            Some(flag) => compile_flag(name, flag, &slot_of, &mut diags),
            None => undefined_flag(name),
        })
        .collect();

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

    if diags.has_errors() {
        return Err(diags);
    }
    resolve_static_prerequisites(&mut flags);

    let mut kinds = [Kind::Unknown; N];
    let mut slots = [Slot::UNUSED; N];
    let mut node_filters = Vec::new();
    for ((kind, slot), f) in kinds.iter_mut().zip(slots.iter_mut()).zip(&flags) {
        *kind = kind_of(f);
        *slot = Slot {
            salt: f.salt,
            threshold: f.threshold,
        };
        if *kind == Kind::NodeTargets {
            if let Some(set) = &f.targets.node_ids {
                let filter = node_filter(&set.hashes);
                slot.salt = node_filters.len() as u64;
                slot.threshold = filter.len() as u64 - 1;
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

    let table = Box::new(Table {
        generation: 0,
        digest: [0; 32],
        clock: None,
        #[cfg(vexil_loom)]
        probe: crate::table::Probe::new(0),
        kinds: core::array::from_fn(|i| AtomicU8::new(kinds[i] as u8)),
        slots,
        flags,
        by_name,
        experiments,
        node_filters,
    });
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
        plan: Plan::default(),
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
    } else if !f.enabled {
        Kind::Disabled
    } else if f.requires.is_empty()
        && !f.has_conditions
        && f.experiments.is_empty()
        && f.ppm.is_none()
        && f.targets.node_ids.is_some()
        && f.targets.validator_keys.is_none()
        && f.targets.ip_ranges.is_none()
        && f.targets.environments.is_none()
    {
        Kind::NodeTargets
    } else if !f.requires.is_empty()
        || f.has_conditions
        || f.has_targets
        || !f.experiments.is_empty()
    {
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

fn check_percentage(value: f64, diags: &mut Diagnostics, scope: &Scope, field: &str) -> u32 {
    match bucketing::percentage_to_ppm(value) {
        Some(ppm) => ppm,
        None => {
            diags.error(
                scope,
                field,
                format!("`{field}` must be a number from 0 to 100, found {value}"),
            );
            0
        }
    }
}

fn compile_flag(
    name: &str,
    flag: &FeatureFlag,
    slot_of: &BTreeMap<&str, u32>,
    diags: &mut Diagnostics,
) -> FlagData {
    let scope = Scope::Feature(name.to_owned());
    if name.is_empty() {
        diags.error(&scope, "", "a flag name must not be empty".to_owned());
    }
    let ppm = flag
        .rollout_percentage
        .map(|p| check_percentage(p, diags, &scope, "rollout_percentage"));
    let salt = bucketing::salt_hash(Domain::Rollout, flag.salt.as_deref().unwrap_or(name));
    let threshold = match ppm {
        Some(p) if p < SCALE => bucketing::threshold(p),
        _ => u64::MAX,
    };

    let mut requires = Vec::new();
    for (i, r) in flag.requires.iter().enumerate() {
        match slot_of.get(r.as_str()) {
            Some(&s) if r != name => requires.push(s),
            Some(_) => diags.error(
                &scope,
                format!("requires[{i}]"),
                format!("flag `{name}` requires itself"),
            ),
            None => diags.error(
                &scope,
                format!("requires[{i}]"),
                format!("flag `{name}` requires unknown flag `{r}`"),
            ),
        }
    }

    let conditions = flag
        .conditions
        .as_ref()
        .map(|c| compile_conditions(c, &scope, diags))
        .unwrap_or_default();
    let targets = flag
        .targets
        .as_ref()
        .map(|t| compile_targets(t, &scope, diags))
        .unwrap_or_default();

    FlagData {
        name: name.to_owned(),
        defined: true,
        enabled: flag.enabled,
        ppm,
        salt,
        threshold,
        key: KeySource::from(flag.bucket_by.as_ref()),
        requires,
        has_conditions: !conditions.is_empty(),
        has_targets: !targets.is_empty(),
        conditions,
        targets,
        experiments: Vec::new(),
        plan: Plan::default(),
    }
}

fn compile_conditions(
    c: &Conditions,
    scope: &Scope,
    diags: &mut Diagnostics,
) -> CompiledConditions {
    if let (Some(after), Some(before)) = (c.after, c.before) {
        if before.unix_micros() <= after.unix_micros() {
            diags.error(
                scope,
                "conditions.before",
                format!("`conditions.before` ({before}) must be later than `conditions.after` ({after})"),
            );
        }
    }
    if let Some(p) = c.sync_progress {
        if !(0.0..=1.0).contains(&p) {
            diags.error(
                scope,
                "conditions.sync_progress",
                format!("`conditions.sync_progress` must be a number from 0.0 to 1.0, found {p}"),
            );
        }
    }
    let custom = c
        .custom
        .iter()
        .enumerate()
        .filter_map(|(i, k)| compile_constraint(k, i, scope, diags))
        .collect();
    CompiledConditions {
        after: c.after.map(|t| t.unix_micros()),
        before: c.before.map(|t| t.unix_micros()),
        chain_height: c.chain_height,
        sync_progress: c.sync_progress,
        custom,
    }
}

fn compile_constraint(
    c: &CustomConstraint,
    i: usize,
    scope: &Scope,
    diags: &mut Diagnostics,
) -> Option<Constraint> {
    use Operator::*;
    let op = c.operator;
    let field = format!("conditions.custom[{i}]");
    let mut fail = |sub: &str, message: String| {
        diags.error(scope, format!("{field}.{sub}"), message);
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
                        let release = crate::context::release_of(&v);
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
        attribute_hash: crate::context::name_hash(&c.attribute),
        attribute_words: crate::context::short_words(c.attribute.as_bytes()).unwrap_or_default(),
        attribute: c.attribute.clone(),
        operator: op,
        operand,
    })
}

fn compile_targets(t: &Targets, scope: &Scope, diags: &mut Diagnostics) -> CompiledTargets {
    let mut empty = |list: &str| {
        diags.error(
            scope,
            format!("targets.{list}"),
            format!(
                "`targets.{list}` is empty, so it would match nothing; remove it or add entries"
            ),
        );
    };
    let mut out = CompiledTargets::default();
    if let Some(ids) = &t.node_ids {
        if ids.is_empty() {
            empty("node_ids");
        }
        out.node_ids = Some(KeySet::new(ids));
    }
    if let Some(keys) = &t.validator_keys {
        if keys.is_empty() {
            empty("validator_keys");
        }
        out.validator_keys = Some(KeySet::new(keys));
    }
    if let Some(envs) = &t.environments {
        if envs.is_empty() {
            empty("environments");
        }
        out.environments = Some(envs.iter().fold(0, |m, e| m | e.bit()));
    }
    if let Some(ranges) = &t.ip_ranges {
        if ranges.is_empty() {
            empty("ip_ranges");
        }
        let mut set = IpSet::default();
        for (i, r) in ranges.iter().enumerate() {
            let field = format!("targets.ip_ranges[{i}]");
            match r.parse::<ipnet::IpNet>() {
                Ok(net) => {
                    if net.trunc() != net {
                        diags.warning(
                            scope,
                            field,
                            format!(
                                "CIDR `{r}` has host bits set; they are ignored (the range is `{}`)",
                                net.trunc()
                            ),
                        );
                    }
                    match net.trunc() {
                        ipnet::IpNet::V4(n) => set
                            .v4
                            .push((u32::from(n.network()), u32::from(n.netmask()))),
                        ipnet::IpNet::V6(n) => set
                            .v6
                            .push((u128::from(n.network()), u128::from(n.netmask()))),
                    }
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
                    "requires",
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
                "requires",
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
        out.push(compile_experiment(name, exp, slot_of, diags));
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
                    "variants",
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
    slot_of: &BTreeMap<&str, u32>,
    diags: &mut Diagnostics,
) -> ExperimentData {
    let scope = Scope::Experiment(name.to_owned());
    if let Some(end) = exp.end_time {
        if end.unix_micros() <= exp.start_time.unix_micros() {
            diags.error(
                &scope,
                "end_time",
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
            "variants",
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
                format!("variants[{i}].name"),
                format!("duplicate variant name `{}`", v.name),
            );
        }
        let field = format!("variants[{i}].percentage");
        let ppm = check_percentage(v.percentage, diags, &scope, &field);
        if v.percentage.is_finite() {
            total += v.percentage;
        }
        upper = upper.saturating_add(ppm).min(SCALE);
        let mut overrides = Vec::new();
        for (flag, &value) in &v.feature_overrides {
            match slot_of.get(flag.as_str()) {
                Some(&s) => overrides.push((s, value)),
                None => diags.error(
                    &scope,
                    format!("variants[{i}].feature_overrides.{flag}"),
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
            "variants",
            format!("variant percentages sum to {total}, more than 100"),
        );
    }
    ExperimentData {
        name: name.to_owned(),
        start: exp.start_time.unix_micros(),
        end: exp.end_time.map(|t| t.unix_micros()),
        salt: bucketing::salt_hash(Domain::Experiment, name),
        key: KeySource::from(exp.bucket_by.as_ref()),
        variants,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn a_node_filter_passes_every_member_and_few_others() {
        // Under Miri (which runs this module): the small sets, and too few others for a rate.
        let (sizes, others): (&[usize], usize) = if cfg!(miri) {
            (&[1, 3, 7], 0)
        } else {
            (&[1, 2, 3, 7, 100, 1000], 20_000)
        };
        for &n in sizes {
            let names: Vec<String> = (0..n).map(|i| format!("member-{i}")).collect();
            let set = KeySet::new(&names);
            let filter = node_filter(&set.hashes);
            assert!(filter.len().is_power_of_two());
            // Two filters side by side: the offset locates the second.
            let mut filters = alloc::vec![u64::MAX; 3];
            filters.extend_from_slice(&filter);
            let (offset, mask) = (3, filter.len() - 1);
            for name in &names {
                let hash = bucketing::key_hash(name).unwrap();
                assert!(may_contain(&filters, offset, mask, hash), "{name} of {n}");
            }
            let passed = (0..others)
                .filter(|i| {
                    let hash = bucketing::key_hash(&format!("other-{i}")).unwrap();
                    may_contain(&filters, offset, mask, hash)
                })
                .count();
            // 32 or more bits per key: at most one bit in 32 set, about 3 % passing.
            assert!(
                passed * 1000 <= others * 35,
                "{passed} of {others} passed for {n} keys"
            );
        }
    }

    #[test]
    fn a_node_filter_of_a_raised_hash_passes_key_zero() {
        let filter = node_filter(&[0, 1, 0, 0]);
        assert!(may_contain(&filter, 0, 0, 0));
        assert!(may_contain(&filter, 0, 0, 1));
        assert!(!may_contain(&filter, 0, 0, 2));
    }
}
