#!/usr/bin/env bash
# Sets up what is missing, then runs cube (by default `cube dev`: a manager on :5555 and a
# worker on :5556 in one process). Arguments go to the cube command line instead, e.g.
# `bash scripts/run.sh worker -H 127.0.0.1 -p 5557`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The V8 flags every way of starting cube passes (deno.json's tasks too): see README, "Getting the `cube` command".
exec deno run -A --v8-flags=--max-semi-space-size=8,--heap-growing-percent=40 main.ts "${@:-dev}"
