#!/usr/bin/env bash
# Sets up what is missing, then runs cube (by default a worker on :5556).
# Arguments go to the cube command line, e.g. `bash scripts/run.sh worker -p 5555`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec deno run -A main.ts "${@:-worker}"
