//! [`Flags`]: a configuration file, loaded, checked, reloaded and watched.

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use vexil_core::model::Config;
use vexil_core::{
    CountedArcReader, Detail, Evaluation, EvaluationContext, FlagKey, FlagTable, Snapshot,
    DEFAULT_CAPACITY,
};

use crate::digest::Digest;
use crate::metrics;
use crate::reload::{Event, Pipeline, Reload, Subscribers};
use crate::usage::Registry;
use crate::validate::{Limits, Problem, Rejected};
use crate::watch::{self, WatchOptions, Watched, Watcher};

/// Why [`FlagsBuilder::build`] failed. Its `Display` (and `Debug`, so that a `main` returning
/// it prints the same) is the problems of the file, one `FILE:LINE:COLUMN: error: ...` a line.
#[non_exhaustive]
pub enum StartError {
    /// The file is missing, unreadable or invalid (strict start).
    Invalid(Rejected),
    /// The file could not be watched.
    Watch(std::io::Error),
    /// The audit log's writer thread could not start.
    Audit(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Invalid(r) => write!(f, "{r}"),
            StartError::Watch(e) => write!(f, "cannot watch the configuration: {e}"),
            StartError::Audit(e) => write!(f, "cannot start the audit log's writer: {e}"),
        }
    }
}

impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Invalid(r) => Some(r),
            StartError::Watch(e) | StartError::Audit(e) => Some(e),
        }
    }
}

/// Builds [`Flags`] for a table of `N` slots (1,024 unless [`capacity`](FlagsBuilder::capacity)
/// says otherwise).
#[derive(Debug)]
pub struct FlagsBuilder<const N: usize = DEFAULT_CAPACITY> {
    path: PathBuf,
    known: Vec<&'static str>,
    lenient: bool,
    limits: Limits,
    audit_log: Option<PathBuf>,
    watch: Option<WatchOptions>,
    subscribers: Vec<Sender<Event>>,
}

impl<const N: usize> FlagsBuilder<N> {
    /// Every event from the first load on (the first load is an
    /// [`Event::Reload`]`(`[`Reload::Applied`]`)` of generation 1, or a rejection or a missing
    /// file at a lenient start).
    pub fn subscribe(&mut self) -> Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        self.subscribers.push(tx);
        rx
    }

    /// Sends every event, from the first load on, to `tx` (as [`subscribe`](Self::subscribe),
    /// without leaving the builder chain).
    pub fn subscriber(mut self, tx: Sender<Event>) -> Self {
        self.subscribers.push(tx);
        self
    }

    /// The flags compiled into the binary (the generated `FlagId::NAMES`): they get the first
    /// slots, in this order, so a `FlagId` is its slot.
    pub fn known(mut self, names: &[&'static str]) -> Self {
        self.known = names.to_vec();
        self
    }

    /// Lenient start: a missing or invalid file at start is reported (logged, audited, as an
    /// [`Event`] and in the metrics) instead of failing, and every flag is off until a valid
    /// file appears. The default is strict: [`build`](FlagsBuilder::build) fails.
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }

    /// File size and nesting limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Writes the audit log to this file.
    pub fn audit_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_log = Some(path.into());
        self
    }

    /// Watches the file and reloads on change (see [`WatchOptions`] for the defaults).
    pub fn watch(mut self, options: WatchOptions) -> Self {
        self.watch = Some(options);
        self
    }

    /// A table of `M` slots instead (more flags than 1,024, or a smaller table).
    pub fn capacity<const M: usize>(self) -> FlagsBuilder<M> {
        FlagsBuilder {
            path: self.path,
            known: self.known,
            lenient: self.lenient,
            limits: self.limits,
            audit_log: self.audit_log,
            watch: self.watch,
            subscribers: self.subscribers,
        }
    }

    /// Loads the file (and starts watching it, if asked).
    pub fn build(self) -> Result<Flags<N>, StartError> {
        metrics::describe();
        let table =
            FlagTable::with_collector(&self.known, crossbeam_epoch::default_collector().clone())
                .with_clock(|| chrono::Utc::now().timestamp_micros());
        let subscribers = Arc::new(Subscribers::default());
        for s in self.subscribers {
            subscribers.add(s);
        }
        let pipeline = Pipeline::new(
            Arc::new(table),
            self.path,
            self.limits,
            self.known,
            subscribers,
            self.audit_log,
        )
        .map_err(StartError::Audit)?;
        let inner = Arc::new(Inner {
            pipeline,
            usage: Registry::new(N),
            check_duration: metrics::check_duration(),
        });
        match inner.pipeline.reload() {
            Reload::Applied(_) => {}
            Reload::Rejected { problems, .. } if !self.lenient => {
                return Err(StartError::Invalid(problems))
            }
            Reload::Missing { .. } if !self.lenient => {
                let file = inner.path().display().to_string();
                let message = match std::fs::metadata(inner.path()) {
                    Err(e) => format!("cannot read: {e}"),
                    Ok(_) => "cannot read".to_owned(),
                };
                return Err(StartError::Invalid(Rejected(vec![Problem::whole_file(
                    &file, message,
                )])));
            }
            _ => {
                tracing::warn!(path = %inner.path().display(), "starting with every flag off");
            }
        }
        let watcher = match self.watch {
            Some(options) => {
                let watched: Weak<dyn Watched> = Arc::downgrade(&inner) as Weak<dyn Watched>;
                let watcher = watch::spawn(watched, inner.path(), options)
                    .map_err(|e| StartError::Watch(watch::io_error(e)))?;
                Some(Arc::new(watcher))
            }
            None => None,
        };
        Ok(Flags {
            inner,
            _watcher: watcher,
        })
    }
}

