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
#   ROWS=revalidate DURATION=2s scripts/bench-edge-vs-varnish.sh 1   # only some rows
#
# Rows (ROWS, default all): 200-small and 200-large, a hit 200 at 1 KiB and at
# 1 MiB; 304-inm, a client's If-None-Match answered 304 from the cache;
# revalidate, a plain GET of 1 KiB that finds a stale entry and revalidates it
# with the origin, which answers 304, then a 200 from the cache. For the hit
# rows nginx sends no Cache-Control; the edge stores the fixtures by the
# Last-Modified heuristic (RFC 9111 §4.2.2), Varnish by its VCL's ttl. Each side
# is warmed (one miss) before the rounds.
#
# The revalidate row has its own origin, edge and Varnish (all on core 0 too):
# a second nginx on the same fixtures that adds `Cache-Control: max-age=0,
# must-revalidate` (so the edge stores each response and must revalidate it
# before every use, RFC 9111 §4.2.4), and a Varnish whose VCL says the same:
# ttl 1 us (Varnish ignores objects with a ttl of 0s), grace 0s (no stale
# delivery while refreshing), keep 1h (the object stays for conditional
# fetches). Both send If-None-Match (Varnish also If-Modified-Since) and nginx
# answers 304. The row runs wrk with one connection (REVAL_CONNS, default 1):
# both caches collapse concurrent requests for one URL into one revalidation,
# so with 16 connections only about one response in 11 to 13 cost a request to
# nginx (counted in its log), while with one every response does. Before the
# rounds the script checks this in nginx's access log ($status only, buffered):
# a request through each side must add exactly one 304 there, or the row is
# not run.
#
# Uses the release binary in $CARGO_TARGET_DIR (default target/), built first;
# REVALIDATE_BIN=path uses that binary instead and builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
bench=${BENCH_TOOLS:-../shared/tools/bench}
export BENCH_ROOT=${BENCH_ROOT:-/tmp/bench-fixtures}
edge_port=${PORT:-19020}
nginx_port=${NGINX_PORT:-19001}
varnish_port=${VARNISH_PORT:-19003}
reval_nginx_port=${REVAL_NGINX_PORT:-19004}
reval_varnish_port=${REVAL_VARNISH_PORT:-19005}
reval_edge_port=${REVAL_PORT:-19021}
rows=${ROWS:-200-small 200-large 304-inm revalidate}
run=${BENCH_RUN:-/tmp/bench-run}
target=${CARGO_TARGET_DIR:-target}

if [[ -n ${REVALIDATE_BIN:-} ]]; then bin=$REVALIDATE_BIN; else cargo build -q --release -p revalidate; bin=$target/release/revalidate; fi
"$bench/fixtures.sh" "$BENCH_ROOT" >/dev/null
"$bench/servers.sh" start nginx "$nginx_port" >/dev/null
"$bench/servers.sh" start varnish "$varnish_port" "$nginx_port" >/dev/null

RUST_LOG=warn taskset -c 0 "$bin" edge --origin "http://127.0.0.1:$nginx_port" \
  --listen "127.0.0.1:$edge_port" --admin-listen off --memory 1GiB >/dev/null &
