//! # vexil
//!
//! Vexil feature flags for std programs, on top of [`vexil_core`] (re-exported here):
//!
//! * [`codegen`] — build-time `enum FlagId` from a configuration file, for any crate's
//!   `build.rs`;
//! * [`validate`] — reading and validating a configuration file: every problem at once, each
//!   as `FILE:LINE:COLUMN: error: MESSAGE` naming the flag and field;
//! * [`now`] — the clock the core does not have.
//!
//! ```
//! use vexil::{EvaluationContext, FlagTable};
//!
//! let config = vexil::validate::parse_config("[features.parallel_validation]\nenabled = true\n", "inline.toml")?;
//! let table: FlagTable = FlagTable::new(&["parallel_validation"]);
//! table.publish(table.compile(&config)?.table);
//! let flags = table.reader();
//! assert!(flags.check(0usize, &vexil::now(EvaluationContext::new("node-1"))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod audit;
pub mod codegen;
pub mod diff;
mod epoch;
mod file;
mod flags;
pub mod global;
pub mod metrics;
mod reload;
pub mod validate;
pub mod watch;

pub use flags::{Flags, FlagsBuilder, StartError};
pub use reload::{Change, Event, Reload};
pub use watch::{WatchOptions, Watcher};

pub use vexil_core::*;

/// Sets a context's evaluation instant to the current time (the core has no clock).
pub fn now(mut ctx: EvaluationContext) -> EvaluationContext {
    ctx.set_now(chrono::Utc::now());
    ctx
}
