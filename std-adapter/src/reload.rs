//! The reload pipeline: read the file, validate it, publish it, audit and report the attempt.
//!
//! [`Pipeline::reload`] is the one way a configuration gets into the table, whether a watcher,
//! a poll or the application asks. It reads the file with no lock held (a read is the only
//! step that can wait, and only on a regular file's bytes: see [`file`](crate::file)), then,
//! under the pipeline's state lock, decides and publishes: nothing in that section waits on
//! I/O (audit records go to a writer thread, events to unbounded channels). Reads are
//! numbered, so that when two reloads overlap, the older read never replaces what the newer
//! one published.
//!
//! Every failure is reported once until something changes: the same rejected content, the
//! same unreadable file (same identity, size, times and mode) or a file still missing is
//! `Unchanged`. When the file comes back to the content in force after a failure, the pipeline
//! reports that it is [restored](Reload::Restored).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vexil_core::model::Config;
use vexil_core::FlagTable;

use crate::audit::{self, Entry};
use crate::diff::{self, FieldChange};
use crate::digest::Digest;
use crate::file::{self, FileState, ReadError};
use crate::metrics;
use crate::validate::{self, Limits, Problem, Rejected};

/// What one reload attempt did. [`Flags::reload`](crate::Flags::reload) returns it,
/// subscribers receive it (all but [`Unchanged`](Reload::Unchanged)) inside
/// [`Event::Reload`], and the audit log records it under [`name`](Reload::name).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Reload {
    /// A new version was published (the first one of a [`Flags`](crate::Flags) is its
    /// initial load).
    Applied(Change),
    /// Nothing new: the content in force, a failure already reported, or a read overtaken by
    /// a newer one. Nothing was published or reported.
    Unchanged,
    /// The file was invalid or could not be read; the last good version stays in force.
    Rejected {
        /// The generation still in force.
        generation: u64,
        /// SHA-256 of the content refused (`None` when it could not be read).
        sha256: Option<Digest>,
        /// Every problem of the file.
        problems: Rejected,
    },
    /// The file is gone; the last good version stays in force.
    Missing {
        /// The generation still in force.
        generation: u64,
    },
    /// After a rejection or a missing file, the file holds the content in force again.
    Restored {
        /// The generation in force.
        generation: u64,
        /// SHA-256 of the content in force.
        sha256: Digest,
    },
}

impl Reload {
    /// The attempt's result as the audit log names it: `loaded` (the first version),
    /// `applied`, `unchanged`, `rejected`, `missing` or `restored`.
    pub fn name(&self) -> &'static str {
        match self {
            Reload::Applied(c) if c.previous.is_none() => "loaded",
            Reload::Applied(_) => "applied",
            Reload::Unchanged => "unchanged",
            Reload::Rejected { .. } => "rejected",
            Reload::Missing { .. } => "missing",
            Reload::Restored { .. } => "restored",
        }
    }
}

/// What subscribers hear: every reload attempt that did something, and the audit log failing
/// and recovering.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A reload attempt that published, refused, lost or got back the file.
    Reload(Reload),
    /// An audit record could not be written; it is kept and retried. Reported once until
    /// the log is writable again.
    AuditFailed {
        /// Why the write failed.
        error: String,
        /// Records waiting to be written.
        pending: usize,
    },
    /// The audit log is writable again: the records that waited were written.
    AuditRecovered {
        /// How many records were written.
        written: usize,
    },
}

/// An applied change.
#[derive(Clone, Debug)]
pub struct Change {
    /// The new generation.
    pub generation: u64,
    /// SHA-256 of the new file.
    pub sha256: Digest,
    /// SHA-256 of the file it replaced (`None` for the initial load).
    pub previous: Option<Digest>,
    /// Every changed field.
    pub changes: Vec<FieldChange>,
    /// The flags whose definition changed.
    pub flags: Vec<String>,
}

/// The subscribers of one pipeline.
#[derive(Debug, Default)]
pub(crate) struct Subscribers(Mutex<Vec<Sender<Event>>>);

