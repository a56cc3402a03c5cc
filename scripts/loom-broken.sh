#!/usr/bin/env bash
# Anti-vacuity: every loom model must fail on its deliberately broken variant. Each variant is
# built with --cfg vexil_loom_broken="NAME" and its model is run; a model that passes on a
# broken variant makes this script fail.
set -uo pipefail
cd "$(dirname "$0")/.."

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom-broken}"
variants=(${VARIANTS:-
  "relaxed_publish:a_publication_races_a_reader"
  "free_before_unpin:two_publications_while_a_reader_stays_pinned"
  "epoch_after_compute:a_call_site_never_pairs_an_old_answer_with_a_new_epoch"
  "fold_resets:usage_counts_survive_folding_while_checks_run"
  "unmarked_retirement:a_check_after_a_publication_answers_from_the_new_table"
  "mark_after_swap:racing_publications_leave_no_older_table_unmarked"
})
failed=0
for entry in "${variants[@]}"; do
  variant="${entry%%:*}"
  model="${entry#*:}"
  log="$(mktemp)"
  RUSTFLAGS="--cfg vexil_loom --cfg crossbeam_loom --cfg vexil_loom_broken=\"$variant\"" \
    cargo test -j"${JOBS:-2}" --release -p vexil-loom-tests --test models -- --exact "$model" >"$log" 2>&1
  status=$?
  if [ "$status" -ne 0 ] && grep -q "panicked\|Causality\|causality\|FAILED" "$log"; then
    why="$(grep -m1 -A1 "panicked at" "$log" | tail -1 | cut -c1-160)"
    echo "caught: $variant ($model): ${why:-failed}"
  else
    echo "NOT CAUGHT: $variant ($model) passed on a broken variant (exit $status)"
    tail -20 "$log"
    failed=1
  fi
  rm -f "$log"
done
exit "$failed"
