//! The process-wide [`Flags`] and context behind [`feature_enabled!`](crate::feature_enabled).
//!
//! ## The call-site cache
//!
//! Each `feature_enabled!` call site has a static word holding `(epoch, answer)`. A call loads
//! the global epoch (`Acquire`) and the site's word (`Relaxed`); if the word carries the current
//! epoch, its answer is returned: two loads and a compare, no pin, no lock. Otherwise the call
//! evaluates through the installed [`Flags`] against the process-wide context and stores the
//! answer tagged with the epoch it read *before* evaluating, so an answer computed from an old
//! table can never be tagged with a newer epoch.
//!
//! The epoch goes up (by 2) after every publication of any [`Flags`] and every
//! [`set_context`]: a cached answer is never served once a reload or a new context has been
//! published. Answers that depend on time (`after`/`before`, experiment windows) change at
//! their instant: a timer thread makes the epoch odd — odd means "do not cache", every call
//! evaluates against the clock — from [`TIME_LEAD`] before each such instant until just after
//! it, then makes it even again. So a call site pays the full check only within those short
//! windows (and once after each invalidation).

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use vexil_core::callsite::Epoch;
use vexil_core::{EvaluationContext, FlagKey};

use crate::flags::Event;
use crate::Flags;

/// How long before a time condition falls due the call-site caches stop caching.
pub const TIME_LEAD: Duration = Duration::from_millis(50);

/// Even: answers may be cached for this epoch. Odd: nothing is cached. 0: nothing installed.
static EPOCH: Epoch = Epoch::new();
static FLAGS: OnceLock<Flags> = OnceLock::new();
static CONTEXT: RwLock<Option<Arc<EvaluationContext>>> = RwLock::new(None);

/// Installs the process-wide flags that `feature_enabled!` checks. Once per process: a second
/// call hands the flags back.
pub fn install(flags: Flags) -> Result<(), Flags> {
    FLAGS.set(flags)?;
    invalidate();
    if let Some(flags) = FLAGS.get() {
        let events = flags.subscribe();
        let _ = std::thread::Builder::new()
            .name("vexil-time".to_owned())
            .spawn(move || time_boundaries(flags, events));
    }
    Ok(())
}

/// The installed process-wide flags.
pub fn flags() -> Option<&'static Flags> {
    FLAGS.get()
}

/// Replaces the process-wide context (leave its `now` unset: the flags' clock supplies the
/// current time). Every call site re-evaluates on its next call.
pub fn set_context(ctx: EvaluationContext) {
    *CONTEXT.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(ctx));
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

/// Makes every call site re-evaluate. The epoch moves by 2, keeping its parity: inside a
/// no-cache window around a time boundary it stays odd.
pub(crate) fn invalidate() {
    EPOCH.invalidate();
}

fn set_caching(on: bool) {
    EPOCH.set_caching(on);
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
        set_caching(false);
        loop {
            let now = chrono::Utc::now().timestamp_micros();
            if now > t {
                break;
            }
            std::thread::sleep(Duration::from_micros((t - now) as u64 + 200));
        }
        set_caching(true);
    }
}

/// The earliest instant after `now` at which some answer may change with time alone.
fn next_instant(flags: &Flags, now: i64) -> Option<i64> {
    let config = flags.config();
    let conditions = config
        .features
        .values()
        .filter_map(|f| f.conditions.as_ref())
        .flat_map(|c| [c.after, c.before]);
    let experiments = config
        .experiments
        .values()
        .flat_map(|e| [Some(e.start_time), e.end_time]);
    conditions
        .chain(experiments)
        .flatten()
        .map(|t| t.unix_micros())
        .filter(|&t| t > now)
        .min()
}

#[doc(hidden)]
pub mod __private {
    //! Not a stable API: the plumbing of `feature_enabled!`.
    use super::*;

    /// One call site (see [`vexil_core::callsite`]).
    #[derive(Debug)]
    pub struct CallSite(vexil_core::callsite::CallSite);

    impl CallSite {
        /// An empty call site.
        #[allow(clippy::new_without_default)]
        pub const fn new() -> CallSite {
            CallSite(vexil_core::callsite::CallSite::new())
        }

        /// The cached answer for the current epoch, or a fresh one.
        #[inline(always)]
        pub fn check<K: FlagKey>(&self, flag: K) -> bool {
            self.0.check(&EPOCH, || refresh(flag.index()))
        }
    }

    #[cold]
    #[inline(never)]
    fn refresh(slot: usize) -> bool {
        match FLAGS.get() {
            Some(flags) => flags.check(slot, &context()),
            None => false,
        }
    }
}

/// Whether a flag is on for the process-wide context, cached per call site until the next
/// publication, context change or time boundary (see [`global`](crate::global)). Synchronous;
/// `false` until [`global::install`](crate::global::install) has run.
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
        static __VEXIL_CALLSITE: $crate::global::__private::CallSite =
            $crate::global::__private::CallSite::new();
        __VEXIL_CALLSITE.check($flag)
    }};
}
