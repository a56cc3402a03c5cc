//! Watching the configuration file.
//!
//! The watcher follows the *path*, not the file's inode, through every way a file is replaced:
//! in-place writes, write-to-temp then rename (vim, `sed -i`, JetBrains' safe write), delete
//! and recreate, Kubernetes ConfigMap mounts (the file is a symlink through `..data`, itself a
//! symlink swapped to a new directory), a symlink into another directory, and the file's
//! directory itself swapped by a rename. It resolves the path through its symlinks and watches
//! every directory on the way (the link's and its target's, and the parent of each, where a
//! swapped directory shows), and after each change it resolves the path again and watches
//! anew when the directories changed or were replaced.
//!
//! Only events that can change what the path holds count: a write, rename, creation or
//! removal of the file, of a symlink on the way, or of a watched directory itself. Opens and
//! reads (the watcher's own among them) and other files in the same directories (an audit log
//! beside the configuration) are ignored, so an idle watcher reads the file only at the poll.
//!
//! A counted event arms a debounce timer; when the path has been quiet for
//! [`WatchOptions::debounce`] (or a burst has gone on for ten times that), the file is read
//! and published if its content changed and is valid. A file still open for writing is not
//! read: on Linux, inotify tells when a writer closes a file it wrote (`IN_CLOSE_WRITE`), so
//! an in-place write is read after its writer closes it, a rename when it lands, and a writer
//! that keeps the file open longer than [`WatchOptions::write_timeout`] is read anyway. Where
//! the platform reports no closes (macOS, Windows, BSDs), a half-written file can still be
//! read if its writer pauses longer than the debounce: the watcher then reads the file until
//! two reads agree, and gives an empty file (an in-place write between its truncation and its
//! write) more quiet periods, up to ten times the debounce, before it is read and rejected.
//!
//! A periodic content-hash poll ([`WatchOptions::poll_interval`]) backs up lost events
//! (inotify overflow, network file systems); rescans are counted. An error never stops the
//! watcher: it is logged, counted, and the watch is set up again. On any failure the last good
//! configuration stays in force.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _, WatcherKind};

use crate::metrics;

/// How the watcher behaves.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// Quiet time after the last event before the file is read (default 25 ms: editors write
    /// in bursts of a few events within a millisecond or two).
    pub debounce: Duration,
    /// Content-hash poll interval, the backstop for lost events (default 2 s). Also when
    /// usage counts are folded.
    pub poll_interval: Duration,
    /// How long a file that its writer still holds open is left unread (default 30 s; only
    /// where the platform reports closes, see the [module docs](self)).
    pub write_timeout: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(25),
            poll_interval: Duration::from_secs(2),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// What the watcher drives: the reload pipeline of one configuration.
pub(crate) trait Watched: Send + Sync {
    /// Reads the file and publishes it if it changed and is valid.
    fn reload(&self);
    /// Periodic housekeeping, on each poll.
    fn maintain(&self);
}

/// A running watcher; stops (and joins its thread) when dropped.
#[derive(Debug)]
pub(crate) struct Watcher {
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

pub(crate) fn spawn(
    target: Weak<dyn Watched>,
    path: &Path,
    options: WatchOptions,
) -> notify::Result<Watcher> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let route = Route::resolve(path);
    // Set up the first watch here, so that a failure is the caller's to see.
    let watcher = route.watch(&tx)?;
    let stop = tx.clone();
    let mut state = Following {
        target,
        options,
        tx,
        route,
        watcher: Some(watcher),
        close_events: RecommendedWatcher::kind() == WatcherKind::Inotify,
        due: None,
        burst_started: None,
        writing: None,
    };
    let thread = std::thread::Builder::new()
        .name("vexil-watch".to_owned())
        .spawn(move || state.run(&rx))
        .map_err(notify::Error::io)?;
    Ok(Watcher {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// A watch error as an I/O error (the public API does not expose the watching crate's types).
pub(crate) fn io_error(e: notify::Error) -> std::io::Error {
    match e.kind {
        notify::ErrorKind::Io(io) => io,
        notify::ErrorKind::PathNotFound => std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no directory to watch: {e}"),
        ),
        _ => std::io::Error::other(e.to_string()),
    }
}

/// The way from the configuration path to its file: every path whose change can change what
/// the path holds, and the directories to watch to see them.
#[derive(Debug, PartialEq, Eq)]
struct Route {
    /// The path as given, made absolute.
    path: PathBuf,
    /// The path and the file it resolves to, as events name them.
    file: Vec<PathBuf>,
    /// Every symlink passed through on the way, as events name them.
    links: Vec<PathBuf>,
    /// The watched directories (canonical), with their identity when they were looked at.
    dirs: Vec<(PathBuf, Option<(u64, u64)>)>,
}

/// How many symlinks are followed before giving up (as the kernel's `ELOOP` limit).
const MAX_LINKS: usize = 40;

impl Route {
    fn resolve(path: &Path) -> Route {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut links = Vec::new();
        let mut current = path.clone();
        'follow: for _ in 0..MAX_LINKS {
            let components: Vec<Component<'_>> = current.components().collect();
            let mut prefix = PathBuf::new();
            for (i, c) in components.iter().enumerate() {
                prefix.push(c);
                if !matches!(c, Component::Normal(_))
                    || !std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink())
                {
                    continue;
                }
                let Ok(target) = std::fs::read_link(&prefix) else {
                    break 'follow;
                };
                let mut next = prefix.parent().unwrap_or(Path::new("/")).join(target);
                next.extend(&components[i + 1..]);
                links.push(prefix);
                current = next;
                continue 'follow;
            }
            break;
        }
        let file: Vec<PathBuf> = dedup([as_event(&path), as_event(&current)]);
        let links: Vec<PathBuf> = dedup(links.iter().map(|l| as_event(l)));
        // Each directory holding the file or a link, and its parent, where a swap of the
        // directory itself shows.
        let mut dirs = Vec::new();
        for p in file.iter().chain(&links) {
            if let Some(dir) = p.parent() {
                dirs.push(dir.to_path_buf());
                if let Some(up) = dir.parent() {
                    dirs.push(up.to_path_buf());
                }
            }
        }
        let dirs = dedup(dirs)
            .into_iter()
            .map(|d| {
                let id = identity(&d);
                (d, id)
            })
            .collect();
        Route {
            path,
            file,
            links,
            dirs,
        }
    }

