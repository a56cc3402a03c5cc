//! The flag table and its lock-free publication. All of the crate's `unsafe` lives here.
//!
//! ## Protocol
//!
//! * The table holds one pointer to the current [`Table`], swapped by compare-and-swap
//!   (`AcqRel`) on publication; the replaced table is retired to a crossbeam-epoch
//!   [`Collector`] owned by the `FlagTable` (no_std has no global collector) and freed once no
//!   pinned participant can still hold it.
//! * A [`Reader`] is a per-thread handle that stays pinned, and holds the table it last loaded
//!   (protected by that standing pin, so no fence is paid per call). A check reads that
//!   table's kind byte for the slot, and for a rollout does one wyhash mix; it does not load
//!   the shared pointer. Instead, a publication marks every kind byte of the table it replaces
//!   as retired before its swap (so once a publication has returned, every older table is
//!   marked, however publications race), and a retired byte fails the plain kinds' one
//!   compare. Only then does the check go out of line: a re-pin (cheap: no fence) and a load
//!   of the shared pointer. So retired tables are freed after the next publication that every
//!   reader has observed. The reader's other methods (`explain`, `check_name`, `snapshot`,
//!   `generation`) compare the shared pointer with the held one.
//! * A [`Snapshot`] holds its own (nested, fence-free) pin and one table pointer, so several
//!   checks answer from one version; while a snapshot lives, its reader does not re-pin.
//! * The generation counter is raised (`fetch_max`, `Release`) after each successful swap, so
//!   it never goes backwards even when publications race.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use crossbeam_epoch::{Collector, Guard, LocalHandle};

use crate::answer::{Evaluation, Resolution, Resolved, Value};
use crate::compile;
use crate::compiled::{Clock, Compiled, CompiledTable, Table, RETIRED};
use crate::context::EvaluationContext;
use crate::diagnostics::Diagnostics;
use crate::flag_key::{FlagIndex, FlagKey};
use crate::model::Config;
use crate::sync::{self, AtomicPtr, AtomicU64, Marking, Ordering};
use crate::usage::{FixedShard, UsageShard};

/// The default capacity of a [`FlagTable`]: the most flags one configuration may define.
pub const DEFAULT_CAPACITY: usize = 1024;

/// A fixed-capacity table of flags, published lock-free.
///
/// Writers [`compile`](FlagTable::compile) a configuration and [`publish`](FlagTable::publish)
/// it; readers check flags through a per-thread [`Reader`] or a [`Snapshot`]. Flags compiled
/// into the binary (`known`) are interned to the first slots, so a generated `FlagId` is a slot
/// index; flags only in the configuration follow and are reachable by name.
pub struct FlagTable<const N: usize = DEFAULT_CAPACITY> {
    current: AtomicPtr<Table<N>>,
    /// What a quiesced reader points at: an empty table whose kinds are all retired, so the
    /// reader's next check goes the way it goes after a publication (re-pin, load).
    idle: Box<Table<N>>,
    generation: AtomicU64,
    collector: Collector,
    known: Vec<String>,
    clock: Option<Clock>,
}

// SAFETY of the auto traits: `AtomicPtr<T>` is `Send + Sync` for every `T`, so these assertions
// make sure that the tables it shares across threads are themselves `Send + Sync`.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Table<1>>();
};

