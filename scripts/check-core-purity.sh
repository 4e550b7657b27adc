#!/usr/bin/env bash
# Fails when the sans-IO core pulls in an async runtime, an HTTP
# implementation or a middleware framework (DEVELOPERS.md: "a check that the
# core crate pulls in no tokio, hyper, tower or futures"), with any feature set.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for features in "--no-default-features" "--all-features"; do
  tree=$(cargo tree -p revalidate-core -e normal --prefix none $features)
  banned=$(printf '%s\n' "$tree" | grep -E '^(tokio|hyper|tower|futures)([-_][A-Za-z0-9_-]+)? v' | sort -u || true)
  if [ -n "$banned" ]; then
    echo "core purity: revalidate-core ($features) depends on:" >&2
    printf '  %s\n' "$banned" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  echo "core purity: revalidate-core has no tokio, hyper, tower or futures dependency"
fi
exit "$status"