/// A configuration file, loaded and validated, its flags checked lock-free, reloaded
/// atomically (by [`reload`](Flags::reload) or a watcher), audited and measured.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use vexil::{EvaluationContext, Flags, WatchOptions};
///
/// let flags = Flags::builder("config/features.toml")
///     .audit_log("/var/log/vexil/audit.jsonl")
///     .watch(WatchOptions::default())
///     .build()?;
/// let ctx = EvaluationContext::new("node-7"); // `now` unset: the flags' clock supplies it
/// if flags.check_name("parallel_validation", &ctx) { /* ... */ }
///
/// // On a hot path, one reader per thread: about a nanosecond per check.
/// let reader = flags.reader();
/// let on = reader.check_name("parallel_validation", &ctx);
/// # Ok(()) }
/// ```
///
/// `Flags` is cheap to clone (an `Arc`); dropping the last clone stops the watcher.
#[derive(Clone, Debug)]
pub struct Flags<const N: usize = DEFAULT_CAPACITY> {
    inner: Arc<Inner<N>>,
    _watcher: Option<Arc<Watcher>>,
}

#[derive(Debug)]
struct Inner<const N: usize> {
    pipeline: Pipeline<N>,
    usage: Registry,
    /// `vexil_check_duration_seconds`, registered at build.
    check_duration: ::metrics::Histogram,
}

thread_local! {
    static SAMPLE: Cell<u32> = const { Cell::new(0) };
}

impl Flags {
    /// A builder for the file at `path`, for a table of 1,024 slots (see
    /// [`FlagsBuilder::capacity`]).
    pub fn builder(path: impl Into<PathBuf>) -> FlagsBuilder {
        FlagsBuilder {
            path: path.into(),
            known: Vec::new(),
            lenient: false,
            limits: Limits::default(),
            audit_log: None,
            watch: None,
            subscribers: Vec::new(),
        }
    }
}

impl<const N: usize> Flags<N> {
    /// Whether the flag is on. Pins the epoch for the call (crossbeam's thread-local
    /// participant, one fence), so nothing stays pinned on a thread that stops checking; on a
    /// hot loop, take a [`reader`](Flags::reader). Counted in `vexil_checks_total`.
    #[inline]
    pub fn check<K: FlagKey>(&self, flag: K, ctx: &EvaluationContext) -> bool {
        let sample = SAMPLE.with(|s| {
            let n = s.get().wrapping_add(1);
            s.set(n);
            n % metrics::SAMPLE_EVERY == 0
        });
        let start = sample.then(Instant::now);
        let slot = flag.index();
        let on = self.pinned().check(flag, ctx);
        self.inner.usage.count(slot, on);
        if let Some(start) = start {
            self.inner
                .check_duration
                .record(start.elapsed().as_secs_f64());
        }
        on
    }

    /// [`check`](Flags::check) by name, for flags the binary was not built with.
    pub fn check_name(&self, name: &str, ctx: &EvaluationContext) -> bool {
        let snapshot = self.pinned();
        match snapshot.index_of(name) {
            Some(slot) => {
                let on = snapshot.check(slot, ctx);
                self.inner.usage.count(slot.0 as usize, on);
                on
            }
            None => false,
        }
    }

    /// The answer with its reason, detail and generation.
    pub fn explain<K: FlagKey>(&self, flag: K, ctx: &EvaluationContext) -> Evaluation {
        let snapshot = self.pinned();
        let e = snapshot.explain(flag, ctx);
        note_assignment(&snapshot, &e);
        e
    }

