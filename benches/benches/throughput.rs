//! Checks per second and per-check latency with 1 and 2 checking threads while a writer
//! publishes a new table every 10 ms. Each checking thread has its own reader with usage
//! counting on, and checks a mix of plain, rollout and target-list flags. Latency is the time
//! of a batch of 256 checks divided by 256 (timing single checks would measure the clock);
//! p50 and p99 are over batches.
//!
//! Then `feature_enabled!` calls per second with 1 and 2 threads calling one site, with the
//! call-site caches off, as they are inside the window around a time boundary: every call
//! evaluates against the process-wide context.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vexil::{EvaluationContext, FlagIndex};
use vexil_benches::{bench_config_text, bench_flags, quantile, selected, FlagId};
use vexil_core::FlagTable;

const BATCH: usize = 256;

struct Run {
    checks_per_second: f64,
    p50_ns: f64,
    p99_ns: f64,
    publications: u64,
}

fn run(threads: usize, duration: Duration) -> Run {
    let config = vexil::validate::parse_config(&bench_config_text(), "bench.toml").unwrap();
    let mut flipped = config.clone();
    flipped
        .features
        .get_mut("fast_block_import")
        .unwrap()
        .rollout_percentage = Some(75.0);
    let table: Arc<FlagTable> = Arc::new(FlagTable::new(&FlagId::NAMES));
    table.publish(table.compile(&config).unwrap().table);
    let stop = Arc::new(AtomicBool::new(false));
    let s = table.snapshot();
    let mix: Vec<FlagIndex> = [
        "parallel_validation",
        "fast_block_import",
        "bench_half",
        "bench_targets",
    ]
    .iter()
    .map(|n| s.index_of(n).unwrap())
    .collect();
    drop(s);

    let writer = {
        let (table, stop) = (Arc::clone(&table), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                let c = if n % 2 == 0 { &flipped } else { &config };
                table.publish(table.compile(c).unwrap().table);
                n += 1;
            }
            n
        })
    };
    let checkers: Vec<_> = (0..threads)
        .map(|t| {
            let (table, stop, mix) = (Arc::clone(&table), Arc::clone(&stop), mix.clone());
            std::thread::spawn(move || {
                let shard = vexil_core::usage::UsageShard::new(table.capacity());
                let reader = table.arc_reader().with_usage(shard);
                let ctx = EvaluationContext::new(format!("node-{t}"));
                let mut batches = Vec::with_capacity(1 << 20);
                let mut on = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    for i in 0..BATCH {
                        on += reader.check(black_box(mix[i & 3]), black_box(&ctx)) as usize;
                    }
                    batches.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
                }
                black_box(on);
                batches
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let publications = writer.join().unwrap();
    let mut samples: Vec<f64> = checkers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let checks = samples.len() as f64 * BATCH as f64;
    Run {
        checks_per_second: checks / duration.as_secs_f64(),
        p50_ns: quantile(&mut samples, 0.50),
        p99_ns: quantile(&mut samples, 0.99),
        publications,
    }
}

fn site(flag: FlagId) -> bool {
    vexil::feature_enabled!(flag)
}

/// `feature_enabled!` calls per second, summed over `threads` threads.
fn evaluated_calls(threads: usize, duration: Duration) -> f64 {
    let stop = AtomicBool::new(false);
    let calls: u64 = std::thread::scope(|s| {
        let checkers: Vec<_> = (0..threads)
            .map(|_| {
                let stop = &stop;
                s.spawn(move || {
                    let mut calls = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..BATCH / 2 {
                            assert!(site(black_box(FlagId::ParallelValidation)));
                            assert!(!site(black_box(FlagId::GovernanceIntegration)));
                        }
                        calls += BATCH as u64;
                    }
                    calls
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        checkers.into_iter().map(|c| c.join().unwrap()).sum()
    });
    calls as f64 / duration.as_secs_f64()
}

fn main() {
    if !selected("throughput") {
        return;
    }
    let duration = Duration::from_secs(3);
    println!("throughput under reload (a publication every 10 ms), {duration:?} per run");
    println!(
        "{:<8} {:>16} {:>10} {:>10} {:>13}",
        "threads", "checks/s", "p50 ns", "p99 ns", "publications"
    );
    let mut results = Vec::new();
    for threads in [1, 2] {
        let r = run(threads, duration);
        println!(
            "{threads:<8} {:>16.0} {:>10.2} {:>10.2} {:>13}",
            r.checks_per_second, r.p50_ns, r.p99_ns, r.publications
        );
        results.push(r.checks_per_second);
    }
    println!("2 threads / 1 thread: {:.2}x", results[1] / results[0]);

    let (flags, _dir) = bench_flags();
    vexil::global::install(flags).expect("installed once");
    vexil::global::set_context(EvaluationContext::new("node-4711"));
    vexil::__private::set_caching(false);
    println!("feature_enabled! with the call-site caches off (one site, two flags in turn), {duration:?} per run");
    let per_second: Vec<f64> = [1, 2]
        .into_iter()
        .map(|threads| {
            let r = evaluated_calls(threads, duration);
            println!("{threads:<8} {r:>16.0} evaluated calls/s");
            r
        })
        .collect();
    println!(
        "2 threads / 1 thread: {:.2}x",
        per_second[1] / per_second[0]
    );
}
