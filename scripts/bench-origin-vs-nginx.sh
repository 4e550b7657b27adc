#!/usr/bin/env bash
# `revalidate serve` against nginx on the same files and the same core, with
# the shared wrk harness (shared/tools/bench): interleaved A/B rounds,
# medians and ratios. Both servers are pinned to core 0 with one worker
# (nginx worker_processes 1; revalidate --workers 1); wrk runs on
# core 1. Needs nginx and wrk (apt-get install nginx-light wrk).
#
#   scripts/bench-origin-vs-nginx.sh [ROUNDS]        # default 5 rounds per scenario
#   FLOOR=1 scripts/bench-origin-vs-nginx.sh [ROUNDS] # also hyper's canned 304 (examples/hyper_floor.rs)
#                                                     # against nginx: how fast hyper alone can answer
#   ROWS="304-inm 304-ims" scripts/bench-origin-vs-nginx.sh 5   # only some rows
#   PORT=19110 NGINX_PORT=19101 BENCH_RUN=/tmp/my-run scripts/bench-origin-vs-nginx.sh
#                                                     # other ports and pid-file directory, to run
#                                                     # beside another copy of this script
#
# Uses the release binary in $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
bench=${BENCH_TOOLS:-../shared/tools/bench}
export BENCH_ROOT=${BENCH_ROOT:-/tmp/bench-fixtures}
port=${PORT:-19010}
nginx_port=${NGINX_PORT:-19001}
data=$(mktemp -d)

cargo build -q --release -p revalidate
target=${CARGO_TARGET_DIR:-target}
"$bench/fixtures.sh" "$BENCH_ROOT" >/dev/null
"$bench/servers.sh" start nginx "$nginx_port" >/dev/null

RUST_LOG=warn taskset -c 0 "$target/release/revalidate" serve --workers 1 \
  --root "$BENCH_ROOT" --data "$data" --listen "127.0.0.1:$port" >/dev/null &
rv=$!
cleanup() { kill "$rv" 2>/dev/null || true; wait "$rv" 2>/dev/null || true; "$bench/servers.sh" stop nginx >/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/1k.bin" && break; sleep 0.1; done

if [[ ${FLOOR:-0} == 1 ]]; then
  cargo build -q --release -p revalidate-origin --example hyper_floor
  taskset -c 0 "$target/release/examples/hyper_floor" 127.0.0.1:19011 >/dev/null &
  floor=$!
  trap 'kill "$floor" 2>/dev/null || true; cleanup' EXIT
  sleep 0.5
  echo "## 304-inm /1k.bin (A = hyper canned 304, B = nginx)"
  "$bench/compare.sh" -n "$rounds" 304-inm "http://127.0.0.1:19011" "http://127.0.0.1:$nginx_port" /1k.bin
fi

for scenario in "200-small /1k.bin" "200-large /1m.bin" "304-inm /1k.bin" "304-ims /1k.bin"; do
  set -- $scenario
  [[ " ${ROWS:-200-small 200-large 304-inm 304-ims} " == *" $1 "* ]] || continue
  echo "## $1 $2 (A = revalidate, B = nginx)"
  "$bench/compare.sh" -n "$rounds" "$1" "http://127.0.0.1:$port" "http://127.0.0.1:$nginx_port" "$2"
done