impl Subscribers {
    pub(crate) fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        self.add(tx);
        rx
    }

    pub(crate) fn add(&self, tx: Sender<Event>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
    }

    /// Sends to every subscriber (never blocks: the channels are unbounded), dropping those
    /// that are gone.
    pub(crate) fn send(&self, event: &Event) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.send(event.clone()).is_ok());
    }
}

/// What the last look at the file found wrong (reported once until it changes).
#[derive(Debug, PartialEq)]
enum Failure {
    Missing,
    /// Could not be read (not a regular file, too large, no permission...).
    Unreadable {
        state: Option<FileState>,
        message: String,
    },
    /// Read, and invalid: its content hash.
    Rejected(Digest),
}

#[derive(Debug, Default)]
struct State {
    config: Arc<Config>,
    sha256: Option<Digest>,
    failure: Option<Failure>,
    /// The number of the newest read acted on.
    newest: u64,
}

/// The audit record of an attempt: what it did, and what was in force before it.
fn entry(reload: &Reload, before: Option<Digest>) -> Entry {
    let (generation, new_sha256, errors, changes) = match reload {
        Reload::Applied(c) => (c.generation, Some(c.sha256), Vec::new(), c.changes.clone()),
        Reload::Rejected {
            generation,
            sha256,
            problems,
        } => (
            *generation,
            *sha256,
            problems.errors().map(ToString::to_string).collect(),
            Vec::new(),
        ),
        Reload::Missing { generation } => (*generation, None, Vec::new(), Vec::new()),
        Reload::Restored { generation, sha256 } => {
            (*generation, Some(*sha256), Vec::new(), Vec::new())
        }
        Reload::Unchanged => (0, None, Vec::new(), Vec::new()),
    };
    Entry {
        at: chrono::Utc::now(),
        result: reload.name(),
        generation,
        old_sha256: before,
        new_sha256,
        errors,
        changes,
    }
}

/// One configuration file's way into its table.
#[derive(Debug)]
pub(crate) struct Pipeline<const N: usize> {
    table: Arc<FlagTable<N>>,
    path: PathBuf,
    /// The path as problems and records name it.
    file: String,
    limits: Limits,
    known: Vec<&'static str>,
    state: Mutex<State>,
    subscribers: Arc<Subscribers>,
    audit: Option<audit::Writer>,
    reads: AtomicU64,
}

impl<const N: usize> Pipeline<N> {
    pub(crate) fn new(
        table: Arc<FlagTable<N>>,
        path: PathBuf,
        limits: Limits,
        known: Vec<&'static str>,
        subscribers: Arc<Subscribers>,
        audit_log: Option<PathBuf>,
    ) -> std::io::Result<Pipeline<N>> {
        let file = path.display().to_string();
        let audit = match audit_log {
            Some(log) => {
                let subscribers = Arc::clone(&subscribers);
                Some(audit::Writer::spawn(
                    log,
                    file.clone(),
                    Box::new(move |status| {
                        subscribers.send(&match status {
                            audit::Status::Failed { error, pending } => {
                                Event::AuditFailed { error, pending }
                            }
                            audit::Status::Recovered { written } => {
                                Event::AuditRecovered { written }
                            }
                        })
                    }),
                )?)
            }
            None => None,
        };
        Ok(Pipeline {
            table,
            path,
            file,
            limits,
            known,
            state: Mutex::new(State::default()),
            subscribers,
            audit,
            reads: AtomicU64::new(0),
        })
    }

