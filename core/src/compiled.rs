//! The compiled form: a configuration as a check reads it.
//!
//! [`compile`](crate::compile()) builds it, evaluation (`eval.rs`) reads it, and the flag
//! table (`table.rs`) publishes and retires it. Everything a check needs is here, computed
//! once per publication: every slot's [`Kind`] in one byte array (a plain flag's check reads
//! only its byte), the hot words of rollouts and node-id lists in a [`Slot`] array beside it,
//! and each flag's cold data ([`FlagData`]: conditions, targets, its check [`Plan`]) after them.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::answer::{TargetKind, Value};
use crate::bucketing;
use crate::diagnostics::Diagnostic;
use crate::flag_key::FlagKey;
use crate::model::{FlagType, Operator};
use crate::sets::{IpSet, KeySet};
use crate::sync::{AtomicU8, Probe};

// === what compilation hands over ===

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

/// A clock: microseconds since the Unix epoch. The core has none; a std adapter supplies one
/// with [`FlagTable::with_clock`](crate::FlagTable::with_clock). It is read only when a flag
/// with time conditions or an experiment is evaluated for a context without `now`.
pub type Clock = fn() -> i64;

// === impl Table ===

/// One published version of the configuration.
pub(crate) struct Table<const N: usize> {
    pub(crate) generation: u64,
    pub(crate) digest: [u8; 32],
    /// The publisher's clock, for contexts without `now` (see [`Clock`]).
    pub(crate) clock: Option<Clock>,
    /// Under loom, the cell that catches a reader of a table not yet published or being
    /// freed; nothing otherwise.
    pub(crate) probe: Probe,
    /// Every slot's kind, one byte each: a plain or disabled flag's check reads only this
    /// (64 flags to a cache line). The bounds check is against the constant `N`, and slots
    /// past the configuration's flags are `Unknown`. A publication that replaces this table
    /// sets [`RETIRED`] in every byte (`table.rs`, `retire_kinds`); nothing else writes them.
    pub(crate) kinds: [AtomicU8; N],
    /// The rollout or node-filter words of every slot, read after its kind.
    pub(crate) slots: [Slot; N],
    /// The slots in use: compiled-in flags, then flags only in the configuration.
    pub(crate) flags: Vec<FlagData>,
    /// `(key_hash(name), slot)`, sorted: name lookup without allocation.
    pub(crate) by_name: Vec<(u64, u32)>,
    pub(crate) experiments: Vec<ExperimentData>,
    /// The segments, compiled once and shared by every rule that names them.
    pub(crate) segments: Vec<Audience>,
    /// The filters of every `NodeTargets` slot's set (see [`KeySet::filter`]), one after
    /// another: such a slot holds its filter's offset and word mask here, so a check rules a
    /// node out without reaching the flag's cold data.
    pub(crate) node_filters: Vec<u64>,
}

impl<const N: usize> Table<N> {
    /// A table of generation 0 from its parts: each slot's kind and words (the slots past
    /// `flags` are `Unknown`), the flags, the name index, the experiments, the segments and
    /// the node filters.
    pub(crate) fn new(
        kinds: &[Kind; N],
        slots: [Slot; N],
        flags: Vec<FlagData>,
        by_name: Vec<(u64, u32)>,
        experiments: Vec<ExperimentData>,
        segments: Vec<Audience>,
        node_filters: Vec<u64>,
    ) -> Table<N> {
        Table {
            generation: 0,
            digest: [0; 32],
            clock: None,
            probe: Probe::new(0),
            kinds: core::array::from_fn(|i| AtomicU8::new(kinds[i] as u8)),
            slots,
            flags,
            by_name,
            experiments,
            segments,
            node_filters,
        }
    }

    /// A table without flags: every slot `Unknown`.
    pub(crate) fn empty() -> Table<N> {
        Table::new(
            &[Kind::Unknown; N],
            [Slot::UNUSED; N],
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        )
    }

    /// The slot of a flag by name (a hash and a binary search, no allocation).
    pub(crate) fn lookup(&self, name: &str) -> Option<usize> {
        let hash = bucketing::key_hash(name)?;
        let mut i = self.by_name.partition_point(|&(h, _)| h < hash);
        while let Some(&(h, slot)) = self.by_name.get(i) {
            if h != hash {
                break;
            }
            if self.flags[slot as usize].name == name {
                return Some(slot as usize);
            }
            i += 1;
        }
        None
    }

    /// In a debug build, panics when a key that knows its flag's name is used on a table whose
    /// slot holds another flag (the table was built without the generated names). Nothing in a
    /// release build. A table without flags (nothing loaded yet) is not checked.
    #[inline(always)]
    pub(crate) fn expect_key<K: FlagKey>(&self, flag: K) {
        if cfg!(debug_assertions) && !self.flags.is_empty() {
            if let Some(name) = flag.flag_name() {
                let held = self.flags.get(flag.index()).map(|f| f.name.as_str());
                assert!(
                    held == Some(name),
                    "flag key `{name}` names slot {}, which holds {}: build the table with the \
                     generated names (`known(&FlagId::NAMES)`, `FlagTable::new(&FlagId::NAMES)`)",
                    flag.index(),
                    held.map_or("no flag".into(), |h| alloc::format!("`{h}`")),
                );
            }
        }
    }