impl<const N: usize> fmt::Debug for FlagTable<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlagTable")
            .field("capacity", &N)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl<const N: usize> FlagTable<N> {
    /// A table whose first slots are the flags compiled into the binary, in order (pass the
    /// generated `FlagId::NAMES`, or `&[]`). Until the first publication every flag is
    /// unknown and the generation is 0.
    pub fn new(known: &[&str]) -> Self {
        FlagTable::with_collector(known, Collector::new())
    }

    /// [`new`](FlagTable::new), retiring old tables to the given collector. With std, passing
    /// crossbeam-epoch's default collector lets [`pinned_snapshot`](FlagTable::pinned_snapshot)
    /// use `crossbeam_epoch::pin()`, whose participant handle is thread-local.
    pub fn with_collector(known: &[&str], collector: Collector) -> Self {
        let initial = compile::compile::<N>(&Config::default(), known)
            .map(|c| c.table)
            .unwrap_or_else(|_| {
                // Only more known flags than the capacity fails; keep what fits.
                let fit = &known[..known.len().min(N)];
                match compile::compile::<N>(&Config::default(), fit) {
                    Ok(c) => c.table,
                    Err(_) => unreachable!("an empty configuration within capacity compiles"),
                }
            });
        let idle = Box::new(Table::empty());
        retire_kinds(&idle);
        FlagTable {
            current: AtomicPtr::new(Box::into_raw(initial.inner)),
            idle,
            generation: AtomicU64::new(0),
            collector,
            known: known.iter().map(|s| s.to_string()).collect(),
            clock: None,
        }
    }

    /// Sets the clock used for contexts without `now` (time conditions and experiment
    /// windows only; plain checks never read it). Takes effect from the next publication.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A snapshot under a guard of this table's collector (for example
    /// `crossbeam_epoch::pin()` when the table uses the default collector): a check costs the
    /// pin's fence, but nothing stays pinned afterwards.
    ///
    /// # Panics
    ///
    /// If the guard belongs to another collector (it would not protect this table).
    pub fn pinned_snapshot(&self, guard: Guard) -> Snapshot<'_, N> {
        assert!(
            guard.collector() == Some(&self.collector),
            "pinned_snapshot: the guard is not of this table's collector"
        );
        Snapshot::new(&self.current, guard)
    }

    /// The flags compiled into the binary, in slot order.
    pub fn known_flags(&self) -> &[String] {
        &self.known
    }

    /// The most flags a configuration may define.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Compiles a configuration for this table (see [`compile`](crate::compile())).
    pub fn compile(&self, config: &Config) -> Result<Compiled<N>, Diagnostics> {
        let known: Vec<&str> = self.known.iter().map(String::as_str).collect();
        compile::compile::<N>(config, &known)
    }

    /// Publishes a compiled table: every check that starts after this returns answers from
    /// it. Returns its generation (the previous one + 1). Lock-free: racing publications each
    /// get their own generation and the last swap wins.
    pub fn publish(&self, table: CompiledTable<N>) -> u64 {
        let handle = self.collector.register();
        let guard = handle.pin();
        let mut boxed = table.inner;
        boxed.clock = self.clock;
        let mut current = self.current.load(Ordering::Acquire);
        loop {
            // SAFETY: `current` was loaded while `guard` is pinned, and tables are only freed
            // through the collector after they have been unlinked, so it is still alive.
            let replaced = unsafe { &*current };
            // Marked before the swap, not after: then by the time any publication returns,
            // every table older than the one it installed is marked, even when publications
            // race (marked after, a slower racing publisher could leave the table it replaced
            // unmarked while a later publication has already returned). If the swap fails,
            // `current` has been replaced anyway, and marking is idempotent. Readers that see
            // the mark before the swap reload `current` and answer from it, as they should.
            if sync::MARKING == Marking::BeforeSwap {
                retire_kinds(replaced);
            }
            boxed.generation = replaced.generation + 1;
            let generation = boxed.generation;
            boxed.probe.write(generation);
            let new = Box::into_raw(boxed);
            match self
                .current
                .compare_exchange(current, new, sync::PUBLISH, Ordering::Acquire)
            {
                Ok(old) => {
                    self.generation.fetch_max(generation, Ordering::Release);
                    if sync::MARKING == Marking::AfterSwap {
                        // SAFETY: `old` is `current`, loaded under `guard` (see above).
                        retire_kinds(unsafe { &*old });
                    }
                    if sync::FREE_AT_ONCE {
                        free_at_once(old);
                    } else {
                        retire(&guard, old);
                    }
                    guard.flush();
                    return generation;
                }
                Err(actual) => {
                    // SAFETY: `new` came from `Box::into_raw` above and the failed CAS did not
                    // publish it, so this is its only owner.
                    boxed = unsafe { Box::from_raw(new) };
                    current = actual;
                }
            }
        }
    }

    /// The generation of the current table (0 before the first publication). One atomic load;
    /// it never goes backwards.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A per-thread reader: the fast way to check flags (see [`Reader`]).
    pub fn reader(&self) -> Reader<'_, N> {
        ReaderOf::new(self)
    }

    /// A per-thread reader that owns a reference to a shared table, for readers kept in
    /// thread-locals or other `'static` places.
    pub fn arc_reader(self: &Arc<Self>) -> ArcReader<N> {
        ReaderOf::new(Arc::clone(self))
    }

    /// A snapshot of the current table for a one-off unit of work. This registers with the
    /// collector (an allocation); on a hot path take snapshots from a [`Reader`].
    pub fn snapshot(&self) -> Snapshot<'_, N> {
        let handle = self.collector.register();
        Snapshot::new(&self.current, handle.pin())
    }

    /// Frees retired tables that no reader can hold any more (publication does this too).
    pub fn collect(&self) {
        let handle = self.collector.register();
        handle.pin().flush();
    }
}

