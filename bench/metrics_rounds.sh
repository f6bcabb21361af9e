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
. "$(dirname "$0")/lib_rounds.sh" # rounds_*: the netns, the loads, the rounds
rounds_netns METRICS_ROUNDS_NETNS "$@"
tree=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-9}
MSGS=${MSGS:-5000}
SESSIONS=${SESSIONS:-20}
WORKERS=${WORKERS:-24}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
HAPROXY=/usr/sbin/haproxy
for b in "$SOURCE" "$HAPROXY" /usr/bin/curl; do
  [ -x "$b" ] || { echo "missing $b (postfix, haproxy, curl)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/smtpgate-metrics-rounds.XXXXXX)
chmod 755 "$work"
pids=()
trap rounds_cleanup EXIT

. "$tree/bench/servers.sh" # smtpgate_cell: a cell's directory and checked config

# start_gate NAME PORT SETTINGS [GLOBAL]: a debug cell on PORT.
start_gate() {
  smtpgate_cell "$1" "$2" "$WORKERS" debug "$SMTPGATE_DEBUG_SO" \
    "debug = { output = \"/dev/null\"; }; $3" || exit 1
  [ -n "${4:-}" ] && echo "$4" >>"$work/$1/smtpgate.conf"
  "$SMTPGATE_BIN" -f "$work/$1/smtpgate.conf" >"$work/$1/smtpgate.log" 2>&1 & pids+=($!)
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
rounds_warm_up 500 || exit 1
curl -sf -o /dev/null http://127.0.0.1:9621/metrics || { echo "no metrics on 9621" >&2; exit 1; }

rounds_run || exit 1
rounds_summary
curl -s http://127.0.0.1:9621/metrics | grep -E '^smtpgate_messages_total\{.*accepted' || true
