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
if [ -z "${PROXY_ROUNDS_NETNS:-}" ] && unshare -n true 2>/dev/null; then
  exec unshare -n -- env PROXY_ROUNDS_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
tree=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-15}
MSGS=${MSGS:-10000}
SESSIONS=${SESSIONS:-20}
WORKERS=${WORKERS:-24}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
sink_user=()
[ "$(id -u)" = 0 ] && sink_user=(-u nobody)

work=$(mktemp -d /tmp/smtpgate-proxy-rounds.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT

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

load() {  # PORT MSGS -> msg/s on stdout
  local t0=$EPOCHREALTIME
  timeout -k 5 "$RUN_TIMEOUT" "$SOURCE" -d -s "$SESSIONS" -m "$2" -l 1024 -M client.bench.test \
    -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$1" || return 1
  awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$2" 'BEGIN { printf "%.0f", m / (b - a) }'
}

"$SINK" "${sink_user[@]}" 127.0.0.1:9500 256 >"$work/sink.log" 2>&1 & pids+=($!)
start_proxy normal 9510 normal
start_proxy batch 9520 batch
names=(smtp-sink proxy-normal proxy-batch)
ports=(9500 9510 9520)
sleep 1
for p in "${ports[@]}"; do load "$p" 500 >/dev/null || { echo "warm-up of port $p failed" >&2; exit 1; }; done

echo "smtpgate $(git -C "$tree" rev-parse --short HEAD 2>/dev/null), $(nproc) CPUs, $ROUNDS rounds of $MSGS messages per cell in $SESSIONS sessions, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A ratios=()
for ((r = 0; r < ROUNDS; r++)); do
  declare -A rate=()
  for ((k = 0; k < 3; k++)); do
    j=$(( (k + r) % 3 ))
    rate[${names[$j]}]=$(load "${ports[$j]}" "$MSGS") || { echo "round $r: ${names[$j]} failed" >&2; exit 1; }
  done
  line="round $r: smtp-sink ${rate[smtp-sink]}"
  for nm in proxy-normal proxy-batch; do
    x=$(awk -v a="${rate[$nm]}" -v b="${rate[smtp-sink]}" 'BEGIN { printf "%.3f", a / b }')
    ratios[$nm]+="$x "
    line+="  $nm ${rate[$nm]} (x$x)"
  done
  echo "$line"
done
for nm in proxy-normal proxy-batch; do
  echo "${ratios[$nm]}" | tr ' ' '\n' | grep . | sort -n | awk -v nm="$nm" '
    { a[NR] = $1; if ($1 >= 0.5) met++ }
    END { printf "%s / smtp-sink: median %.3f, min %.3f, max %.3f, >= 0.5 in %d of %d rounds\n",
          nm, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR], met, NR }'
done
