//! The audit log: one JSON line per configuration event, hash-chained.
//!
//! The first record is the initial load; then one record per reload attempt that changed
//! something or failed. Each record carries its sequence number, time, source path, the
//! SHA-256 of the old and new content, the result, the errors, every changed field (with the
//! flag's `updated_by`), `prev` — the hash of the previous record — and `hash`, the SHA-256 of
//! the record itself serialized without `hash`. [`verify`] checks both and that sequence
//! numbers follow each other, so an edited, removed, inserted or reordered record is found,
//! the last one included.
//!
//! ## Writing never holds up a reload
//!
//! A reload hands its record to a writer thread and goes on: publication never waits on a
//! disk, a full file system, a hung network mount or a FIFO. The writer seals records in the
//! order they were handed over and appends them, opening the log afresh each time (so a
//! deleted or rotated log is recreated, not written into the void) and without blocking (a
//! log that is not a regular file is a failure, not a wait).
//!
//! An append is all or nothing: a torn tail (an append cut short by a full disk, or a process
//! killed mid-write) is cut back to the last complete record before the next append, and a
//! failed append truncates the file back to where it was. When an append fails, the records
//! stay queued and are also written to a spool beside the log (`<log>.spool`, synced), the
//! failure is logged, counted and reported once, and the writer retries with a capped backoff;
//! when the sink recovers, every queued record is written, in order, and the spool removed.
//! A new process continues the existing chain: it writes what an earlier one spooled and
//! carries on from the last record's sequence number and hash.
//!
//! Records are lost only when nothing can be written anywhere before the process ends (the
//! log's and the spool's file system both full or gone), or when the writer itself has been
//! stuck in one write for so long that [`MAX_QUEUED`] records wait behind it; both are logged
//! and counted.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::diff::FieldChange;
use crate::digest::Digest;
use crate::file::open_nonblocking;
use crate::metrics;
use crate::validate::hex;

/// One audit record, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1, 2, 3, ... within this log.
    pub seq: u64,
    /// When the attempt happened (RFC 3339, UTC).
    pub timestamp: String,
    /// The configuration file.
    pub source: String,
    /// What happened: `loaded` (the first version), `applied`, `rejected`, `missing` or
    /// `restored`, as [`Reload::name`](crate::Reload::name) names it.
    pub result: String,
    /// The generation published (applied or loaded) or still in force (otherwise).
    pub generation: u64,
    /// SHA-256 of the content before, if there was one.
    pub old_sha256: Option<String>,
    /// SHA-256 of the content read.
    pub new_sha256: Option<String>,
    /// The problems of a rejected file, as `FILE:LINE:COLUMN: error: MESSAGE`.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Every changed field.
    #[serde(default)]
    pub changes: Vec<serde_json::Value>,
    /// The `hash` of the previous record (`null` for the first one of a chain).
    pub prev: Option<String>,
    /// SHA-256 of this record serialized without `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Record {
    fn seal(&mut self) {
        self.hash = None;
        let unsealed = serde_json::to_vec(self).expect("records serialize");
        self.hash = Some(hex(&Digest::of(&unsealed)));
    }
}

/// What a reload tells the log.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// When the attempt happened.
    pub at: chrono::DateTime<chrono::Utc>,
    /// What happened ([`Reload::name`](crate::Reload::name)).
    pub result: &'static str,
    /// The generation after the attempt.
    pub generation: u64,
    /// The content hash before.
    pub old_sha256: Option<Digest>,
    /// The content hash read.
    pub new_sha256: Option<Digest>,
    /// Problems, for a rejection.
    pub errors: Vec<String>,
    /// Changed fields, for an application.
    pub changes: Vec<FieldChange>,
}

/// How many records may wait for the writer thread while it is stuck inside one write (a hung
/// network mount); beyond this, records are dropped, logged and counted.
pub const MAX_QUEUED: usize = 100_000;

/// The first retry after a failed append; doubled after each failure up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
/// The longest wait between two retries.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long dropping the writer waits for it to write (or spool) what is queued.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// What the writer reports to the reload pipeline's subscribers.
#[derive(Clone, Debug)]
pub(crate) enum Status {
    /// An append failed; `pending` records wait. Reported once per run of failures.
    Failed { error: String, pending: usize },
    /// The sink works again: `written` records waiting were written.
    Recovered { written: usize },
}

