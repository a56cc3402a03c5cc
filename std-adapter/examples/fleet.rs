//! Evaluates a configuration for a simulated fleet and one named node: the quick-start job
//! (`make run`).
//!
//! ```text
//! cargo run -p vexil --example fleet -- config/features.toml [NODES]
//! ```

include!(concat!(env!("OUT_DIR"), "/vexil_flags.rs"));

use std::collections::BTreeMap;
use std::process::ExitCode;

use vexil::{Environment, EvaluationContext, FlagTable};

fn node(i: usize) -> EvaluationContext {
    let environment = Environment::ALL[i % Environment::ALL.len()];
    // The first three nodes are the named canaries of the bundled configuration.
    let name = if i < 3 {
        format!("canary-{}", i + 1)
    } else {
        format!("node-{i}")
    };
    let mut ctx = EvaluationContext::new(name)
        .with_environment(environment)
        .with_chain_height(400_000 + (i as u64 * 7_919) % 800_000)
        .with_sync_progress(if i % 10 == 0 { 0.5 } else { 1.0 })
        .with_validator_key(format!("0x{:040x}", i * 2_654_435_761))
        .with_attribute("region", ["eu-west", "eu-central", "us-east"][i % 3])
        .with_attribute("client_version", ["2.0.3", "2.1.0", "2.2.0-rc.1"][i % 3])
        .with_ip_address(std::net::IpAddr::from([
            10,
            0,
            (i / 256) as u8,
            (i % 256) as u8,
        ]));
    ctx.set_now(chrono::Utc::now());
    ctx
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "config/features.toml".to_owned());
    let nodes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000);

    let config = match vexil::validate::read_config(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let table: FlagTable = FlagTable::new(&FlagId::NAMES);
    let compiled = match table.compile(&config) {
        Ok(c) => c,
        Err(problems) => {
            for p in problems.0 {
                eprintln!("{path}: {p}");
            }
            return ExitCode::FAILURE;
        }
    };
    for w in &compiled.warnings {
        eprintln!("{path}: {w}");
    }
    let generation = table.publish(compiled.table);
    let flags = table.reader();

    // The hot-path API: generated ids, one reader per thread.
    let canary = vexil::now(
        EvaluationContext::new("canary-1")
            .with_environment(Environment::Canary)
            .with_chain_height(1_200_000)
            .with_sync_progress(1.0)
            .with_ip_address(std::net::IpAddr::from([10, 1, 0, 1])),
    );
    println!(
        "{path}: generation {generation}, {} flags",
        config.features.len()
    );
    println!(
        "parallel_validation on canary-1: {}\n",
        flags.check(FlagId::ParallelValidation, &canary)
    );

    let fleet: Vec<EvaluationContext> = (0..nodes).map(node).collect();
    let snapshot = flags.snapshot();
    println!(
        "{:<24} {:>7} {:<28} {:<22} canary-1",
        "flag", "on", "share", "top reason"
    );
    for (index, name, _) in snapshot.flags() {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        let mut on = 0;
        for ctx in &fleet {
            let e = snapshot.explain(index, ctx);
            on += e.enabled as usize;
            *reasons.entry(e.reason.as_str()).or_default() += 1;
        }
        let top = reasons
            .iter()
            .max_by_key(|(_, n)| **n)
            .map_or("", |(r, _)| r);
        let share = on as f64 / nodes as f64;
        let bar = "#".repeat((share * 20.0).round() as usize);
        let mine = snapshot.explain(index, &canary);
        println!(
            "{name:<24} {on:>7} {:<28} {top:<22} {} ({})",
            format!("{bar:<20} {:>5.1}%", share * 100.0),
            if mine.enabled { "on" } else { "off" },
            mine.reason
        );
    }
    for experiment in snapshot.experiments() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for ctx in &fleet {
            *counts
                .entry(snapshot.variant(experiment, ctx).unwrap_or("(none)"))
                .or_default() += 1;
        }
        println!("\nexperiment {experiment}: {counts:?}");
    }
    ExitCode::SUCCESS
}