impl<const N: usize> Default for FlagTable<N> {
    fn default() -> Self {
        FlagTable::new(&[])
    }
}

impl<const N: usize> Drop for FlagTable<N> {
    fn drop(&mut self) {
        let current = self.current.load(Ordering::Acquire);
        // SAFETY: `&mut self` proves no reader or snapshot (which borrow the table) is alive,
        // and `current` was never retired, so this is the last reference to it.
        drop(unsafe { Box::from_raw(current) });
        // Retired tables are freed when the collector and its last handle are dropped.
    }
}

// === retirement ===

/// Marks every kind byte of a table retired ([`RETIRED`]). Called by each publication that is
/// about to swap the table out, before its swap (idempotent: a publication whose swap fails
/// marks the table that replaced this one next). `Relaxed`: the swap's `Release` orders the
/// marks before the new table, so a check that starts after the publication returned sees
/// them.
fn retire_kinds<const N: usize>(table: &Table<N>) {
    for byte in &table.kinds {
        byte.store(byte.load(Ordering::Relaxed) | RETIRED, Ordering::Relaxed);
    }
}

/// Retires an unlinked table to the collector.
fn retire<const N: usize>(guard: &Guard, old: *mut Table<N>) {
    let old = SendPtr(old);
    // SAFETY: `old` has just been unlinked by a successful compare-and-swap, so no new reader
    // can load it; readers that loaded it are pinned in an epoch the collector waits out before
    // running this, and it runs exactly once. `Table` is `Send`, so dropping it on whichever
    // thread collects is fine.
    unsafe {
        guard.defer_unchecked(move || {
            let old = old;
            drop(Box::from_raw(old.0));
        });
    }
}

/// The broken variant `free_before_unpin` of [`retire`] (see [`sync::FREE_AT_ONCE`]): frees an
/// unlinked table at once, while pinned readers may still hold it. Only that variant's loom
/// build calls it.
fn free_at_once<const N: usize>(old: *mut Table<N>) {
    // SAFETY: none: this variant exists only to be caught by the loom model.
    drop(unsafe { Box::from_raw(old) });
}

struct SendPtr<T>(*mut T);
// SAFETY: only used to move a retired `Table` (which is `Send`) to the collecting thread.
unsafe impl<T: Send> Send for SendPtr<T> {}

// === impl Reader ===

/// A per-thread handle for checking flags on hot paths.
///
/// A reader keeps itself pinned in the table's epoch collector, so a check pays no fence: it is
/// a read of one kind byte of the table the reader holds and, for a rollout, one hash mix of
/// the context's precomputed key. A publication tells the reader through that byte (see
/// [`check`](ReaderOf::check)). It is neither `Send` nor `Sync`: make one per thread and keep it.
///
/// A pinned reader holds back reclamation of tables retired after it last checked. It catches
/// up on its next check, so a thread that stops checking for a long time while publications go
/// on should [`quiesce`](ReaderOf::quiesce) (or drop) its reader.
///
/// `T` is how the reader holds its table: a borrow ([`Reader`]) or an `Arc` ([`ArcReader`]).
/// `U` is how it counts its answers: not at all ([`Uncounted`], the default), or in a usage
/// shard ([`FixedShard`], see [`with_usage`](ReaderOf::with_usage)). A type, not an `Option`:
/// a counted check does not test whether it counts, and an uncounted one has no count code.
pub struct ReaderOf<T: Deref<Target = FlagTable<N>>, const N: usize, U: Usage<N> = Uncounted> {
    // Field order: the guard is dropped before the handle, and both before the table.
    guard: Cell<Option<Guard>>,
    handle: LocalHandle,
    /// The last table pointer this reader saw.
    seen: Cell<*const Table<N>>,
    /// Where this reader counts its answers.
    usage: U,
    table: T,
}

