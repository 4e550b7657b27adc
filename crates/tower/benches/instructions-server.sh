#!/usr/bin/env bash
# instructions-server.sh -- instructions per response, user space, of the
# real axum server in examples/bench_server.rs, with and without the layer,
# counted by callgrind. For each row a fresh server (one current-thread
# runtime) starts under valgrind; curl sends WARM requests, then, between a
# reset and a dump of the counters, exactly N more on one keep-alive
# connection, one at a time; the count over N is the figure. A fresh server
# per row and a fixed request sequence keep the allocator's state and the
# batching of concurrent connections out of the comparison (wrk -c16 on
# one server for all rows moved rows by up to 1.5k between runs; this
# repeats to about 0.2 %). Kernel work (syscalls, TCP) is not in it.
# Compare rows of one run only: a rebuild moves inlining, and with it the
# handler's own count, by up to 3 %.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
port=${PORT:-19082}
n=${N:-3000}
n_large=${N_LARGE:-300}
warm=${WARM:-500}
work=$(mktemp -d)
cargo build -q --release -p revalidate-tower --example bench_server --manifest-path "$root/Cargo.toml"
if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
  echo "instructions-server: something already listens on port $port" >&2; exit 1
fi
pid=
trap 'if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

# measure LABEL PATH [If-None-Match from a first GET: inm]
measure() {
  local label=$1 path=$2 hdr=() url="http://127.0.0.1:$port$2"
  ADDR=127.0.0.1:$port valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$target/release/examples/bench_server" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do curl -s -o /dev/null "$url" && break; sleep 0.2; done
  if [[ ${3:-} == inm ]]; then
    hdr=(-H "If-None-Match: $(curl -s -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')")
  fi
  local status; status=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" "$url")
  # curl reuses one connection for all the URLs of one invocation.
  requests() { for _ in $(seq "$1"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done; }
  requests "$warm" >"$work/warm.cfg"; requests "$n" >"$work/measure.cfg"
  curl -s "${hdr[@]}" -K "$work/warm.cfg"
  rm -f "$work/cg.out".*
  callgrind_control -z "$pid" >/dev/null 2>&1
  curl -s "${hdr[@]}" -K "$work/measure.cfg"
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  local total; total=$(cat "$work/cg.out".* | awk '/^summary:/ {s+=$2} END {print s}')
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  rm -f "$work/cg.out"*
  printf '%-22s %-14s status=%s responses=%-6s instructions_per_response=%s\n' "$label" "$path" "$status" "$n" "$((total / n))"
}

measure plain-200 /plain/1k
measure noop-layer-200 /noop/1k
measure layered-200 /layered/1k
measure handler-layer-200 /handler/1k
measure layered-304 /layered/1k inm
measure lookup-304 /lookup/1k inm
n=$n_large measure plain-200 /plain/64k
n=$n_large measure layered-200 /layered/64k
n=$n_large measure layered-304 /layered/64k inm
