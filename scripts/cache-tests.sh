#!/usr/bin/env bash
# Runs the HTTP cache test suite (cache-tests.fyi) against `revalidate edge`
# and checks the result against the committed baseline.
#
# Two catalogues:
# - the current suite (the git tree of http-tests/cache-tests, which follows
#   RFC 9111 where the npm package predates it): results, score and
#   baseline in conformance/current/. Its checkout is taken from
#   $REVALIDATE_HCT_SUITE_DIR, else ../shared/tools/cache-tests/suite beside
#   the repository; its npm dependencies are installed outside the
#   repository;
# - npm http-cache-tests@0.4.5 (the last release): conformance/.
#
#   scripts/cache-tests.sh            both catalogues (only 0.4.5, saying so,
#                                     when the current suite's checkout is
#                                     not found; 0.4.5 alone has the
#                                     surrogate-control tests): write
#                                     results.json and score.md, fail (exit 1)
#                                     if a test listed in passing.txt no
#                                     longer passes
#   scripts/cache-tests.sh --suite current|0.4.5|all
#                                     one catalogue (current fails if its
#                                     checkout is missing), or both
#   scripts/cache-tests.sh --update   same, then rewrite passing.txt
#   scripts/cache-tests.sh --id ID    run one test and print the suite's
#                                     request/response dump (no scoring)
#
# The suites are installed with npm into $REVALIDATE_HCT_HOME (default
# /tmp/revalidate-http-cache-tests), outside the repository. Everything
# listens on 127.0.0.1: the suite's origin on $REVALIDATE_HCT_ORIGIN_PORT
# (default 18100), the edge on $REVALIDATE_HCT_EDGE_PORT (default 18101).
# Both are fresh per run (the origin keeps per-test state, the edge a memory
# cache) and are stopped by PID when the script exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
conformance=$root/conformance
version=0.4.5
home=${REVALIDATE_HCT_HOME:-/tmp/revalidate-http-cache-tests}
origin_port=${REVALIDATE_HCT_ORIGIN_PORT:-18100}
edge_port=${REVALIDATE_HCT_EDGE_PORT:-18101}
update=0 test_id='' which=''
while (($#)); do
  case $1 in
    --update) update=1; shift;;
    --suite) which=${2:?--suite needs current, 0.4.5 or all}; shift 2;;
    --id) test_id=${2:?--id needs a test id}; shift 2;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0;;
    *) echo "cache-tests.sh: unknown argument '$1' (try --help)" >&2; exit 2;;
  esac
done
die() { echo "cache-tests.sh: $*" >&2; exit 1; }
for port in "$origin_port" "$edge_port"; do
  [[ $port =~ ^[0-9]+$ ]] && ((port >= 18100 && port <= 18199)) || die "port $port outside 18100-18199"