/// How a [`ReaderOf`] counts the answers of its checks.
pub trait Usage<const N: usize> {
    /// Counts one answer for a slot.
    fn count(&self, slot: usize, on: bool);
}

/// A reader that does not count its answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Uncounted;

impl<const N: usize> Usage<N> for Uncounted {
    #[inline(always)]
    fn count(&self, _slot: usize, _on: bool) {}
}

impl<const N: usize> Usage<N> for FixedShard<N> {
    #[inline(always)]
    fn count(&self, slot: usize, on: bool) {
        FixedShard::count(self, slot, on);
    }
}

/// A reader that borrows its table.
pub type Reader<'a, const N: usize = DEFAULT_CAPACITY> = ReaderOf<&'a FlagTable<N>, N>;

/// A reader that shares ownership of its table.
pub type ArcReader<const N: usize = DEFAULT_CAPACITY> = ReaderOf<Arc<FlagTable<N>>, N>;

/// An [`ArcReader`] that counts its answers in a usage shard.
pub type CountedArcReader<const N: usize = DEFAULT_CAPACITY> =
    ReaderOf<Arc<FlagTable<N>>, N, FixedShard<N>>;

impl<T: Deref<Target = FlagTable<N>>, const N: usize, U: Usage<N>> fmt::Debug
    for ReaderOf<T, N, U>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl<T: Deref<Target = FlagTable<N>>, const N: usize> ReaderOf<T, N> {
    fn new(table: T) -> Self {
        let handle = table.collector.register();
        let guard = handle.pin();
        let seen = table.current.load(Ordering::Acquire);
        ReaderOf {
            guard: Cell::new(Some(guard)),
            handle,
            seen: Cell::new(seen),
            usage: Uncounted,
            table,
        }
    }

    /// Counts this reader's answers of [`check`](ReaderOf::check) and
    /// [`check_name`](ReaderOf::check_name) in a shard that only this reader writes.
    ///
    /// # Panics
    ///
    /// If the shard was not made for this table's capacity
    /// (`UsageShard::new(table.capacity())`): the reader counts without a bounds check of
    /// its own, against the capacity it checks slots against.
    pub fn with_usage(self, shard: UsageShard) -> ReaderOf<T, N, FixedShard<N>> {
        let slots = shard.slots();
        let Some(usage) = shard.fixed::<N>() else {
            panic!("a usage shard of {slots} slots for a table of capacity {N}");
        };
        let ReaderOf {
            guard,
            handle,
            seen,
            table,
            ..
        } = self;
        ReaderOf {
            guard,
            handle,
            seen,
            usage,
            table,
        }
    }
}

impl<T: Deref<Target = FlagTable<N>>, const N: usize, U: Usage<N>> ReaderOf<T, N, U> {
    /// The table this reader checks against.
    pub fn table(&self) -> &FlagTable<N> {
        &self.table
    }

    #[inline(always)]
    fn current(&self) -> &Table<N> {
        // The table read is the one this reader already holds (`seen`), not the pointer just
        // loaded: they are equal unless a publication happened, and reading through `seen`
        // lets the slot load start without waiting for the shared pointer's load (the compare
        // is a predicted branch, not a data dependency).
        let seen = self.seen.get();
        if !core::ptr::eq(self.table.current.load(Ordering::Acquire), seen) {
            self.advance();
        }
        self.held()
    }

    /// The table this reader holds (`seen`).
    #[inline(always)]
    fn held(&self) -> &Table<N> {
        let p = self.seen.get();
        // SAFETY: `seen` is always either a pointer loaded under this reader's current pin (by
        // `new()`, which pins first, or by `advance`, which re-pins and then loads), or the
        // table's `idle` table (set by `quiesce`, which unpins), which the `FlagTable` owns
        // and which outlives this reader. It is never null: the table always holds a published
        // table. A table loaded under a pin is freed only after that pin moves on twice, which
        // cannot happen while `&self` is borrowed: re-pinning needs another call.
        let table = unsafe { &*p };
        table.probe.check(table.generation);
        table
    }

