#!/usr/bin/env bash
# Everything cube needs on a fresh Debian machine with Node/npm and root:
# Deno (from npm), a Docker engine that answers, and the local test images.
set -euo pipefail
cd "$(dirname "$0")/.."
DENO_VERSION=2.9.6

if ! command -v deno >/dev/null 2>&1; then
  printf 'setup: installing Deno %s from npm\n' "$DENO_VERSION" >&2
  npm install -g --silent "deno@$DENO_VERSION" >/dev/null 2>&1 ||
    { printf 'setup: "npm install -g deno@%s" failed; install Deno and run again\n' "$DENO_VERSION" >&2; exit 1; }
fi
bash scripts/engine.sh
bash scripts/test_images.sh
# The metrics tests check cube's output with promtool and scrape it with a real Prometheus.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  printf 'setup: installing prometheus (server and promtool) from Debian packages\n' >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q prometheus >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q prometheus >/dev/null; } ||
    { printf 'setup: could not install prometheus with apt-get\n' >&2; exit 1; }
fi
# The dashboard's tests drive a real browser: Debian's chromium (about 30 s and 480 MB).
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi liberation; then
  printf 'setup: installing chromium and fonts-liberation from Debian packages\n' >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium fonts-liberation >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-liberation >/dev/null; } ||
    { printf 'setup: could not install chromium with apt-get\n' >&2; exit 1; }
fi
