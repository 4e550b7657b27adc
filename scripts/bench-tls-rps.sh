#!/usr/bin/env bash
# Requests per second over TLS + HTTP/2, side by side and interleaved, of
# the two pairs the front-door issue compares:
#
#   origin  `revalidate serve --workers 1` serving the fixtures   against
#   files   nginx `listen ssl http2` serving the same files (one worker);
#   edge    `revalidate edge` answering from its cache             against
#   nginx   nginx `proxy_cache` (one worker), both in front of one nginx
#           origin (not measured) and warmed so that every request hits;
#   edge    again                                                   against
#   varnish Varnish (malloc, one thread pool, the harness's VCL: every
#           object cached for an hour, h2) behind Hitch (one worker, ALPN
#           h2, PROXY v2), both processes on the same one core.
#
# Each server runs pinned to core 0 (one worker: the same single core for
# every server) and h2load to core 1: h2load -t 1 -c 32 -m 10 for
# DURATION seconds after a warm-up, ROUNDS rounds, the pairs taking turns
# within each round so that the machine's drift hits both alike. Rows: a
# 1 KiB 200 (or hit), a 304 answering the file's ETag, and `handshake`:
# full TLS 1.3 handshakes per second, each on a new connection carrying one
# 1 KiB request (h2load -c 400 -n 400, ten times; 400 stays under both
# servers' listen backlogs). On a two-core machine the handshake row is
# bound by h2load's own side of the handshakes (one core for it): read the
# instructions per handshake of scripts/bench-tls-instructions.sh instead. Prints every
# round and, per row, the medians and their ratio. Wall-clock figures on a
# shared machine are noisy: read them beside the instruction counts of
# scripts/bench-tls-instructions.sh, which do not drift.
#
#   scripts/bench-tls-rps.sh                     # origin and edge pairs, 3 rounds of 8 s
#   PAIRS=origin ROUNDS=5 scripts/bench-tls-rps.sh
#   PAIRS=varnish scripts/bench-tls-rps.sh       # the edge against Varnish + Hitch
#   REVALIDATE_BIN=/path/to/revalidate scripts/bench-tls-rps.sh
#
# Builds the release binary into $CARGO_TARGET_DIR (default target/), or
# runs REVALIDATE_BIN. Needs h2load (nghttp2-client), openssl, curl, nginx
# and taskset (varnishd and hitch for PAIRS=varnish), and two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tls-fronts.sh
bench=${BENCH_TOOLS:-../shared/tools/bench}
root=${BENCH_ROOT:-/tmp/bench-fixtures}
pairs=${PAIRS:-"origin edge"}
rounds=${ROUNDS:-3}
duration=${DURATION:-8}
origin_port=19180 serve_port=19181 files_port=19182 edge_port=19183 front_port=19184
hitch_port=19185 varnish_port=19186
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for f in "$work"/*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "bench-tls-rps: $*" >&2; exit 1; }
for tool in h2load openssl curl nginx taskset; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
. scripts/lib/revalidate-bin.sh
"$bench/fixtures.sh" "$root" >/dev/null
tls_certificate "$work"

wait_for() {
  for _ in $(seq 1 300); do
    curl -sk -o /dev/null "$1://localhost:$2/1k.bin" && return 0
    sleep 0.2
  done
  cat "$work/$3.log" >&2
  die "$3 did not start"
}

# The upstream of both caches: one nginx worker on core 1 beside h2load;
# it is asked once per file (every later request is a hit).
mkdir -p "$work/upstream-tmp"
sed -e "s#@PORT@#$origin_port#g" -e "s#@ROOT@#$root#g" -e "s#@RUN@#$work#g" \
  "$bench/conf/nginx.conf.in" >"$work/upstream.conf"
taskset -c 1 nginx -p "$work/" -e "$work/upstream.error.log" -c "$work/upstream.conf"
wait_for http "$origin_port" upstream

start() {
  case $1 in
    origin)
      RUST_LOG=warn taskset -c 0 "$bin" serve --workers 1 --root "$root" --data "$work/serve-data" \
        --listen 127.0.0.1:0 --listen-tls "127.0.0.1:$serve_port" --admin-listen off \
        --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" >"$work/origin.log" 2>&1 &
      pids+=($!); wait_for https "$serve_port" origin;;
    files)
      nginx_tls_conf "$work" files "$files_port" "root $root;" >"$work/files.conf"
      taskset -c 0 nginx -p "$work/" -e "$work/files.error.log" -c "$work/files.conf" >"$work/files.log" 2>&1 &
      pids+=($!); wait_for https "$files_port" files;;
    edge)
      RUST_LOG=warn taskset -c 0 "$bin" edge --origin "http://127.0.0.1:$origin_port" --listen 127.0.0.1:0 \
        --listen-tls "127.0.0.1:$edge_port" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
        --admin-listen off --memory 1GiB >"$work/edge.log" 2>&1 &
      pids+=($!); wait_for https "$edge_port" edge;;
    nginx)
      nginx_tls_conf "$work" front "$front_port" "$(nginx_cache_body front)" \
        "$(nginx_cache_http "$work" front "$origin_port")" >"$work/front.conf"
      taskset -c 0 nginx -p "$work/" -e "$work/front.error.log" -c "$work/front.conf" >"$work/nginx.log" 2>&1 &
      pids+=($!); wait_for https "$front_port" nginx;;
    varnish)
      sed "s|@BACKEND_PORT@|$origin_port|g" "$bench/conf/varnish.vcl" >"$work/varnish.vcl"
      mapfile -t args < <(varnishd_args "$work" "$varnish_port" "$work/varnish.vcl")
      taskset -c 0 varnishd "${args[@]}" >"$work/varnish.log" 2>&1 &
      pids+=($!)
      hitch_conf "$work" "$hitch_port" "$varnish_port" >"$work/hitch.conf"
      taskset -c 0 hitch --config="$work/hitch.conf" >"$work/hitch.log" 2>&1 &
      pids+=($!); wait_for https "$hitch_port" hitch;;
  esac
}

port_of() {
  case $1 in
    origin) echo "$serve_port" ;; files) echo "$files_port" ;; edge) echo "$edge_port" ;;
    nginx) echo "$front_port" ;; varnish) echo "$hitch_port" ;;
  esac
}

# handshakes SERVER: new connections per second, each with one request.
handshakes() {
  local url="https://localhost:$(port_of "$1")/1k.bin" out start end
  start=$(date +%s.%N)
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    out=$(taskset -c 1 h2load -t 1 -c 400 -n 400 -m 1 "$url" 2>&1)
    grep -q '^requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed' <<<"$out" ||
      die "$1 handshake: $(grep '^requests:' <<<"$out")"
  done
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f\n", 4000 / (e - s)}'
}

# rps SERVER ROW: one h2load run; prints requests per second.
rps() {
  [[ $2 == handshake ]] && { handshakes "$1"; return; }
  local url="https://localhost:$(port_of "$1")/1k.bin" hdr=() out
  if [[ $2 == 304-inm ]]; then
    local etag
    etag=$(curl -sk --http2 -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag" {print $2}')
    [[ -n $etag ]] || die "$1 sent no ETag"
    hdr=(-H "if-none-match: $etag")
  fi
  out=$(taskset -c 1 h2load -t 1 -c 32 -m 10 -D "$duration" --warm-up-time=2 "${hdr[@]}" "$url" 2>&1)
  local want=2xx
  [[ $2 == 304-inm ]] && want=3xx
  grep -q "h2" <<<"$(grep -i 'Application protocol' <<<"$out")" || die "$1 did not speak h2: $out"
  local failed
  failed=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$out" | head -1)
  [[ ${failed:-1} == 0 ]] || die "$1 $2: failed requests: $out"
  local codes other
  codes=$(grep -m1 'status codes:' <<<"$out") || die "$1 $2: no status line: $out"
  # Every answer must be of the row's class (2xx for a 200, 3xx for a 304).
  other=$(tr ',' '\n' <<<"${codes#*:}" | grep -v " $want" | awk '{s += $1} END {print s + 0}')
  [[ $other == 0 ]] || die "$1 $2: answers other than $want: $codes"
  sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A results started
for pair in $pairs; do
  case $pair in
    origin) servers="origin files" ;;
    edge) servers="edge nginx" ;;
    varnish) servers="edge varnish" ;;
    *) die "PAIRS: origin, edge and/or varnish, not $pair" ;;
  esac
  for s in $servers; do [[ -n ${started[$s]:-} ]] || { start "$s"; started[$s]=1; }; done
  for ((r = 1; r <= rounds; r++)); do
    for row in hit-1k 304-inm handshake; do
      for s in $servers; do
        v=$(rps "$s" "$row")
        results[$pair.$s.$row]+="$v "
        printf 'round %d %-7s %-7s %s req/s\n' "$r" "$s" "$row" "$v"
      done
    done
  done
  set -- $servers
  for row in hit-1k 304-inm handshake; do
    a=$(tr ' ' '\n' <<<"${results[$pair.$1.$row]}" | grep . | median)
    b=$(tr ' ' '\n' <<<"${results[$pair.$2.$row]}" | grep . | median)
    printf 'median %-7s %-7s %s req/s; %s %s req/s; ratio %s/%s %.2f\n' "$1" "$row" "$a" "$2" "$b" "$1" "$2" \
      "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')"
  done
done