edge=$!
reval_edge=
stop_pidfile() { # stop the process whose pid is in $1 (bounded wait), by that pid only
  [[ -f $1 ]] || return 0
  local pid; pid=$(cat "$1")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$1"
}
cleanup() {
  kill "$edge" 2>/dev/null || true; wait "$edge" 2>/dev/null || true
  if [[ -n $reval_edge ]]; then kill "$reval_edge" 2>/dev/null || true; wait "$reval_edge" 2>/dev/null || true; fi
  stop_pidfile "$run/varnish-reval.pid"; stop_pidfile "$run/nginx-reval.pid"
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
  [[ " $rows " == *" $1 "* ]] || continue
  echo "## $1 $2 (A = revalidate edge, B = Varnish)"
  "$bench/compare.sh" -n "$rounds" "$1" "http://127.0.0.1:$edge_port" "http://127.0.0.1:$varnish_port" "$2"
done

if [[ $rounds != 0 && " $rows " == *" revalidate "* ]]; then
  mkdir -p "$run/nginx-reval-tmp"
  cat > "$run/nginx-reval.conf" <<NGINX
# The revalidate row's origin (rendered by scripts/bench-edge-vs-varnish.sh).
daemon on;
master_process on;
worker_processes 1;
pid $run/nginx-reval.pid;
error_log $run/nginx-reval.error.log warn;
events { worker_connections 1024; }
http {
    log_format status_only '\$status';
    access_log $run/nginx-reval.access.log status_only buffer=64k flush=1s;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    client_body_temp_path $run/nginx-reval-tmp;
    proxy_temp_path $run/nginx-reval-tmp;
    fastcgi_temp_path $run/nginx-reval-tmp;
    uwsgi_temp_path $run/nginx-reval-tmp;
    scgi_temp_path $run/nginx-reval-tmp;
    server {
        listen 127.0.0.1:$reval_nginx_port reuseport backlog=4096;
        server_name bench-revalidate;
        root $BENCH_ROOT;
        # Store, but revalidate before every use (also sent on 304s).
        add_header Cache-Control "max-age=0, must-revalidate";
    }
}
NGINX
  cat > "$run/varnish-reval.vcl" <<VCL
vcl 4.1;
# The revalidate row's Varnish: every object is stale at once (ttl 1 us: the
# lookup skips objects whose ttl is 0s, so 0s would never revalidate), never
# served stale while a refresh runs (grace 0s), and kept for an hour so that
# each request makes a conditional fetch (keep 1h). return (deliver) skips the
# built-in VCL, which makes a response with max-age=0 a hit-for-miss.
backend origin {
    .host = "127.0.0.1";
    .port = "$reval_nginx_port";
}
sub vcl_backend_response {
    set beresp.ttl = 0.001ms;
    set beresp.grace = 0s;
    set beresp.keep = 1h;
    return (deliver);
}
VCL
  rm -f "$run/nginx-reval.access.log"
  taskset -c 0 nginx -p "$run/" -e "$run/nginx-reval.error.log" -c "$run/nginx-reval.conf"
  rm -f "$run/varnish-reval.pid"
  taskset -c 0 varnishd -n "$run/varnish-reval" -a "127.0.0.1:$reval_varnish_port" -f "$run/varnish-reval.vcl" \
    -s "malloc,${VARNISH_MEM:-256m}" -P "$run/varnish-reval.pid" -T none \
    -p thread_pools=1 -p thread_pool_min=50 -p thread_pool_max=500
  RUST_LOG=warn taskset -c 0 "$bin" edge --origin "http://127.0.0.1:$reval_nginx_port" \
    --listen "127.0.0.1:$reval_edge_port" --admin-listen off --memory 1GiB >/dev/null &
  reval_edge=$!
  for port in "$reval_nginx_port" "$reval_varnish_port" "$reval_edge_port"; do
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/1k.bin" && break; sleep 0.1; done
  done
  # Each side now holds a stale copy. One more request each must reach nginx
  # as a conditional request answered 304.
  count_304() { sleep 1.2; grep -c '^304$' "$run/nginx-reval.access.log" || true; }
  before=$(count_304)
  curl -s -o /dev/null "http://127.0.0.1:$reval_edge_port/1k.bin"
  after_edge=$(count_304)
  curl -s -o /dev/null "http://127.0.0.1:$reval_varnish_port/1k.bin"
  after_varnish=$(count_304)
  echo "# revalidate: nginx 304s for one request: edge $((after_edge - before)), varnish $((after_varnish - after_edge))"
  echo "# edge:    $(curl -s -o /dev/null -D - "http://127.0.0.1:$reval_edge_port/1k.bin" | tr -d '\r' | grep -i '^cache-status')"
  echo "# varnish: $(curl -s -o /dev/null -D - "http://127.0.0.1:$reval_varnish_port/1k.bin" | tr -d '\r' | grep -iE '^(age|x-varnish)' | tr '\n' ' ')"
  if [[ $((after_edge - before)) != 1 || $((after_varnish - after_edge)) != 1 ]]; then
    echo "bench-edge-vs-varnish: the revalidate row would not measure revalidations; not run" >&2
    exit 1
  fi
  echo "## revalidate /1k.bin: stale entry, conditional GET, 304 from nginx; ${REVAL_CONNS:-1} connection(s) (A = revalidate edge, B = Varnish)"
  CONNS=${REVAL_CONNS:-1} "$bench/compare.sh" -n "$rounds" 200-small "http://127.0.0.1:$reval_edge_port" \
    "http://127.0.0.1:$reval_varnish_port" /1k.bin
fi

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
