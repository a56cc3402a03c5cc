//! # vexil
//!
//! Feature flags for Rust programs with hot paths: a check costs about a nanosecond and never
//! allocates, locks or blocks; a change to the configuration file is validated and published
//! atomically, without a restart.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vexil::{EvaluationContext, Environment, Flags, WatchOptions};
//!
//! let flags = Flags::builder("config/features.toml")
//!     .audit_log("/var/log/vexil/audit.jsonl")   // hash-chained JSON lines
//!     .watch(WatchOptions::default())            // hot reload
//!     .build()?;                                 // a missing or invalid file is an error
//!
//! // Leave the context's `now` unset: the flags' clock gives each check the current time.
//! let ctx = EvaluationContext::new("node-7").with_environment(Environment::Mainnet);
//! if flags.check_name("parallel_validation", &ctx) { /* ... */ }
//!
//! // Hot paths: one reader per thread, kept.
//! let reader = flags.reader();
//! let on = reader.check_name("parallel_validation", &ctx);
//!
//! // Anywhere, against a process-wide context, cached per call site until the next change.
//! vexil::global::install(flags.clone()).ok();
//! vexil::global::set_context(EvaluationContext::new("node-7"));
//! # let parallel_validation = 0usize;
//! if vexil::feature_enabled!(parallel_validation) { /* ... */ }
//! # Ok(()) }
//! ```
//!
//! With the build-time generator (the `vexil-build` crate, in `build.rs`), flags are checked
//! by a generated `FlagId` (`flags.check(FlagId::ParallelValidation, &ctx)`): a misspelled flag
//! is a compile error.
//!
//! * [`Flags`] — the manager: checks, snapshots, reloads, subscriptions;
//! * [`watch`] — hot reload: what the watcher follows and survives;
//! * [`global`] and [`feature_enabled!`] — the process-wide flags and the call-site cache;
//! * [`validate`] — every problem of a file at once, as `FILE:LINE:COLUMN: error: MESSAGE`;
//! * [`audit`] — the hash-chained audit log and its verification;
//! * [`metrics`] — the metric names (the application installs the recorder);
//! * [`diff`] — field-level differences between two configurations.
//!
//! The evaluation itself (contexts, reasons, bucketing) is the `no_std` core, `vexil-core`;
//! what a user needs of it is re-exported here.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod audit;
pub mod diff;
mod digest;
mod epoch;
mod file;
mod flags;
pub mod global;
pub mod metrics;
mod reload;
mod usage;
pub mod validate;
pub mod watch;

#[doc(hidden)]
pub mod __private;

pub use digest::{Digest, ParseDigestError};
pub use flags::{Flags, FlagsBuilder, StartError};
pub use reload::{Change, Event, Reload};
pub use watch::WatchOptions;

pub use vexil_core::{
    model, Attribute, ConditionKind, CountedArcReader, Detail, Environment, Evaluation,
    EvaluationContext, FlagIndex, FlagKey, ReaderOf, Reason, Resolution, Resolved, Severity,
    Snapshot, TargetKind, Value, DEFAULT_CAPACITY,
};

/// Sets a context's evaluation instant to the current time, for a table without a clock (the
/// core's `FlagTable` used directly). [`Flags`] has a clock: leave `now` unset there, or a
/// context kept for long would keep evaluating at the instant it was made.
pub fn now(mut ctx: EvaluationContext) -> EvaluationContext {
    ctx.set_now(chrono::Utc::now());
    ctx
}
