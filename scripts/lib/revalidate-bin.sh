# Sets $bin for the benchmarks (sourced, not run): REVALIDATE_BIN when set
# (another build, for an A/B comparison), else the release build of this
# checkout, built now into $CARGO_TARGET_DIR (default target/).
if [[ -n ${REVALIDATE_BIN:-} ]]; then
  bin=$REVALIDATE_BIN
else
  cargo build -q --release -p revalidate
  bin=${CARGO_TARGET_DIR:-target}/release/revalidate
fi
