//! Write-to-visible latency through the watcher: the time from the start of a write (rename
//! or in-place) to a reader answering from the new generation. 100 writes per style; the
//! reader is polled every 100 µs. Debounce 25 ms (the default).

use std::time::{Duration, Instant};

use vexil::{Flags, WatchOptions};
use vexil_benches::{quantile, selected};

fn version(i: usize) -> String {
    format!(
        "[features.f]\nenabled = {}\ndescription = \"version {i}\"\n",
        i % 2 == 0
    )
}

fn measure(rename: bool, writes: usize) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(&path, version(0)).unwrap();
    let flags: Flags = Flags::builder(&path)
        .watch(WatchOptions::default())
        .build()
        .unwrap();
    let reader = flags.reader();
    let mut samples = Vec::with_capacity(writes);
    for i in 1..=writes {
        let before = reader.generation();
        let start = Instant::now();
        if rename {
            let tmp = dir.path().join("features.toml.tmp");
            std::fs::write(&tmp, version(i)).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        } else {
            std::fs::write(&path, version(i)).unwrap();
        }
        while reader.generation() == before {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "write {i} never became visible"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    samples
}

fn main() {
    if !selected("latency") {
        return;
    }
    println!(
        "write-to-visible through the watcher (debounce {:?})",
        WatchOptions::default().debounce
    );
    println!(
        "{:<10} {:>8} {:>8} {:>8}",
        "write", "p50 ms", "p99 ms", "max ms"
    );
    for (name, rename) in [("rename", true), ("in-place", false)] {
        let mut s = measure(rename, 100);
        let max = s.iter().cloned().fold(0.0, f64::max);
        println!(
            "{name:<10} {:>8.2} {:>8.2} {:>8.2}",
            quantile(&mut s, 0.5),
            quantile(&mut s, 0.99),
            max
        );
    }
}
