#!/usr/bin/env bash
# Fuzzing smoke run: builds every cargo-fuzz target in fuzz/ and runs each
# one in turn for FUZZ_SECONDS (default 20) from its committed seeds
# (fuzz/seeds/TARGET) and past crashes (fuzz/regressions/TARGET), growing
# the git-ignored fuzz/corpus/TARGET. Fails on any crash: every target
# asserts properties, so a broken property is a crash too.
#
#   scripts/fuzz.sh                  # every target, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh etag range
#
# One fuzzing process at a time (no -jobs/-workers): CI and developers'
# machines have 2 cores. Builds with --sanitizer none, so the stable
# toolchain is enough, and with debug assertions and overflow checks, which
# turn an arithmetic overflow into a crash; fuzz/target is the fuzz crate's
# own target directory.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
  for target in "${targets[@]}"; do
    cargo fuzz build --sanitizer none --debug-assertions "$target"
  done
else
  mapfile -t targets < <(cargo fuzz list)
  cargo fuzz build --sanitizer none --debug-assertions
fi

failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  inputs=("corpus/$target" "seeds/$target")
  if [ -d "regressions/$target" ]; then
    inputs+=("regressions/$target")
  fi
  echo "=== fuzz $target for ${seconds}s"
  log="$(mktemp)"
  if cargo fuzz run --sanitizer none --debug-assertions "$target" "${inputs[@]}" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    # The last status line (`#N DONE cov: … ft: … corp: …`) and the run count.
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^stat::number_of_executed_units' "$log" || true
  else
    cat "$log"
    failed+=("$target")
  fi
  rm -f "$log"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, no crash"
