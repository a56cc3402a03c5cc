//! Per-reader usage counters: how often each flag answered on and off.
//!
//! A [`UsageShard`] belongs to one reader, which is its only writer: a count is a relaxed load
//! and a relaxed store to a counter no other thread writes, so counting adds no shared write
//! (and no read-modify-write) to the check. Another thread (the std adapter's folder) reads the
//! counters and folds their growth into a metrics facade. Counters are `usize` and wrap; fold
//! by [`UsageShard::fold`] often enough that no counter wraps twice between folds.

use crate::sync::{self, AtomicUsize, Ordering};
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Counters for one reader: `[off, on]` per flag slot. A handle: clones share the counters (the
/// reader holds one, the folder another), and the counters are one allocation away from it, so
/// a count needs no pointer chase beyond the handle itself.
#[derive(Clone, Debug)]
pub struct UsageShard {
    counts: Arc<[[AtomicUsize; 2]]>,
}

impl UsageShard {
    /// Counters for `slots` flag slots.
    pub fn new(slots: usize) -> UsageShard {
        UsageShard {
            counts: (0..slots)
                .map(|_| [AtomicUsize::new(0), AtomicUsize::new(0)])
                .collect(),
        }
    }

    /// The number of slots this shard counts.
    pub fn slots(&self) -> usize {
        self.counts.len()
    }

    /// Whether another handle to these counters exists (a folder uses it to drop shards
    /// whose reader is gone).
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.counts) > 1
    }

    /// Counts one answer. A shard has one writer: only its reader (or thread) counts into it.
    #[inline(always)]
    pub fn count(&self, slot: usize, on: bool) {
        if let Some(pair) = self.counts.get(slot) {
            bump(pair, on);
        }
    }

    /// The same counters as a fixed-size array, for a reader of a table of capacity `N`:
    /// its slot is already known to be below `N`, so a count needs no bounds check of its own.
    /// `None` unless the shard has exactly `N` slots.
    pub fn fixed<const N: usize>(&self) -> Option<FixedShard<N>> {
        Arc::clone(&self.counts).try_into().ok().map(FixedShard)
    }

    /// The counts now: `(on, off)` per slot.
    pub fn read(&self) -> Vec<(usize, usize)> {
        self.counts
            .iter()
            .map(|[off, on]| (on.load(Ordering::Relaxed), off.load(Ordering::Relaxed)))
            .collect()
    }

    /// The counts now, `(on, off)` per slot, each counter reset to 0: the broken variant
    /// `fold_resets` of [`fold`](UsageShard::fold) (see `sync::FOLD_RESETS`), which loses the
    /// counts the owner stores between a counter's load and its reset.
    fn take(&self) -> Vec<(usize, usize)> {
        self.counts
            .iter()
            .map(|[off, on]| {
                (
                    on.swap(0, Ordering::Relaxed),
                    off.swap(0, Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Calls `f(slot, on, off)` with the growth of each slot's counts since `last` (the
    /// previous fold's reading, updated in place). Counters that wrapped are handled.
    pub fn fold(&self, last: &mut Vec<(usize, usize)>, mut f: impl FnMut(usize, usize, usize)) {
        let now = if sync::FOLD_RESETS {
            last.clear();
            self.take()
        } else {
            self.read()
        };
        last.resize(now.len(), (0, 0));
        for (slot, (n, l)) in now.iter().zip(last.iter_mut()).enumerate() {
            let on = n.0.wrapping_sub(l.0);
            let off = n.1.wrapping_sub(l.1);
            if on != 0 || off != 0 {
                f(slot, on, off);
            }
            *l = *n;
        }
    }
}

/// A [`UsageShard`]'s counters typed for a table of capacity `N` (see [`UsageShard::fixed`]).
/// Another handle to the same counters, with the same one-writer rule.
#[derive(Debug)]
pub struct FixedShard<const N: usize>(Arc<[[AtomicUsize; 2]; N]>);

impl<const N: usize> FixedShard<N> {
    /// Counts one answer; `slot` below `N` (else nothing is counted).
    #[inline(always)]
    pub fn count(&self, slot: usize, on: bool) {
        self.counters().count(slot, on);
    }

    /// The counters themselves, borrowed from this handle: a holder that keeps the handle
    /// alive (a leaked one gives `'static` counters) counts through them with one load fewer
    /// than through the handle, which points at them.
    #[inline(always)]
    pub fn counters(&self) -> Counters<'_, N> {
        Counters(&self.0)
    }
}

/// A [`FixedShard`]'s counters, borrowed (see [`FixedShard::counters`]). Same one-writer rule.
#[derive(Clone, Copy, Debug)]
pub struct Counters<'a, const N: usize>(&'a [[AtomicUsize; 2]; N]);

impl<const N: usize> Counters<'_, N> {
    /// Counts one answer; `slot` below `N` (else nothing is counted).
    #[inline(always)]
    pub fn count(self, slot: usize, on: bool) {
        if let Some(pair) = self.0.get(slot) {
            bump(pair, on);
        }
    }
}

/// One more answer in `[off, on]`.
#[inline(always)]
fn bump([off, on_count]: &[AtomicUsize; 2], on: bool) {
    // A branch on the answer, not a select: a call site's answer is predictable, so the
    // counter's address and value are known without waiting for the answer, and a run of
    // checks of one flag chains only through the counter itself. A select, or `+= on as
    // usize`, would make each count wait for the whole evaluation (benches/NOTES.md).
    let increment = |c: &AtomicUsize| {
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    };
    if on {
        increment(on_count);
    } else {
        increment(off);
    }
}
