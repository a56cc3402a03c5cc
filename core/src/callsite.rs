//! The call-site cache protocol behind `feature_enabled!` (the std adapter owns the statics).
//!
//! A global [`Epoch`] moves by 2 after every publication and context change, so its low bit is
//! always clear; its top bit set means "do not cache" (around time boundaries). A [`CallSite`]
//! caches `epoch | answer` in one word, for epochs whose top bit is clear. A call loads the
//! epoch (`Acquire`) and the word; `word ^ epoch` is 0 or 1 exactly when the word carries the
//! current epoch and caching is on, and is then the answer (an xor and two compares, no shift).
//! Otherwise the answer is computed and stored tagged with the epoch read *before* computing,
//! so an answer computed from an old table is never tagged with a newer epoch.

use crate::sync::{AtomicU64, Ordering};

/// The epoch's "do not cache" bit. Epochs count in the bits below it, by 2 (so the low bit is
/// free for a call site's answer); they reach it after 2^62 invalidations, which no process
/// lives to see.
const NO_CACHE: u64 = 1 << 63;

/// The global epoch of cached answers.
#[derive(Debug)]
pub struct Epoch(AtomicU64);

impl Epoch {
    /// Epoch 0: nothing installed (every call site answers `false`).
    #[cfg(not(vexil_loom))]
    pub const fn new() -> Epoch {
        Epoch(AtomicU64::new(0))
    }

    /// Epoch 0 (loom's atomics are not `const`).
    #[cfg(vexil_loom)]
    pub fn new() -> Epoch {
        Epoch(AtomicU64::new(0))
    }

    /// The current epoch.
    #[inline(always)]
    pub fn load(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Invalidates every cached answer (after a publication or a context change), keeping the
    /// "do not cache" bit as it is.
    pub fn invalidate(&self) {
        self.0.fetch_add(2, Ordering::AcqRel);
    }

    /// Turns caching on or off (off around time boundaries); a change is an invalidation too.
    pub fn set_caching(&self, on: bool) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |e| {
                let caching = e & NO_CACHE == 0;
                (caching != on).then_some((e ^ NO_CACHE).wrapping_add(2))
            });
    }
}

impl Default for Epoch {
    fn default() -> Self {
        Epoch::new()
    }
}

/// One call site's cached answer.
#[derive(Debug)]
pub struct CallSite(AtomicU64);

impl CallSite {
    /// An empty call site (its word matches only epoch 0, whose answer is `false`).
    #[cfg(not(vexil_loom))]
    pub const fn new() -> CallSite {
        CallSite(AtomicU64::new(0))
    }

    /// An empty call site.
    #[cfg(vexil_loom)]
    pub fn new() -> CallSite {
        CallSite(AtomicU64::new(0))
    }

    /// The cached answer for the current epoch, or `compute()`'s, cached when caching is on.
    #[inline(always)]
    pub fn check(&self, epoch: &Epoch, compute: impl FnOnce() -> bool) -> bool {
        self.check_counting(epoch, |_| {}, compute)
    }

    /// [`check`](CallSite::check), calling `hit(answer)` when the cached answer is served
    /// (`compute` counts its own answers; a hit is the only answer it does not see).
    #[inline(always)]
    pub fn check_counting(
        &self,
        epoch: &Epoch,
        hit: impl FnOnce(bool),
        compute: impl FnOnce() -> bool,
    ) -> bool {
        let e = epoch.load();
        let word = self.0.load(Ordering::Relaxed);
        // Words are stored only for epochs without the "do not cache" bit (and the empty word
        // is epoch 0's), so a word that carries `e` also says that caching is on; `e`'s low bit
        // is clear, so the difference is the answer. One arm per answer: each counts and
        // returns a constant, so the answer needs no test of its own.
        match word ^ e {
            1 => {
                hit(true);
                true
            }
            0 => {
                hit(false);
                false
            }
            _ => self.refresh(epoch, e, compute),
        }
    }

    #[cold]
    #[inline(never)]
    fn refresh(&self, epoch: &Epoch, e: u64, compute: impl FnOnce() -> bool) -> bool {
        #[cfg(vexil_loom_broken = "epoch_after_compute")]
        let (on, e) = {
            let _ = e;
            let on = compute();
            (on, epoch.load())
        };
        #[cfg(not(vexil_loom_broken = "epoch_after_compute"))]
        let on = {
            let _ = epoch;
            compute()
        };
        if e & NO_CACHE == 0 {
            self.0.store(e | u64::from(on), Ordering::Relaxed);
        }
        on
    }

    /// The cached `(epoch, answer)`, for tests and models.
    pub fn cached(&self) -> (u64, bool) {
        let w = self.0.load(Ordering::Relaxed);
        (w & !1, w & 1 == 1)
    }
}

impl Default for CallSite {
    fn default() -> Self {
        CallSite::new()
    }
}

#[cfg(all(test, not(vexil_loom)))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Every epoch a run of invalidations and caching changes passes through after an
    /// install (the first invalidation), in order.
    fn epochs() -> Vec<u64> {
        let epoch = Epoch::new();
        epoch.invalidate();
        let mut seen = alloc::vec![epoch.load()];
        for step in 0..40u32 {
            match step % 5 {
                0 | 3 => epoch.invalidate(),
                1 => epoch.set_caching(false),
                2 => epoch.set_caching(false), // already off: no change
                _ => epoch.set_caching(true),
            }
            if epoch.load() != *seen.last().unwrap() {
                seen.push(epoch.load());
            }
        }
        seen
    }

    #[test]
    fn before_an_install_every_site_answers_false() {
        let (site, epoch) = (CallSite::new(), Epoch::new());
        assert!(!site.check(&epoch, || panic!("nothing is evaluated before an install")));
    }

    #[test]
    fn an_answer_is_served_only_under_the_epoch_it_was_cached_in() {
        let epochs = epochs();
        assert!(
            epochs.iter().any(|e| e & NO_CACHE != 0),
            "some epochs do not cache"
        );
        assert!(
            epochs.iter().all(|e| e & 1 == 0),
            "the low bit is the answer's"
        );
        for (i, &cached_in) in epochs.iter().enumerate() {
            for on in [false, true] {
                let site = CallSite::new();
                let at = Epoch(AtomicU64::new(cached_in));
                assert_eq!(site.check(&at, || on), on);
                let stored = site.cached() == (cached_in, on);
                assert_eq!(stored, cached_in & NO_CACHE == 0, "epoch {cached_in:#x}");
                for (j, &later) in epochs.iter().enumerate() {
                    let at = Epoch(AtomicU64::new(later));
                    let mut computed = false;
                    let answer = site.check(&at, || {
                        computed = true;
                        !on
                    });
                    let hit = stored && i == j;
                    assert_eq!(
                        computed, !hit,
                        "cached in {cached_in:#x}, asked in {later:#x}"
                    );
                    assert_eq!(answer, if hit { on } else { !on });
                    // The word as it was, for the next epoch.
                    let word = if stored { cached_in | u64::from(on) } else { 0 };
                    site.0.store(word, Ordering::Relaxed);
                }
            }
        }
    }
}
