#!/usr/bin/env bash
# Cost per request of a private cache in a reqwest_middleware client:
# revalidate-client's CacheMiddleware against http-cache-reqwest's Cache
# with the same kind of store, both over the same reqwest client settings,
# against one local server in another process (not counted):
#
#   revalidate / http-cache            in memory: MemoryCache / MokaManager
#   revalidate-disk / http-cache-redb  on disk (a temporary directory):
#                                      DiskCache / RedbManager
#
# and two kinds of request:
#
#   cached       a GET answered from the cache (max-age=31536000, 1 KiB)
#   revalidated  a GET whose stored response is validated each time
#                (no-cache, ETag): a conditional request answered 304
#
# Instructions (user space, callgrind) per request: each row runs twice,
# N_SMALL and N_LARGE requests after one priming GET; the figure is the
# difference divided by N_LARGE - N_SMALL, so process start-up, runtime
# and connection set-up cancel. Allocations per request: one more run
# without valgrind, counted by the bench binary's allocator (dhat) over the
# N_LARGE requests only.
#
#   scripts/bench-client-instructions.sh
#   N_SMALL=200 N_LARGE=1200 scripts/bench-client-instructions.sh
#   IMPLS="revalidate-disk http-cache-redb" scripts/bench-client-instructions.sh
#
# Builds the release bench binary (crates/client-bench) into
# $CARGO_TARGET_DIR (default target/). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
n_small=${N_SMALL:-500}
n_large=${N_LARGE:-2500}
impls=${IMPLS:-revalidate http-cache revalidate-disk http-cache-redb}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p revalidate-client-bench >&2
bin=$target/release/revalidate-client-bench
work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  [[ -n $server_pid ]] && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve >"$work/server.out" &
server_pid=$!
for _ in $(seq 100); do
  [[ -s $work/server.out ]] && break
  sleep 0.05
done
base=$(head -n1 "$work/server.out")
[[ $base == http://* ]] || { echo "the bench server did not start" >&2; exit 1; }

instructions() { # IMPL KIND N -> total instructions of one run
  local out=$work/cg.$1.$2.$3
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" run "$1" "$2" "$3" "$base" >/dev/null 2>"$out.log" \
    || { cat "$out.log" >&2; exit 1; }
  awk '/^summary:/ {print $2}' "$out"
}

printf '%-16s %-12s %14s %14s\n' impl kind instr/request allocs/request
for kind in cached revalidated; do
  for impl in $impls; do
    small=$(instructions "$impl" "$kind" "$n_small")
    large=$(instructions "$impl" "$kind" "$n_large")
    per=$(( (large - small) / (n_large - n_small) ))
    allocs=$("$bin" run "$impl" "$kind" "$n_large" "$base" --count-allocations | sed -n 's/^allocations_per_request=//p')
    printf '%-16s %-12s %14d %14s\n' "$impl" "$kind" "$per" "$allocs"
  done
done
