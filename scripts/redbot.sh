#!/usr/bin/env bash
# REDbot (mnot's HTTP linter) against `revalidate serve` and `revalidate edge` in front of it, on the
# sample site and one API resource: fails on any WARN or BAD note. Installs REDbot with pip if missing.
#
#   scripts/redbot.sh            # dev build (reuses scripts/test.sh's)
#
# One known note is not counted, on the 23-byte robots.txt only: REDbot probes ranges with
# `bytes=N-(N+96)`, which on a body under 97 bytes asks for all of it; a 206 then draws RANGE_CL_FULL
# and a 200 RANGE_FULL, whatever a server does (we send 206, as nginx, Go and media players expect).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v redbot >/dev/null 2>&1 || python3 -m pip install -q redbot
cargo build -q --locked -p revalidate
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/revalidate"
work=$(mktemp -d)
origin_port=$((20000 + RANDOM % 20000))
edge_port=$((origin_port + 1))
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" serve --listen "127.0.0.1:$origin_port" --root sample/public --data "$work/data" >"$work/origin.log" 2>&1 &
"$bin" edge --listen "127.0.0.1:$edge_port" --admin-listen off --origin "http://127.0.0.1:$origin_port" >"$work/edge.log" 2>&1 &
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$edge_port/robots.txt" && break
  sleep 0.1
done
# A JSON resource long enough that the range probe asks for part of it.
curl -fs -o /dev/null -X PUT -H 'content-type: application/json' \
  -d '{"note":"a resource for the linter, long enough that a range probe asks for part of it: 0123456789 0123456789"}' \
  "http://127.0.0.1:$origin_port/api/notes/redbot"

python3 - "$origin_port" "$edge_port" <<'PY'
import json, subprocess, sys
origin, edge = sys.argv[1], sys.argv[2]
paths = ["/index.html", "/robots.txt", "/assets/site.3f9a2b1c.css", "/api/notes/redbot"]
ignored = {("/robots.txt", "RANGE_CL_FULL")}
failed = 0
for port, name in ((origin, "origin"), (edge, "edge")):
    for path in paths:
        url = f"http://127.0.0.1:{port}{path}"
        out = subprocess.run(["redbot", "-o", "har", url], capture_output=True, text=True, timeout=120).stdout
        entries = json.loads(out)["log"]["entries"]
        notes = [(n.get("level"), n.get("note_id")) for e in entries for n in e.get("_red_messages", [])]
        bad = [n for n in notes if n[0] in ("WARN", "BAD") and (path, n[1]) not in ignored]
        status = entries[0]["response"]["status"]
        print(f"{name:6} {path:28} {status}  notes {len(notes):2}  warn/bad: {bad or 'none'}")
        failed += len(bad) + (status != 200)
sys.exit(1 if failed else 0)
PY
