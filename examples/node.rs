//! A node as an Alys operator would write it with Vexil.
//!
//! Worker threads import blocks, each with its own flag reader kept for the thread's life.
//! Every block is checked against one snapshot of the flags, so all its checks agree even if
//! the configuration is reloaded halfway through, and the block's log line names the version
//! (generation and SHA-256) it was imported under. The chain height goes into the evaluation
//! contexts once per block. Code away from block import (peer management, sync) asks
//! `feature_enabled!`. The configuration file is watched, and every reload is logged from the
//! subscription; Vexil's metrics are served for Prometheus; every configuration event goes to
//! the hash-chained audit log.
//!
//! ```text
//! cargo run --example node                          # until Ctrl-C
//! cargo run --example node -- --blocks 20           # imports 20 blocks, then exits
//! cargo run --example node -- --config my.toml --metrics-addr 0.0.0.0:9464
//! curl -s 127.0.0.1:9464/metrics | grep vexil_
//! ```
//!
//! Try editing `config/features.toml` while it runs: set `actor_system` to `enabled = true`
//! and `rollout_percentage = 100`. The change is logged, the next blocks name generation 2,
//! and `actor_system` is on from block 1,000,000 (its `chain_height` condition; the node
//! starts at 999,995). Then break the file: the rejection is logged with its problems, and
//! generation 2 stays in force.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use clap::Parser;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing::{error, info, warn};
use vexil::{Digest, Environment, EvaluationContext, Event, Flags, Reload, Snapshot, WatchOptions};

// `FlagId`, generated from config/features.toml by build.rs (`vexil_build::generate`): a
// misspelled flag is a compile error.
include!(concat!(env!("OUT_DIR"), "/vexil_flags.rs"));

/// The configuration bundled with the repository.
const BUNDLED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/features.toml");

/// A block-importing node whose behaviour is switched by Vexil feature flags.
#[derive(Debug, Parser)]
struct Args {
    /// The flag configuration. It is watched: an edit applies without a restart.
    #[arg(long, env = "NODE_FLAGS", default_value = BUNDLED_CONFIG)]
    config: PathBuf,
    /// Import this many blocks, then exit (by default, run until Ctrl-C).
    #[arg(long, env = "NODE_BLOCKS")]
    blocks: Option<u64>,
    /// Where Prometheus scrapes the metrics (`/metrics`).
    #[arg(long, env = "NODE_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    metrics_addr: SocketAddr,
    /// The audit log [default: vexil-node/audit.jsonl in the temporary directory].
    #[arg(long, env = "NODE_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// This node's id (what rollouts bucket on).
    #[arg(long, default_value = "node-1")]
    node_id: String,
    /// The network this node runs in.
    #[arg(long, default_value = "testnet")]
    env: Environment,
    /// The height of the first block imported.
    #[arg(long, default_value_t = 999_995)]
    start_height: u64,
    /// Milliseconds between two blocks.
    #[arg(long, default_value_t = 1000)]
    block_interval_ms: u64,
    /// Block import threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// A block, as the network hands it over.
#[derive(Debug)]
struct Block {
    height: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt().with_target(false).init();

    // The metrics recorder first: Vexil registers some of its metrics when the flags are
    // built, and a metric registered before a recorder is installed goes nowhere.
    PrometheusBuilder::new()
        .with_http_listener(args.metrics_addr)
        .install()
        .map_err(|e| format!("cannot serve metrics on {}: {e}", args.metrics_addr))?;
    info!("metrics on http://{}/metrics", args.metrics_addr);

    let audit_log = match &args.audit_log {
        Some(path) => path.clone(),
        None => std::env::temp_dir().join("vexil-node").join("audit.jsonl"),
    };
    if let Some(dir) = audit_log.parent() {
        std::fs::create_dir_all(dir)?;
    }

    // The flags. `known` gives the compiled-in flags the first slots, so that a `FlagId` is
    // its slot; a file that is missing or invalid at start is an error (the node refuses to
    // run on rules it cannot read), while a bad edit later is rejected and the last good
    // version stays in force.
    // Subscribed before `build`, so that the initial load is the first event.
    let (tx, events) = std::sync::mpsc::channel();
    let flags = Flags::builder(&args.config)
        .known(&FlagId::NAMES)
        .audit_log(&audit_log)
        .watch(WatchOptions::default())
        .subscriber(tx)
        .build()?;
    info!(
        config = %args.config.display(),
        audit_log = %audit_log.display(),
        "flags loaded"
    );
    thread::Builder::new()
        .name("flag-events".into())
        .spawn(move || log_events(events))?;

