# Vexil: the two quick-start targets are `make run` and `make test`; `make ci` is what CI runs.
CARGO ?= cargo
JOBS ?= 2
NOSTD_TARGET ?= thumbv7em-none-eabihf

.PHONY: run test bench bench-peers loom miri fuzz-smoke ci fmt-check clippy doc nostd bench-build metrics-check

## The main job: watch the bundled config/features.toml, live, with a simulated fleet of
## 1,000 nodes (edit the file in another terminal; Ctrl-C to stop).
run:
	$(CARGO) run -j$(JOBS) -p vexil-cli --bin vexil -- watch config/features.toml --fleet 1000 \
		--node-id canary-1 --env canary --chain-height 1200000 --sync-progress 1 --ip 10.1.0.1

## Every test of the workspace.
test:
	$(CARGO) test -j$(JOBS) --workspace

## The criterion benchmarks (numbers go to BENCHMARKS.md): all of them, or one with
## BENCH=check (criterion's options in ARGS; quote a filter with `|` in it). Every function is
## aligned to 64 bytes, so a case's loop sits at the same place in its cache lines whatever
## changes elsewhere in the binary (benches/NOTES.md, "Code placement"); in a target dir of their
## own, so other builds keep their flags.
BENCH_RUSTFLAGS ?= -C llvm-args=-align-all-functions=6
bench:
	RUSTFLAGS="$(BENCH_RUSTFLAGS)" CARGO_TARGET_DIR=target/bench \
		$(CARGO) bench -j$(JOBS) -p vexil-benches $(if $(BENCH),--bench $(BENCH)) -- $(ARGS)

## Loom models (small models, release build, own target dir), then the anti-vacuity check:
## every model must fail on its deliberately broken variant.
loom:
	RUSTFLAGS="--cfg vexil_loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=2 \
		CARGO_TARGET_DIR=target/loom $(CARGO) test -j$(JOBS) --release -p vexil-loom-tests
	JOBS=$(JOBS) bash scripts/loom-broken.sh

## Miri (tree borrows: crossbeam-epoch is not compatible with stacked borrows) on the unsafe
## publication code and the table tests, with reduced iteration counts under cfg(miri).
miri:
	MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-disable-isolation" $(CARGO) +nightly miri test -j$(JOBS) \
		-p vexil-core --lib --test publication --test reclamation

## A short fuzzing smoke run (the long run: see README, Verification).
fuzz-smoke:
	mkdir -p fuzz/corpus/config_pipeline
	cd fuzz && $(CARGO) +nightly fuzz run config_pipeline corpus/config_pipeline ../config ../config/fixtures/invalid -- \
		-max_total_time=$${FUZZ_SECONDS:-60} -dict=toml.dict -max_len=8192

## Vexil against peer engines (own workspace; not built by default or in CI).
bench-peers:
	cd benches/peers && $(CARGO) bench -j$(JOBS)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy -j$(JOBS) --workspace --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -j$(JOBS) --workspace --no-deps

## The no_std core for a bare-metal target (no 64-bit atomics: portable-atomic's fallback).
nostd:
	$(CARGO) build -j$(JOBS) -p vexil-core --no-default-features --target $(NOSTD_TARGET)

## A live scrape of `vexil watch --metrics-addr` through `promtool check metrics` (Debian's
## prometheus package): every metric has help text.
metrics-check:
	$(CARGO) build -j$(JOBS) -p vexil-cli
	JOBS=$(JOBS) bash scripts/check-metrics.sh

bench-build:
	$(CARGO) bench -j$(JOBS) -p vexil-benches --no-run

ci: fmt-check clippy doc test nostd metrics-check bench-build loom miri fuzz-smoke
