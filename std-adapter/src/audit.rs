//! The audit log: one JSON line per configuration event, hash-chained (SPEC section 6).
//!
//! The first record is the initial load; then one record per reload attempt that changed
//! something or failed. Each record carries its sequence number, time, source path, the
//! SHA-256 of the old and new content, the result, the errors, every changed field (with the
//! flag's `updated_by`), `prev` — the hash of the previous record — and `hash`, the SHA-256 of
//! the record itself serialized without `hash`. [`verify`] checks both, so an edited, removed
//! or reordered record is found, the last one included.
//!
//! Writing never holds up a reload: a record is queued, then appended by opening the file
//! afresh (so a deleted or rotated file is recreated, not written into the void). If the append
//! fails (disk full, directory gone), the record stays queued, the failure is logged and
//! counted, and every queued record is written, in order, when the sink recovers.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diff::FieldChange;
use crate::validate::{hex, sha256};

/// The outcome an audit record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The first configuration was loaded.
    Loaded,
    /// A new configuration was published.
    Applied,
    /// A new configuration was refused; the last good one stays.
    Rejected,
}

/// One audit record, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1, 2, 3, ... within this log.
    pub seq: u64,
    /// When the attempt happened (RFC 3339, UTC).
    pub timestamp: String,
    /// The configuration file.
    pub source: String,
    /// What happened.
    pub result: Outcome,
    /// The generation published (applied or loaded) or still in force (rejected).
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
    /// The `hash` of the previous record (`null` for the first one of a file).
    pub prev: Option<String>,
    /// SHA-256 of this record serialized without `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Record {
    fn seal(&mut self) {
        self.hash = None;
        let unsealed = serde_json::to_vec(self).expect("records serialize");
        self.hash = Some(hex(&sha256(&unsealed)));
    }
}

/// What a reload tells the log.
#[derive(Clone, Debug)]
pub struct Entry {
    /// What happened.
    pub result: Outcome,
    /// The generation after the attempt.
    pub generation: u64,
    /// The content hash before.
    pub old_sha256: Option<[u8; 32]>,
    /// The content hash read.
    pub new_sha256: Option<[u8; 32]>,
    /// Problems, for a rejection.
    pub errors: Vec<String>,
    /// Changed fields, for an application.
    pub changes: Vec<FieldChange>,
}

/// An append-only, hash-chained audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    source: String,
    seq: u64,
    prev: Option<String>,
    queue: VecDeque<String>,
}

impl AuditLog {
    /// Opens (or will create) the log at `path`, continuing the chain of records already there.
    pub fn open(path: impl Into<PathBuf>, source: &Path) -> AuditLog {
        let path = path.into();
        let (seq, prev) = last_record(&path)
            .map(|r| (r.seq, r.hash))
            .unwrap_or((0, None));
        AuditLog {
            path,
            source: source.display().to_string(),
            seq,
            prev,
            queue: VecDeque::new(),
        }
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records an entry and tries to write everything queued. The record is kept (and
    /// retried by [`flush`](AuditLog::flush)) if the write fails.
    pub fn record(&mut self, entry: Entry) -> std::io::Result<()> {
        self.seq += 1;
        let mut record = Record {
            seq: self.seq,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            source: self.source.clone(),
            result: entry.result,
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
        self.queue
            .push_back(serde_json::to_string(&record).expect("records serialize"));
        self.flush()
    }

    /// Writes every queued record, oldest first; stops at the first failure.
    pub fn flush(&mut self) -> std::io::Result<()> {
        while let Some(line) = self.queue.front() {
            append(&self.path, line)?;
            self.queue.pop_front();
        }
        Ok(())
    }

    /// Records waiting for the sink to recover.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    file.write_all(&bytes)?;
    file.sync_data()
}

fn last_record(path: &Path) -> Option<Record> {
    let file = std::fs::File::open(path).ok()?;
    let last = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .last()?;
    serde_json::from_str(&last).ok()
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

/// Checks a log's chain: every record's own hash, and that each names the previous one's.
/// Returns the number of records.
pub fn verify(path: &Path) -> Result<usize, VerifyError> {
    let text = std::fs::read_to_string(path).map_err(|e| VerifyError {
        line: 0,
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    let mut prev: Option<String> = None;
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
        if count > 0 && record.prev != prev {
            return Err(bad(format!(
                "record {} does not follow the record before it (a record was removed, \
                 inserted or reordered)",
                record.seq
            )));
        }
        prev = Some(stored);
        count += 1;
    }
    Ok(count)
}