    /// Out of line: a new table was published since this reader last looked. Re-pin (so that
    /// retired tables can be freed) and load again under the new pin.
    #[cold]
    #[inline(never)]
    fn advance(&self) {
        match self.guard.take() {
            Some(mut guard) => {
                // A no-op while a snapshot of this reader holds a nested pin.
                guard.repin();
                self.guard.set(Some(guard));
            }
            None => self.guard.set(Some(self.handle.pin())),
        }
        self.seen.set(self.table.current.load(Ordering::Acquire));
    }

    /// Whether the flag is on for this context. Never allocates, locks, blocks or formats.
    ///
    /// The check reads the table this reader last loaded, without loading the shared pointer:
    /// a publication marks every kind byte of the table it replaces as retired, and the check
    /// reads its slot's kind byte anyway. Only a retired byte sends it out of line, to re-pin
    /// and load the current table.
    #[inline(always)]
    pub fn check<K: FlagKey>(&self, flag: K, ctx: &EvaluationContext) -> bool {
        let slot = flag.index();
        // The held table keeps the slots of compiled-in flags even once retired.
        #[cfg(debug_assertions)]
        self.held().expect_key(flag);
        let on = match self.held().check_unless_retired(slot, ctx) {
            Some(on) => on,
            None => self.check_after_publication(slot, ctx),
        };
        self.usage.count(slot, on);
        on
    }

    /// Out of line: the table this reader holds has been retired (or the reader is quiesced).
    #[cold]
    #[inline(never)]
    fn check_after_publication(&self, slot: usize, ctx: &EvaluationContext) -> bool {
        // The load in `advance` returns the marked table or a later one (it loaded the marked
        // one from the same pointer before). The marked one only while its replacement's swap
        // is not yet visible here: `check` ignores the mark, and the next check comes back.
        self.advance();
        self.held().check(slot, ctx)
    }

    /// [`check`](ReaderOf::check) by name, for flags the binary was not built with. A name lookup
    /// (hash + binary search), no allocation.
    #[inline]
    pub fn check_name(&self, name: &str, ctx: &EvaluationContext) -> bool {
        let table = self.current();
        match table.lookup(name) {
            Some(slot) => {
                let on = table.check(slot, ctx);
                self.usage.count(slot, on);
                on
            }
            None => false,
        }
    }

    /// The answer with its reason, detail and generation.
    #[inline]
    pub fn explain<K: FlagKey>(&self, flag: K, ctx: &EvaluationContext) -> Evaluation {
        let table = self.current();
        table.expect_key(flag);
        table.explain(flag.index(), ctx)
    }

    /// [`explain`](ReaderOf::explain) by name.
    pub fn explain_name(&self, name: &str, ctx: &EvaluationContext) -> Evaluation {
        let table = self.current();
        table.explain(table.lookup(name).unwrap_or(usize::MAX), ctx)
    }

    /// An `integer` flag's value (see [`Snapshot::integer`]). A reader hands out only values
    /// that own nothing (integers, floats, booleans and variant indices): the table it holds
    /// may be retired between two calls, so strings and JSON are resolved through a
    /// [`snapshot`](ReaderOf::snapshot), which keeps its table.
    pub fn integer<K: FlagKey>(
        &self,
        flag: K,
        ctx: &EvaluationContext,
        default: i64,
    ) -> Resolution<i64> {
        let table = self.current();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::integer)
    }

    /// A `float` flag's value (see [`Snapshot::float`]).
    pub fn float<K: FlagKey>(
        &self,
        flag: K,
        ctx: &EvaluationContext,
        default: f64,
    ) -> Resolution<f64> {
        let table = self.current();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::float)
    }

    /// A boolean flag's value (see [`Snapshot::boolean`]).
    pub fn boolean<K: FlagKey>(
        &self,
        flag: K,
        ctx: &EvaluationContext,
        default: bool,
    ) -> Resolution<bool> {
        let table = self.current();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::boolean)
    }

    /// The generation of the table this reader now answers from.
    pub fn generation(&self) -> u64 {
        self.current().generation
    }

    /// A snapshot: several checks answered from one version. Cheap (a nested pin, no fence).
    pub fn snapshot(&self) -> Snapshot<'_, N> {
        // `current()` first, so that a fresh publication is observed before pinning.
        let _ = self.current();
        Snapshot::new(&self.table.current, self.handle.pin())
    }

    /// Unpins this reader until its next check, so that an idle thread does not hold back
    /// reclamation. The next check re-pins (one fence).
    pub fn quiesce(&self) {
        drop(self.guard.take());
        self.seen.set(&*self.table.idle);
    }
}

