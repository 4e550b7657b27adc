#!/usr/bin/env bash
# The fault run: reproduces each reliability defect against real `revalidate serve` and
# `revalidate edge` processes and prints a table (case, expected, observed, PASS/FAIL).
# Exits non-zero if a case fails. See crates/faults/src/main.rs.
#
#   scripts/faults.sh                      every case
#   scripts/faults.sh --case 428-bypass    one case (repeatable); --list lists them
#   scripts/faults.sh --rounds 1000        racing rounds per lost-update case (default 200)
#
# It builds `revalidate` and the runner with the dev profile by default, reusing what the README's
# test command (scripts/test.sh) already built — FAULTS_PROFILE=release for optimised binaries — and starts a throwaway PostgreSQL
# (scripts/test-postgres.sh) on its own port and directory so that it never meets the test run's
# cluster, stopping it on exit. Without PostgreSQL the two-node cases report SKIPPED, and fail
# under CI. REVALIDATE_FAULTS_PG_URL uses an existing database instead (the run's resources
# are named after the run, so it may be shared).
#
# Settings (environment): FAULTS_PROFILE (dev or release, default dev), REVALIDATE_PG_PORT
# (default 55442), REVALIDATE_PG_DIR (default /tmp/pg-faults), CARGO_TARGET_DIR (default target).
set -euo pipefail
cd "$(dirname "$0")/.."

export REVALIDATE_PG_PORT="${REVALIDATE_PG_PORT:-55442}"
export REVALIDATE_PG_DIR="${REVALIDATE_PG_DIR:-/tmp/pg-faults}"

. scripts/lib/faults-build.sh

pg_url="${REVALIDATE_FAULTS_PG_URL:-}"
if [ -z "$pg_url" ]; then
  if pg_url=$(scripts/test-postgres.sh start); then
    trap 'scripts/test-postgres.sh stop >/dev/null 2>&1 || true' EXIT
  else
    echo "faults.sh: PostgreSQL could not be started; its cases will report SKIPPED (a failure under CI)" >&2
    pg_url=""
  fi
fi

# The connection cases hold over a thousand sockets; the runner raises its own soft limit too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

status=0
REVALIDATE_TEST_PG_URL="$pg_url" "$bin_dir/revalidate-faults" \
  --revalidate "$bin_dir/revalidate" "$@" || status=$?
exit "$status"
