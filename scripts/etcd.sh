#!/usr/bin/env bash
# A 3-member etcd cluster on loopback, for several cube managers and for the tests.
#   bash scripts/etcd.sh start DIR [BASE]   members' client ports BASE..BASE+2 (default 2379),
#                                           peer ports BASE+100..BASE+102; prints the store URL
#   bash scripts/etcd.sh stop DIR           stops the members started in DIR
#   bash scripts/etcd.sh restart DIR I      starts member I (0..2) again, on its data (after a kill)
# Installs etcd from Debian's packages (etcd-server, etcd-client) when it is missing.
# Compaction is on, so that revisions do not pile up (etcd's memory grows without it).
# Its members share one machine, so they elect faster than etcd's defaults (heartbeat 100 ms,
# election timeout 1 s, for members a network apart): a new etcd leader in 0.5–1 s.
set -euo pipefail
say() { printf 'etcd: %s\n' "$*" >&2; }
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  say "usage: bash scripts/etcd.sh start DIR [BASE] | stop DIR"
  exit 2
fi

if [ "$cmd" = stop ]; then
  pids=()
  for pidfile in "$dir"/m*.pid; do
    [ -e "$pidfile" ] || continue
    pids+=("$(cat "$pidfile")")
    rm -f "$pidfile"
  done
  [ ${#pids[@]} -eq 0 ] && exit 0
  kill "${pids[@]}" 2>/dev/null || true
  # Gone, or a zombie nobody reaps (PID 1 in a container may not): stopped either way.
  alive() { for pid in "$@"; do case "$(ps -o stat= -p "$pid" 2>/dev/null)" in "" | Z*) ;; *) return 0 ;; esac; done; return 1; }
  # A leader told to stop tries to hand over to peers that are stopping too: one second.
  for _ in $(seq 1 10); do
    alive "${pids[@]}" || exit 0
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  exit 0
fi
if [ "$cmd" = restart ]; then
  i=${3:?usage: bash scripts/etcd.sh restart DIR I}
  [ -e "$dir/m$i.sh" ] || { say "no member $i in $dir"; exit 1; }
  setsid bash "$dir/m$i.sh" >>"$dir/m$i.log" 2>&1 </dev/null &
  echo $! >"$dir/m$i.pid"
  exit 0
fi
[ "$cmd" = start ] || { say "unknown command: $cmd"; exit 2; }

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  say "installing etcd-server and etcd-client from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q etcd-server etcd-client >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q etcd-server etcd-client >/dev/null; } ||
    { say "could not install etcd with apt-get"; exit 1; }
fi

base=${3:-2379}
mkdir -p "$dir"
cluster=""
endpoints=""
for i in 0 1 2; do
  cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 100 + i))"
  endpoints+="${endpoints:+,}127.0.0.1:$((base + i))"
done
for i in 0 1 2; do
  client=$((base + i))
  peer=$((base + 100 + i))
  # Each member's command is kept in a script, so that `restart` can start it again.
  cat >"$dir/m$i.sh" <<EOF
exec etcd --name "m$i" --data-dir "$dir/m$i" \\
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "cube-$base" \
    --auto-compaction-mode revision --auto-compaction-retention 1000 \\
    --heartbeat-interval 50 --election-timeout 500
EOF
  setsid bash "$dir/m$i.sh" >"$dir/m$i.log" 2>&1 </dev/null &
  echo $! >"$dir/m$i.pid"
done
for _ in $(seq 1 100); do
  if ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1; then
    echo "etcd://$endpoints"
    exit 0
  fi
  sleep 0.1
done
say "the cluster did not become healthy in 10 s (logs in $dir)"
bash "$0" stop "$dir"
exit 1