// === impl Snapshot ===

/// One published version of the configuration, held for a unit of work.
///
/// Every check through a snapshot answers from the same table, whatever is published
/// meanwhile. A snapshot holds back reclamation while it lives: keep it for a unit of work
/// (a block import), not for the life of the program.
pub struct Snapshot<'a, const N: usize = DEFAULT_CAPACITY> {
    table: *const Table<N>,
    _guard: Guard,
    _owner: PhantomData<&'a FlagTable<N>>,
}

impl<const N: usize> fmt::Debug for Snapshot<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("generation", &self.generation())
            .field("flags", &self.len())
            .finish_non_exhaustive()
    }
}

impl<'a, const N: usize> Snapshot<'a, N> {
    fn new(current: &AtomicPtr<Table<N>>, guard: Guard) -> Self {
        let table = current.load(Ordering::Acquire);
        Snapshot {
            table,
            _guard: guard,
            _owner: PhantomData,
        }
    }

    #[inline(always)]
    fn table(&self) -> &Table<N> {
        // SAFETY: the pointer was loaded after `_guard` was pinned, and the guard lives as long
        // as `self`, so the collector cannot free the table before `self` is dropped; the
        // `FlagTable` (which frees its current table on drop) outlives `'a`.
        let table = unsafe { &*self.table };
        table.probe.check(table.generation);
        table
    }

    /// Whether the flag is on for this context.
    #[inline(always)]
    pub fn check<K: FlagKey>(&self, flag: K, ctx: &EvaluationContext) -> bool {
        let table = self.table();
        table.expect_key(flag);
        table.check(flag.index(), ctx)
    }

    /// [`check`](Snapshot::check) by name.
    pub fn check_name(&self, name: &str, ctx: &EvaluationContext) -> bool {
        let t = self.table();
        t.lookup(name).is_some_and(|i| t.check(i, ctx))
    }

    /// The answer with its reason, detail and generation.
    pub fn explain<K: FlagKey>(&self, flag: K, ctx: &EvaluationContext) -> Evaluation {
        let table = self.table();
        table.expect_key(flag);
        table.explain(flag.index(), ctx)
    }

    /// [`explain`](Snapshot::explain) by name.
    pub fn explain_name(&self, name: &str, ctx: &EvaluationContext) -> Evaluation {
        let t = self.table();
        t.explain(t.lookup(name).unwrap_or(usize::MAX), ctx)
    }

