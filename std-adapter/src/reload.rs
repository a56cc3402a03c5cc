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
//! reports that it is [restored](Event::Restored).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vexil_core::model::Config;
use vexil_core::FlagTable;

use crate::audit::{self, Entry, Outcome};
use crate::diff::{self, FieldChange};
use crate::file::{self, FileState, ReadError};
use crate::metrics;
use crate::validate::{self, Limits, Problem, Rejected};

/// What happened to the configuration, and to its audit log: sent to every
/// [`Flags::subscribe`](crate::Flags::subscribe)r.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A new version was published.
    Applied(Change),
    /// A new version was refused; the last good one stays in force.
    Rejected {
        /// The generation still in force.
        generation: u64,
        /// Every problem of the file.
        problems: Rejected,
    },
    /// The file is gone; the last good version stays in force.
    Missing,
    /// After a rejection or a missing file, the file holds the content in force again.
    Restored {
        /// The generation in force.
        generation: u64,
        /// SHA-256 of the content in force.
        sha256: [u8; 32],
    },
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
    pub sha256: [u8; 32],
    /// Every changed field.
    pub changes: Vec<FieldChange>,
    /// The flags whose definition changed.
    pub flags: Vec<String>,
}

/// What [`Flags::reload`](crate::Flags::reload) did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Reload {
    /// Published a new generation.
    Applied(Change),
    /// Nothing new: the content in force, the failure already reported, or a read overtaken
    /// by a newer one. Nothing was published or reported.
    Unchanged,
    /// The file was invalid or could not be read; the last good version stays.
    Rejected(Rejected),
    /// The file is missing; the last good version stays.
    Missing,
    /// After a failure, the file holds the content in force again.
    Restored,
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
    Rejected([u8; 32]),
}

#[derive(Debug, Default)]
struct State {
    config: Arc<Config>,
    sha256: Option<[u8; 32]>,
    failure: Option<Failure>,
    /// The number of the newest read acted on.
    newest: u64,
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

    pub(crate) fn sha256(&self) -> Option<[u8; 32]> {
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
        match read {
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
                let failure = Failure::Unreadable {
                    state: file,
                    message,
                };
                if state.failure.as_ref() == Some(&failure) {
                    return Reload::Unchanged;
                }
                let Failure::Unreadable { message, .. } = &failure else {
                    unreachable!()
                };
                let problems = Rejected(vec![Problem::whole_file(&self.file, message.clone())]);
                self.reject(&mut state, failure, None, problems, start)
            }
            Ok(bytes) => self.apply(&mut state, &bytes, start),
        }
    }

    fn missing(&self, state: &mut State) -> Reload {
        if state.failure == Some(Failure::Missing) {
            return Reload::Unchanged;
        }
        state.failure = Some(Failure::Missing);
        metrics::reload_failed("missing");
        tracing::warn!(path = %self.path.display(), "configuration file missing; keeping the last good version");
        self.audit(Entry {
            at: chrono::Utc::now(),
            result: Outcome::Missing,
            generation: self.table.generation(),
            old_sha256: state.sha256,
            new_sha256: None,
            errors: Vec::new(),
            changes: Vec::new(),
        });
        self.subscribers.send(&Event::Missing);
        Reload::Missing
    }

    fn apply(&self, state: &mut State, bytes: &[u8], start: Instant) -> Reload {
        let digest = validate::sha256(bytes);
        if state.sha256 == Some(digest) {
            if state.failure.take().is_none() {
                return Reload::Unchanged;
            }
            let generation = self.table.generation();
            metrics::reload_restored();
            tracing::info!(path = %self.path.display(), generation, "configuration restored to the version in force");
            self.audit(Entry {
                at: chrono::Utc::now(),
                result: Outcome::Restored,
                generation,
                old_sha256: Some(digest),
                new_sha256: Some(digest),
                errors: Vec::new(),
                changes: Vec::new(),
            });
            self.subscribers.send(&Event::Restored {
                generation,
                sha256: digest,
            });
            return Reload::Restored;
        }
        if state.failure == Some(Failure::Rejected(digest)) {
            return Reload::Unchanged;
        }
        let valid =
            match validate::validate_bytes::<N>(bytes, &self.file, &self.known, &self.limits) {
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
        let flags_loaded = valid.config.features.len();
        let old = state.sha256;
        let generation = self.table.publish(valid.table);
        // Call-site caches re-evaluate from now on.
        crate::epoch::invalidate();
        state.config = Arc::new(valid.config);
        state.sha256 = Some(digest);
        state.failure = None;
        let change = Change {
            generation,
            sha256: digest,
            flags: diff::changed_flags(&changes),
            changes,
        };
        metrics::reload_applied(generation, flags_loaded, start.elapsed().as_secs_f64());
        tracing::info!(
            path = %self.path.display(),
            generation,
            sha256 = %validate::hex(&digest),
            changed = change.changes.len(),
            "configuration applied"
        );
        self.audit(Entry {
            at: chrono::Utc::now(),
            result: if old.is_none() {
                Outcome::Loaded
            } else {
                Outcome::Applied
            },
            generation,
            old_sha256: old,
            new_sha256: Some(digest),
            errors: Vec::new(),
            changes: change.changes.clone(),
        });
        // Under the state lock, so subscribers see events in publication order.
        self.subscribers.send(&Event::Applied(change.clone()));
        Reload::Applied(change)
    }

    fn reject(
        &self,
        state: &mut State,
        failure: Failure,
        digest: Option<[u8; 32]>,
        problems: Rejected,
        start: Instant,
    ) -> Reload {
        state.failure = Some(failure);
        metrics::reload_rejected(start.elapsed().as_secs_f64());
        for p in &problems.0 {
            tracing::error!("{p}");
        }
        let generation = self.table.generation();
        self.audit(Entry {
            at: chrono::Utc::now(),
            result: Outcome::Rejected,
            generation,
            old_sha256: state.sha256,
            new_sha256: digest,
            errors: problems.errors().map(ToString::to_string).collect(),
            changes: Vec::new(),
        });
        self.subscribers.send(&Event::Rejected {
            generation,
            problems: problems.clone(),
        });
        Reload::Rejected(problems)
    }

    fn audit(&self, entry: Entry) {
        if let Some(audit) = &self.audit {
            audit.submit(entry);
        }
    }
}
