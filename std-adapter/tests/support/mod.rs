#![allow(dead_code)]
//! Shared helpers of the adapter's integration tests: versions of a configuration file and
//! the ways tools replace a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, Snapshotter};
use vexil::{Digest, Event, Reload};

/// A liveness bound for waits on events (never a measurement: tests wait for events, and
/// this only stops a broken build from hanging).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Version `i` of a configuration: `flag_on` is on for odd versions, and the description
/// carries the version number so every version has its own content hash.
pub fn version(i: usize) -> String {
    format!(
        "[features.flag_on]\nenabled = {}\ndescription = \"version {i}\"\n\
         [features.always]\nenabled = true\nrollout_percentage = 100\n\
         [features.padding]\nenabled = false\ndescription = \"{}\"\n",
        i % 2 == 1,
        "x".repeat(200 + i % 7)
    )
}

pub fn invalid(i: usize) -> String {
    format!(
        "[features.flag_on]\nenabled = true\nrollout_percentage = {}\n",
        150 + i
    )
}

/// The next reload that is not `Missing` (events about the audit log are passed over too), or
/// a panic after [`PATIENCE`].
pub fn next_event(events: &Receiver<Event>) -> Reload {
    loop {
        match events.recv_timeout(PATIENCE) {
            Ok(Event::Reload(Reload::Missing { .. })) => continue,
            Ok(Event::Reload(r)) => return r,
            Ok(_) => continue,
            Err(e) => panic!("no event within {PATIENCE:?}: {e}"),
        }
    }
}

/// Waits for the applied event whose content hash is `sha256`, failing on a rejection or on
/// an applied version that was never written whole.
pub fn wait_applied(events: &Receiver<Event>, sha256: Digest, written: &[Digest]) -> u64 {
    loop {
        match next_event(events) {
            Reload::Applied(c) => {
                assert!(
                    written.contains(&c.sha256),
                    "published content that was never written whole: {}",
                    c.sha256
                );
                if c.sha256 == sha256 {
                    return c.generation;
                }
            }
            Reload::Rejected { problems, .. } => panic!("unexpected rejection:\n{problems}"),
            other => panic!("unexpected event: {other:?}"),
        }
    }
}

/// How a tool puts new content at a path.
#[derive(Clone, Copy, Debug)]
pub enum Style {
    /// Truncate and write the same inode.
    InPlace,
    /// Write a temporary file beside it, rename over (vim, `sed -i`).
    Rename,
    /// Delete, then create anew.
    DeleteRecreate,
    /// JetBrains safe write: write `x___jb_tmp___`, rename the original to `x___jb_old___`,
    /// rename the temporary over, delete the old one.
    JetBrains,
}

pub fn write(style: Style, path: &Path, content: &str) {
    let tmp = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    match style {
        Style::InPlace => std::fs::write(path, content).unwrap(),
        Style::Rename => {
            let t = tmp(".swp");
            std::fs::write(&t, content).unwrap();
            std::fs::rename(&t, path).unwrap();
        }
        Style::DeleteRecreate => {
            let _ = std::fs::remove_file(path);
            std::fs::write(path, content).unwrap();
        }
        Style::JetBrains => {
            let (t, old) = (tmp("___jb_tmp___"), tmp("___jb_old___"));
            std::fs::write(&t, content).unwrap();
            let _ = std::fs::rename(path, &old);
            std::fs::rename(&t, path).unwrap();
            let _ = std::fs::remove_file(&old);
        }
    }
}

/// A Kubernetes ConfigMap mount: `dir/features.toml -> ..data/features.toml`,
/// `..data -> ..<version>`, swapped atomically by renaming a new symlink over `..data`.
pub struct ConfigMap {
    pub dir: PathBuf,
    n: usize,
}

impl ConfigMap {
    pub fn new(dir: &Path, content: &str) -> ConfigMap {
        let mut cm = ConfigMap {
            dir: dir.to_path_buf(),
            n: 0,
        };
        cm.publish(content);
        std::os::unix::fs::symlink("..data/features.toml", dir.join("features.toml")).unwrap();
        cm
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("features.toml")
    }

    pub fn publish(&mut self, content: &str) {
        self.n += 1;
        let version = format!("..2024_01_01_00_00_00.{}", self.n);
        std::fs::create_dir(self.dir.join(&version)).unwrap();
        std::fs::write(self.dir.join(&version).join("features.toml"), content).unwrap();
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        if self.n > 1 {
            let old = format!("..2024_01_01_00_00_00.{}", self.n - 1);
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

/// One snapshot: `name{labels}` -> (value, whether it adds up across snapshots).
pub fn read(snapshotter: &Snapshotter) -> HashMap<String, (f64, bool)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            let v = match value {
                DebugValue::Counter(c) => (c as f64, true),
                DebugValue::Gauge(g) => (g.into_inner(), false),
                DebugValue::Histogram(h) => (h.len() as f64, true),
            };
            (name, v)
        })
        .collect()
}

/// A configuration at version 1 in a temporary directory, loaded with an audit log beside it
/// and its first record written: the directory (keep it), the config path, the log path and
/// the flags.
pub fn audited() -> (tempfile::TempDir, PathBuf, PathBuf, vexil::Flags) {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = (
        dir.path().join("features.toml"),
        dir.path().join("audit.jsonl"),
    );
    std::fs::write(&path, version(1)).unwrap();
    let flags: vexil::Flags = vexil::Flags::builder(&path)
        .audit_log(&log)
        .build()
        .unwrap();
    assert!(flags.flush_audit(PATIENCE));
    (dir, path, log, flags)
}