    /// [`explain`](Flags::explain) by name.
    pub fn explain_name(&self, name: &str, ctx: &EvaluationContext) -> Evaluation {
        let snapshot = self.pinned();
        let e = snapshot.explain_name(name, ctx);
        note_assignment(&snapshot, &e);
        e
    }

    /// The variant of an experiment this context is assigned (counted in
    /// `vexil_experiment_assignments_total`).
    pub fn variant(&self, experiment: &str, ctx: &EvaluationContext) -> Option<String> {
        let snapshot = self.pinned();
        let v = snapshot.variant(experiment, ctx).map(str::to_owned);
        if let Some(v) = &v {
            metrics::experiment_assigned(experiment, v);
        }
        v
    }

    /// A per-thread reader for hot paths: about a nanosecond per check, counted in its own
    /// usage shard. Keep it; drop it (or [`quiesce`](vexil_core::ReaderOf::quiesce) it) when
    /// the thread goes idle for long.
    pub fn reader(&self) -> CountedArcReader<N> {
        let shard = self.inner.usage.shard();
        self.inner.pipeline.table().arc_reader().with_usage(shard)
    }

    /// The version in force, held: every check through the snapshot answers from it, however
    /// many reloads happen meanwhile (for several checks that must agree, such as every flag
    /// of one block). Its [`generation`](Snapshot::generation) identifies it. Checks through a
    /// snapshot are not counted in `vexil_checks_total`; drop it soon, as a held version is
    /// not reclaimed.
    pub fn snapshot(&self) -> Snapshot<'_, N> {
        self.inner.pipeline.table().snapshot()
    }

    /// Reads the file now and publishes it if it changed and is valid.
    pub fn reload(&self) -> Reload {
        self.inner.pipeline.reload()
    }

    /// The generation in force (0 until a valid file was loaded).
    pub fn generation(&self) -> u64 {
        self.inner.pipeline.table().generation()
    }

    /// SHA-256 of the file in force.
    pub fn sha256(&self) -> Option<Digest> {
        self.inner.pipeline.sha256()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.inner.pipeline.config()
    }

    /// The configuration file.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Every event from now on: reload attempts that did something (applied, rejected, the
    /// file missing or restored) and the audit log failing and recovering. Dropping the
    /// receiver unsubscribes.
    pub fn subscribe(&self) -> Receiver<Event> {
        self.inner.pipeline.subscribers().subscribe()
    }

    /// Folds usage counts into `vexil_checks_total` and lets the epoch reclaim retired tables
    /// (the watcher does both on each poll).
    pub fn maintain(&self) {
        self.inner.maintain();
    }

    /// Waits until every audit record so far is written to the log, at most `timeout`:
    /// `false` if some still wait then (the log is failing; they are retried, and spooled
    /// beside the log). Audit records are written by a thread of their own, so a reload never
    /// waits for the log; call this where you need them on disk, before exiting for example.
    /// `true` at once without an audit log.
    pub fn flush_audit(&self, timeout: Duration) -> bool {
        self.inner.pipeline.flush_audit(timeout)
    }

    /// The usage registry of these flags (for the call sites' cached answers).
    pub(crate) fn usage(&self) -> &Registry {
        &self.inner.usage
    }

    /// A snapshot under a pin of crossbeam's thread-local participant, for one call.
    #[inline]
    fn pinned(&self) -> Snapshot<'_, N> {
        self.inner
            .pipeline
            .table()
            .pinned_snapshot(crossbeam_epoch::pin())
    }
}

impl<const N: usize> Inner<N> {
    fn path(&self) -> &Path {
        self.pipeline.path()
    }

    fn maintain(&self) {
        let table = self.pipeline.table();
        let snapshot = table.snapshot();
        self.usage
            .fold(|slot| snapshot.flag_name(slot).map(str::to_owned));
        drop(snapshot);
        table.collect();
    }
}

impl<const N: usize> Watched for Inner<N> {
    fn reload(&self) {
        self.pipeline.reload();
    }

    fn maintain(&self) {
        Inner::maintain(self);
    }
}

/// Counts an experiment assignment, naming it from the version that decided it.
fn note_assignment<const N: usize>(snapshot: &Snapshot<'_, N>, e: &Evaluation) {
    if let Detail::Variant {
        experiment,
        variant,
    } = e.detail
    {
        if let (Some(x), Some(v)) = (
            snapshot.experiment_name(experiment),
            snapshot.variant_name(experiment, variant),
        ) {
            metrics::experiment_assigned(x, v);
        }
    }
}
