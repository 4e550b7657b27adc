#!/usr/bin/env bash
# Instructions per response, user space, of `revalidate edge` and Varnish
# answering from their caches, counted by callgrind (perf cannot count
# instructions on these VMs; callgrind counts repeat whatever else the
# machine does). Both sit in front of the same nginx origin (not under
# callgrind) serving the shared fixtures; both are warmed with one miss per
# file, so every counted request is answered from the cache.
#
# Load: curl with keep-alive, 16 connections in parallel, an exact number of
# requests (every status is checked). Each row is counted twice, with
# N_SMALL and N_LARGE requests between a callgrind reset and a dump of that
# server's processes only; the figure is the difference divided by
# N_LARGE - N_SMALL, so connection set-up and whatever the server does
# between requests regardless of load cancel out.
#
# Rows: a hit 200 at 1 KiB and at 1 MiB, and a client's If-None-Match
# answered 304 from the cache (the stored ETag).
#
#   scripts/bench-edge-instructions.sh               # both servers
#   ONLY=edge scripts/bench-edge-instructions.sh     # one (edge or varnish)
#   KEEP=/tmp/cg scripts/bench-edge-instructions.sh  # keep the N_LARGE callgrind
#                                                    # files (NAME-ROW.out) for
#                                                    # callgrind_annotate --inclusive=yes
#   SYSCALLS=1 scripts/bench-edge-instructions.sh    # system calls per response
#                                                    # instead (strace -c -f, no valgrind):
#                                                    # kernel work is not in callgrind's count
#
# The edge runs pinned to one core (so its runtime has one worker), as in
# scripts/bench-edge-vs-varnish.sh; Varnish runs with one thread pool, malloc
# storage and the harness's VCL (every object cached for an hour), in the
# foreground without a jail so that valgrind follows its cache process.
# Builds the release binary into $CARGO_TARGET_DIR (default target/), or
# runs REVALIDATE_BIN (an A/B comparison).
# Needs valgrind, nginx, varnish and curl (and strace for SYSCALLS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_TOOLS:-../shared/tools/bench}
root=${BENCH_ROOT:-/tmp/bench-fixtures}
nginx_port=${NGINX_PORT:-19070}
edge_port=${EDGE_PORT:-19071}
varnish_port=${VARNISH_PORT:-19072}
n_small=${N_SMALL:-400}
n_large=${N_LARGE:-2400}
parallel=${PARALLEL:-16}
syscalls=${SYSCALLS:-0}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
. scripts/lib/revalidate-bin.sh
"$bench/fixtures.sh" "$root" >/dev/null

# The origin: one nginx worker, outside valgrind.
mkdir -p "$work/nginx-tmp"
sed -e "s#@PORT@#$nginx_port#g" -e "s#@ROOT@#$root#g" -e "s#@RUN@#$work#g" \
  "$bench/conf/nginx.conf.in" >"$work/nginx.conf"
nginx -p "$work/" -e "$work/nginx.error.log" -c "$work/nginx.conf"

wait_for() { # PORT NAME
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$1/1k.bin" && return 0; sleep 0.2; done
  echo "bench-edge-instructions: $2 did not start" >&2; cat "$work/$2.log" >&2; exit 1
}
wait_for "$nginx_port" nginx

# counted NAME: the command prefix that runs NAME under callgrind (nothing
# with SYSCALLS=1: strace attaches later).
counted() {
  if [[ $syscalls == 1 ]]; then return; fi
  printf '%s\n' valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$work/$1.%p.out"
}

