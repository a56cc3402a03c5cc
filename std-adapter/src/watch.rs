//! Watching the configuration file (SPEC section 5).
//!
//! The watcher watches the file's *directory*, not the file's inode, so it follows every way a
//! file is replaced: in-place writes, write-to-temp then rename (vim, `sed -i`, JetBrains'
//! safe write), delete and recreate, and Kubernetes ConfigMap mounts, where the file is a
//! symlink through `..data`, itself a symlink swapped to a new directory. Any event in the
//! directory arms a debounce timer; when the directory has been quiet for
//! [`WatchOptions::debounce`] (or a burst has gone on for ten times that), the file is read
//! until two reads agree, and published if its content changed and is valid. An empty file
//! (an in-place write between its truncation and its write) is given more quiet periods, up
//! to ten times the debounce from the burst's start, before it is read and rejected. A periodic
//! content-hash poll ([`WatchOptions::poll_interval`]) backs up lost events (inotify overflow,
//! network file systems); rescans are counted. An error never stops the watcher: it is logged,
//! counted, and the watch is set up again on the next poll. On any failure the last good
//! configuration stays in force.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::flags::Inner;
use crate::metrics;

/// How the watcher behaves.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// Quiet time after the last event before the file is read (default 25 ms: editors write
    /// in bursts of a few events within a millisecond or two).
    pub debounce: Duration,
    /// Content-hash poll interval, the backstop for lost events (default 2 s). Also when
    /// usage counts are folded and queued audit records retried.
    pub poll_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(25),
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// A running watcher; stops (and joins its thread) when dropped.
#[derive(Debug)]
pub struct Watcher {
    stop: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Msg::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

enum Msg {
    Event(notify::Result<notify::Event>),
    Stop,
}

pub(crate) fn spawn<const N: usize>(
    flags: Weak<Inner<N>>,
    options: WatchOptions,
) -> notify::Result<Watcher> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let path = flags
        .upgrade()
        .map(|f| f.path().to_path_buf())
        .unwrap_or_default();
    let dir = watch_dir(&path);
    // Set up the first watch here, so that a failure is the caller's to see.
    let watcher = new_watcher(&dir, tx.clone())?;
    let stop = tx.clone();
    let thread = std::thread::Builder::new()
        .name("vexil-watch".to_owned())
        .spawn(move || run(flags, options, dir, rx, tx, Some(watcher)))
        .map_err(notify::Error::io)?;
    Ok(Watcher {
        stop: Some(stop),
        thread: Some(thread),
    })
}

fn watch_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn new_watcher(dir: &Path, tx: mpsc::Sender<Msg>) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(Msg::Event(event));
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

fn run<const N: usize>(
    flags: Weak<Inner<N>>,
    options: WatchOptions,
    dir: PathBuf,
    rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    mut watcher: Option<RecommendedWatcher>,
) {
    let mut due: Option<Instant> = None;
    let mut burst_started: Option<Instant> = None;
    let mut next_poll = Instant::now() + options.poll_interval;
    loop {
        let now = Instant::now();
        let wake = due.map_or(next_poll, |d| d.min(next_poll));
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Msg::Event(Ok(event))) => {
                if event.need_rescan() {
                    metrics::watch_rescan();
                    tracing::warn!("file watcher asked for a rescan (events were lost)");
                }
                let now = Instant::now();
                let started = *burst_started.get_or_insert(now);
                // Trailing debounce, but never postponed beyond ten quiet periods.
                due = Some((now + options.debounce).min(started + options.debounce * 10));
                continue;
            }
            Ok(Msg::Event(Err(e))) => {
                metrics::watch_rescan();
                tracing::warn!("file watcher error: {e}; re-checking the file and watching anew");
                // Set the watch up again on the next poll (the old one may be dead, e.g. when
                // the directory itself was replaced).
                watcher = None;
                due = Some(Instant::now());
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let Some(flags) = flags.upgrade() else {
            return;
        };
        let now = Instant::now();
        if due.is_some_and(|d| d <= now) {
            let cap = *burst_started.get_or_insert(now) + options.debounce * 10;
            if now < cap && flags.path().metadata().is_ok_and(|m| m.len() == 0) {
                // An in-place write truncates before it writes: an empty file is a writer
                // between the two more often than a configuration, so it gets more quiet
                // periods (up to the burst's cap) before it is read and rejected.
                due = Some((now + options.debounce).min(cap));
                continue;
            }
            due = None;
            burst_started = None;
            flags.reload();
        }
        if next_poll <= now {
            next_poll = now + options.poll_interval;
            flags.reload();
            flags.maintain();
            if watcher.is_none() {
                match new_watcher(&dir, tx.clone()) {
                    Ok(w) => watcher = Some(w),
                    Err(e) => tracing::warn!("cannot watch {}: {e}; polling", dir.display()),
                }
            }
        }
    }
}
