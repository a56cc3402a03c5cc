//! The evaluation context: who is asking.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::bucketing;
use crate::encoding::{name_hash, release_of, same_bytes};
use crate::model::Environment;

/// Everything a flag can be evaluated against (`docs/evaluation.md`, "The context").
///
/// Every field is optional: `node_id` defaults to empty, `environment` to none, `chain_height`
/// to 0, `sync_progress` to 0.0, the rest to absent. The bucket-key hashes of `node_id`,
/// `validator_key` and every custom attribute are computed when they are set, once per context,
/// so a check never hashes a string; attribute values are also pre-parsed as a number and as a
/// semantic version, so a check never parses. That is why the fields are private: build a
/// context with the `with_*` methods (or change it with `set_*`) and reuse it across checks.
///
/// The core has no clock: `now` is absent unless set, and time conditions (`after`, `before`)
/// and experiment windows do not hold without it. The std adapter fills it in.
#[derive(Clone, Debug)]
pub struct EvaluationContext {
    node_id: String,
    node_key: Option<u64>,
    environment: Option<Environment>,
    chain_height: u64,
    sync_progress: f64,
    validator_key: Option<String>,
    validator_key_hash: Option<u64>,
    ip_address: Option<IpAddr>,
    attributes: Vec<Attribute>,
    now: Option<i64>,
}

/// A custom attribute with its pre-computed forms.
#[derive(Clone, Debug)]
pub struct Attribute {
    name: String,
    /// `bucketing::key_hash(name)`: lookups compare this before the name.
    name_hash: u64,
    value: String,
    key: Option<u64>,
    number: Option<f64>,
    version: Option<semver::Version>,
    /// `(major, minor, patch)` of a version without a pre-release: precedence is then the
    /// order of this triple, compared without the `semver` comparison.
    release: Option<[u64; 3]>,
}

impl Attribute {
    fn new(name: String, value: String) -> Attribute {
        let key = bucketing::key_hash(&value);
        let number = value.trim().parse::<f64>().ok().filter(|n| !n.is_nan());
        let version = semver::Version::parse(value.trim()).ok();
        let release = version.as_ref().and_then(release_of);
        Attribute {
            name_hash: name_hash(&name),
            name,
            value,
            key,
            number,
            version,
            release,
        }
    }

    /// The attribute's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attribute's value.
    pub fn value(&self) -> &str {
        &self.value
    }

    pub(crate) fn key(&self) -> Option<u64> {
        self.key
    }

    pub(crate) fn number(&self) -> Option<f64> {
        self.number
    }

    pub(crate) fn name_hash(&self) -> u64 {
        self.name_hash
    }

    pub(crate) fn release(&self) -> Option<&[u64; 3]> {
        self.release.as_ref()
    }

    pub(crate) fn version(&self) -> Option<&semver::Version> {
        self.version.as_ref()
    }
}

impl Default for EvaluationContext {
    fn default() -> Self {
        EvaluationContext {
            node_id: String::new(),
            node_key: None,
            environment: None,
            chain_height: 0,
            sync_progress: 0.0,
            validator_key: None,
            validator_key_hash: None,
            ip_address: None,
            attributes: Vec::new(),
            now: None,
        }
    }
}

impl EvaluationContext {
    /// A context for a node, every other field at its default.
    pub fn new(node_id: impl Into<String>) -> Self {
        let mut ctx = EvaluationContext::default();
        ctx.set_node_id(node_id);
        ctx
    }

    /// Sets the node id (and its bucket-key hash).
    pub fn set_node_id(&mut self, node_id: impl Into<String>) {
        self.node_id = node_id.into();
        self.node_key = bucketing::key_hash(&self.node_id);
    }

    /// Sets the environment.
    pub fn with_environment(mut self, environment: Environment) -> Self {
        self.environment = Some(environment);
        self
    }

    /// Sets the chain height.
    pub fn with_chain_height(mut self, height: u64) -> Self {
        self.chain_height = height;
        self
    }

    /// Sets the sync progress, meant to be 0.0..=1.0 (see
    /// [`set_sync_progress`](Self::set_sync_progress) for other values).
    pub fn with_sync_progress(mut self, progress: f64) -> Self {
        self.sync_progress = progress;
        self
    }

