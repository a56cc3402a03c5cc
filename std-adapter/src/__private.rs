//! Not a stable API: the plumbing of `feature_enabled!`, and hooks for this crate's tests and
//! benches. Anything here may change in any release.

use vexil_core::FlagKey;

use crate::epoch::EPOCH;
use crate::{global, usage};

/// One `feature_enabled!` call site (see [`vexil_core::callsite`]).
#[derive(Debug)]
pub struct CallSite(vexil_core::callsite::CallSite);

impl CallSite {
    /// An empty call site.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> CallSite {
        CallSite(vexil_core::callsite::CallSite::new())
    }

    /// The cached answer for the current epoch, or a fresh one; both counted in
    /// `vexil_checks_total`.
    #[inline(always)]
    pub fn check<K: FlagKey>(&self, flag: K) -> bool {
        let slot = flag.index();
        // Both closures take the slot by value: `evaluate` is not inlined, and a closure
        // holding `&slot` would make every call, hits included, keep the slot in memory.
        self.0.check_counting(
            &EPOCH,
            slot,
            move |on| usage::count_hit(slot, on, global::installed_usage),
            move || global::evaluate(slot),
        )
    }
}

/// Turns every call site's caching off or on, as the timer thread does around a time
/// boundary: for tests and benches of the path every call takes inside such a window.
pub fn set_caching(on: bool) {
    EPOCH.set_caching(on);
}

/// Holds the process-wide context's write lock until the guard is dropped, as
/// [`global::set_context`] does while it replaces the context: for tests that a cached or
/// re-evaluated answer does not wait for it.
pub fn hold_context_lock(
) -> std::sync::RwLockWriteGuard<'static, Option<std::sync::Arc<vexil_core::EvaluationContext>>> {
    global::write_context()
}
