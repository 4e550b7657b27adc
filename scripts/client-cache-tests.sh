#!/usr/bin/env bash
# The HTTP cache test suite (the current suite's CLI tests) against two
# client-side caches in a reqwest_middleware client: revalidate-client's
# CacheMiddleware and http-cache-reqwest's Cache (both in memory, default
# modes). The suite tests proxies, so each cache sits in
# `revalidate-client-bench proxy`, which sends every request through the
# cache to the suite's origin and returns what the cache gave. Both are
# private caches: the suite's shared-cache tests (s-maxage, private,
# Authorization, ...) fail for both by design; compare the two, not the
# totals with `revalidate edge`.
#
#   scripts/client-cache-tests.sh            score both, print the table and
#                                            the tests only one passes
#   OUT=dir scripts/client-cache-tests.sh    keep results.json and score.md
#                                            per cache in dir/IMPL
#
# Needs node and npm, and the current suite installed by
# `scripts/cache-tests.sh --suite current` (in $REVALIDATE_HCT_HOME, default
# /tmp/revalidate-http-cache-tests). Listens on 127.0.0.1 ports
# $REVALIDATE_HCT_ORIGIN_PORT (default 18110) and that plus one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
home=${REVALIDATE_HCT_HOME:-/tmp/revalidate-http-cache-tests}
suite=$home/current
origin_port=${REVALIDATE_HCT_ORIGIN_PORT:-18110}
proxy_port=$((origin_port + 1))
target=${CARGO_TARGET_DIR:-$root/target}
die() { echo "client-cache-tests.sh: $*" >&2; exit 1; }
[[ -f $suite/test-engine/cli.mjs ]] || die "no suite in $suite: run scripts/cache-tests.sh --suite current once"
(cd "$root" && cargo build --quiet --release --locked -p revalidate-client-bench) || die "cargo build failed"
bin=$target/release/revalidate-client-bench
out=${OUT:-$(mktemp -d)}
run=$(mktemp -d)
pids=()
stop_all() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$run"' EXIT
wait_port() { # PORT PID
  for _ in $(seq 200); do
    kill -0 "$2" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

for impl in revalidate http-cache; do
  node "$root/conformance/origin.mjs" "$suite" "$origin_port" 2>"$run/origin.log" &
  pids+=($!)
  wait_port "$origin_port" "${pids[-1]}" || die "the suite's origin did not start"
  "$bin" proxy "$impl" "$proxy_port" "http://127.0.0.1:$origin_port" 2>"$run/proxy.log" &
  pids+=($!)
  wait_port "$proxy_port" "${pids[-1]}" || die "the $impl proxy did not start"
  (cd "$suite" && env npm_config_base="http://127.0.0.1:$proxy_port" npm_package_config_base="" \
      npm_config_id="" npm_package_config_id="" \
      timeout -k 10 600 node --no-warnings --require "$root/conformance/client-preload.cjs" test-engine/cli.mjs) \
    >"$run/$impl.json" 2>"$run/client.log" || { tail -n 20 "$run/client.log" >&2; die "the suite's client failed ($impl)"; }
  stop_all
  mkdir -p "$out/$impl"
  REVALIDATE_HCT_SOURCE="the current suite, through \`revalidate-client-bench proxy $impl\`" \
    node "$root/conformance/score.mjs" "$suite" "$run/$impl.json" "$out/$impl" --update >/dev/null
  echo "== $impl"
  grep -E '^\| (kind|---|required|optimal|check) ' "$out/$impl/score.md"
done

node -e '
const fs = require("fs")
const [a, b] = process.argv.slice(1).map(f => JSON.parse(fs.readFileSync(f, "utf8")))
for (const [name, mine, theirs] of [["revalidate only", a, b], ["http-cache only", b, a]]) {
  const ids = Object.keys(mine).filter(id => mine[id] === true && theirs[id] !== true).sort()
  console.log(`== passed by ${name}: ${ids.length}`)
  for (const id of ids) console.log(`  ${id}`)
}' "$out/revalidate/results.json" "$out/http-cache/results.json"
