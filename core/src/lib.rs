//! # vexil-core
//!
//! The `no_std` (+ `alloc`) core of the Vexil feature-flag engine:
//!
//! * [`model`] — the configuration model (serde derives, no std required);
//! * [`EvaluationContext`] — who is asking (node, environment, chain state, attributes, time);
//! * [`bucketing`] — the versioned, documented percentage-rollout contract;
//! * [`compile`](compile()) — a configuration turned into an evaluation-ready table, or every
//!   problem found in it as [`diagnostics`], each naming its flag and [`FieldPath`];
//! * [`FlagTable`], [`Reader`], [`Snapshot`] — the fixed-capacity flag table published
//!   lock-free through epoch-based reclamation, and the handles that check flags against it.
//!
//! ```
//! use vexil_core::{model::Config, EvaluationContext, FlagTable};
//!
//! let config: Config = toml::from_str(r#"
//!     [features.parallel_validation]
//!     enabled = true
//!     rollout_percentage = 100
//! "#).unwrap();
//!
//! let table: FlagTable = FlagTable::new(&["parallel_validation"]);
//! let compiled = table.compile(&config).unwrap();
//! table.publish(compiled.table);
//!
//! let flags = table.reader();
//! let ctx = EvaluationContext::new("node-7");
//! assert!(flags.check_name("parallel_validation", &ctx));
//! ```
//!
//! The hot path ([`ReaderOf::check`]) never allocates, locks, blocks or formats: it is one
//! atomic load of the slot's kind byte in the table the reader holds (a publication marks the
//! bytes of the table it replaces, so the reader finds out from that same load) and, for a
//! percentage rollout, one wyhash mix of the context's precomputed key hash with the flag's
//! salt.
//! See [`docs`] for how publication, readers and snapshots fit together.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

extern crate alloc;

mod answer;
pub mod bucketing;
pub mod callsite;
pub mod compile;
mod compiled;
mod context;
pub mod diagnostics;
pub mod docs;
mod encoding;
mod eval;
mod flag_key;
pub mod model;
mod sets;
mod sync;
#[allow(unsafe_code)]
mod table;
pub mod usage;

pub use answer::{
    ConditionKind, Detail, Evaluation, Reason, Resolution, Resolved, TargetKind, Value,
};
pub use compile::compile;
pub use compiled::{Clock, Compiled, CompiledTable};
pub use context::{Attribute, EvaluationContext};
pub use diagnostics::{Diagnostic, Diagnostics, FieldPath, Scope, Severity};
pub use flag_key::{FlagIndex, FlagKey};
pub use model::Environment;
pub use table::{
    ArcReader, CountedArcReader, FlagTable, Reader, ReaderOf, Snapshot, Uncounted, Usage,
    DEFAULT_CAPACITY,
};
