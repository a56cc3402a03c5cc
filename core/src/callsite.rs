//! The call-site cache protocol behind `feature_enabled!` (the std adapter owns the statics).
//!
//! A global [`Epoch`] moves by 2^16 after every publication and context change, so its low 16
//! bits are always clear; its top bit set means "do not cache" (around time boundaries). A
//! [`CallSite`] caches `epoch | answer << 15 | key` in one word, for epochs whose top bit is
//! clear: the key (the flag's slot, below [`KEYS`]) is part of the word, so a site given
//! different flags never serves one flag's answer for another. A call loads the epoch
//! (`Acquire`) and the word; `word ^ epoch ^ key` is 0 or 2^15 exactly when the word carries
//! the current epoch and the same key and caching is on, and then says the answer (two xors
//! and two compares; with a constant key, as in `feature_enabled!(FlagId::X)`, one xor folds
//! into an immediate). Otherwise the answer is computed and stored tagged with the epoch read
//! *before* computing, so an answer computed from an old table is never tagged with a newer
//! epoch.

use crate::sync::{self, AtomicU64, Ordering};

/// The epoch's "do not cache" bit. Epochs count in the bits below it, by [`STEP`]; they reach
/// it after 2^47 invalidations (4,000 years at 1,000 reloads a second).
const NO_CACHE: u64 = 1 << 63;

/// Keys below this are cached; a call with a larger key is computed every time. A word's bits
/// 0-14 hold its key.
pub const KEYS: usize = 1 << 15;

/// A word's answer bit, above its key.
const ON: u64 = KEYS as u64;

/// How far the epoch moves on each invalidation: past the key and the answer.
const STEP: u64 = ON << 1;

