#!/usr/bin/env bash
# Scrapes a live `vexil watch --metrics-addr` after a reload of each kind (applied, rejected,
# missing, restored) with an audit log, and checks the exposition with `promtool check
# metrics` (Debian's prometheus package): every metric must have help text, and promtool must
# print nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VEXIL=${VEXIL:-target/debug/vexil}
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)"; exit 1; }
[ -x "$VEXIL" ] || cargo build -q -j"${JOBS:-2}" -p vexil-cli

dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

cp config/features.toml "$dir/features.toml"
# A free loopback port: bind port 0, read what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VEXIL" watch "$dir/features.toml" --format json --debounce-ms 10 \
    --audit-log "$dir/audit.jsonl" --metrics-addr "127.0.0.1:$port" >"$dir/events" 2>&1 &
pid=$!

wait_for() { # wait_for EVENT: until `vexil watch` has printed it
    for _ in $(seq 100); do grep -q "\"event\":\"$1\"" "$dir/events" && return 0; sleep 0.1; done
    echo "no $1 event:"; cat "$dir/events"; exit 1
}
wait_for loaded
sed 's/^enabled = true/enabled = false/' config/features.toml >"$dir/next.toml"
mv "$dir/next.toml" "$dir/features.toml"
wait_for applied
echo '[features.x]' >"$dir/bad.toml"; echo 'enabled = 3' >>"$dir/bad.toml"
mv "$dir/bad.toml" "$dir/features.toml"
wait_for rejected
mv "$dir/features.toml" "$dir/gone.toml"
wait_for missing
sed 's/^enabled = true/enabled = false/' config/features.toml >"$dir/features.toml"
wait_for restored

curl -sf "http://127.0.0.1:$port/metrics" >"$dir/scrape"
grep -c '^# HELP' "$dir/scrape" | xargs echo "metrics with help text:"
out=$(promtool check metrics <"$dir/scrape" 2>&1) || { echo "$out"; exit 1; }
[ -z "$out" ] || { echo "promtool: $out"; exit 1; }
echo "promtool check metrics: clean"
