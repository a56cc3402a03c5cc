//! The process-wide [`Flags`] and context behind [`feature_enabled!`](crate::feature_enabled).
//!
//! ## The call-site cache
//!
//! Each `feature_enabled!` call site has a static word holding `(epoch, flag, answer)`. A call
//! loads the global epoch (`Acquire`) and the site's word (`Relaxed`); if the word carries the
//! current epoch and the flag asked for, its answer is returned: two loads, an xor and two
//! compares (with a constant flag, as in `feature_enabled!(FlagId::X)`), no pin, no lock, and
//! the answer is counted in the calling thread's own usage shard (see below). Otherwise the
//! call evaluates through the installed [`Flags`] against the process-wide context (the
//! calling thread's own copy of it, so no lock is taken unless the context changed since the
//! thread last looked) and stores the answer tagged with the epoch it read *before*
//! evaluating, so an answer computed from an old table can never be tagged with a newer epoch.
//! A site given different flags (`feature_enabled!(flag)` in a loop) answers for each: it
//! caches the first one asked after each invalidation and evaluates the others without writing
//! the site's word; flags from slot 32,768 up are never cached.
//!
//! The epoch goes up after every publication of any [`Flags`] and every [`set_context`]: a
//! cached answer is never served once a reload or a new context has been published. Answers
//! that depend on time (`after`/`before`, experiment windows) change at their instant: a timer
//! thread sets the epoch's "do not cache" bit — every call evaluates against the clock — from
//! [`TIME_LEAD`] before each such instant until just after it, then clears it again (each
//! change moves the epoch too). So a call site pays the full check only within those short
//! windows (and once after each invalidation).
//!
//! ## Usage counts
//!
//! Every answer is counted in `vexil_checks_total`, cached or not: an evaluated one by
//! [`Flags::check`], a cached one in the calling thread's leased shard (see the adapter's
//! usage module: one load to find it).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use vexil_core::EvaluationContext;

use crate::epoch::{invalidate, EPOCH};
use crate::flags::Flags;
use crate::reload::Event;
use crate::usage::Registry;

/// How long before a time condition falls due the call-site caches stop caching.
pub const TIME_LEAD: Duration = Duration::from_millis(50);

static FLAGS: OnceLock<Flags> = OnceLock::new();
static CONTEXT: RwLock<Option<Arc<EvaluationContext>>> = RwLock::new(None);
/// Moves on with every [`set_context`] (under `CONTEXT`'s write lock), so a thread can tell
/// whether its own copy of the context is current without taking the lock.
static CONTEXT_VERSION: AtomicU64 = AtomicU64::new(0);

/// Installs the process-wide flags that `feature_enabled!` checks. Once per process: a second
/// call hands the flags back in the error.
pub fn install(flags: Flags) -> Result<(), AlreadyInstalled> {
    FLAGS.set(flags).map_err(AlreadyInstalled)?;
    invalidate();
    if let Some(flags) = FLAGS.get() {
        let events = flags.subscribe();
        let _ = std::thread::Builder::new()
            .name("vexil-time".to_owned())
            .spawn(move || time_boundaries(flags, events));
    }
    Ok(())
}

/// [`install`] was called before: the flags it was given, handed back.
#[derive(Debug)]
pub struct AlreadyInstalled(pub Flags);

impl std::fmt::Display for AlreadyInstalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the process-wide flags are installed already (once per process)")
    }
}

impl std::error::Error for AlreadyInstalled {}

/// The installed process-wide flags.
pub fn flags() -> Option<&'static Flags> {
    FLAGS.get()
}

/// Replaces the process-wide context (leave its `now` unset: the flags' clock supplies the
/// current time). Every call site re-evaluates on its next call.
pub fn set_context(ctx: EvaluationContext) {
    let mut current = CONTEXT.write().unwrap_or_else(|e| e.into_inner());
    *current = Some(Arc::new(ctx));
    CONTEXT_VERSION.fetch_add(1, Ordering::Release);
    drop(current);
    invalidate();
}