    /// The flag's typed resolution: the value of the variant served, the variant's name and
    /// the evaluation (reason, detail, variant index, generation). Allocates nothing: a string
    /// or JSON value is borrowed from this snapshot's table. A boolean flag's values are
    /// [`Value::Bool`] (variants `"false"` and `"true"`); an unknown flag serves `false`.
    pub fn value<K: FlagKey>(&self, flag: K, ctx: &EvaluationContext) -> Resolved<'_> {
        let table = self.table();
        table.expect_key(flag);
        table.resolve(flag.index(), ctx)
    }

    /// [`value`](Snapshot::value) by name.
    pub fn value_name(&self, name: &str, ctx: &EvaluationContext) -> Resolved<'_> {
        let t = self.table();
        t.resolve(t.lookup(name).unwrap_or(usize::MAX), ctx)
    }

    /// An `integer` flag's value.
    ///
    /// Asking a flag of another type returns `default` with [`Reason::TypeMismatch`](crate::Reason)
    /// and the flag's off variant as the variant (the off value: the off variant's
    /// value has the flag's type, not this one, so the caller's default stands in for it). A
    /// flag the table does not define returns `default` with
    /// [`Reason::UnknownFlag`](crate::Reason). The same holds for every typed accessor.
    pub fn integer<K: FlagKey>(
        &self,
        flag: K,
        ctx: &EvaluationContext,
        default: i64,
    ) -> Resolution<i64> {
        let table = self.table();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::integer)
    }

    /// A `float` flag's value (see [`integer`](Snapshot::integer) for another type).
    pub fn float<K: FlagKey>(
        &self,
        flag: K,
        ctx: &EvaluationContext,
        default: f64,
    ) -> Resolution<f64> {
        let table = self.table();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::float)
    }

    /// A boolean flag's value (see [`integer`](Snapshot::integer) for another type). For a
    /// defined boolean flag it is what [`check`](Snapshot::check) answers.
    pub fn boolean<K: FlagKey>(
        &self,
        flag: K,
        ctx: &EvaluationContext,
        default: bool,
    ) -> Resolution<bool> {
        let table = self.table();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::boolean)
    }

    /// A `string` flag's value, borrowed from this snapshot (see
    /// [`integer`](Snapshot::integer) for another type).
    pub fn string<'s, K: FlagKey>(
        &'s self,
        flag: K,
        ctx: &EvaluationContext,
        default: &'s str,
    ) -> Resolution<&'s str> {
        let table = self.table();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::string)
    }

    /// A `json` flag's value as JSON text, borrowed from this snapshot (see
    /// [`integer`](Snapshot::integer) for another type).
    pub fn json<'s, K: FlagKey>(
        &'s self,
        flag: K,
        ctx: &EvaluationContext,
        default: &'s str,
    ) -> Resolution<&'s str> {
        let table = self.table();
        table.expect_key(flag);
        table.resolve_as(flag.index(), ctx, default, Value::json)
    }

    /// The generation of this version.
    pub fn generation(&self) -> u64 {
        self.table().generation
    }

    /// The SHA-256 of the file this version came from (zeros if the publisher gave none).
    pub fn digest(&self) -> &[u8; 32] {
        &self.table().digest
    }

    /// The number of slots (compiled-in flags plus flags only in the file).
    pub fn len(&self) -> usize {
        self.table().flags.len()
    }

    /// Whether the table has no slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot of a flag by name.
    pub fn index_of(&self, name: &str) -> Option<FlagIndex> {
        self.table().lookup(name).map(|i| FlagIndex(i as u32))
    }

    /// The name of a slot.
    pub fn flag_name(&self, flag: impl FlagKey) -> Option<&str> {
        self.table()
            .flags
            .get(flag.index())
            .map(|f| f.name.as_str())
    }

    /// Every slot: index, name and whether the configuration defines it.
    pub fn flags(&self) -> impl Iterator<Item = (FlagIndex, &str, bool)> + '_ {
        self.table()
            .flags
            .iter()
            .enumerate()
            .map(|(i, f)| (FlagIndex(i as u32), f.name.as_str(), f.defined))
    }

    /// The names of the experiments.
    pub fn experiments(&self) -> impl Iterator<Item = &str> + '_ {
        self.table().experiments.iter().map(|e| e.name.as_str())
    }

    /// The name of an experiment by index (as in [`Detail::Variant`](crate::Detail)).
    pub fn experiment_name(&self, experiment: u32) -> Option<&str> {
        self.table()
            .experiments
            .get(experiment as usize)
            .map(|e| e.name.as_str())
    }

    /// The name of a variant by indices (as in [`Detail::Variant`](crate::Detail)).
    pub fn variant_name(&self, experiment: u32, variant: u32) -> Option<&str> {
        let e = self.table().experiments.get(experiment as usize)?;
        e.variants.get(variant as usize).map(|v| v.name.as_str())
    }

    /// The variant of an experiment this context is assigned, if the experiment is active
    /// and the context has its bucket key.
    pub fn variant(&self, experiment: &str, ctx: &EvaluationContext) -> Option<&str> {
        let t = self.table();
        let e = &t.experiments[t.experiment_index(experiment)?];
        e.assign(ctx, t.now(ctx))
            .map(|v| e.variants[v].name.as_str())
    }
}
