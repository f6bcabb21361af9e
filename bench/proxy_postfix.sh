#!/usr/bin/env bash
# bench/proxy_postfix.sh - issue 18's ratio: smtpgate+proxy relaying to a
# real Postfix smtpd that offers CHUNKING and PIPELINING (a private
# instance discarding what it queues), against Postfix's smtp-source sent
# straight to that Postfix, L2 (-d -s $SESSIONS -l 1024), in interleaved
# rounds of one run.  A third cell relays to a second, identical Postfix
# that hides CHUNKING (smtpd_discard_ehlo_keywords), so the relay's DATA
# path is measured next to its BDAT path.  Each round runs the cells in an
# order rotated per round and divides each proxy's rate by the direct
# rate of the same round.
#
# usage: bench/proxy_postfix.sh [ROUNDS]   (default 7; needs root and postfix)
# Knobs: MSGS=5000 SESSIONS=20 WORKERS=24 RUN_TIMEOUT=120.  Runs in a
# private network namespace (unshare -n, loopback only) when it can; the
# Postfix instances live in a temp dir (their own main.cf, queue, log),
# never the system's.  Results: bench/RESULTS.md.
set -u -o pipefail
export LC_ALL=C
. "$(dirname "$0")/lib_rounds.sh" # rounds_*: the netns, the loads, the rounds
rounds_netns PROXY_POSTFIX_NETNS "$@"
tree=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-7}
MSGS=${MSGS:-5000}
SESSIONS=${SESSIONS:-20}
WORKERS=${WORKERS:-24}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
ROUNDS_RCPT=rcpt@remote.bench.test
. "$tree/bench/lib_postfix.sh" # lib_postfix_*: a private Postfix
lib_postfix_usable || exit 1

work=$(mktemp -d /tmp/smtpgate-proxy-postfix.XXXXXX)
chmod 755 "$work"
pids=()
postfixes=()
cleanup() {
  for d in "${postfixes[@]}"; do lib_postfix_stop "$d"; done
  rounds_cleanup
}
trap cleanup EXIT

. "$tree/bench/servers.sh" # smtpgate_cell: a cell's directory and checked config

# start_postfix NAME PORT EXTRA: a private Postfix whose smtpd on PORT
# takes mail for any domain from loopback and discards it once queued.
start_postfix() {
  postfixes+=("$work/$1")
  lib_postfix_start "$work/$1" "$1" "$2" "default_transport = discard:benchmark upstream
in_flow_delay = 0s${3:+
$3}" || exit 1
}

# start_proxy NAME PORT UPSTREAM: smtpgate+proxy (extensions by default).
start_proxy() {
  local d="$work/$1"
  smtpgate_cell "$1" "$2" "$WORKERS" proxy "$tree/plugins/proxy/.libs/proxy.so" \
    "remote = \"127.0.0.1:$3\"; proxy = { relay_networks = [ \"127.0.0.0/8\" ]; };" || exit 1
  "$SMTPGATE_BIN" -f "$d/smtpgate.conf" >"$d/smtpgate.log" 2>&1 & pids+=($!)
}

start_postfix postfix 9600 ""
start_postfix postfix-nochunking 9700 "smtpd_discard_ehlo_keywords = chunking"
start_proxy proxy-bdat 9610 9600
start_proxy proxy-data 9710 9700
names=(direct proxy-bdat proxy-data)
ports=(9600 9610 9710)
sleep 2
rounds_warm_up 300 || exit 1
rounds_run || exit 1
rounds_summary 0.6
# The relay's BDAT, as the upstream saw it: smtpd counts each session's
# commands in its disconnect line, written when the proxies (stopped now,
# by their PIDs) QUIT the connections they kept.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${pids[@]}"; do
  for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
sleep 1
for d in "${postfixes[@]}"; do
  printf '%s: %s BDAT, %s DATA in its disconnect lines\n' "${d##*/}" \
    "$(grep -o 'bdat=[0-9]*' "$d/log/maillog" | awk -F= '{ s += $2 } END { print s + 0 }')" \
    "$(grep -o ' data=[0-9]*' "$d/log/maillog" | awk -F= '{ s += $2 } END { print s + 0 }')"
done
