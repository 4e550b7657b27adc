#!/usr/bin/env bash
# Instructions per response, user space, of three caching fronts answering
# from their caches over TLS + HTTP/2, counted by callgrind (perf cannot
# count instructions on these VMs):
#
#   edge     `revalidate edge --listen-tls` (rustls, hyper/h2), pinned to one
#            core so that its runtime has one worker;
#   nginx    nginx `listen ssl http2` with `proxy_cache` (OpenSSL), one
#            process (`master_process off`), every 200 cached for an hour;
#   varnish  Varnish (malloc, one thread pool, the harness's VCL: every object
#            cached for an hour, `feature=+http2`, a PROXY listener) behind
#            Hitch (OpenSSL, ALPN h2 and http/1.1, PROXY v2 to Varnish, one
#            worker): both processes are counted, summed per response;
#   origin   `revalidate serve --listen-tls` serving the fixtures itself
#            (pinned to one core, one worker), the origin's own figure;
#   files    nginx `listen ssl http2` serving the same files from disk, one
#            process, the origin's peer.
#
# All three use one certificate made in the run (ECDSA P-256, `localhost`)
# and sit in front of the same nginx origin (not under callgrind) serving
# the shared fixtures. Each is warmed with one miss per file and an
# uncounted round, so every counted request is answered from the cache.
#
# Load: h2load (nghttp2-client) over TLS with ALPN h2, -t 1 -c 16 -m 10 and
# an exact number of requests (every status is checked, and the protocol is
# checked to be h2). Each row is counted twice, with N_SMALL and N_LARGE
# requests between a callgrind reset and a dump of that front's processes
# only; the figure is the difference divided by N_LARGE - N_SMALL, so
# connection set-up and whatever the server does regardless of load cancel.
#
# Rows: a 1 KiB hit (200), and a client's If-None-Match answered 304 from
# the cache (the stored ETag). With HANDSHAKES=1 (the default) also
# `handshake`: instructions per new TLS connection, C_SMALL and C_LARGE
# connections of one request each (a 1 KiB hit), the same difference
# method: a full TLS handshake (no resumption) plus one h2 request.
#
#   scripts/bench-tls-instructions.sh                # all three fronts
#   ONLY="edge nginx" scripts/bench-tls-instructions.sh
#   ONLY="origin files" scripts/bench-tls-instructions.sh  # the origin's rows
#   KEEP=/tmp/cg scripts/bench-tls-instructions.sh   # keep the N_LARGE callgrind
#                                                    # files (NAME-ROW.out)
#
# Builds the release binary into $CARGO_TARGET_DIR (default target/), or
# runs REVALIDATE_BIN. Needs valgrind, h2load, openssl, curl, nginx, varnishd and hitch.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tls-fronts.sh
bench=${BENCH_TOOLS:-../shared/tools/bench}
root=${BENCH_ROOT:-/tmp/bench-fixtures}
origin_port=${NGINX_PORT:-19080}
edge_port=${EDGE_PORT:-19081}
edge_plain_port=${EDGE_PLAIN_PORT:-19082}
front_nginx_port=${FRONT_NGINX_PORT:-19083}
hitch_port=${HITCH_PORT:-19084}
varnish_port=${VARNISH_PORT:-19085}
serve_port=${SERVE_PORT:-19086}
serve_plain_port=${SERVE_PLAIN_PORT:-19087}
files_port=${FILES_PORT:-19088}
n_small=${N_SMALL:-2000}
n_large=${N_LARGE:-12000}
c_small=${C_SMALL:-20}
c_large=${C_LARGE:-100}
handshakes=${HANDSHAKES:-1}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -f $work/hitch.pid ]] && kill -TERM "$(cat "$work/hitch.pid")" 2>/dev/null || true
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "bench-tls-instructions: $*" >&2; exit 1; }
for tool in valgrind h2load openssl curl nginx varnishd hitch; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
. scripts/lib/revalidate-bin.sh
"$bench/fixtures.sh" "$root" >/dev/null

# One certificate for all the fronts.
tls_certificate "$work"

# The origin: one nginx worker, outside valgrind.
mkdir -p "$work/nginx-tmp"
sed -e "s#@PORT@#$origin_port#g" -e "s#@ROOT@#$root#g" -e "s#@RUN@#$work#g" \
  "$bench/conf/nginx.conf.in" >"$work/nginx.conf"
nginx -p "$work/" -e "$work/nginx.error.log" -c "$work/nginx.conf"

# wait_for SCHEME PORT NAME: until the 1 KiB file is served there.
wait_for() {
  for _ in $(seq 1 300); do
    curl -sk -o /dev/null "$1://localhost:$2/1k.bin" && return 0
    sleep 0.2
  done
  echo "bench-tls-instructions: $3 did not start" >&2
  cat "$work/$3.log" >&2
  exit 1
}
wait_for http "$origin_port" origin

# counted FRONT PROCESS: the command prefix that runs PROCESS under callgrind.
counted() {
  printf '%s\n' valgrind --tool=callgrind --trace-children=yes \
    --callgrind-out-file="$work/cg/$1-$2.%p.out"
}
# World-writable, for Hitch's workers once they have dropped root.
mkdir -p "$work/cg"
chmod 755 "$work"
chmod 1777 "$work/cg"

