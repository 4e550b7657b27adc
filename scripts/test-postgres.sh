#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of revalidate-store (and anything built on it).
#
#   scripts/test-postgres.sh start   initialise and start the cluster, create the test database,
#                                    print its URL on stdout (the only thing printed there)
#   scripts/test-postgres.sh url     print the URL of the running cluster
#   scripts/test-postgres.sh stop    stop the cluster and delete its data directory
#
# Typical use:
#   export REVALIDATE_TEST_PG_URL=$(scripts/test-postgres.sh start)
#   cargo test -p revalidate-store
#   scripts/test-postgres.sh stop
#
# It uses the server binaries of Debian's `postgresql` package (`apt-get install -y postgresql`),
# version 15 when installed, otherwise the newest installed one. Nothing of the package's own
# cluster is touched: the data directory lives under /tmp, the server listens on 127.0.0.1 only,
# on a fixed port, with `trust` authentication -- for local tests only, never for real data.
# When run as root, initdb and postgres run as the `postgres` OS user (they refuse to run as
# root), through runuser because sudo is often not installed.
#
# Settings (environment):
#   REVALIDATE_PG_PORT   TCP port (default 55432)
#   REVALIDATE_PG_DIR    working directory for data, socket and log (default /tmp/revalidate-pg-$PORT)
#   REVALIDATE_PG_BIN    directory of initdb/pg_ctl/postgres (default: detected, see above)
set -euo pipefail

port="${REVALIDATE_PG_PORT:-55432}"
work_dir="${REVALIDATE_PG_DIR:-/tmp/revalidate-pg-$port}"
data_dir="$work_dir/data"
socket_dir="$work_dir/socket"
log_file="$work_dir/postgres.log"
database="revalidate_test"
superuser="postgres"
url="postgres://$superuser@127.0.0.1:$port/$database"

die() {
  echo "test-postgres.sh: $*" >&2
  exit 1
}

find_bin_dir() {
  if [ -n "${REVALIDATE_PG_BIN:-}" ]; then
    echo "$REVALIDATE_PG_BIN"
    return
  fi
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    echo /usr/lib/postgresql/15/bin
    return
  fi
  # Another major version from Debian's packages: take the newest.
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
    echo "$newest"
    return
  fi
  die "PostgreSQL server binaries not found (install them with: apt-get install -y postgresql)"
}

# Runs a PostgreSQL program as the unprivileged OS user when we are root.
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then
    id "$superuser" >/dev/null 2>&1 || die "OS user '$superuser' does not exist (it comes with the postgresql package)"
    # cd to a directory the postgres user can read, or initdb complains about the caller's cwd.
    (cd "$work_dir" && runuser -u "$superuser" -- "$@")
  else
    (cd "$work_dir" && "$@")
  fi
}

is_running() {
  [ -f "$data_dir/PG_VERSION" ] && as_pg_user "$bin_dir/pg_ctl" -D "$data_dir" status >/dev/null 2>&1
}

port_in_use() {
  # bash's /dev/tcp: a successful connect means something listens there.
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# Whether a server answers on our port and holds our test database.
answers() {
  "$bin_dir/psql" -h 127.0.0.1 -p "$port" -U "$superuser" -d "$database" -Atqc 'select 1' >/dev/null 2>&1
}

# Whether the server answering on our port is ours (its data directory is $data_dir).
ours() {
  [ "$("$bin_dir/psql" -h 127.0.0.1 -p "$port" -U "$superuser" -d postgres -Atqc 'show data_directory' 2>/dev/null)" = "$data_dir" ]
}

# Stops whatever an earlier, interrupted run left behind: a server started from $data_dir (running even
# if its directory was deleted, or with a stale pid file), then the directory itself.
clean_leftovers() {
  if [ -f "$data_dir/postmaster.pid" ]; then
    as_pg_user "$bin_dir/pg_ctl" -D "$data_dir" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  fi
  local pids
  pids=$(pgrep -f -- "-D $data_dir" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    echo "test-postgres.sh: stopping a server left by an earlier run (pids $pids)" >&2
    kill -QUIT $pids 2>/dev/null || true
    for _ in $(seq 1 100); do
      pgrep -f -- "-D $data_dir" >/dev/null 2>&1 || break
      sleep 0.1
    done
    pgrep -f -- "-D $data_dir" >/dev/null 2>&1 && kill -KILL $(pgrep -f -- "-D $data_dir") 2>/dev/null || true
  fi
  rm -rf "$work_dir"
}

start() {
  # Idempotent: a cluster of ours that already answers is reused (its database created if an earlier
  # run stopped before that step); anything else an interrupted run left is cleaned up first.
  if [ -f "$data_dir/PG_VERSION" ] && port_in_use && ours; then
    if ! answers; then
      as_pg_user "$bin_dir/createdb" -h 127.0.0.1 -p "$port" -U "$superuser" "$database" >&2 \
        || die "could not create database $database"
    fi
    echo "test-postgres.sh: already running ($data_dir)" >&2
    echo "$url"
    return
  fi
  clean_leftovers
  if port_in_use; then
    die "port $port on 127.0.0.1 is taken by another program; choose another with REVALIDATE_PG_PORT"
  fi
  mkdir -p "$data_dir" "$socket_dir"
  chmod 700 "$data_dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R "$superuser:" "$work_dir"
  fi
  echo "test-postgres.sh: initialising a cluster with $bin_dir in $data_dir" >&2
  as_pg_user "$bin_dir/initdb" -D "$data_dir" -U "$superuser" --auth=trust --encoding=UTF8 --locale=C \
    >"$work_dir/initdb.log" 2>&1 || { cat "$work_dir/initdb.log" >&2; die "initdb failed"; }
  # fsync off and a short checkpoint distance: the data is thrown away after the run.
  as_pg_user "$bin_dir/pg_ctl" -D "$data_dir" -l "$log_file" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$socket_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2 || { cat "$log_file" >&2 || true; die "the server did not start"; }
  as_pg_user "$bin_dir/createdb" -h 127.0.0.1 -p "$port" -U "$superuser" "$database" >&2 \
    || die "could not create database $database"
  echo "$url"
}

stop() {
  if [ -d "$work_dir" ] && is_running; then
    as_pg_user "$bin_dir/pg_ctl" -D "$data_dir" -m fast -w stop >&2 || true
  fi
  clean_leftovers
  echo "test-postgres.sh: stopped" >&2
}

print_url() {
  [ -d "$work_dir" ] && is_running || die "not running (start it with: $0 start)"
  echo "$url"
}

bin_dir=$(find_bin_dir)
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) print_url ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