    /// Watches every directory of the route that exists (at least one must).
    fn watch(&self, tx: &mpsc::Sender<Msg>) -> notify::Result<RecommendedWatcher> {
        let tx = tx.clone();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(Msg::Event(event));
        })?;
        let mut watched = 0;
        let mut first_error = None;
        for (dir, id) in &self.dirs {
            if id.is_none() {
                continue;
            }
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => watched += 1,
                Err(e) => {
                    tracing::debug!("cannot watch {}: {e}", dir.display());
                    first_error.get_or_insert(e);
                }
            }
        }
        match (watched, first_error) {
            (0, Some(e)) => Err(e),
            (0, None) => Err(notify::Error::path_not_found().add_path(self.path.clone())),
            _ => Ok(watcher),
        }
    }

    /// Whether an event can change what the path holds.
    fn counts(&self, event: &notify::Event) -> bool {
        if event.need_rescan() || event.paths.is_empty() {
            return true;
        }
        if matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
        {
            return false;
        }
        event.paths.iter().any(|p| {
            self.file.contains(p) || self.links.contains(p) || self.dirs.iter().any(|(d, _)| d == p)
        })
    }

    fn is_file(&self, event: &notify::Event) -> bool {
        event.paths.iter().any(|p| self.file.contains(p))
    }
}

/// A path as inotify names it in events: its directory made canonical, joined with its name.
fn as_event(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

fn dedup(paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    paths
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// Whether a path is a regular file with one link: one just created by opening it.
fn new_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        #[cfg(unix)]
        let single = {
            use std::os::unix::fs::MetadataExt as _;
            m.nlink() == 1
        };
        #[cfg(not(unix))]
        let single = true;
        m.file_type().is_file() && single
    })
}

/// Which directory a path is (device and inode), if it is one.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(dir).ok().filter(|m| m.is_dir())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some((0, 0))
    }
}

/// The watcher thread's state.
struct Following {
    target: Weak<dyn Watched>,
    options: WatchOptions,
    tx: mpsc::Sender<Msg>,
    route: Route,
    watcher: Option<RecommendedWatcher>,
    /// The platform reports a writer's close (inotify).
    close_events: bool,
    /// When the debounced read is due.
    due: Option<Instant>,
    burst_started: Option<Instant>,
    /// Since when a writer holds the file open (written, not yet closed).
    writing: Option<Instant>,
}

