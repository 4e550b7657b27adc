#!/usr/bin/env bash
# instructions-server.sh -- instructions per response, user space, of the
# real axum server in examples/bench_server.rs, with and without the layer,
# counted by callgrind. The server (one current-thread runtime) runs under
# valgrind; wrk drives one path for a few seconds; the count between a reset
# and a dump, divided by the responses wrk saw, is the figure. Kernel work
# (syscalls, TCP) is not in it. Wall-clock rps on the shared 2-core machine
# swings by 2x between runs; these counts repeat to a percent or so.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
port=${PORT:-19082}
secs=${SECS:-4}
work=$(mktemp -d)
cargo build -q --release -p revalidate-tower --example bench_server --manifest-path "$root/Cargo.toml"
if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
  echo "instructions-server: something already listens on port $port" >&2; exit 1
fi
ADDR=127.0.0.1:$port valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
  "$target/release/examples/bench_server" >"$work/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$port/plain/1k" && break; sleep 0.2; done

# measure LABEL PATH [If-None-Match from a first GET: inm]
measure() {
  local label=$1 path=$2 hdr=() url="http://127.0.0.1:$port$2"
  if [[ ${3:-} == inm ]]; then
    hdr=(-H "If-None-Match: $(curl -s -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')")
  fi
  local status; status=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" "$url")
  rm -f "$work/cg.out".*
  callgrind_control -z "$pid" >/dev/null 2>&1
  local n; n=$(wrk -t1 -c16 -d"${secs}s" "${hdr[@]}" "$url" | awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  local total; total=$(cat "$work/cg.out".* | awk '/^summary:/ {s+=$2} END {print s}')
  printf '%-22s %-14s status=%s responses=%-6s instructions_per_response=%s\n' "$label" "$path" "$status" "$n" "$((total / n))"
}

measure plain-200 /plain/1k
measure layered-200 /layered/1k
measure layered-304 /layered/1k inm
measure lookup-304 /lookup/1k inm
measure plain-200 /plain/64k
measure layered-200 /layered/64k
measure layered-304 /layered/64k inm
