//! Benchmarks of the Vexil check (see `benches/`).