/// The writer thread of one audit log.
pub(crate) struct Writer {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("path", &self.path).finish()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer: a record was handed over, or it must stop.
    wake: Condvar,
    /// Wakes those waiting for the writer to catch up.
    progress: Condvar,
}

#[derive(Default)]
struct Queue {
    entries: VecDeque<Entry>,
    /// The writer took entries and has not finished with them.
    busy: bool,
    /// Sealed records not yet in the log.
    pending: usize,
    stop: bool,
    finished: bool,
}

impl Queue {
    /// Every record handed over is in the log.
    fn caught_up(&self) -> bool {
        self.entries.is_empty() && !self.busy && self.pending == 0
    }
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Writer {
    /// Starts the writer of the log at `path` for the configuration `source`; `report` hears
    /// of failures and recoveries.
    pub(crate) fn spawn(
        path: PathBuf,
        source: String,
        report: Box<dyn Fn(Status) + Send>,
    ) -> std::io::Result<Writer> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            progress: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            let path = path.clone();
            std::thread::Builder::new()
                .name("vexil-audit".to_owned())
                .spawn(move || run(&shared, Sink::recover(path, source), report))?
        };
        Ok(Writer {
            path,
            shared,
            thread: Some(thread),
        })
    }

    /// Hands a record over; returns at once.
    pub(crate) fn submit(&self, entry: Entry) {
        let mut q = lock(&self.shared.queue);
        if q.entries.len() >= MAX_QUEUED {
            drop(q);
            metrics::audit_record_dropped();
            tracing::error!(
                path = %self.path.display(),
                "audit record dropped: {MAX_QUEUED} records wait for a writer stuck in one write"
            );
            return;
        }
        q.entries.push_back(entry);
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Waits until every record handed over so far is in the log, at most `timeout`; `false`
    /// if some are still waiting then.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let q = self
            .shared
            .progress
            .wait_timeout_while(lock(&self.shared.queue), timeout, |q| {
                !q.caught_up() && !q.finished
            })
            .unwrap_or_else(|e| e.into_inner())
            .0;
        q.caught_up()
    }
}

