#!/usr/bin/env bash
# `revalidate edge` against Varnish (malloc storage), both in front of the
# same nginx origin serving the shared fixtures, with the shared wrk harness
# (shared/tools/bench): interleaved A/B rounds, medians and ratios. Varnish is
# started by the harness (servers.sh: one thread pool, malloc, pinned to core
# 0, every object cached for an hour by its VCL); the edge is pinned to core 0
# too, so its runtime has one worker. wrk runs on core 1. Needs nginx, varnish
# and wrk (apt-get install nginx-light varnish wrk).
#
#   scripts/bench-edge-vs-varnish.sh [ROUNDS]     # default 5 rounds per scenario
#   MEMORY=1 scripts/bench-edge-vs-varnish.sh 0   # only the memory-per-object fill
#
# Rows: a hit 200 at 1 KiB and at 1 MiB, and a client's If-None-Match
# answered 304 from the cache. nginx sends no Cache-Control; the edge stores
# the fixtures by the Last-Modified heuristic (RFC 9111 §4.2.2), Varnish by its
# VCL's ttl. Each side is warmed (one miss) before the rounds.
#
# Uses the release binary in $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
bench=${BENCH_TOOLS:-../shared/tools/bench}
export BENCH_ROOT=${BENCH_ROOT:-/tmp/bench-fixtures}
edge_port=${PORT:-19020}
nginx_port=${NGINX_PORT:-19001}
varnish_port=${VARNISH_PORT:-19003}
target=${CARGO_TARGET_DIR:-target}

cargo build -q --release -p revalidate
"$bench/fixtures.sh" "$BENCH_ROOT" >/dev/null
"$bench/servers.sh" start nginx "$nginx_port" >/dev/null
"$bench/servers.sh" start varnish "$varnish_port" "$nginx_port" >/dev/null

RUST_LOG=warn taskset -c 0 "$target/release/revalidate" edge --origin "http://127.0.0.1:$nginx_port" \
  --listen "127.0.0.1:$edge_port" --memory 1GiB >/dev/null &
edge=$!
cleanup() {
  kill "$edge" 2>/dev/null || true; wait "$edge" 2>/dev/null || true
  "$bench/servers.sh" stop varnish >/dev/null || true; "$bench/servers.sh" stop nginx >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$edge_port/1k.bin" && break; sleep 0.1; done
for port in "$edge_port" "$varnish_port"; do
  for path in /1k.bin /1m.bin; do curl -s -o /dev/null "http://127.0.0.1:$port$path"; done
done
echo "# edge:    $(curl -sI "http://127.0.0.1:$edge_port/1k.bin" | tr -d '\r' | grep -i '^cache-status')"
echo "# varnish: $(curl -sI "http://127.0.0.1:$varnish_port/1k.bin" | tr -d '\r' | grep -iE '^(age|x-varnish)' | tr '\n' ' ')"

for scenario in "200-small /1k.bin" "200-large /1m.bin" "304-inm /1k.bin"; do
  [[ $rounds == 0 ]] && break
  set -- $scenario
  echo "## $1 $2 (A = revalidate edge, B = Varnish)"
  "$bench/compare.sh" -n "$rounds" "$1" "http://127.0.0.1:$edge_port" "http://127.0.0.1:$varnish_port" "$2"
done

if [[ ${MEMORY:-0} == 1 ]]; then
  # Memory per cached 1 KiB object: RSS growth over N distinct URLs (a query
  # string makes each a new key for both caches), divided by N.
  n=${OBJECTS:-50000}
  rss() { ps -o rss= -p "$1" | awk '{s+=$1} END {print s}'; }
  varnish_child=$(pgrep -f "varnishd -n /tmp/bench-run/varnish" | tail -1)
  for side in edge varnish; do
    if [[ $side == edge ]]; then port=$edge_port; pid=$edge; else port=$varnish_port; pid=$varnish_child; fi
    before=$(rss "$pid")
    seq 1 "$n" | sed "s|^|http://127.0.0.1:$port/1k.bin?o=|" | xargs -n 200 -P 2 curl -s >/dev/null
    after=$(rss "$pid")
    echo "memory $side: objects=$n rss_before_kib=$before rss_after_kib=$after bytes_per_object=$(( (after - before) * 1024 / n ))"
  done
  command -v varnishstat >/dev/null && varnishstat -n /tmp/bench-run/varnish -1 -f 'SMA.s0.g_bytes' -f 'SMA.s0.g_alloc' -f 'MAIN.n_object' 2>/dev/null || true
fi
