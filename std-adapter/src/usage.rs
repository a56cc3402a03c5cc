//! Usage counting: every answer, wherever it is given, counted without a shared write on the
//! check path, and folded into `vexil_checks_total` off it.
//!
//! Each [`Flags`](crate::Flags) has one [`Registry`] of usage shards (per-slot `on`/`off`
//! counters written by one thread each). An answer is counted in a shard by whoever gives it:
//!
//! * a reader ([`Flags::reader`](crate::Flags::reader)) owns its shard;
//! * [`Flags::check`](crate::Flags::check) and `check_name` count in the calling thread's shard
//!   for that `Flags` (a thread-local list with an entry per `Flags` the thread checked);
//! * a cached `feature_enabled!` answer counts in the calling thread's leased shard of the
//!   installed flags ([`count_hit`]): a thread-local holding the shard's counters, so finding
//!   them is one load. When the thread ends its shard goes back to a spare list for the next
//!   thread, so there are never more such shards than threads that counted at one time.
//!
//! An answer given while the thread's thread-locals are torn down (a destructor that checks a
//! flag) is counted in a shard of its own. [`Registry::fold`] adds every shard's growth since
//! the last fold to the facade (the watcher does it on each poll) and drops the shards whose
//! holder is gone, once folded.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use vexil_core::usage::{Counters, FixedShard, UsageShard};
use vexil_core::DEFAULT_CAPACITY;

use crate::metrics::CHECKS_TOTAL;

/// The usage shards of every reader and thread of one [`Flags`](crate::Flags), and what was
/// folded of each.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Tells this registry's entries apart in the threads' lists.
    id: usize,
    /// Slots per shard (the table's capacity).
    slots: usize,
    shards: Mutex<Vec<Folded>>,
}

/// A shard and its counts at the last fold.
#[derive(Debug)]
struct Folded {
    shard: UsageShard,
    last: Vec<(usize, usize)>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Per thread: its shard of each registry it counted `Flags::check` answers in.
    static SHARDS: RefCell<Vec<(usize, UsageShard)>> = const { RefCell::new(Vec::new()) };
}

impl Registry {
    /// A registry for a table of `slots` slots.
    pub(crate) fn new(slots: usize) -> Registry {
        Registry {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slots,
            shards: Mutex::new(Vec::new()),
        }
    }

    /// A new shard, registered for folding.
    pub(crate) fn shard(&self) -> UsageShard {
        let shard = UsageShard::new(self.slots);
        self.shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Folded {
                shard: shard.clone(),
                last: Vec::new(),
            });
        shard
    }

    /// A new shard typed for a table of `N` slots (`N` is the registry's capacity).
    pub(crate) fn fixed<const N: usize>(&self) -> FixedShard<N> {
        match self.shard().fixed::<N>() {
            Some(fixed) => fixed,
            None => unreachable!("a registry's shards have the table's capacity"),
        }
    }

    /// Counts one answer in the calling thread's shard of this registry.
    pub(crate) fn count(&self, slot: usize, on: bool) {
        let counted = SHARDS.try_with(|shards| {
            let mut shards = shards.borrow_mut();
            let i = match shards.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    shards.push((self.id, self.shard()));
                    shards.len() - 1
                }
            };
            shards[i].1.count(slot, on);
        });
        if counted.is_err() {
            self.count_alone(slot, on);
        }
    }

    /// Counts one answer in a shard of its own, for an answer given while the thread's
    /// thread-locals are torn down: folded like any other, then dropped.
    #[cold]
    fn count_alone(&self, slot: usize, on: bool) {
        self.shard().count(slot, on);
    }

    /// Adds every shard's growth since the last fold to `vexil_checks_total`, naming each
    /// slot with `name`; drops shards whose holder is gone (after folding them).
    pub(crate) fn fold(&self, name: impl Fn(usize) -> Option<String>) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        for Folded { shard, last } in shards.iter_mut() {
            shard.fold(last, |slot, on, off| {
                let flag = name(slot).unwrap_or_else(|| format!("#{slot}"));
                if on > 0 {
                    metrics::counter!(CHECKS_TOTAL, "flag" => flag.clone(), "result" => "true")
                        .increment(on as u64);
                }
                if off > 0 {
                    metrics::counter!(CHECKS_TOTAL, "flag" => flag, "result" => "false")
                        .increment(off as u64);
                }
            });
        }
        shards.retain(|f| f.shard.is_shared());
    }
}

// === the call sites' cached answers ===

type Shard = FixedShard<DEFAULT_CAPACITY>;

/// Shards of threads that have ended, for the threads that come after them. A shard is made
/// (and leaked) only when no spare one is left, so there are never more than the threads that
/// counted cached answers at one time; each stays registered for folding.
static SPARE: Mutex<Vec<&'static Shard>> = Mutex::new(Vec::new());

/// A thread's hold on its shard: hands it back to [`SPARE`] when the thread ends.
struct Lease(Cell<Option<&'static Shard>>);

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(shard) = self.0.take() {
            // Stop counting into it first: it is about to have another writer.
            HITS.with(|hits| hits.set(None));
            SPARE.lock().unwrap_or_else(|e| e.into_inner()).push(shard);
        }
    }
}

thread_local! {
    /// The counters of this thread's shard, for cached answers. Without a destructor, so
    /// reading it is one load (a thread-local with one checks its state first); the counters
    /// themselves, not the shard, so a count needs no second load to find them (the shard is
    /// leaked: they live as long as the process).
    static HITS: Cell<Option<Counters<'static, DEFAULT_CAPACITY>>> = const { Cell::new(None) };
    static LEASE: Lease = const { Lease(Cell::new(None)) };
}

/// Counts a cached `feature_enabled!` answer in this thread's shard of the installed flags'
/// registry (`installed` finds it, on the thread's first count only).
#[inline(always)]
pub(crate) fn count_hit(slot: usize, on: bool, installed: fn() -> Option<&'static Registry>) {
    match HITS.with(Cell::get) {
        Some(counters) => counters.count(slot, on),
        None => count_hit_first(slot, on, installed),
    }
}

/// This thread's first cached answer (it leases a shard), or one given while its thread-locals
/// are torn down (counted in a shard of its own).
#[cold]
#[inline(never)]
fn count_hit_first(slot: usize, on: bool, installed: fn() -> Option<&'static Registry>) {
    let Some(registry) = installed() else {
        return;
    };
    let leased = LEASE.try_with(|lease| {
        let shard = lease.0.get().unwrap_or_else(|| {
            let spare = SPARE.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let shard = spare.unwrap_or_else(|| Box::leak(Box::new(registry.fixed())));
            lease.0.set(Some(shard));
            shard
        });
        HITS.with(|hits| hits.set(Some(shard.counters())));
        shard.count(slot, on);
    });
    if leased.is_err() {
        registry.count_alone(slot, on);
    }
}
