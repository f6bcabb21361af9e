#!/usr/bin/env bash
# bench/metrics_rounds.sh - issue 19's two ratios in interleaved rounds:
#   haproxy: L2 through HAProxy (mode tcp, send-proxy-v2) to an smtpgate
#            with proxy_protocol = "v2", against
#   direct:  L2 straight to an smtpgate (metrics off), and
#   metrics: L2 to an smtpgate with metrics on, scraped once a second
#            during its load (curl, as a Prometheus would, 15x as often
#            as Prometheus's default), against the same direct cell.
# All three smtpgates are the debug handler writing to /dev/null, with
# $WORKERS workers; every server stays up; each round loads each cell once
# (smtp-source -d -s $SESSIONS -l 1024, $MSGS messages) in an order rotated
# per round, and divides by the direct cell's rate of the same round.  The
# medians over the rounds are the result.
#
# usage: bench/metrics_rounds.sh [ROUNDS]     (default 9; root or not)
# Knobs: MSGS=5000 SESSIONS=20 WORKERS=24 RUN_TIMEOUT=60.  Runs in a private
# network namespace (unshare -n, loopback only) when it can.
# Results: bench/RESULTS.md.
set -u -o pipefail
export LC_ALL=C
if [ -z "${METRICS_ROUNDS_NETNS:-}" ] && unshare -n true 2>/dev/null; then
  exec unshare -n -- env METRICS_ROUNDS_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
tree=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-9}
MSGS=${MSGS:-5000}
SESSIONS=${SESSIONS:-20}
WORKERS=${WORKERS:-24}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
SOURCE=/usr/sbin/smtp-source
HAPROXY=/usr/sbin/haproxy
for b in "$SOURCE" "$HAPROXY" /usr/bin/curl; do
  [ -x "$b" ] || { echo "missing $b (postfix, haproxy, curl)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/smtpgate-metrics-rounds.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT

. "$tree/bench/servers.sh" # smtpgate_cell: a cell's directory and checked config

# start_gate NAME PORT SETTINGS [GLOBAL]: a debug cell on PORT.
start_gate() {
  smtpgate_cell "$1" "$2" "$WORKERS" debug "$SMTPGATE_DEBUG_SO" \
    "debug = { output = \"/dev/null\"; }; $3" || exit 1
  [ -n "${4:-}" ] && echo "$4" >>"$work/$1/smtpgate.conf"
  "$SMTPGATE_BIN" -f "$work/$1/smtpgate.conf" >"$work/$1/smtpgate.log" 2>&1 & pids+=($!)
}

load() {  # PORT MSGS -> msg/s on stdout
  local t0=$EPOCHREALTIME
  timeout -k 5 "$RUN_TIMEOUT" "$SOURCE" -d -s "$SESSIONS" -m "$2" -l 1024 -M client.bench.test \
    -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$1" || return 1
  awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$2" 'BEGIN { printf "%.0f", m / (b - a) }'
}

scraper() {  # scrape the metrics cell once a second until killed
  while :; do
    curl -s -o /dev/null --max-time 5 http://127.0.0.1:9621/metrics
    sleep 1
  done
}

start_gate direct 9600 ""
start_gate behind 9611 'proxy_protocol = "v2"; proxy_trusted = [ "127.0.0.1" ];'
start_gate metrics 9620 "" 'metrics = "127.0.0.1:9621";'
cat >"$work/haproxy.cfg" <<EOF
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend smtp
    bind 127.0.0.1:9610
    default_backend gate
backend gate
    server gate 127.0.0.1:9611 send-proxy-v2
EOF
"$HAPROXY" -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 & pids+=($!)
scraper & pids+=($!)
names=(direct haproxy metrics)
ports=(9600 9610 9620)
sleep 1
for p in "${ports[@]}"; do load "$p" 500 >/dev/null || { echo "warm-up of port $p failed" >&2; exit 1; }; done
curl -sf -o /dev/null http://127.0.0.1:9621/metrics || { echo "no metrics on 9621" >&2; exit 1; }

echo "smtpgate $(git -C "$tree" rev-parse --short HEAD 2>/dev/null), $(nproc) CPUs, $ROUNDS rounds of $MSGS messages per cell in $SESSIONS sessions, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A ratios=()
for ((r = 0; r < ROUNDS; r++)); do
  declare -A rate=()
  for ((k = 0; k < 3; k++)); do
    j=$(( (k + r) % 3 ))
    rate[${names[$j]}]=$(load "${ports[$j]}" "$MSGS") || { echo "round $r: ${names[$j]} failed" >&2; exit 1; }
  done
  line="round $r: direct ${rate[direct]}"
  for nm in haproxy metrics; do
    x=$(awk -v a="${rate[$nm]}" -v b="${rate[direct]}" 'BEGIN { printf "%.3f", a / b }')
    ratios[$nm]+="$x "
    line+="  $nm ${rate[$nm]} (x$x)"
  done
  echo "$line"
done
for nm in haproxy metrics; do
  echo "${ratios[$nm]}" | tr ' ' '\n' | grep . | sort -n | awk -v nm="$nm" '
    { a[NR] = $1 }
    END { printf "%s / direct: median %.3f, min %.3f, max %.3f over %d rounds\n",
          nm, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR], NR }'
done
curl -s http://127.0.0.1:9621/metrics | grep -E '^smtpgate_messages_total\{.*accepted' || true