impl Drop for Writer {
    /// Stops the writer once it has written (or spooled) what is queued, waiting for it at
    /// most a few seconds: a writer stuck in a write is left behind, and what it holds is
    /// reported as lost.
    fn drop(&mut self) {
        let mut q = lock(&self.shared.queue);
        q.stop = true;
        self.shared.wake.notify_one();
        let q = self
            .shared
            .progress
            .wait_timeout_while(q, SHUTDOWN_WAIT, |q| !q.finished)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if !q.finished {
            tracing::error!(
                path = %self.path.display(),
                queued = q.entries.len(),
                "the audit writer is stuck in a write; records it has not written or \
                 spooled are lost"
            );
            return;
        }
        drop(q);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared, mut sink: Sink, report: Box<dyn Fn(Status) + Send>) {
    let mut failing = false;
    let mut backoff = RETRY_MIN;
    // Records spooled by an earlier process are written first.
    let mut retry_at = (!sink.pending.is_empty()).then(Instant::now);
    loop {
        let (entries, stop) = {
            let mut q = lock(&shared.queue);
            loop {
                let due = retry_at.is_some_and(|t| t <= Instant::now());
                if q.stop || !q.entries.is_empty() || due {
                    break;
                }
                let wait = retry_at.map_or(Duration::from_secs(3600), |t| {
                    t.saturating_duration_since(Instant::now())
                });
                q = shared
                    .wake
                    .wait_timeout(q, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            q.busy = true;
            (std::mem::take(&mut q.entries), q.stop)
        };
        for entry in entries {
            sink.seal(entry);
        }
        if !sink.pending.is_empty() {
            match sink.write() {
                Ok(written) => {
                    retry_at = None;
                    backoff = RETRY_MIN;
                    if failing {
                        failing = false;
                        tracing::info!(path = %sink.path.display(), written, "audit log writable again");
                        report(Status::Recovered { written });
                    }
                }
                Err(e) => {
                    metrics::audit_write_failed();
                    if let Err(se) = sink.spool() {
                        tracing::debug!(spool = %sink.spool.display(), "cannot spool audit records: {se}");
                    }
                    if !failing {
                        failing = true;
                        tracing::error!(
                            path = %sink.path.display(),
                            pending = sink.pending.len(),
                            spooled = sink.spooled,
                            "audit write failed ({e}); the records are kept and retried"
                        );
                        report(Status::Failed {
                            error: e.to_string(),
                            pending: sink.pending.len(),
                        });
                    }
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
        metrics::audit_pending(sink.pending.len());
        let mut q = lock(&shared.queue);
        q.busy = false;
        q.pending = sink.pending.len();
        if stop && q.entries.is_empty() {
            if !sink.pending.is_empty() && sink.spooled < sink.pending.len() {
                tracing::error!(
                    path = %sink.path.display(),
                    lost = sink.pending.len() - sink.spooled,
                    "audit records could be neither written nor spooled before the end"
                );
            }
            q.finished = true;
            drop(q);
            shared.progress.notify_all();
            return;
        }
        drop(q);
        shared.progress.notify_all();
    }
}

/// The log, its spool and the chain: what the writer thread owns.
struct Sink {
    path: PathBuf,
    spool: PathBuf,
    source: String,
    seq: u64,
    prev: Option<String>,
    /// Sealed records (JSON lines without their newline) not yet in the log, oldest first.
    pending: VecDeque<String>,
    /// How many of `pending`, from the front, are in the spool.
    spooled: usize,
}

impl Sink {
    /// Picks up the chain where the log (and an earlier process's spool) left it.
    fn recover(path: PathBuf, source: String) -> Sink {
        let spool = spool_path(&path);
        let (mut seq, mut prev) = match last_record(&path) {
            Ok(Some(r)) => (r.seq, r.hash),
            Ok(None) => (0, None),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the audit log's last record ({e}); a new chain starts");
                (0, None)
            }
        };
        let mut pending = VecDeque::new();
        match std::fs::read_to_string(&spool) {
            Ok(text) => {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    match serde_json::from_str::<Record>(line) {
                        // Records already in the log (spooled, then written before the spool
                        // could be removed) are not written twice.
                        Ok(r) if r.seq <= seq => {}
                        Ok(r) => {
                            seq = r.seq;
                            prev = r.hash;
                            pending.push_back(line.to_owned());
                        }
                        Err(e) => {
                            tracing::warn!(spool = %spool.display(), "skipping a torn spooled record: {e}")
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(spool = %spool.display(), "cannot read the audit spool: {e}"),
        }
        let spooled = pending.len();
        Sink {
            path,
            spool,
            source,
            seq,
            prev,
            pending,
            spooled,
        }
    }

    fn seal(&mut self, entry: Entry) {
        self.seq += 1;
        let mut record = Record {
            seq: self.seq,
            timestamp: entry
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            source: self.source.clone(),
            result: entry.result.to_owned(),
            generation: entry.generation,
            old_sha256: entry.old_sha256.as_ref().map(hex),
            new_sha256: entry.new_sha256.as_ref().map(hex),
            errors: entry.errors,
            changes: entry
                .changes
                .iter()
                .map(|c| serde_json::to_value(c).expect("changes serialize"))
                .collect(),
            prev: self.prev.take(),
            hash: None,
        };
        record.seal();
        self.prev = record.hash.clone();
        self.pending
            .push_back(serde_json::to_string(&record).expect("records serialize"));
    }

    /// Appends every pending record to the log, all or nothing; then the spool is no longer
    /// needed. Returns how many were written.
    fn write(&mut self) -> std::io::Result<usize> {
        append(&self.path, self.pending.iter())?;
        let written = self.pending.len();
        self.pending.clear();
        if self.spooled > 0 {
            self.spooled = 0;
            match std::fs::remove_file(&self.spool) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    // Harmless: its records are in the log, so the next start skips them.
                    tracing::warn!(spool = %self.spool.display(), "cannot remove the audit spool: {e}");
                }
                _ => {}
            }
        }
        Ok(written)
    }

    /// Writes the pending records that are not in the spool yet to it, synced.
    fn spool(&mut self) -> std::io::Result<()> {
        if self.spooled < self.pending.len() {
            append(&self.spool, self.pending.iter().skip(self.spooled))?;
            self.spooled = self.pending.len();
        }
        Ok(())
    }
}

/// The spool of a log: `audit.jsonl` -> `audit.jsonl.spool`, beside it.
pub fn spool_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".spool");
    PathBuf::from(name)
}

fn not_regular() -> std::io::Error {
    std::io::Error::other("not a regular file")
}

/// Appends lines to a regular file, all or nothing, synced: a torn tail left by an earlier
/// append is cut back to the last complete line first, and a failed append is truncated away.
fn append<'a>(path: &Path, lines: impl Iterator<Item = &'a String>) -> std::io::Result<()> {
    let mut file = open_nonblocking(
        path,
        OpenOptions::new().read(true).append(true).create(true),
    )?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut len = meta.len();
    let complete = complete_len(&mut file, len)?;
    if complete < len {
        tracing::warn!(
            path = %path.display(),
            bytes = len - complete,
            "removing a torn record at the end of the file (an append cut short)"
        );
        file.set_len(complete)?;
        len = complete;
    }
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    let result = file.write_all(&bytes).and_then(|()| file.sync_data());
    if let Err(e) = result {
        // Leave the file as it was; if even this fails, the next append cuts the torn tail.
        let _ = file.set_len(len).and_then(|()| file.sync_data());
        return Err(e);
    }
    Ok(())
}

/// The length of the file up to and including its last newline (0 if it has none).
fn complete_len(file: &mut File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The last complete record of a log (`None` for a missing or empty log). A torn tail is
/// ignored here; the next append cuts it.
fn last_record(path: &Path) -> std::io::Result<Option<Record>> {
    let mut file = match open_nonblocking(path, OpenOptions::new().read(true)) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let end = complete_len(&mut file, meta.len())?;
    // The line before `end`: read backwards, growing the window until it holds a whole line.
    let mut window = 64 * 1024u64;
    loop {
        let start = end.saturating_sub(window);
        let mut bytes = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut bytes)?;
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let line = match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => &body[i + 1..],
            None if start == 0 => body,
            None => {
                window *= 2;
                continue;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        return serde_json::from_slice(line)
            .map(Some)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e));
    }
}

/// Why a log does not verify.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// 1-based line of the first bad record.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Checks a log's chain: every record's own hash, that each names the previous one's, and
/// that sequence numbers follow each other. Returns the number of records. The first record
/// of a file may continue an earlier file's chain (a rotated log).
pub fn verify(path: &Path) -> Result<usize, VerifyError> {
    let text = std::fs::read_to_string(path).map_err(|e| VerifyError {
        line: 0,
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    let mut last: Option<(u64, String)> = None;
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| VerifyError {
            line: line_no,
            message,
        };
        let mut record: Record =
            serde_json::from_str(line).map_err(|e| bad(format!("not an audit record: {e}")))?;
        let stored = record
            .hash
            .clone()
            .ok_or_else(|| bad("no `hash`".to_owned()))?;
        record.seal();
        if record.hash.as_deref() != Some(stored.as_str()) {
            return Err(bad(format!(
                "record {} was altered: its hash is {}, it says {stored}",
                record.seq,
                record.hash.unwrap_or_default()
            )));
        }
        if let Some((seq, hash)) = &last {
            if record.seq != seq + 1 {
                return Err(bad(format!(
                    "record {} follows record {seq}: the sequence has a gap or goes back",
                    record.seq
                )));
            }
            if record.prev.as_ref() != Some(hash) {
                return Err(bad(format!(
                    "record {} does not follow the record before it (a record was removed, \
                     inserted or reordered)",
                    record.seq
                )));
            }
        }
        last = Some((record.seq, stored));
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(generation: u64) -> Entry {
        Entry {
            at: chrono::Utc::now(),
            result: "applied",
            generation,
            old_sha256: None,
            new_sha256: Some(Digest::from([generation as u8; 32])),
            errors: Vec::new(),
            changes: Vec::new(),
        }
    }

    #[test]
    fn a_torn_tail_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut sink = Sink::recover(path.clone(), "f.toml".to_owned());
        sink.seal(entry(1));
        sink.write().unwrap();
        // An append cut short.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":2,\"timest").unwrap();
        drop(f);
        assert!(verify(&path).is_err());
        let mut sink = Sink::recover(path.clone(), "f.toml".to_owned());
        assert_eq!(
            sink.seq, 1,
            "the chain continues from the last complete record"
        );
        sink.seal(entry(2));
        sink.write().unwrap();
        assert_eq!(verify(&path), Ok(2));
    }

    #[test]
    fn the_last_record_is_found_behind_a_long_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut sink = Sink::recover(path.clone(), "f.toml".to_owned());
        let mut long = entry(1);
        long.errors = vec!["x".repeat(200_000)];
        sink.seal(long);
        sink.seal(entry(2));
        let mut longer = entry(3);
        longer.errors = vec!["y".repeat(300_000)];
        sink.seal(longer);
        sink.write().unwrap();
        let last = last_record(&path).unwrap().unwrap();
        assert_eq!((last.seq, last.generation), (3, 3));
    }
}
