#!/usr/bin/env bash
# bench/proxy_rounds.sh - issue 3's ratio measured in interleaved rounds:
# smtp-sink direct, smtpgate+proxy (worker_scheduling "normal") and
# smtpgate+proxy ("batch"), each proxy relaying to its own smtp-sink.  Every
# server stays up; each round runs one L2-shaped smtp-source load
# (-d -s $SESSIONS -l 1024, $MSGS messages) against each cell, in an order rotated
# per round, and divides each proxy's rate by smtp-sink's of the same round.
# On a shared, noisy machine a ratio taken within one round is steadier than
# cells measured minutes apart.
#
# usage: bench/proxy_rounds.sh [ROUNDS]     (default 15; root or not)
# Knobs: MSGS=10000 SESSIONS=20 WORKERS=24 RUN_TIMEOUT=60.  Runs in a private network
# namespace (unshare -n, loopback only) when it can.  Results: bench/RESULTS.md.
set -u -o pipefail
export LC_ALL=C
. "$(dirname "$0")/lib_rounds.sh" # rounds_*: the netns, the loads, the rounds
rounds_netns PROXY_ROUNDS_NETNS "$@"
tree=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-15}
MSGS=${MSGS:-10000}
SESSIONS=${SESSIONS:-20}
WORKERS=${WORKERS:-24}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
SINK=/usr/sbin/smtp-sink
sink_user=()
[ "$(id -u)" = 0 ] && sink_user=(-u nobody)

work=$(mktemp -d /tmp/smtpgate-proxy-rounds.XXXXXX)
chmod 755 "$work"
pids=()
trap rounds_cleanup EXIT

. "$tree/bench/servers.sh" # smtpgate_cell: a cell's directory and checked config

# start_proxy NAME PORT SCHEDULING: smtpgate+proxy on PORT, its smtp-sink on PORT+1.
start_proxy() {
  local d="$work/$1" up=$(( $2 + 1 ))
  SMTPGATE_WORKER_SCHEDULING=$3 smtpgate_cell "$1" "$2" "$WORKERS" proxy \
    "$tree/plugins/proxy/.libs/proxy.so" \
    "remote = \"127.0.0.1:$up\"; proxy = { relay_networks = [ \"127.0.0.0/8\" ]; };" || exit 1
  "$SINK" "${sink_user[@]}" "127.0.0.1:$up" 256 >"$d/sink.log" 2>&1 & pids+=($!)
  "$SMTPGATE_BIN" -f "$d/smtpgate.conf" >"$d/smtpgate.log" 2>&1 & pids+=($!)
}

"$SINK" "${sink_user[@]}" 127.0.0.1:9500 256 >"$work/sink.log" 2>&1 & pids+=($!)
start_proxy normal 9510 normal
start_proxy batch 9520 batch
names=(smtp-sink proxy-normal proxy-batch)
ports=(9500 9510 9520)
sleep 1
rounds_warm_up 500 || exit 1
rounds_run || exit 1
rounds_summary 0.5