# start NAME: sets $port and $targets (the process to count: the edge, or
# Varnish's cache process).
start() {
  local name=$1 prefix
  mapfile -t prefix < <(counted "$name")
  case $name in
    edge)
      port=$edge_port
      RUST_LOG=warn taskset -c 0 "${prefix[@]}" \
        "$bin" edge --origin "http://127.0.0.1:$nginx_port" --listen "127.0.0.1:$port" \
        --admin-listen off --memory 1GiB >"$work/edge.log" 2>&1 &
      pids+=($!)
      wait_for "$port" edge
      targets=${pids[-1]};;
    varnish)
      port=$varnish_port
      sed "s|@BACKEND_PORT@|$nginx_port|g" "$bench/conf/varnish.vcl" >"$work/varnish.vcl"
      "${prefix[@]}" varnishd -F -j none -n "$work/varnish" -a "127.0.0.1:$port" -f "$work/varnish.vcl" \
        -s malloc,256m -T none -p thread_pools=1 -p thread_pool_min=50 -p thread_pool_max=500 \
        -p cli_timeout=600 >"$work/varnish.log" 2>&1 &
      pids+=($!)
      wait_for "$port" varnish
      # The cache process: the manager's child (under valgrind too).
      targets=$(pgrep -P "${pids[-1]}" | head -1);;
  esac
  [[ -n $targets ]] || { echo "bench-edge-instructions: no process to count for $name" >&2; exit 1; }
}

# load PORT PATH COUNT [HEADER]: COUNT keep-alive requests; fails unless
# every answer has the expected status.
load() {
  local port=$1 path=$2 count=$3 header=${4:-} expect=200 config=$work/curl.conf
  [[ -n $header ]] && expect=304
  : >"$config"
  for _ in $(seq 1 "$count"); do
    printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$port" "$path" >>"$config"
  done
  local codes
  codes=$(curl -s --parallel --parallel-max "$parallel" ${header:+-H "$header"} -w '%{http_code}\n' -K "$config" 2>"$work/curl.err" |
    sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
  if [[ $codes != "$expect:$count " ]]; then
    echo "bench-edge-instructions: expected $count x $expect from $port$path, got $codes" >&2
    exit 1
  fi
}

# count NAME ROW PATH COUNT [HEADER]: instructions (or system calls) of
# the target process while COUNT requests are answered.
count() {
  local name=$1 row=$2 path=$3 n=$4 header=${5:-}
  if [[ $syscalls == 1 ]]; then
    strace -c -f -p "$targets" -o "$work/strace.out" 2>/dev/null &
    local tracer=$!
    sleep 1
    load "$port" "$path" "$n" "$header"
    kill -INT "$tracer"
    wait "$tracer" || true
    awk '$NF == "total" {print $(NF - 2)}' "$work/strace.out"
    return
  fi
  rm -f "$work/$name".*.out.*
  callgrind_control -z "$targets" >/dev/null 2>&1
  load "$port" "$path" "$n" "$header"
  callgrind_control -d "$targets" >/dev/null 2>&1
  local total
  total=$(cat "$work/$name".*.out.* | awk '/^summary:/ {s += $2} END {print s + 0}')
  if [[ -n ${KEEP:-} && $n == "$n_large" ]]; then
    mkdir -p "$KEEP"
    cat "$work/$name".*.out.* >"$KEEP/$name-$row.out"
  fi
  echo "$total"
}

for name in ${ONLY:-edge varnish}; do
  start "$name"
  for path in /1k.bin /1m.bin; do load "$port" "$path" 2; done
  # One uncounted round first: thread pools, connection and allocator
  # caches warm up (Varnish's first counted row was once a third low).
  load "$port" /1k.bin "$n_small"
  etag=$(curl -sI "http://127.0.0.1:$port/1k.bin" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag" {print $2}')
  for row in "hit-1k /1k.bin" "hit-1m /1m.bin" "304-inm /1k.bin"; do
    set -- $row
    header=''
    [[ $1 == 304-inm ]] && header="If-None-Match: $etag"
    small=$(count "$name" "$1" "$2" "$n_small" "$header")
    large=$(count "$name" "$1" "$2" "$n_large" "$header")
    what=instructions_per_response
    [[ $syscalls == 1 ]] && what=syscalls_per_response_x100 && small=$((small * 100)) && large=$((large * 100))
    printf '%-8s %-8s %-8s requests=%s-%s %s=%s\n' "$name" "$1" "$2" \
      "$n_large" "$n_small" "$what" "$(((large - small) / (n_large - n_small)))"
  done
  kill -INT "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
done