/// Changes the process-wide context in place (`update_context(|c| c.set_chain_height(h))`,
/// once per block), without losing what another thread set meanwhile: the change is applied
/// under the context's write lock. Every call site re-evaluates on its next call.
pub fn update_context(change: impl FnOnce(&mut EvaluationContext)) {
    let mut current = CONTEXT.write().unwrap_or_else(|e| e.into_inner());
    let ctx = current.get_or_insert_with(Default::default);
    change(Arc::make_mut(ctx));
    CONTEXT_VERSION.fetch_add(1, Ordering::Release);
    drop(current);
    invalidate();
}

/// The process-wide context (the default context until one is set).
pub fn context() -> Arc<EvaluationContext> {
    CONTEXT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Sleeps until each time-dependent instant of the installed configuration and turns caching
/// off around it.
fn time_boundaries(flags: &'static Flags, events: std::sync::mpsc::Receiver<Event>) {
    loop {
        let now = chrono::Utc::now().timestamp_micros();
        let next = next_instant(flags, now);
        let wait = match next {
            Some(t) => Duration::from_micros((t - now).max(0) as u64).saturating_sub(TIME_LEAD),
            None => Duration::from_secs(3600),
        };
        match events.recv_timeout(wait) {
            Ok(_) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let Some(t) = next else { continue };
        EPOCH.set_caching(false);
        loop {
            let now = chrono::Utc::now().timestamp_micros();
            if now > t {
                break;
            }
            std::thread::sleep(Duration::from_micros((t - now) as u64 + 200));
        }
        EPOCH.set_caching(true);
    }
}

/// The earliest instant after `now` at which some answer may change with time alone.
fn next_instant(flags: &Flags, now: i64) -> Option<i64> {
    flags
        .config()
        .instants()
        .map(|t| t.unix_micros())
        .filter(|&t| t > now)
        .min()
}

/// The installed flags' usage registry, where cached answers are counted.
pub(crate) fn installed_usage() -> Option<&'static Registry> {
    FLAGS.get().map(Flags::usage)
}

thread_local! {
    /// This thread's copy of the process-wide context, with the version it was taken at.
    static HELD_CONTEXT: RefCell<Option<(u64, Arc<EvaluationContext>)>> =
        const { RefCell::new(None) };
}

/// Evaluates a flag against the process-wide context (counted like any `Flags::check`). The
/// calling thread keeps its own copy of the context, so this takes no lock (and touches no
/// shared count) unless the context changed since the thread last looked: inside a no-cache
/// window every call comes here.
#[cold]
#[inline(never)]
pub(crate) fn evaluate(slot: usize) -> bool {
    let Some(flags) = FLAGS.get() else {
        return false;
    };
    // Read before the context: a copy is never older than the version it is tagged with.
    let version = CONTEXT_VERSION.load(Ordering::Acquire);
    let answer = HELD_CONTEXT.try_with(|held| {
        let mut held = held.try_borrow_mut().ok()?;
        let ctx = match &*held {
            Some((v, ctx)) if *v == version => ctx,
            _ => &held.insert((version, context())).1,
        };
        Some(flags.check(slot, ctx))
    });
    // While the thread is torn down (or re-entered), through the lock.
    answer
        .ok()
        .flatten()
        .unwrap_or_else(|| flags.check(slot, &context()))
}

/// Holds the process-wide context's write lock (for tests: `__private`).
pub(crate) fn write_context() -> std::sync::RwLockWriteGuard<'static, Option<Arc<EvaluationContext>>>
{
    CONTEXT.write().unwrap_or_else(|e| e.into_inner())
}

/// Whether a flag is on for the process-wide context, cached per call site (with the flag it
/// was asked for: a site given another flag evaluates that one) until the next publication,
/// context change or time boundary (see [`global`](crate::global)). Synchronous; `false` until
/// [`global::install`](crate::global::install) has run.
///
/// ```no_run
/// # let flags: vexil::Flags = vexil::Flags::builder("config/features.toml").build().unwrap();
/// vexil::global::install(flags).unwrap();
/// vexil::global::set_context(vexil::EvaluationContext::new("node-7"));
/// # let parallel_validation = 0usize;
/// if vexil::feature_enabled!(parallel_validation) { /* ... */ }
/// ```
#[macro_export]
macro_rules! feature_enabled {
    ($flag:expr) => {{
        static __VEXIL_CALLSITE: $crate::__private::CallSite = $crate::__private::CallSite::new();
        __VEXIL_CALLSITE.check($flag)
    }};
}
