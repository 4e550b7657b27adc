#!/usr/bin/env bash
# Checks the Grafana dashboards in dashboards/ against the metrics the
# servers really export: starts `revalidate serve` and `revalidate edge` in
# front of it (each with an admin listener on an ephemeral loopback port),
# sends requests through both so that every series and histogram exists,
# scrapes both admin /metrics, and fails (exit 1) if a dashboard's query
# names a metric, or groups or filters by a label, that its server does not
# export. `.ci/run` calls it.
#
#   scripts/check-dashboards.sh
#
# Builds the debug binary into $CARGO_TARGET_DIR (default target/); needs
# curl and python3. Every process it starts is stopped by PID at exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "check-dashboards.sh: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
(cd "$root" && cargo build --quiet -p revalidate) || die "cargo build failed"
bin=${CARGO_TARGET_DIR:-$root/target}/debug/revalidate
work=$(mktemp -d "${TMPDIR:-/tmp}/revalidate-dashboards.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# address LOG PATTERN: the address on the line of LOG that starts with PATTERN.
address() {
  local i line
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 "^$2" "$1" 2>/dev/null || true)
    [[ -n $line ]] && { echo "${line##*http://}"; return 0; }
    sleep 0.1
  done
  cat "$1" >&2
  die "no '$2' line in $1"
}

mkdir -p "$work/www" "$work/data"
printf 'hello, dashboards\n' > "$work/www/index.html"
token=dashboards-purge-token-0123456789
# The origin purges the edge after writes (its purge series exist only
# then). The edge's port is known only once it runs, so the origin starts
# with a placeholder edge and is pointed at the real one by a reload.
origin_config() {
  printf '[edge_purge]\nedges = ["%s"]\ntoken = "%s"\ntimeout_ms = 500\n' "$1" "$token" \
    > "$work/origin.toml"
}
origin_config "http://127.0.0.1:9"
RUST_LOG=warn "$bin" serve --root "$work/www" --data "$work/data" --listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 --config "$work/origin.toml" > "$work/origin.log" 2>&1 &
origin_pid=$!
pids+=("$origin_pid")
origin=$(address "$work/origin.log" "revalidate: listening on")
origin_admin=$(address "$work/origin.log" "revalidate: origin admin listening on")
printf 'origin = "http://%s"\npurge_token = "%s"\n' "$origin" "$token" > "$work/edge.toml"
RUST_LOG=warn "$bin" edge --config "$work/edge.toml" --listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 > "$work/edge.log" 2>&1 &
pids+=($!)
edge=$(address "$work/edge.log" "revalidate: edge listening on")
edge_admin=$(address "$work/edge.log" "revalidate: edge admin listening on")
origin_config "http://$edge"
kill -HUP "$origin_pid"

# Writes at the origin until one's purge reached the edge (the reload
# above is in force): the purge metrics then have every series.
purged=
for ((i = 0; i < 100; i++)); do
  curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' \
    -d "{\"text\":\"$i\"}" "http://$origin/api/notes/purged"
  if curl -sf "http://$origin_admin/metrics" | grep -q '^revalidate_edge_purges_sent_total{result="ok"'; then
    purged=1
    break
  fi
  sleep 0.2
done
[[ -n $purged ]] || { cat "$work/origin.log" >&2; die "no purge reached the edge"; }

# Traffic: misses, revalidations and 304s through the edge, a 404, a
# conditional request and a refused write at the origin (and the writes
# above, purged at the edge).
for _ in 1 2 3; do
  curl -s -o /dev/null "http://$edge/index.html"
  curl -s -o /dev/null "http://$edge/missing"
done
etag=$(curl -sI "http://$origin/index.html" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag" {print $2}')
curl -s -o /dev/null -H "If-None-Match: $etag" "http://$origin/index.html"
curl -s -o /dev/null -H "If-None-Match: $etag" "http://$edge/index.html"
curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' -H 'If-Match: "nope"' \
  -d '{"text":"x"}' "http://$origin/api/notes/dashboards"
# Histograms are drained into their buckets once a second.
sleep 1.5
curl -sf "http://$origin_admin/metrics" > "$work/origin.prom" || die "no /metrics on the origin's admin listener"
curl -sf "http://$edge_admin/metrics" > "$work/edge.prom" || die "no /metrics on the edge's admin listener"

python3 - "$root/dashboards" "$work/origin.prom" "$work/edge.prom" <<'PY'
import json, re, sys, pathlib
dashboards, origin_prom, edge_prom = sys.argv[1:4]

def exported(path):
    """Metric name -> the label names its series carry."""
    families = {}
    for line in open(path):
        if not line.strip() or line.startswith('#'):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s', line)
        if not m:
            continue
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ''))
        families.setdefault(m.group(1), set()).update(labels)
    return families

servers = {'revalidate-origin.json': exported(origin_prom), 'revalidate-edge.json': exported(edge_prom)}
# Labels Prometheus adds at scrape time, and the histogram bucket label.
implicit = {'instance', 'job', 'le'}
problems = []
files = sorted(pathlib.Path(dashboards).glob('*.json'))
if sorted(f.name for f in files) != sorted(servers):
    problems.append(f'dashboards/ holds {[f.name for f in files]}, expected {sorted(servers)}')
for f in files:
    families = servers.get(f.name, {})
    board = json.loads(f.read_text())
    panels = board.get('panels') or []
    if not panels:
        problems.append(f'{f.name}: no panels')
    exprs = [t['expr'] for p in panels for t in p.get('targets', []) if 'expr' in t]
    for p in panels:
        if not p.get('targets'):
            problems.append(f'{f.name}: panel "{p.get("title")}" has no queries')
    for expr in exprs:
        names = set(re.findall(r'\b(revalidate_[a-z0-9_]+)\b', expr))
        if not names:
            problems.append(f'{f.name}: a query names no revalidate metric: {expr}')
        for name in sorted(names):
            if name not in families:
                problems.append(f'{f.name}: {name} is not exported')
        carried = set().union(*(families.get(n, set()) for n in names)) | implicit
        used = set()
        for group in re.findall(r'\bby \(([^)]*)\)', expr):
            used |= {l.strip() for l in group.split(',') if l.strip()}
        for selector in re.findall(r'\{([^}]*)\}', expr):
            used |= set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)', selector))
        for label in sorted(used - carried):
            problems.append(f'{f.name}: label "{label}" is on none of {sorted(names)}: {expr}')
    print(f'{f.name}: {len(panels)} panels, {len(exprs)} queries')
for p in problems:
    print(f'check-dashboards.sh: {p}', file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "check-dashboards.sh: every metric and label the dashboards query is exported"
