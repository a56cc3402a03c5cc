//! Memory of a compiled table: the bytes its allocations hold once compilation is done (the
//! table itself, with `N` = 1024 slots, and everything it owns), counted by a global
//! allocator. Printed as a table for BENCHMARKS.md; nothing is timed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator with the same arguments; the
// counter is only arithmetic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    if !vexil_benches::selected("memory") {
        return;
    }
    println!("| configuration | flags | compiled table |");
    println!("|---|---:|---:|");
    for (name, text) in [
        ("bundled + bench flags", vexil_benches::bench_config_text()),
        (
            "1,000 flags of every kind",
            vexil_benches::generated_config(1000),
        ),
        (
            "1,000 flags x 5 rules over 20 segments",
            vexil_benches::generated_rules_config(1000),
        ),
    ] {
        let config = vexil::validate::parse_config(&text, "memory.toml").expect("parses");
        let before = LIVE.load(Ordering::Relaxed);
        let compiled =
            vexil_core::compile::<{ vexil::DEFAULT_CAPACITY }>(&config, &[]).expect("compiles");
        let held = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "| {name} | {} | {:.1} KiB |",
            compiled.table.len(),
            held as f64 / 1024.0
        );
        drop(compiled);
    }
}