# start FRONT: sets $port and $targets (the processes to count).
start() {
  local front=$1 prefix
  case $front in
    edge)
      port=$edge_port
      mapfile -t prefix < <(counted edge edge)
      RUST_LOG=warn taskset -c 0 "${prefix[@]}" \
        "$bin" edge --origin "http://127.0.0.1:$origin_port" --listen "127.0.0.1:$edge_plain_port" \
        --listen-tls "127.0.0.1:$port" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
        --admin-listen off --memory 1GiB >"$work/edge.log" 2>&1 &
      pids+=($!)
      wait_for https "$port" edge
      targets=${pids[-1]};;
    origin)
      port=$serve_port
      mapfile -t prefix < <(counted origin origin)
      RUST_LOG=warn taskset -c 0 "${prefix[@]}" \
        "$bin" serve --workers 1 --root "$root" --data "$work/serve-data" --listen "127.0.0.1:$serve_plain_port" \
        --listen-tls "127.0.0.1:$port" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
        >"$work/origin.log" 2>&1 &
      pids+=($!)
      wait_for https "$port" origin
      targets=${pids[-1]};;
    files)
      port=$files_port
      nginx_tls_conf "$work" files-nginx "$port" "root $root;" >"$work/files-nginx.conf"
      mapfile -t prefix < <(counted files nginx)
      "${prefix[@]}" nginx -p "$work/" -e "$work/files-nginx.error.log" -c "$work/files-nginx.conf" \
        >"$work/files.log" 2>&1 &
      pids+=($!)
      wait_for https "$port" files
      targets=${pids[-1]};;
    nginx)
      port=$front_nginx_port
      # The nginx front: proxy_cache of the origin.
      nginx_tls_conf "$work" front-nginx "$port" "$(nginx_cache_body front)" \
        "$(nginx_cache_http "$work" front "$origin_port")" >"$work/front-nginx.conf"
      mapfile -t prefix < <(counted nginx nginx)
      "${prefix[@]}" nginx -p "$work/" -e "$work/front-nginx.error.log" -c "$work/front-nginx.conf" \
        >"$work/nginx.log" 2>&1 &
      pids+=($!)
      wait_for https "$port" nginx
      targets=${pids[-1]};;
    varnish)
      port=$hitch_port
      sed "s|@BACKEND_PORT@|$origin_port|g" "$bench/conf/varnish.vcl" >"$work/varnish.vcl"
      mapfile -t prefix < <(counted varnish varnishd)
      mapfile -t args < <(varnishd_args "$work" "$varnish_port" "$work/varnish.vcl")
      "${prefix[@]}" varnishd "${args[@]}" >"$work/varnish.log" 2>&1 &
      pids+=($!)
      local varnish_manager=${pids[-1]}
      hitch_conf "$work" "$port" "$varnish_port" >"$work/hitch.conf"
      start_hitch
      # Varnish's cache process (the manager's child), under valgrind too.
      targets=$(pgrep -P "$varnish_manager" | head -1);;
  esac
  [[ -n ${targets// /} ]] || die "no process to count for $front"
}

# Hitch's workers drop root, after which callgrind_control cannot reach
# them (its pipes are root's): Hitch is counted from its start to its exit
# instead, a fresh process for each count, so that its start-up cancels in
# the difference like the connections' set-up does.
start_hitch() {
  local prefix
  mapfile -t prefix < <(counted varnish hitch)
  "${prefix[@]}" hitch --config="$work/hitch.conf" >"$work/hitch.log" 2>&1 &
  echo $! >"$work/hitch.pid"
  wait_for https "$hitch_port" hitch
}
stop_hitch() {
  [[ -f $work/hitch.pid ]] || return 0
  local manager children pid
  manager=$(cat "$work/hitch.pid")
  children=$(pgrep -P "$manager" | tr '\n' ' ')
  kill -TERM "$manager" 2>/dev/null || true
  wait "$manager" 2>/dev/null || true
  for pid in $children; do # they write their counts as they exit
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && die "hitch worker $pid did not exit"
  done
  rm -f "$work/hitch.pid"
}

# load PORT PATH COUNT CONNECTIONS STREAMS [HEADER]: COUNT h2 requests over
# TLS; fails unless the protocol is h2 and every answer has the expected
# status (304 with a header, else 200).
load() {
  local port=$1 path=$2 count=$3 conns=$4 streams=$5 header=${6:-} class=2xx out
  [[ -n $header ]] && class=3xx
  out=$(h2load -t 1 -c "$conns" -m "$streams" -n "$count" ${header:+-H "$header"} \
    "https://localhost:$port$path" 2>&1) || die "h2load failed on $port$path: $out"
  grep -q '^Application protocol: h2$' <<<"$out" || die "not h2 on $port: $out"
  grep -q '^TLS Protocol: TLSv1.3$' <<<"$out" || die "not TLS 1.3 on $port: $out"
  grep -q "^requests: $count total, $count started, $count done, $count succeeded, 0 failed, 0 errored" <<<"$out" ||
    die "expected $count answers from $port$path: $(grep '^requests:' <<<"$out")"
  grep -q "^status codes: .*\b$count $class" <<<"$out" ||
    die "expected $count x $class from $port$path: $(grep '^status codes:' <<<"$out")"
  tls=$(awk -F': ' '/^TLS Protocol:|^Cipher:|^Server Temp Key:/ {printf "%s ", $2}' <<<"$out")
}

# count FRONT ROW PATH COUNT CONNECTIONS STREAMS [HEADER]: instructions of
# the front's processes while COUNT requests are answered.
count() {
  local front=$1 row=$2 n=$4 target total
  shift 2
  rm -f "$work/cg/$front"-*.out.* "$work/cg/varnish-hitch".*.out
  [[ $front == varnish ]] && start_hitch
  for target in $targets; do callgrind_control -z "$target" >/dev/null 2>&1; done
  load "$port" "$@"
  for target in $targets; do callgrind_control -d "$target" >/dev/null 2>&1; done
  [[ $front == varnish ]] && stop_hitch
  total=$(cat "$work/cg/$front"-*.out* | awk '/^summary:/ {s += $2} END {printf "%.0f\n", s}')
  if [[ $front == varnish ]]; then # Hitch's share, for the split printed below
    cat "$work/cg/varnish-hitch".*.out | awk '/^summary:/ {s += $2} END {printf "%.0f\n", s}' \
      >"$work/hitch-$row-$n"
  fi
  if [[ -n ${KEEP:-} && $n == "$n_large" || -n ${KEEP:-} && $n == "$c_large" ]]; then
    mkdir -p "$KEEP"
    cat "$work/cg/$front"-*.out* >"$KEEP/$front-$row.out"
  fi
  echo "$total"
}

declare -A result
fronts=${ONLY:-edge nginx varnish}
for front in $fronts; do
  start "$front"
  for path in /1k.bin /1m.bin; do
    curl -sk --http2 -o /dev/null "https://localhost:$port$path" || die "warming $front $path"
  done
  # One uncounted round first: thread pools, connection and allocator
  # caches warm up.
  load "$port" /1k.bin "$n_small" 16 10
  etag=$(curl -skI --http2 "https://localhost:$port/1k.bin" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="etag" {print $2}')
  [[ -n $etag ]] || die "$front sent no ETag"
  stop_hitch # the counts start their own
  rows=("hit-1k /1k.bin $n_small $n_large 16 10" "304-inm /1k.bin $n_small $n_large 16 10")
  [[ $handshakes == 1 ]] && rows+=("handshake /1k.bin $c_small $c_large conns 1")
  for row in "${rows[@]}"; do
    read -r name path small_n large_n conns streams <<<"$row"
    header=''
    [[ $name == 304-inm ]] && header="If-None-Match: $etag"
    if [[ $conns == conns ]]; then
      small=$(count "$front" "$name" "$path" "$small_n" "$small_n" 1)
      large=$(count "$front" "$name" "$path" "$large_n" "$large_n" 1)
    else
      small=$(count "$front" "$name" "$path" "$small_n" "$conns" "$streams" "$header")
      large=$(count "$front" "$name" "$path" "$large_n" "$conns" "$streams" "$header")
    fi
    per=$(((large - small) / (large_n - small_n)))
    result[$front,$name]=$per
    unit=instructions_per_response
    [[ $name == handshake ]] && unit=instructions_per_connection
    printf '%-8s %-10s requests=%s-%s %s=%s\n' "$front" "$name" "$large_n" "$small_n" "$unit" "$per"
    if [[ $front == varnish ]]; then
      hitch_per=$((($(cat "$work/hitch-$name-$large_n") - $(cat "$work/hitch-$name-$small_n")) / (large_n - small_n)))
      echo "         (of which hitch $hitch_per, varnishd $((per - hitch_per)))"
    fi
  done
  [[ $front == varnish ]] && start_hitch
  load "$port" /1k.bin 16 16 1
  echo "         ($front over $tls)"
  stop_hitch
  kill -INT "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
done

# Ratios: the edge's count over each other cache's, the origin's over
# nginx serving files (below 1: ours does less).
for other in nginx varnish; do
  for name in hit-1k 304-inm handshake; do
    [[ -n ${result[edge,$name]:-} && -n ${result[$other,$name]:-} ]] || continue
    awk -v e="${result[edge,$name]}" -v o="${result[$other,$name]}" -v n="$name" -v f="$other" \
      'BEGIN {printf "ratio edge/%-8s %-10s %.2f\n", f, n, e / o}'
  done
done
for name in hit-1k 304-inm handshake; do
  [[ -n ${result[origin,$name]:-} && -n ${result[files,$name]:-} ]] || continue
  awk -v e="${result[origin,$name]}" -v o="${result[files,$name]}" -v n="$name" \
    'BEGIN {printf "ratio origin/files    %-10s %.2f\n", n, e / o}'
done
