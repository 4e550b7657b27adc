#!/usr/bin/env bash
# The README's test command: every test of the workspace.
#
# PostgreSQL-backed tests need a server. When REVALIDATE_TEST_PG_URL is not
# set and PostgreSQL's binaries are installed, a throwaway cluster is started
# for the run and stopped afterwards. Without them, those tests say they were
# skipped (and fail when CI is set, where a skip counts as a failure).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${REVALIDATE_TEST_PG_URL:-}" ] && [ -x scripts/test-postgres.sh ]; then
  if url=$(scripts/test-postgres.sh start); then
    export REVALIDATE_TEST_PG_URL="$url"
    trap 'scripts/test-postgres.sh stop >/dev/null 2>&1 || true' EXIT
  else
    echo "test.sh: PostgreSQL could not be started; its tests will report SKIPPED" >&2
  fi
fi

cargo test --workspace --all-features --locked "$@"