impl Following {
    fn run(&mut self, rx: &mpsc::Receiver<Msg>) {
        let mut next_poll = Instant::now() + self.options.poll_interval;
        loop {
            let wake = self.due.map_or(next_poll, |d| d.min(next_poll));
            match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Msg::Event(Ok(event))) => {
                    self.event(&event);
                    continue;
                }
                Ok(Msg::Event(Err(e))) => {
                    metrics::watch_rescan();
                    tracing::warn!(
                        "file watcher error: {e}; re-checking the file and watching anew"
                    );
                    // The old watch may be dead (its directory replaced): set it up again
                    // after the read.
                    self.watcher = None;
                    self.due = Some(Instant::now());
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let Some(target) = self.target.upgrade() else {
                return;
            };
            let now = Instant::now();
            if self.due.is_some_and(|d| d <= now) && self.ready(now) {
                self.due = None;
                self.burst_started = None;
                target.reload();
                self.follow(now);
            }
            if next_poll <= now {
                next_poll = now + self.options.poll_interval;
                // Events already delivered come first: a file created a moment ago may be open
                // for writing.
                while let Ok(msg) = rx.try_recv() {
                    match msg {
                        Msg::Stop => return,
                        Msg::Event(Ok(event)) => self.event(&event),
                        Msg::Event(Err(_)) => self.watcher = None,
                    }
                }
                if !self.held_open(now) {
                    target.reload();
                }
                target.maintain();
                self.follow(now);
            }
        }
    }

    fn event(&mut self, event: &notify::Event) {
        if event.need_rescan() {
            metrics::watch_rescan();
            tracing::warn!("file watcher asked for a rescan (events were lost)");
            // A close may be among what was lost.
            self.writing = None;
        }
        if !self.route.counts(event) {
            return;
        }
        let now = Instant::now();
        if self.close_events && self.route.is_file(event) {
            match event.kind {
                EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any | ModifyKind::Other) => {
                    self.writing.get_or_insert(now);
                }
                // A new regular file is created by opening it for writing, and closed later
                // (a hard link, a symlink or a FIFO is created without an open, and is never
                // closed: it does not count).
                EventKind::Create(_) if event.paths.iter().any(|p| new_file(p)) => {
                    self.writing.get_or_insert(now);
                }
                // Closed by its writer, or replaced by another file.
                EventKind::Access(AccessKind::Close(AccessMode::Write))
                | EventKind::Modify(ModifyKind::Name(_))
                | EventKind::Remove(_) => self.writing = None,
                _ => {}
            }
        }
        let started = *self.burst_started.get_or_insert(now);
        // Trailing debounce, but never postponed beyond ten quiet periods.
        self.due = Some((now + self.options.debounce).min(started + self.options.debounce * 10));
    }

    /// A writer holds the file open, and has not held it for too long.
    fn held_open(&self, now: Instant) -> bool {
        self.writing
            .is_some_and(|since| now.duration_since(since) < self.options.write_timeout)
    }

    /// Whether the debounced read may happen now; if not, when to look again is set.
    fn ready(&mut self, now: Instant) -> bool {
        if let Some(since) = self.writing {
            if self.held_open(now) {
                // Read on the writer's close (an event), or when it has held the file too long.
                self.due = Some(since + self.options.write_timeout);
                return false;
            }
            tracing::warn!(
                path = %self.route.path.display(),
                "the configuration has been open for writing for {:?}; reading it anyway",
                self.options.write_timeout
            );
            self.writing = None;
        }
        let cap = *self.burst_started.get_or_insert(now) + self.options.debounce * 10;
        if !self.close_events
            && now < cap
            && std::fs::metadata(&self.route.path).is_ok_and(|m| m.len() == 0)
        {
            // An in-place write truncates before it writes: without close events, an empty
            // file is a writer between the two more often than a configuration, so it gets
            // more quiet periods (up to the burst's cap) before it is read and rejected.
            self.due = Some((now + self.options.debounce).min(cap));
            return false;
        }
        true
    }

    /// Resolves the path again after a read; watches anew when the route changed, a watched
    /// directory was replaced, or the watch is gone. A new watch is followed by another read,
    /// for what changed while there was none.
    fn follow(&mut self, now: Instant) {
        let route = Route::resolve(&self.route.path);
        if self.watcher.is_some() && route == self.route {
            return;
        }
        self.route = route;
        self.watcher = None;
        match self.route.watch(&self.tx) {
            Ok(w) => {
                self.watcher = Some(w);
                self.due = Some(now + self.options.debounce);
            }
            Err(e) => tracing::warn!(
                "cannot watch the directories of {}: {e}; polling",
                self.route.path.display()
            ),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_configmap_route_names_every_link_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(d.join("..v1")).unwrap();
        std::fs::write(d.join("..v1/features.toml"), "").unwrap();
        std::os::unix::fs::symlink("..v1", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/features.toml", d.join("features.toml")).unwrap();
        let route = Route::resolve(&d.join("features.toml"));
        assert_eq!(
            route.file,
            [d.join("features.toml"), d.join("..v1/features.toml")]
        );
        assert_eq!(route.links, [d.join("features.toml"), d.join("..data")]);
        let dirs: Vec<&PathBuf> = route.dirs.iter().map(|(d, _)| d).collect();
        assert_eq!(
            dirs,
            [&d, &d.parent().unwrap().to_path_buf(), &d.join("..v1")]
        );
    }
}
