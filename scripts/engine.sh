#!/usr/bin/env bash
# Engine preflight: make sure a Docker engine answers, or say exactly what is missing.
#  1. use the engine at $DOCKER_HOST or /var/run/docker.sock if it answers;
#  2. otherwise, as root on Debian/Ubuntu, install docker.io, start dockerd in the background and wait until it answers;
#  3. otherwise stop with a message naming what is missing and how to get it.
# A socket file left behind by a dockerd killed with -9 is not trusted: only an answer is.
set -euo pipefail

say() { printf 'engine: %s\n' "$*" >&2; }

answers() {
  if command -v docker >/dev/null 2>&1; then
    timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
  else
    local sock="${DOCKER_HOST#unix://}"
    [ -n "${DOCKER_HOST:-}" ] || sock=/var/run/docker.sock
    timeout 5 curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
  fi
}

if answers; then
  say "Docker engine answers at ${DOCKER_HOST:-/var/run/docker.sock}"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != unix://* ]]; then
  say "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST"
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  say "no Docker engine answers at ${DOCKER_HOST:-/var/run/docker.sock}, and starting one needs root."
  say "start Docker (e.g. 'sudo systemctl start docker') or run this as root on Debian/Ubuntu."
  exit 1
fi

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing: ${need_pkgs[*]}; this script installs them only with apt-get (Debian/Ubuntu)."
    say "install Docker Engine for your system, start it, and run again."
    exit 1
  fi
  say "installing ${need_pkgs[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

sock=/var/run/docker.sock
if pid=$(cat /var/run/docker.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
  say "dockerd (pid $pid) is running but does not answer yet; waiting"
else
  say "starting dockerd in the background (log: /var/log/cube-dockerd.log)"
  rm -f /var/run/docker.pid
  nohup dockerd >/var/log/cube-dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  if answers; then
    say "Docker engine answers at $sock"
    exit 0
  fi
  sleep 0.5
done
say "dockerd did not answer within 30 s; its log ends with:"
tail -n 20 /var/log/cube-dockerd.log >&2 || true
exit 1
