//! Loom models of the publication protocol (run with `make loom`).