    /// Sets the validator key (and its bucket-key hash).
    pub fn with_validator_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.validator_key_hash = bucketing::key_hash(&key);
        self.validator_key = Some(key);
        self
    }

    /// Sets the IP address. An IPv4-mapped IPv6 address is matched as IPv4.
    pub fn with_ip_address(mut self, ip: IpAddr) -> Self {
        self.ip_address = Some(ip);
        self
    }

    /// Sets a custom attribute, replacing an earlier value of the same name.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attribute(name, value);
        self
    }

    /// Sets a custom attribute, replacing an earlier value of the same name.
    pub fn set_attribute(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let attribute = Attribute::new(name.into(), value.into());
        match self.find(&attribute.name) {
            Ok(i) => self.attributes[i] = attribute,
            Err(i) => self.attributes.insert(i, attribute),
        }
    }

    /// Sets the evaluation instant.
    pub fn with_now(mut self, now: DateTime<Utc>) -> Self {
        self.set_now(now);
        self
    }

    /// Sets the evaluation instant.
    pub fn set_now(&mut self, now: DateTime<Utc>) {
        self.now = Some(now.timestamp_micros());
    }

    /// Sets the evaluation instant in microseconds since the Unix epoch.
    pub fn set_now_micros(&mut self, micros: i64) {
        self.now = Some(micros);
    }

    /// Sets the chain height.
    pub fn set_chain_height(&mut self, height: u64) {
        self.chain_height = height;
    }

    /// Sets the sync progress, meant to be 0.0..=1.0.
    ///
    /// Any value is stored as given, neither checked nor clamped (setting a context stays
    /// free of checks, and so does evaluation). The progress is read in one place: a
    /// `conditions.sync_progress` condition holds when `progress >= threshold`, the threshold
    /// being 0.0..=1.0 (validation refuses others). So a value above 1.0 (or infinity) holds
    /// every such condition, as 1.0 does; a negative value holds none, not even
    /// `sync_progress = 0`, which 0.0 holds; and NaN holds none, since every comparison with
    /// NaN is false. A failing condition is explained as `condition_failed` with
    /// [`ConditionKind::SyncProgress`](crate::ConditionKind::SyncProgress). The `vexil`
    /// command refuses a progress outside 0.0..=1.0.
    ///
    /// ```
    /// use vexil_core::{model::Config, EvaluationContext, FlagTable};
    ///
    /// let config: Config = toml::from_str(
    ///     "[features.zero]\nenabled = true\n[features.zero.conditions]\nsync_progress = 0.0\n\
    ///      [features.full]\nenabled = true\n[features.full.conditions]\nsync_progress = 1.0\n",
    /// ).unwrap();
    /// let table: FlagTable = FlagTable::new(&[]);
    /// table.publish(table.compile(&config).unwrap().table);
    /// let flags = table.reader();
    /// let on = |progress: f64, flag: &str| {
    ///     let mut ctx = EvaluationContext::new("n");
    ///     ctx.set_sync_progress(progress);
    ///     flags.check_name(flag, &ctx)
    /// };
    /// assert!(on(5.0, "full"));                               // above 1.0: as 1.0
    /// assert!(on(0.0, "zero") && !on(-0.5, "zero"));          // negative: not even 0.0
    /// assert!(!on(f64::NAN, "zero") && !on(f64::NAN, "full")); // NaN: never
    /// ```
    pub fn set_sync_progress(&mut self, progress: f64) {
        self.sync_progress = progress;
    }

    /// The node id ("" when unset).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The environment.
    pub fn environment(&self) -> Option<Environment> {
        self.environment
    }

    /// The chain height.
    pub fn chain_height(&self) -> u64 {
        self.chain_height
    }

    /// The sync progress.
    pub fn sync_progress(&self) -> f64 {
        self.sync_progress
    }

    /// The validator key.
    pub fn validator_key(&self) -> Option<&str> {
        self.validator_key.as_deref()
    }

    /// The IP address.
    pub fn ip_address(&self) -> Option<IpAddr> {
        self.ip_address
    }

    /// The custom attributes, sorted by name.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// A custom attribute's value.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attribute_entry(name).map(Attribute::value)
    }

    /// The evaluation instant, in microseconds since the Unix epoch.
    pub fn now_micros(&self) -> Option<i64> {
        self.now
    }

    /// The evaluation instant.
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.now.and_then(DateTime::from_timestamp_micros)
    }

    #[inline(always)]
    pub(crate) fn node_key(&self) -> Option<u64> {
        self.node_key
    }

    pub(crate) fn validator_key_hash(&self) -> Option<u64> {
        self.validator_key_hash
    }

    pub(crate) fn attribute_entry(&self, name: &str) -> Option<&Attribute> {
        self.find(name).ok().map(|i| &self.attributes[i])
    }

    /// The attribute whose name hashes to `hash` (see [`name_hash`]) and is `name`: a scan of
    /// hashes, with a string compare only on a match.
    #[inline]
    pub(crate) fn attribute_by_hash(&self, hash: u64, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name_hash == hash && same_bytes(a.name.as_bytes(), name.as_bytes()))
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.attributes
            .binary_search_by(|a| a.name.as_str().cmp(name))
    }
}
