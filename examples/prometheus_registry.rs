//! Vexil's metrics in a node's existing `prometheus::Registry`, through the maintained
//! `metrics-prometheus` bridge (docs/prometheus.md explains the choice of versions).
//!
//! Vexil emits its metrics through the `metrics` facade; a node that serves a
//! `prometheus::Registry` of its own (as Alys does) installs the bridge's recorder on that
//! registry, and Vexil's metrics appear beside the node's in the same scrape.
//!
//! ```text
//! cargo run --example prometheus_registry                 # the bundled configuration
//! cargo run --example prometheus_registry -- my.toml
//! ```
//!
//! It prints the registry in the text exposition format and fails if Vexil's metrics are not
//! in it.

use std::error::Error;
use std::path::PathBuf;

use vexil::{Environment, EvaluationContext, Flags};

include!(concat!(env!("OUT_DIR"), "/vexil_flags.rs"));

/// The configuration bundled with the repository.
const BUNDLED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/features.toml");

fn main() -> Result<(), Box<dyn Error>> {
    let config = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from(BUNDLED_CONFIG), PathBuf::from);

    // The node's registry, with the node's own metrics already in it.
    let registry = prometheus::Registry::new();
    let blocks = prometheus::IntCounter::new("node_blocks_imported_total", "Blocks imported")?;
    registry.register(Box::new(blocks.clone()))?;

    // The bridge: a `metrics` recorder that registers every metric emitted through the facade
    // in this registry. Installed before the flags are built, since Vexil registers some of
    // its metrics then (a metric registered before any recorder is installed goes nowhere).
    //
    // Vexil's two histograms are given buckets of their own: the bridge would otherwise use
    // prometheus's defaults (5 ms to 10 s), and a check takes nanoseconds and a reload well
    // under a millisecond for a small file, so every sample would land in the first bucket.
    metrics_prometheus::Recorder::builder()
        .with_registry(&registry)
        .with_metric(prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                vexil::metrics::CHECK_DURATION,
                "Sampled durations of flag checks",
            )
            // 25 ns to 400 us.
            .buckets(prometheus::exponential_buckets(25e-9, 4.0, 8)?),
        )?)
        .with_metric(prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                vexil::metrics::RELOAD_DURATION,
                "Durations of configuration reloads (read, validate, compile, publish)",
            )
            // 100 us to 200 ms.
            .buckets(prometheus::exponential_buckets(100e-6, 2.0, 12)?),
        )?)
        .build_and_install();

    let flags = Flags::builder(config).known(&FlagId::NAMES).build()?;
    let ctx = EvaluationContext::new("node-1").with_environment(Environment::Testnet);
    // 2,048 checks: `Flags::check` times one check in 1,024 per thread
    // (`vexil::metrics::SAMPLE_EVERY`), so the duration histogram gets two samples.
    for _ in 0..1024 {
        flags.check(FlagId::ParallelValidation, &ctx);
        flags.check(FlagId::LighthouseV5, &ctx);
        blocks.inc();
    }
    // Checks are counted per thread and folded into `vexil_checks_total` off the hot path: by
    // the watcher on each poll when the flags are watched, or by `maintain`.
    flags.maintain();

    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather())?;
    print!("{text}");
    for name in [
        "node_blocks_imported_total",
        "vexil_checks_total",
        "vexil_config_generation",
    ] {
        if !text.contains(name) {
            return Err(format!("{name} is not in the registry").into());
        }
    }
    Ok(())
}
