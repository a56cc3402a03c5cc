//! The one place atomics come from. Under `--cfg vexil_loom` every atomic is loom's, so a
//! loom build models the whole publication protocol; elsewhere 64-bit atomics come from
//! `portable-atomic`, which falls back where the target lacks them.

#[cfg(not(vexil_loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(vexil_loom))]
pub(crate) use portable_atomic::AtomicU64;

#[cfg(vexil_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