    /// The index of an experiment by name.
    pub(crate) fn experiment_index(&self, name: &str) -> Option<usize> {
        self.experiments.iter().position(|e| e.name == name)
    }
}

// === kinds and slots ===

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
    /// locates in [`Table::node_filters`] ([`Slot::filter_offset`], [`Slot::filter_mask`]).
    NodeTargets = 5,
    /// Anything else: the full evaluation.
    Complex = 6,
}

impl Kind {
    /// Every kind.
    const ALL: [Kind; 7] = [
        Kind::Disabled,
        Kind::Enabled,
        Kind::Unknown,
        Kind::Full,
        Kind::Rollout,
        Kind::NodeTargets,
        Kind::Complex,
    ];

    /// The kind in a kind byte, with [`RETIRED`] ignored.
    #[inline(always)]
    pub(crate) const fn from_byte(byte: u8) -> Kind {
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

// The checks compare kind bytes as numbers, not as `Kind`s (`eval.rs`): one compare,
// `byte <= Full`, answers the four kinds that need no context, with the answer in the low bit,
// and a retired byte fails that compare. These hold the discriminants to that.
const _: () = {
    let full = Kind::Full as u8;
    assert!(Kind::Disabled as u8 <= full && Kind::Disabled as u8 & 1 == 0);
    assert!(Kind::Enabled as u8 <= full && Kind::Enabled as u8 & 1 == 1);
    assert!(Kind::Unknown as u8 <= full && Kind::Unknown as u8 & 1 == 0);
    assert!(full & 1 == 1);
    assert!(Kind::Rollout as u8 > full);
    assert!(Kind::NodeTargets as u8 > full);
    assert!(Kind::Complex as u8 > full);
    let mut i = 0;
    while i < Kind::ALL.len() {
        let kind = Kind::ALL[i] as u8;
        // Below the retired bit, so a retired byte is above every kind and keeps its kind.
        assert!(kind & RETIRED == 0);
        assert!(Kind::from_byte(kind) as u8 == kind);
        assert!(Kind::from_byte(kind | RETIRED) as u8 == kind);
        i += 1;
    }
};

/// The hot words of a slot, read after its [`Kind`]: a `Rollout` slot's salt and threshold,
/// or where a `NodeTargets` slot's filter is in [`Table::node_filters`]. The words of other
/// kinds are not read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    /// A rollout's salt hash, or a node filter's offset.
    salt_or_offset: u64,
    /// A rollout's threshold, or a node filter's word mask.
    threshold_or_mask: u64,
}

impl Slot {
    /// The words of a slot whose kind reads none.
    pub(crate) const UNUSED: Slot = Slot::rollout(0, 0);

    /// A rollout's words: `bucket(key, salt) < threshold` includes a key.
    pub(crate) const fn rollout(salt: u64, threshold: u64) -> Slot {
        Slot {
            salt_or_offset: salt,
            threshold_or_mask: threshold,
        }
    }

    /// A node-id list's words: where its filter starts in [`Table::node_filters`], and its
    /// word mask (its length minus one, a power of two minus one).
    pub(crate) fn node_filter(offset: usize, mask: usize) -> Slot {
        Slot {
            salt_or_offset: offset as u64,
            threshold_or_mask: mask as u64,
        }
    }

    /// A `Rollout` slot's salt hash.
    #[inline(always)]
    pub(crate) fn salt(&self) -> u64 {
        self.salt_or_offset
    }

    /// A `Rollout` slot's threshold.
    #[inline(always)]
    pub(crate) fn threshold(&self) -> u64 {
        self.threshold_or_mask
    }

    /// A `NodeTargets` slot's filter offset in [`Table::node_filters`].
    #[inline(always)]
    pub(crate) fn filter_offset(&self) -> usize {
        self.salt_or_offset as usize
    }

