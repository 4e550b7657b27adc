#!/usr/bin/env bash
# Regression test for `scripts/test-postgres.sh start` after an interrupted earlier run (issue 12, item 10):
# whatever the earlier run left behind, `start` must end with a server that answers with the test
# database, and `stop` must leave no server and no directory. Each case leaves a different mess:
#   1. a second `start` while the cluster runs (reused),
#   2. the directory deleted under a running server,
#   3. the postmaster killed with SIGKILL (a stale pid file and maybe orphaned backends),
#   4. the test database missing (an earlier run stopped before `createdb`),
#   5. `stop` twice.
# Needs PostgreSQL's server binaries; called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
export REVALIDATE_PG_PORT=${REVALIDATE_PG_PORT:-55498}
export REVALIDATE_PG_DIR=/tmp/revalidate-pg-leftovers-$REVALIDATE_PG_PORT
pg=scripts/test-postgres.sh
trap '$pg stop >/dev/null 2>&1 || true' EXIT

answers() {
  [ "$(psql "$1" -Atqc 'select 42' 2>/dev/null)" = 42 ] || { echo "FAIL: $2: the server does not answer at $1" >&2; exit 1; }
}

url=$($pg start 2>/dev/null); answers "$url" "fresh start"
url=$($pg start 2>/dev/null); answers "$url" "second start while running"
rm -rf "$REVALIDATE_PG_DIR"
url=$($pg start 2>/dev/null); answers "$url" "directory deleted under a running server"
kill -KILL "$(head -1 "$REVALIDATE_PG_DIR/data/postmaster.pid")"
url=$($pg start 2>/dev/null); answers "$url" "postmaster killed (stale pid file)"
psql "${url%/*}/postgres" -qc 'drop database revalidate_test' >/dev/null
url=$($pg start 2>/dev/null); answers "$url" "test database missing"
$pg stop 2>/dev/null; $pg stop 2>/dev/null
if pgrep -f -- "-D $REVALIDATE_PG_DIR/data" >/dev/null || [ -e "$REVALIDATE_PG_DIR" ]; then
  echo "FAIL: stop left a server or its directory behind" >&2; exit 1
fi
echo "test-postgres-leftovers: ok (5 kinds of leftovers)"