    #[inline]
    pub(crate) fn table(&self) -> &Arc<FlagTable<N>> {
        &self.table
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn subscribers(&self) -> &Subscribers {
        &self.subscribers
    }

    pub(crate) fn sha256(&self) -> Option<Digest> {
        self.lock().sha256
    }

    pub(crate) fn config(&self) -> Arc<Config> {
        Arc::clone(&self.lock().config)
    }

    /// Waits until every audit record so far is written, at most `timeout` (`true` without an
    /// audit log).
    pub(crate) fn flush_audit(&self, timeout: Duration) -> bool {
        self.audit.as_ref().is_none_or(|a| a.flush(timeout))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the file and publishes it if it changed and is valid.
    pub(crate) fn reload(&self) -> Reload {
        let ticket = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        let start = Instant::now();
        // The only step that may wait: no lock is held.
        let read = file::read_stable(&self.path, self.limits.max_file_size);
        let mut state = self.lock();
        if ticket < state.newest {
            // A newer read has been acted on: what this one saw is older.
            return Reload::Unchanged;
        }
        state.newest = ticket;
        let before = state.sha256;
        let outcome = match read {
            Err(ReadError::Missing) => self.missing(&mut state),
            Err(ReadError::Unsettled) => {
                // Still being written: the writer's next event (or the poll) brings another read.
                tracing::debug!(path = %self.path.display(), "the file kept changing while it was read; reading it later");
                Reload::Unchanged
            }
            Err(ReadError::Failed {
                state: file,
                message,
            }) => {
                let problems = Rejected(vec![Problem::whole_file(&self.file, message.clone())]);
                let failure = Failure::Unreadable {
                    state: file,
                    message,
                };
                if state.failure.as_ref() == Some(&failure) {
                    Reload::Unchanged
                } else {
                    self.reject(&mut state, failure, None, problems, start)
                }
            }
            Ok(bytes) => self.apply(&mut state, &bytes, start),
        };
        if !matches!(outcome, Reload::Unchanged) {
            if let Some(audit) = &self.audit {
                audit.submit(entry(&outcome, before));
            }
            // Under the state lock, so subscribers see events in publication order.
            self.subscribers.send(&Event::Reload(outcome.clone()));
        }
        outcome
    }

    fn missing(&self, state: &mut State) -> Reload {
        if state.failure == Some(Failure::Missing) {
            return Reload::Unchanged;
        }
        state.failure = Some(Failure::Missing);
        metrics::reload_failed("missing");
        tracing::warn!(path = %self.path.display(), "configuration file missing; keeping the last good version");
        Reload::Missing {
            generation: self.table.generation(),
        }
    }

    fn apply(&self, state: &mut State, bytes: &[u8], start: Instant) -> Reload {
        let digest = Digest::of(bytes);
        if state.sha256 == Some(digest) {
            if state.failure.take().is_none() {
                return Reload::Unchanged;
            }
            let generation = self.table.generation();
            metrics::reload_restored();
            tracing::info!(path = %self.path.display(), generation, "configuration restored to the version in force");
            return Reload::Restored {
                generation,
                sha256: digest,
            };
        }
        if state.failure == Some(Failure::Rejected(digest)) {
            return Reload::Unchanged;
        }
        let valid = match validate::validate_digested::<N>(
            bytes,
            digest,
            &self.file,
            &self.known,
            &self.limits,
        ) {
            Ok(valid) => valid,
            Err(problems) => {
                return self.reject(
                    state,
                    Failure::Rejected(digest),
                    Some(digest),
                    problems,
                    start,
                )
            }
        };
        for w in &valid.warnings {
            tracing::warn!("{w}");
        }
        let changes = diff::diff(&state.config, &valid.config);
        let flags = diff::changed_flags(&changes, &state.config, &valid.config);
        let flags_loaded = valid.config.features.len();
        let generation = self.table.publish(valid.table);
        // Call-site caches re-evaluate from now on.
        crate::epoch::invalidate();
        state.config = Arc::new(valid.config);
        let previous = state.sha256.replace(digest);
        state.failure = None;
        metrics::reload_applied(generation, flags_loaded, start.elapsed().as_secs_f64());
        tracing::info!(
            path = %self.path.display(),
            generation,
            sha256 = %digest,
            changed = changes.len(),
            "configuration applied"
        );
        Reload::Applied(Change {
            generation,
            sha256: digest,
            previous,
            flags,
            changes,
        })
    }

    fn reject(
        &self,
        state: &mut State,
        failure: Failure,
        digest: Option<Digest>,
        problems: Rejected,
        start: Instant,
    ) -> Reload {
        state.failure = Some(failure);
        metrics::reload_rejected(start.elapsed().as_secs_f64());
        for p in &problems.0 {
            tracing::error!("{p}");
        }
        Reload::Rejected {
            generation: self.table.generation(),
            sha256: digest,
            problems,
        }
    }
}