/// A call site's word: `epoch | answer << 15 | key` (a key below [`KEYS`], an epoch from
/// [`Epoch`], so the three never share a bit).
const fn pack(epoch: u64, key: u64, on: bool) -> u64 {
    epoch | if on { ON } else { 0 } | key
}

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
        self.0.fetch_add(STEP, Ordering::AcqRel);
    }

    /// Turns caching on or off (off around time boundaries); a change is an invalidation too.
    pub fn set_caching(&self, on: bool) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |e| {
                let caching = e & NO_CACHE == 0;
                (caching != on).then_some((e ^ NO_CACHE).wrapping_add(STEP))
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
    /// An empty call site (its word matches only epoch 0 and key 0, whose answer is `false`).
    #[cfg(not(vexil_loom))]
    pub const fn new() -> CallSite {
        CallSite(AtomicU64::new(0))
    }

    /// An empty call site.
    #[cfg(vexil_loom)]
    pub fn new() -> CallSite {
        CallSite(AtomicU64::new(0))
    }

    /// The cached answer for `key` in the current epoch, or `compute()`'s, cached when caching
    /// is on and `key` is below [`KEYS`].
    #[inline(always)]
    pub fn check(&self, epoch: &Epoch, key: usize, compute: impl FnOnce() -> bool) -> bool {
        self.check_counting(epoch, key, |_| {}, compute)
    }

    /// [`check`](CallSite::check), calling `hit(answer)` when the cached answer is served
    /// (`compute` counts its own answers; a hit is the only answer it does not see).
    ///
    /// `compute` is called from a function that is not inlined, so give it `move` closures:
    /// one that borrows a local makes every call, hits included, keep that local in memory.
    #[inline(always)]
    pub fn check_counting(
        &self,
        epoch: &Epoch,
        key: usize,
        hit: impl FnOnce(bool),
        compute: impl FnOnce() -> bool,
    ) -> bool {
        if key >= KEYS {
            // No word can hold it: a larger key would alias a smaller one's bits or the epoch's.
            return compute();
        }
        let key = key as u64;
        let e = epoch.load();
        let word = self.0.load(Ordering::Relaxed);
        // Words are stored only for epochs without the "do not cache" bit (and the empty word
        // is epoch 0's, with key 0), so a word that carries `e` also says that caching is on;
        // the epoch's low 16 bits are clear, so with the same key what is left is the answer's
        // bit. One arm per answer: each counts and returns a constant, so the answer needs no
        // test of its own.
        match word ^ e ^ key {
            ON => {
                hit(true);
                true
            }
            0 => {
                hit(false);
                false
            }
            _ => self.refresh(epoch, key, compute),
        }
    }

    /// A miss: computes the answer and caches it. The epoch and the word are loaded again
    /// here rather than handed over from the hit's test, so that nothing the test computed is
    /// needed after it: the hit then folds its xors into the loaded values instead of keeping
    /// copies for this call (benches/NOTES.md). The epoch is still read before computing,
    /// which is all its tag needs, and the word after, so a word another thread stored for a
    /// newer epoch meanwhile is not replaced.
    #[cold]
    #[inline(never)]
    fn refresh(&self, epoch: &Epoch, key: u64, compute: impl FnOnce() -> bool) -> bool {
        let (on, e) = if sync::EPOCH_AFTER_COMPUTE {
            let on = compute();
            (on, epoch.load())
        } else {
            let e = epoch.load();
            (compute(), e)
        };
        let word = self.0.load(Ordering::Relaxed);
        // Only a word from an older epoch is replaced. A site given several flags keeps the
        // first one it cached in an epoch and evaluates the others without writing: a site
        // written on every call would make every other thread that reads it, or a site beside
        // it on the cache line, fetch the line again.
        if e & NO_CACHE == 0 && word & !(STEP - 1) < e {
            self.0.store(pack(e, key, on), Ordering::Relaxed);
        }
        on
    }

    /// The cached `(epoch, key, answer)`, for tests and models.
    pub fn cached(&self) -> (u64, usize, bool) {
        let w = self.0.load(Ordering::Relaxed);
        (w & !(STEP - 1), w as usize & (KEYS - 1), w & ON != 0)
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
        assert!(!site.check(&epoch, 0, || panic!(
            "nothing is evaluated before an install"
        )));
    }

    #[test]
    fn an_answer_is_served_only_under_the_epoch_it_was_cached_in() {
        let epochs = epochs();
        assert!(
            epochs.iter().any(|e| e & NO_CACHE != 0),
            "some epochs do not cache"
        );
        assert!(
            epochs.iter().all(|e| e & (STEP - 1) == 0),
            "the low 16 bits are the key's and the answer's"
        );
        for (i, &cached_in) in epochs.iter().enumerate() {
            for on in [false, true] {
                let site = CallSite::new();
                let at = Epoch(AtomicU64::new(cached_in));
                assert_eq!(site.check(&at, 5, || on), on);
                let stored = site.cached() == (cached_in, 5, on);
                assert_eq!(stored, cached_in & NO_CACHE == 0, "epoch {cached_in:#x}");
                for (j, &later) in epochs.iter().enumerate() {
                    let at = Epoch(AtomicU64::new(later));
                    let mut computed = false;
                    let answer = site.check(&at, 5, || {
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
                    let was = if stored { pack(cached_in, 5, on) } else { 0 };
                    site.0.store(was, Ordering::Relaxed);
                }
            }
        }
    }

    #[test]
    fn a_site_keeps_the_first_flag_it_cached_in_an_epoch() {
        let (site, epoch) = (CallSite::new(), Epoch::new());
        epoch.invalidate();
        assert!(site.check(&epoch, 1, || true));
        // Another flag in the same epoch is evaluated each time and does not replace it.
        for _ in 0..3 {
            let mut computed = false;
            assert!(!site.check(&epoch, 2, || {
                computed = true;
                false
            }));
            assert!(computed);
        }
        assert_eq!(site.cached(), (epoch.load(), 1, true));
        assert!(site.check(&epoch, 1, || panic!("served from the cache")));
        // After an invalidation, the first flag asked is cached.
        epoch.invalidate();
        assert!(!site.check(&epoch, 2, || false));
        assert_eq!(site.cached(), (epoch.load(), 2, false));
        // A call that read an older epoch does not replace a newer word.
        let newer = site.cached();
        let stale = Epoch(AtomicU64::new(epoch.load() - STEP));
        assert!(site.check(&stale, 3, || true));
        assert_eq!(site.cached(), newer);
    }

    #[test]
    fn a_miss_keeps_a_newer_word_stored_while_it_computed() {
        let (site, epoch) = (CallSite::new(), Epoch::new());
        epoch.invalidate();
        let asked_in = epoch.load();
        // While this call computes, a publication moves the epoch on and another call caches
        // its answer under the new one.
        assert!(site.check(&epoch, 1, || {
            epoch.invalidate();
            site.0
                .store(pack(epoch.load(), 2, false), Ordering::Relaxed);
            true
        }));
        assert_eq!(site.cached(), (asked_in + STEP, 2, false));
    }

    #[test]
    fn an_answer_is_served_only_for_the_key_it_was_cached_for() {
        let epoch = Epoch::new();
        epoch.invalidate();
        // Keys that share bits with each other, the largest cached key, and keys whose bits
        // would reach the epoch's if a word held them.
        let keys = [0, 1, 2, 3, 0x4000, KEYS - 1, KEYS, KEYS + 1, usize::MAX];
        for &cached_for in &keys {
            for on in [false, true] {
                let site = CallSite::new();
                assert_eq!(site.check(&epoch, cached_for, || on), on);
                let stored = cached_for < KEYS;
                assert_eq!(site.cached() == (epoch.load(), cached_for, on), stored);
                for &asked in &keys {
                    let mut computed = false;
                    let answer = site.check(&epoch, asked, || {
                        computed = true;
                        !on
                    });
                    let hit = stored && asked == cached_for;
                    assert_eq!(computed, !hit, "cached for {cached_for}, asked for {asked}");
                    assert_eq!(answer, if hit { on } else { !on });
                    site.0.store(0, Ordering::Relaxed);
                    assert_eq!(site.check(&epoch, cached_for, || on), on);
                }
            }
        }
        // A key whose bits would cancel the change of epoch: an answer cached for key 0, then
        // one invalidation (epoch STEP to 2 * STEP, which differ by 3 * STEP in their bits).
        let cancelling = 3 * STEP as usize;
        let (site, epoch) = (CallSite::new(), Epoch::new());
        epoch.invalidate();
        assert!(site.check(&epoch, 0, || true));
        epoch.invalidate();
        assert!(
            !site.check(&epoch, cancelling, || false),
            "another epoch's answer"
        );
    }
}