    // The process-wide flags and context, for `feature_enabled!` away from block import.
    vexil::global::install(flags.clone())?;
    let node = EvaluationContext::new(args.node_id.as_str()).with_environment(args.env);
    let head = Arc::new(Head::new(
        node.clone()
            .with_chain_height(args.start_height.saturating_sub(1)),
    ));

    // Ctrl-C (and SIGTERM, as systemd and Kubernetes stop a node) stops the network; the
    // workers import what is queued, and the audit log is flushed before exiting.
    let stop = Arc::new(AtomicBool::new(false));
    ctrlc::set_handler({
        let stop = Arc::clone(&stop);
        move || stop.store(true, Ordering::Relaxed)
    })?;

    // Import workers share one queue of blocks.
    let interval = Duration::from_millis(args.block_interval_ms);
    let (network, queue) = mpsc::channel::<Block>();
    let queue = Arc::new(Mutex::new(queue));
    let workers = (0..args.workers.max(1))
        .map(|i| {
            let worker = Worker {
                name: format!("import-{i}"),
                flags: flags.clone(),
                queue: Arc::clone(&queue),
                // Each worker keeps its own context and changes only the height per block.
                ctx: node.clone(),
                head: Arc::clone(&head),
                // Import takes about half a block interval: long enough for a reload to land
                // halfway through a block now and then.
                work: interval / 2,
            };
            thread::Builder::new()
                .name(worker.name.clone())
                .spawn(move || worker.run())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let services = thread::Builder::new().name("services".into()).spawn({
        let stop = Arc::clone(&stop);
        move || run_services(&stop)
    })?;

    // The network: a block every interval, until Ctrl-C or `--blocks`.
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && args.blocks.is_none_or(|n| sent < n) {
        network.send(Block {
            height: args.start_height + sent,
        })?;
        sent += 1;
        thread::sleep(interval);
    }
    // Closing the queue ends the workers once they have imported what it holds.
    drop(network);
    let mut imported = 0;
    for worker in workers {
        imported += worker.join().map_err(|_| "an import worker panicked")?;
    }
    stop.store(true, Ordering::Relaxed);
    services
        .join()
        .map_err(|_| "the services thread panicked")?;

    // Audit records are written by a thread of their own: wait for them before exiting.
    if !flags.flush_audit(Duration::from_secs(5)) {
        warn!("some audit records are not written yet (they are spooled beside the log)");
    }
    info!(imported, "stopped");
    Ok(())
}

/// A block import thread.
struct Worker {
    name: String,
    flags: Flags,
    queue: Arc<Mutex<Receiver<Block>>>,
    ctx: EvaluationContext,
    head: Arc<Head>,
    work: Duration,
}

impl Worker {
    /// Imports blocks until the queue closes; returns how many.
    fn run(mut self) -> u64 {
        // One reader for the thread's life: a check through it costs about a nanosecond and
        // never locks or allocates. A reader stays on its thread (it is neither Send nor Sync).
        let reader = self.flags.reader();
        let mut imported = 0;
        loop {
            let next = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .recv();
            let Ok(block) = next else {
                return imported;
            };

            // The chain height goes into this worker's context once per block: a plain store,
            // nothing is hashed or allocated. (Leave the context's `now` unset: the flags'
            // clock then gives time conditions the current time at each check.)
            self.ctx.set_chain_height(block.height);

            // One version of the flags for the whole block: every check through `rules`
            // answers from it, even if a reload is published halfway through the block, so
            // the block is imported under one consistent set of rules. Its generation and
            // SHA-256 identify that version in the log (and in the audit log and metrics).
            let rules = reader.snapshot();
            let generation = rules.generation();
            let sha256 = Digest::from(rules.digest());

            let (client, validation) = validate(&block, &rules, &self.ctx, self.work);
            let pipeline = commit(&block, &rules, &self.ctx);
            info!(
                worker = %self.name,
                height = block.height,
                generation,
                sha256 = %sha256.short(12),
                %client,
                %validation,
                %pipeline,
                "block imported"
            );
            let current = reader.generation();
            if current != generation {
                info!(
                    height = block.height,
                    "a new configuration was published while this block was imported: \
                     the block kept generation {generation}, the next one uses {current}"
                );
            }
            // A snapshot holds its version in memory: release it with the block.
            drop(rules);
            imported += 1;
            self.head.advance(block.height);

            // The thread may now wait long for the next block (a stalled sync). A pinned
            // reader would hold back the reclamation of every configuration replaced
            // meanwhile; unpinned, its next check re-pins (one fence, once per block).
            reader.quiesce();
        }
    }
}

/// Validates a block. Its flags come from the block's rules: whatever `commit` asks later
/// answers from the same version.
fn validate(
    block: &Block,
    rules: &Snapshot<'_>,
    ctx: &EvaluationContext,
    work: Duration,
) -> (&'static str, &'static str) {
    let client = if rules.check(FlagId::LighthouseV5, ctx) {
        "lighthouse-v5"
    } else {
        "lighthouse-v4"
    };
    let validation = if rules.check(FlagId::ParallelValidation, ctx) {
        "parallel"
    } else {
        "sequential"
    };
    tracing::debug!(height = block.height, client, validation, "validating");
    thread::sleep(work);
    (client, validation)
}

/// Commits a block, later in the block: other flags, from the same rules.
fn commit(block: &Block, rules: &Snapshot<'_>, ctx: &EvaluationContext) -> &'static str {
    let pipeline = if rules.check(FlagId::ActorSystem, ctx) {
        "actors"
    } else if rules.check(FlagId::FastBlockImport, ctx) {
        "pipelined"
    } else {
        "sequential"
    };
    tracing::debug!(height = block.height, pipeline, "committing");
    pipeline
}

/// The chain head: the process-wide evaluation context follows it.
struct Head;

impl Head {
    fn new(ctx: EvaluationContext) -> Head {
        vexil::global::set_context(ctx);
        Head
    }

    /// A block was imported: the process-wide context moves to its height (once per block;
    /// every `feature_enabled!` call site re-evaluates once after it). The change is made
    /// under the context's lock, so two workers finishing blocks together never move the
    /// height back.
    fn advance(&self, height: u64) {
        vexil::global::update_context(|ctx| {
            if height > ctx.chain_height() {
                ctx.set_chain_height(height);
            }
        });
    }
}

/// Peer management and sync, away from block import: a round every 200 ms until `stop`.
fn run_services(stop: &AtomicBool) {
    let mut last = None;
    while !stop.load(Ordering::Relaxed) {
        let now = services_round();
        if last != Some(now) {
            info!(peer_scoring = %now.0, sync = %now.1, "services");
            last = Some(now);
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// One round of the node's services. `feature_enabled!` checks against the process-wide
/// context and caches its answer per call site until the next reload or context change: a
/// call is a couple of loads, with no flags or context to pass around.
fn services_round() -> (&'static str, &'static str) {
    let peer_scoring = if vexil::feature_enabled!(FlagId::PeerScoringV2) {
        "v2"
    } else {
        "v1"
    };
    let sync = if vexil::feature_enabled!(FlagId::ImprovedSync) {
        "improved"
    } else {
        "classic"
    };
    (peer_scoring, sync)
}

/// Logs every configuration event: what changed, what was refused and why, the file going
/// missing and coming back, the audit log failing and recovering.
fn log_events(events: Receiver<Event>) {
    for event in events {
        match event {
            Event::Reload(Reload::Applied(change)) if change.previous.is_none() => {
                info!(
                    generation = change.generation,
                    sha256 = %change.sha256.short(12),
                    flags = change.flags.len(),
                    "configuration loaded"
                );
            }
            Event::Reload(Reload::Applied(change)) => {
                info!(
                    generation = change.generation,
                    sha256 = %change.sha256.short(12),
                    flags = %change.flags.join(","),
                    "reload applied"
                );
                // Each changed field, with its value before and after (JSON).
                for c in &change.changes {
                    let item = c.flag.as_deref().or(c.experiment.as_deref()).unwrap_or("");
                    info!("  {item}.{}: {} -> {}", c.field, c.old, c.new);
                }
            }
            Event::Reload(Reload::Rejected {
                generation,
                problems,
                ..
            }) => {
                error!("reload rejected; generation {generation} stays in force");
                for p in problems.errors() {
                    error!("  {p}");
                }
            }
            Event::Reload(Reload::Missing { generation }) => {
                warn!("reload: the file is missing; generation {generation} stays in force");
            }
            Event::Reload(Reload::Restored { generation, sha256 }) => {
                info!(
                    generation,
                    sha256 = %sha256.short(12),
                    "reload: the file is back to the version in force"
                );
            }
            Event::AuditFailed { error, pending } => {
                error!(pending, "audit log write failed: {error}");
            }
            Event::AuditRecovered { written } => {
                info!(written, "audit log writable again");
            }
            // `Unchanged` is never sent; later kinds of events are ignored.
            _ => {}
        }
    }
}
