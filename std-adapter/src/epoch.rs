//! The process-wide epoch of the `feature_enabled!` call-site caches: it moves on after every
//! publication and context change, so that no call site serves an answer computed before
//! either (see [`global`](crate::global) for the cache and its time windows).

use vexil_core::callsite::Epoch;

/// Answers may be cached for this epoch unless its "do not cache" bit is set. 0: nothing
/// installed.
pub(crate) static EPOCH: Epoch = Epoch::new();

/// Makes every call site re-evaluate. The epoch moves on, keeping its "do not cache" bit:
/// inside a no-cache window around a time boundary it stays set.
pub(crate) fn invalidate() {
    EPOCH.invalidate();
}
