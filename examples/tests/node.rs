//! Runs `examples/node.rs` for a few seconds against a copy of the bundled configuration and
//! edits the copy while it runs.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::example;

/// The configuration bundled with the repository.
const BUNDLED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/features.toml");

/// Generous: the node needs a fraction of this unless the machine is very busy.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Thirty blocks below height 1,000,000, thirty from it.
const START: u64 = 999_970;
const BLOCKS: u64 = 60;

#[test]
fn node_imports_blocks_under_one_version_each_and_logs_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("features.toml");
    let original = std::fs::read_to_string(BUNDLED_CONFIG).unwrap();
    std::fs::write(&config, &original).unwrap();
    let audit_log = dir.path().join("audit").join("audit.jsonl");
    let metrics = free_address();

    let mut command = Command::new(example("node"));
    command
        .arg("--config")
        .arg(&config)
        .arg("--audit-log")
        .arg(&audit_log)
        .args(["--metrics-addr", &metrics.to_string()])
        .args(["--blocks", &BLOCKS.to_string(), "--block-interval-ms", "50"])
        .args(["--start-height", &START.to_string()]);
    let mut node = Running::start(command);

    node.wait_for("block imported", TIMEOUT, |l| l.contains("block imported"));

    // Turn on `actor_system` (it has a `chain_height = 1000000` condition) and `improved_sync`
    // (targeted at testnet, the node's environment), written the way editors save: a new file
    // renamed over the old one.
    let edited = original
        .replacen(
            "[features.actor_system]\nenabled = false\nrollout_percentage = 0\n",
            "[features.actor_system]\nenabled = true\nrollout_percentage = 100\n",
            1,
        )
        .replacen(
            "[features.improved_sync]\nenabled = false\nrollout_percentage = 0\n",
            "[features.improved_sync]\nenabled = true\nrollout_percentage = 100\n",
            1,
        );
    assert_eq!(
        edited
            .matches("enabled = true\nrollout_percentage = 100\n")
            .count(),
        3
    );
    save(&config, &edited);
    let applied = node.wait_for("the edit applied", TIMEOUT, |l| {
        l.contains("reload applied") && l.contains("generation=2")
    });
    assert!(
        applied.contains("flags=actor_system,improved_sync"),
        "{applied}"
    );
    let sha256 = field(&applied, "sha256").to_owned();
    node.wait_for("the changed field", TIMEOUT, |l| {
        l.contains("actor_system.enabled: false -> true")
    });
    // `feature_enabled!` follows the reload.
    node.wait_for("improved sync", TIMEOUT, |l| {
        l.contains("services") && l.contains("sync=improved")
    });
    let scrape = get_metrics(metrics);
    assert!(scrape.contains("vexil_config_generation 2"), "{scrape}");

    // A broken edit is rejected with its problem; generation 2 stays in force.
    save(
        &config,
        &edited.replacen("enabled = true\n", "enabled = \"yes\"\n", 1),
    );
    node.wait_for("the rejection", TIMEOUT, |l| {
        l.contains("reload rejected; generation 2 stays in force")
    });
    let problem = node.wait_for("the problem", TIMEOUT, |l| l.contains("error:"));
    assert!(
        problem.contains("features.toml:") && problem.contains("actor_system"),
        "{problem}"
    );
    let scrape = get_metrics(metrics);
    assert!(scrape.contains("vexil_config_generation 2"), "{scrape}");
    assert!(
        scrape.contains("vexil_config_last_reload_successful 0"),
        "{scrape}"
    );

    // `--blocks`: the node stops by itself, successfully.
    node.finish(TIMEOUT);
    let stopped = node.seen.iter().find(|l| l.contains(" stopped "));
    assert!(
        stopped.is_some_and(|l| l.contains(&format!("imported={BLOCKS}"))),
        "{:#?}",
        node.seen
    );

    // Every block once, each logged with the version it was imported under, and each
    // imported consistently with that version: under generation 1 (actor_system off) never
    // with actors; under generation 2 with actors exactly from height 1,000,000.
    let blocks: Vec<&String> = node
        .seen
        .iter()
        .filter(|l| l.contains("block imported"))
        .collect();
    let heights: BTreeSet<u64> = blocks
        .iter()
        .map(|l| field(l, "height").parse().unwrap())
        .collect();
    assert_eq!(heights, (START..START + BLOCKS).collect(), "{blocks:#?}");
    assert_eq!(blocks.len() as u64, BLOCKS);
    let (mut before, mut after_low, mut after_high) = (0, 0, 0);
    for line in &blocks {
        let height: u64 = field(line, "height").parse().unwrap();
        let actors = field(line, "pipeline") == "actors";
        match field(line, "generation") {
            "1" => {
                assert!(!actors, "{line}");
                before += 1;
            }
            "2" => {
                assert_eq!(field(line, "sha256"), sha256, "{line}");
                assert_eq!(actors, height >= 1_000_000, "{line}");
                if height >= 1_000_000 {
                    after_high += 1;
                } else {
                    after_low += 1;
                }
            }
            other => panic!("generation {other}: {line}"),
        }
    }
    assert!(before > 0 && after_high > 0, "{blocks:#?}");
    // The reload landed after the first block and before height 1,000,000 (thirty blocks in).
    assert!(after_low > 0, "{blocks:#?}");

    // The audit log: loaded, applied, rejected, hash-chained.
    assert_eq!(vexil::audit::verify(&audit_log), Ok(3));
}

/// The value of `name=` in a log line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=");
    let start = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    line[start..].split(' ').next().unwrap_or_default()
}

/// Replaces the file the way editors save: a new file renamed over it.
fn save(path: &Path, content: &str) {
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A local address nothing listens on (the node binds it a moment later).
fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The metrics endpoint's answer (HTTP/1.1, one request).
fn get_metrics(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("the metrics endpoint listens");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// A running example whose output is read line by line as it comes.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// Every line of standard output read so far.
    seen: Vec<String>,
}

impl Running {
    /// Starts `command` with its standard output and error piped.
    fn start(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Running {
            child,
            lines,
            stderr: Some(stderr),
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `want` (and returns it), failing with the output so
    /// far if none does within `timeout` or before the output ends.
    fn wait_for(&mut self, what: &str, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no {what} within {timeout:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("the output ended without {what}"));
                }
            }
        }
    }

    /// Waits for the process to exit (at most `timeout`), reading the rest of its output;
    /// fails unless it exits successfully.
    fn finish(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("still running after {timeout:?}"));
                }
            }
        }
        let status = self.child.wait().expect("wait for the example");
        if !status.success() {
            self.fail(&format!("exited with {status}"));
        }
    }

    /// Kills the process and panics with `message` and everything it printed.
    fn fail(&mut self, message: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        panic!(
            "{message}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion leaves no node running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
