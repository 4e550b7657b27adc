#!/usr/bin/env bash
# wrk.sh [ROUNDS] -- ConditionalLayer against no layer over loopback, with the
# shared harness (/work/shared/tools/bench: wrk -t1 -c16 -d5s on core 1, the
# server alone on core 0, A/B interleaved, medians and paired ratios).
#
# Starts examples/bench_server.rs (release, one current-thread runtime) on
# 127.0.0.1:$PORT, runs five comparisons, stops the server by its PID:
#   1. 200, 1 KiB JSON:  /layered/1k  vs /plain/1k   (cost of hashing and tagging)
#   2. 200, 64 KiB JSON: /layered/64k vs /plain/64k
#   3. 304 vs 200, 1 KiB, body hashed: /layered/1k with If-None-Match vs without
#   4. 304 by lookup vs plain 200, 1 KiB: /lookup/1k with If-None-Match vs /plain/1k
#   5. 200, 1 KiB, the layer on the handler (Handler::layer) vs no layer: /handler/1k vs /plain/1k
set -euo pipefail
rounds=${1:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
tools=${BENCH_TOOLS:-/work/shared/tools/bench}
port=${PORT:-19081}
target=${CARGO_TARGET_DIR:-$root/target}

cargo build --release -p revalidate-tower --example bench_server --manifest-path "$root/Cargo.toml" >&2
ADDR=127.0.0.1:$port taskset -c 0 "$target/release/examples/bench_server" >/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/plain/1k" && break; sleep 0.1; done

base=http://127.0.0.1:$port
"$tools/compare.sh" -n "$rounds" x "$base#200-small#/layered/1k" "$base#200-small#/plain/1k"
"$tools/compare.sh" -n "$rounds" x "$base#200-medium#/layered/64k" "$base#200-medium#/plain/64k"
"$tools/compare.sh" -n "$rounds" x "$base#304-inm#/layered/1k" "$base#200-small#/layered/1k"
"$tools/compare.sh" -n "$rounds" x "$base#304-inm#/lookup/1k" "$base#200-small#/plain/1k"
"$tools/compare.sh" -n "$rounds" x "$base#200-small#/handler/1k" "$base#200-small#/plain/1k"