done
[[ $origin_port != "$edge_port" ]] || die "origin and edge on the same port"
command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
case $home in "$root"|"$root"/*) die "refusing to install the suite inside the repository ($home)";; esac

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local i
  for ((i = 0; i < 300; i++)); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
for port in "$origin_port" "$edge_port"; do
  ! port_busy "$port" || die "port $port is already in use"
done

# --- the suites ----------------------------------------------------------------
current_src=${REVALIDATE_HCT_SUITE_DIR:-$root/../shared/tools/cache-tests/suite}
have_current=0
[[ -f $current_src/package.json && -f $current_src/test-engine/cli.mjs ]] && have_current=1
case $which in
  '') if ((have_current)); then which=all; else
        echo "cache-tests.sh: no current suite at $current_src (set REVALIDATE_HCT_SUITE_DIR); running npm 0.4.5" >&2
        which=0.4.5; fi;;
  current|all) ((have_current)) || die "no current suite at $current_src (a checkout of http-tests/cache-tests; set REVALIDATE_HCT_SUITE_DIR)";;
  0.4.5) ;;
  *) die "--suite takes current, 0.4.5 or all, not '$which'";;
esac
mkdir -p "$home"
# A private package.json so that npm installs here and nowhere else.
[[ -f $home/package.json ]] || echo '{"name":"revalidate-hct","private":true}' > "$home/package.json"

# install_npm: the 0.4.5 package; prints its directory.
install_npm() {
  local suite=$home/node_modules/http-cache-tests installed
  installed=$( [[ -f $suite/package.json ]] && node -p "require('$suite/package.json').version" || true)
  if [[ $installed != "$version" ]]; then
    echo "cache-tests.sh: installing http-cache-tests@$version into $home" >&2
    (cd "$home" && npm install --no-audit --no-fund --loglevel=error "http-cache-tests@$version" >&2)
  fi
  [[ -f $suite/cli.mjs ]] || die "no cli.mjs in $suite"
  echo "$suite"
}

# install_current: a copy of the current suite's checkout with its runtime
# dependencies; prints its directory.
install_current() {
  local dest=$home/current
  if [[ -d $dest/node_modules ]] && diff -rq "$current_src/tests" "$dest/tests" >/dev/null 2>&1 \
      && diff -rq "$current_src/test-engine" "$dest/test-engine" >/dev/null 2>&1; then
    :
  else
    rm -rf "$dest"; mkdir -p "$dest"
    (cd "$current_src" && tar --exclude=.git --exclude=node_modules --exclude=results -cf - .) | (cd "$dest" && tar -xf -)
    echo "cache-tests.sh: installing the current suite's dependencies in $dest" >&2
    (cd "$dest" && npm install --omit=dev --no-audit --no-fund --loglevel=error >&2)
  fi
  [[ -f $dest/test-engine/cli.mjs ]] || die "no test-engine/cli.mjs in $dest"
  echo "$dest"
}

# --- the edge binary -----------------------------------------------------------
target_dir=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --quiet -p revalidate) || die "cargo build failed"
bin=$target_dir/debug/revalidate
[[ -x $bin ]] || die "no binary at $bin"

# --- run ---------------------------------------------------------------------
run=$(mktemp -d "${TMPDIR:-/tmp}/revalidate-hct.XXXXXX")
pids=()
stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  stop_all
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_suite SUITE_DIR CLI OUT_DIR SOURCE: a fresh origin and edge, the
# suite's client, then the score against OUT_DIR/passing.txt.
run_suite() {
  local suite=$1 cli=$2 out=$3 source=$4 status
  echo "cache-tests.sh: $source" >&2
  node "$conformance/origin.mjs" "$suite" "$origin_port" 2> "$run/origin.log" &
  pids+=($!)
  wait_port "$origin_port" "${pids[-1]}" || { cat "$run/origin.log" >&2; die "the suite's origin did not start"; }
  RUST_LOG=${RUST_LOG:-warn} "$bin" edge --origin "http://127.0.0.1:$origin_port" \
    --listen "127.0.0.1:$edge_port" --admin-listen off > "$run/edge.out" 2> "$run/edge.log" &
  pids+=($!)
  wait_port "$edge_port" "${pids[-1]}" || { cat "$run/edge.log" >&2; die "the edge did not start"; }

  set +e
  (cd "$suite" && env npm_config_base="http://127.0.0.1:$edge_port" npm_package_config_base="" \
      npm_config_id="$test_id" npm_package_config_id="" \
      timeout -k 10 600 node --no-warnings --require "$conformance/client-preload.cjs" "$cli") \
    > "$run/raw.json" 2> "$run/client.log"
  status=$?
  set -e
  stop_all
  if [[ -n $test_id ]]; then
    cat "$run/raw.json"
    cat "$run/client.log" >&2
    return "$status"
  fi
  ((status == 0)) || { tail -n 20 "$run/client.log" >&2; tail -n 20 "$run/edge.log" >&2; die "the suite's client failed (exit $status)"; }
  local args=("$suite" "$run/raw.json" "$out")
  ((update)) && args+=(--update)
  REVALIDATE_HCT_SOURCE="$source" node "$conformance/score.mjs" "${args[@]}"
}

failed=0
if [[ $which == current || $which == all ]]; then
  suite=$(install_current)
  mkdir -p "$conformance/current"
  run_suite "$suite" test-engine/cli.mjs "$conformance/current" \
    "the current suite (the git tree of http-tests/cache-tests, as in \`../shared/tools/cache-tests/suite\` or \$REVALIDATE_HCT_SUITE_DIR)" || failed=1
fi
if [[ $which == 0.4.5 || $which == all ]]; then
  suite=$(install_npm)
  run_suite "$suite" cli.mjs "$conformance" "npm \`http-cache-tests@$version\`" || failed=1
fi
exit "$failed"
