#!/usr/bin/env bash
# The whole test suite against a real Docker engine. Sets up what is missing first.
# Extra arguments go to `deno test` (e.g. a file or --filter).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
NO_COLOR=1 deno test -A "${@:-tests/}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# CI reads one plain line "N passed, N failed"; deno prints "ok | N passed | N failed".
summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
  passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
  failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
  ignored=$(grep -oE '[0-9]+ ignored' <<<"$summary" | cut -d' ' -f1 || true)
  printf '%s passed, %s failed%s\n' "$passed" "$failed" "${ignored:+, $ignored skipped}"
fi
exit "$status"
