//! Loom models of Vexil's concurrent parts (run with `make loom`; the tests are in `tests/`).
//!
//! Each model has a deliberately broken variant, selected by
//! `--cfg vexil_loom_broken="NAME"`, that the model must catch: `scripts/loom-broken.sh` runs
//! them and fails if any passes. A model that cannot fail proves nothing.
