# Builds `revalidate` and the `revalidate-faults` runner for the fault and
# cluster runs (sourced, not run) with FAULTS_PROFILE (dev, the default,
# reusing the test build; or release) and sets $bin_dir to where they are.
profile="${FAULTS_PROFILE:-dev}"
case "$profile" in
  dev) out=debug ;;
  release) out=release ;;
  *) echo "$(basename "$0"): FAULTS_PROFILE must be dev or release, not $profile" >&2; exit 2 ;;
esac
cargo build --profile "$profile" --locked -p revalidate -p revalidate-faults
bin_dir="$(realpath "${CARGO_TARGET_DIR:-target}")/$out"
