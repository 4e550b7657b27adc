#!/usr/bin/env bash
# Instructions per operation for the core's hot paths and the `headers`
# crate's equivalents, counted by callgrind: (Ir at N) - (Ir at 0), over N.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
cargo build -q --release -p revalidate-core --example instructions
bin=target/release/examples/instructions
count() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out"; rm -f "$out"
}
printf '%-24s %12s\n' scenario instructions/op
for s in inm-list-304 inm-list-304-headers ims-304 ims-304-headers unconditional; do
  base=$(count "$s" 0); total=$(count "$s" "$N")
  awk -v s="$s" -v t="$total" -v b="$base" -v n="$N" 'BEGIN { printf "%-24s %12.1f\n", s, (t - b) / n }'
done
