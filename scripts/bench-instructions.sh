#!/usr/bin/env bash
# Instructions per response, user space, of `revalidate serve` and nginx on
# the same files, counted by callgrind (perf stat cannot count instructions
# on these VMs; callgrind counts are repeatable whatever else the machine
# does). Each server runs one worker under valgrind; wrk drives it for a
# few seconds; the count between a reset and a dump, divided by the
# responses wrk saw, is the figure. Kernel work (syscalls, TCP) is not in
# it: compare syscalls per response with strace -c.
#
#   scripts/bench-instructions.sh            # all scenarios, both servers
#   ONLY=revalidate scripts/bench-instructions.sh   # one server
#   KEEP=/tmp/cg scripts/bench-instructions.sh      # keep the callgrind files
#                                                   # (NAME-SCENARIO.out) for callgrind_annotate
#
# Builds the release binary into $CARGO_TARGET_DIR (default target/), or
# runs REVALIDATE_BIN (an A/B comparison); for
# annotated profiles add CARGO_PROFILE_RELEASE_DEBUG=true.
#
# Needs valgrind, nginx and wrk (apt-get install valgrind nginx-light wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_TOOLS:-../shared/tools/bench}
root=${BENCH_ROOT:-/tmp/bench-fixtures}
work=$(mktemp -d)
trap 'pkill -INT -f "callgrind-out-file=$work" 2>/dev/null || true; rm -rf "$work"' EXIT
. scripts/lib/revalidate-bin.sh
"$bench/fixtures.sh" "$root" >/dev/null

# start_server NAME PORT: under callgrind, waits until it answers.
start_server() {
  local name=$1 port=$2
  case $name in
    revalidate)
      RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
        "$bin" serve --workers 1 --root "$root" --data "$work/data" \
        --listen "127.0.0.1:$port" >"$work/$name.log" 2>&1 &;;
    nginx)
      mkdir -p "$work/nginx-tmp"
      sed -e "s#@PORT@#$port#g" -e "s#@ROOT@#$root#g" -e "s#@RUN@#$work#g" \
        -e 's#^daemon on;#daemon off;#' -e 's#^master_process on;#master_process off;#' \
        "$bench/conf/nginx.conf.in" >"$work/nginx.conf"
      valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
        nginx -p "$work/" -e "$work/nginx.error.log" -c "$work/nginx.conf" >"$work/$name.log" 2>&1 &;;
  esac
  for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$port/1k.bin" && return 0; sleep 0.2; done
  echo "bench-instructions: $name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

# measure NAME PORT SCENARIO PATH
measure() {
  local name=$1 port=$2 scenario=$3 path=$4 hdr=()
  local url="http://127.0.0.1:$port$path"
  case $scenario in
    304-inm) hdr=(-H "If-None-Match: $(curl -sI "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')");;
    304-ims) hdr=(-H "If-Modified-Since: $(curl -sI "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="last-modified"{print $2}')");;
  esac
  curl -s -o /dev/null "${hdr[@]}" "$url"
  rm -f "$work/$name.out".*
  callgrind_control -z >/dev/null 2>&1
  local n
  n=$(wrk -t1 -c16 -d4s "${hdr[@]}" "$url" | awk '/requests in/ {print $1}')
  callgrind_control -d >/dev/null 2>&1
  sleep 1
  local total
  total=$(cat "$work/$name.out".* | awk '/^summary:/ {s+=$2} END {print s}')
  if [[ -n ${KEEP:-} ]]; then mkdir -p "$KEEP"; cat "$work/$name.out".* >"$KEEP/$name-$scenario.out"; fi
  printf '%-10s %-10s %-9s responses=%-7s instructions_per_response=%s\n' "$name" "$scenario" "$path" "$n" "$((total / n))"
}

for name in ${ONLY:-revalidate nginx}; do
  port=19020
  start_server "$name" "$port"
  for scenario in "200-small /1k.bin" "200-large /1m.bin" "304-inm /1k.bin" "304-ims /1k.bin"; do
    set -- $scenario
    measure "$name" "$port" "$1" "$2"
  done
  pkill -INT -f "callgrind-out-file=$work/$name.out" || true
  sleep 2
done
