#!/usr/bin/env bash
# instructions.sh -- instructions per request for each scenario of the
# criterion bench, counted by callgrind: (Ir at N) - (Ir at 0), over N.
# Wall-clock time on the shared 2-core machine swings; these do not.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
N=${N:-2000}
cargo build -q --release -p revalidate-tower --example instructions --manifest-path "$root/Cargo.toml"
bin=$target/release/examples/instructions
count() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out"; rm -f "$out"
}
printf '%-28s %14s\n' scenario instructions/req
for size in 1k 64k; do
  for v in no_layer layer_200 layer_200_inm_miss layer_304 lookup_304; do
    s=${v}_$size
    base=$(count "$s" 0); total=$(count "$s" "$N")
    awk -v s="$s" -v t="$total" -v b="$base" -v n="$N" 'BEGIN { printf "%-28s %14.0f\n", s, (t - b) / n }'
  done
done