    /// A `NodeTargets` slot's filter word mask.
    #[inline(always)]
    pub(crate) fn filter_mask(&self) -> usize {
        self.threshold_or_mask as usize
    }
}

// === flags ===

/// A flag's cold data: everything the full evaluation and the check plans read.
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
    /// The flag's rules, in order (step 7).
    pub(crate) rules: Vec<RuleData>,
    /// Whether the check of a `Complex` slot runs the full evaluation: experiments override
    /// the flag, or it has rules (either makes the answer more than a conjunction of tests).
    pub(crate) in_full: bool,
    /// Whether the evaluation may need the instant: experiments, or an `after` or `before`
    /// in the flag's conditions, its rules' or their segments'.
    pub(crate) reads_clock: bool,
    /// What `check` tests for a `Complex` slot: every test must hold. Empty for a flag
    /// checked in full.
    pub(crate) plan: Plan,
    /// The type of the flag's values.
    pub(crate) flag_type: FlagType,
    /// A typed flag's variants in name order, with their values; empty for a boolean flag,
    /// whose variants are implicit: 0 is `false`, 1 is `true`.
    pub(crate) values: Vec<(String, CompiledValue)>,
    /// The variant served on the on path (1 for a boolean flag).
    pub(crate) on: u32,
    /// The variant served on every off path (0 for a boolean flag). A flag is on for a
    /// context exactly when the variant served is not this one.
    pub(crate) off: u32,
}

/// The implicit variant names of a boolean flag, by index.
pub(crate) const BOOLEAN_VARIANTS: [&str; 2] = ["false", "true"];

impl FlagData {
    /// The name and value of one of the flag's variants.
    pub(crate) fn variant(&self, variant: u32) -> Option<(&str, Value<'_>)> {
        if self.flag_type == FlagType::Boolean {
            let name = BOOLEAN_VARIANTS.get(variant as usize)?;
            return Some((name, Value::Bool(variant == 1)));
        }
        let (name, value) = self.values.get(variant as usize)?;
        Some((name.as_str(), value.as_value()))
    }
}

/// A typed flag's variant value as resolution hands it out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CompiledValue {
    Integer(i64),
    Float(f64),
    String(String),
    /// The value's JSON text.
    Json(String),
}

impl CompiledValue {
    pub(crate) fn as_value(&self) -> Value<'_> {
        match self {
            CompiledValue::Integer(i) => Value::Integer(*i),
            CompiledValue::Float(x) => Value::Float(*x),
            CompiledValue::String(s) => Value::String(s),
            CompiledValue::Json(s) => Value::Json(s),
        }
    }
}

/// Who a segment or a rule's match part is: target lists and conditions, all of which must
/// hold (nothing present holds for every context).
#[derive(Default)]
pub(crate) struct Audience {
    pub(crate) name: String,
    pub(crate) conditions: CompiledConditions,
    pub(crate) targets: CompiledTargets,
    /// Whether any condition is present.
    pub(crate) has_conditions: bool,
}

impl Audience {
    /// Whether the audience has an `after` or a `before`.
    pub(crate) fn reads_clock(&self) -> bool {
        self.conditions.after.is_some() || self.conditions.before.is_some()
    }
}

/// One of a flag's rules.
pub(crate) struct RuleData {
    /// The segments (indices into [`Table::segments`]) that must all match.
    pub(crate) segments: Vec<u32>,
    /// The rule's own targets and conditions.
    pub(crate) audience: Audience,
    /// What a matching context is served.
    pub(crate) serve: Serve,
}

/// A rule's serve part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Serve {
    /// `serve = VALUE`: this variant (for a boolean flag, 1 is `true`).
    Variant(u32),
    /// `rollout_percentage`: on for the contexts whose bucket under the flag's salt and key
    /// is below the threshold; `ppm >= SCALE` includes every context, with a key or not.
    Rollout { ppm: u32, threshold: u64 },
    /// `split`: `(upper, variant)` in listed order; a context whose position under the flag's
    /// salt and key is below `upper` (and not below the previous share's) gets `variant`. The
    /// last `upper` is `SCALE`.
    Split(Box<[(u32, u32)]>),
}

/// What a rollout or experiment buckets on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeySource {
    NodeId,
    ValidatorKey,
    /// An attribute, by name and name hash.
    Attribute(String, u64),
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
    pub(crate) fn is_empty(&self) -> bool {
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
    /// The attribute's name as [`short_words`](crate::encoding::short_words), zeros if it is
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
    pub(crate) fn is_empty(&self) -> bool {
        self.node_ids.is_none()
            && self.validator_keys.is_none()
            && self.ip_ranges.is_none()
            && self.environments.is_none()
    }
}

// === check plans ===

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
    /// The plan of `tests`, which read the cold data of `flags`.
    pub(crate) fn new(tests: &[Test], flags: &[FlagData]) -> Plan {
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
/// prerequisites, conditions, targets and rollout all hold (steps 3 and 5 to 8 of the order),
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
    pub(crate) fn cost(&self) -> u8 {
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

// === experiments ===

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
    /// `(slot, variant)`, sorted by slot (for a boolean flag, variant 1 is `true`).
    pub(crate) overrides: Vec<(u32, u32)>,
}

impl VariantData {
    /// The variant this variant forces on the flag in `slot`, if it overrides it.
    pub(crate) fn override_for(&self, slot: u32) -> Option<u32> {
        self.overrides
            .binary_search_by_key(&slot, |&(s, _)| s)
            .ok()
            .map(|i| self.overrides[i].1)
    }
}
