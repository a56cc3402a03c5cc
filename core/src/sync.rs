//! The one place atomics come from, and the choices of the concurrent protocols that the loom
//! models check.
//!
//! Under `--cfg vexil_loom` every atomic is loom's, so a loom build models the whole
//! publication protocol; elsewhere 64-bit atomics come from `portable-atomic`, which falls
//! back where the target lacks them.
//!
//! A loom model is only trusted once it fails on a deliberately broken protocol
//! (`scripts/loom-broken.sh`). Each choice a model checks is named here, as a constant that
//! the code follows; `--cfg vexil_loom_broken="NAME"` swaps one for its broken variant, and
//! every other build has the correct one. So the protocols have no cfg blocks of their own.

#[cfg(not(vexil_loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(vexil_loom))]
pub(crate) use portable_atomic::AtomicU64;

#[cfg(vexil_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

// === the publication protocol (table.rs) ===

/// The success ordering of a publication's compare-and-swap: `AcqRel`, so the new table's
/// contents are released with the pointer. Broken variant `relaxed_publish`: `Relaxed`, the
/// contents are not released (caught by model 1, `a_publication_races_a_reader`).
#[cfg(not(vexil_loom_broken = "relaxed_publish"))]
pub(crate) const PUBLISH: Ordering = Ordering::AcqRel;
#[cfg(vexil_loom_broken = "relaxed_publish")]
pub(crate) const PUBLISH: Ordering = Ordering::Relaxed;

/// When a publication marks the kind bytes of the table it replaces as retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marking {
    /// Before its swap: once any publication has returned, every older table is marked,
    /// however publications race.
    BeforeSwap,
    /// Broken variant `mark_after_swap`: after a successful swap, so a racing publication
    /// can return while the table this one replaced is unmarked (caught by model 6,
    /// `racing_publications_leave_no_older_table_unmarked`).
    AfterSwap,
    /// Broken variant `unmarked_retirement`: never, so a reader keeps answering from the
    /// table it holds (caught by model 5,
    /// `a_check_after_a_publication_answers_from_the_new_table`).
    #[allow(dead_code)] // Only that variant's build has it.
    Never,
}

/// When a publication marks the table it replaces (see [`Marking`]).
#[cfg(not(any(
    vexil_loom_broken = "mark_after_swap",
    vexil_loom_broken = "unmarked_retirement"
)))]
pub(crate) const MARKING: Marking = Marking::BeforeSwap;
#[cfg(vexil_loom_broken = "mark_after_swap")]
pub(crate) const MARKING: Marking = Marking::AfterSwap;
#[cfg(vexil_loom_broken = "unmarked_retirement")]
pub(crate) const MARKING: Marking = Marking::Never;

/// Whether a replaced table is freed at once instead of being retired to the collector.
/// `false`; broken variant `free_before_unpin`: `true`, freed while pinned readers may still
/// hold it (caught by model 2, `two_publications_while_a_reader_stays_pinned`).
pub(crate) const FREE_AT_ONCE: bool = cfg!(vexil_loom_broken = "free_before_unpin");

// === the call-site cache (callsite.rs) ===

/// Whether a call site's miss reads the epoch after computing its answer. `false`: before,
/// so an answer computed from an old table is never tagged with a newer epoch; broken variant
/// `epoch_after_compute`: `true` (caught by model 3,
/// `a_call_site_never_pairs_an_old_answer_with_a_new_epoch`).
pub(crate) const EPOCH_AFTER_COMPUTE: bool = cfg!(vexil_loom_broken = "epoch_after_compute");

// === usage counters (usage.rs) ===

/// Whether a fold takes the counts by resetting the counters. `false`: it reads them and
/// keeps the last reading; broken variant `fold_resets`: `true`, which loses the counts the
/// owner stores between the fold's load and its store (caught by model 4,
/// `usage_counts_survive_folding_while_checks_run`).
pub(crate) const FOLD_RESETS: bool = cfg!(vexil_loom_broken = "fold_resets");

// === the probe ===

/// Under loom, every table carries a cell that its publisher writes before publishing, its
/// readers read, and that is written again when it is dropped with its table: a reader that reads a table not yet properly
/// published, or one being freed, is a data race that loom reports. In every other build it is
/// empty and its methods do nothing.
#[cfg(not(vexil_loom))]
pub(crate) struct Probe;

#[cfg(not(vexil_loom))]
impl Probe {
    pub(crate) const fn new(_value: u64) -> Probe {
        Probe
    }

    #[inline(always)]
    pub(crate) fn write(&self, _value: u64) {}

    /// What a loom build reads; here, what the caller expects.
    #[inline(always)]
    pub(crate) fn check(&self, _expected: u64) {}
}

#[cfg(vexil_loom)]
pub(crate) use loom_probe::Probe;

// The loom build's probe cell: loom's `UnsafeCell` is what loom checks accesses of, and its
// accessors hand out raw pointers. This is the crate's only `unsafe` outside `table.rs`, and it
// exists only in loom builds.
#[cfg(vexil_loom)]
#[allow(unsafe_code)]
mod loom_probe {
    /// See the non-loom `Probe`.
    pub(crate) struct Probe(loom::cell::UnsafeCell<u64>);

    // SAFETY: only loom builds have this cell, and loom checks every access to it for races:
    // finding them is the probe's purpose.
    unsafe impl Sync for Probe {}

    impl Probe {
        pub(crate) fn new(value: u64) -> Probe {
            Probe(loom::cell::UnsafeCell::new(value))
        }

        pub(crate) fn write(&self, value: u64) {
            // SAFETY: loom's cell pointer, valid while the cell lives; loom checks the access.
            self.0.with_mut(|p| unsafe { *p = value });
        }

        /// A read, which loom reports if the table is not properly published or is being
        /// freed; the value must be the table's generation, written before publication.
        pub(crate) fn check(&self, expected: u64) {
            // SAFETY: as for `write`.
            let value = self.0.with(|p| unsafe { *p });
            assert_eq!(value, expected, "a table seen half-published");
        }
    }

    impl Drop for Probe {
        /// A write as the table is freed: loom reports a reader still reading it.
        fn drop(&mut self) {
            self.write(u64::MAX);
        }
    }
}
