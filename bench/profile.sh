#!/usr/bin/env bash
# shellcheck disable=SC2086  # $workers and $FLAGS are word lists on purpose
# bench/profile.sh - where does smtpgate's time per message go?
#
# usage: sudo bench/profile.sh [strace|stat|perf|both]   (default both = all three)
#
# In a private network namespace (loopback only), starts smtpgate as
# bench/servers.sh does (debug plugin -> /dev/null), sends an untimed
# warm-up, then one L2-shaped smtp-source run (-d -s 20 -l 1024,
# PROFILE_MSGS messages, default 5000) with:
#   strace: strace -c -f attached to every worker -> syscalls per message
#   stat:   perf stat -p (every worker): task-clock, context switches and
#           migrations per message
#   perf:   perf record -g on all CPUs -> where the CPU goes, by process
#           and by symbol (perf report --sort comm,dso,sym)
# Also prints the context switches per message of the workers and of the
# client (from /proc/PID/status).  Every run is bounded (timeout) and only
# the processes started here are stopped, by PID.
# Knobs: PROFILE_MSGS, PROFILE_SESSIONS=20, PROFILE_FLAGS=-d (empty = new
# connection per message, as L1n), SMTPGATE_WORKERS, PORT=9300,
# PROFILE_SERVER=smtp-sink (profile Postfix's smtp-sink instead, for comparison).
set -u -o pipefail
export LC_ALL=C
bench=$(cd "$(dirname "$0")" && pwd)
mode=${1:-both}
[ "$(id -u)" = 0 ] || { echo "run as root (strace/perf and the network namespace)" >&2; exit 1; }
if [ -z "${PROFILE_IN_NETNS:-}" ]; then
  exec unshare --net -- env PROFILE_IN_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi

PORT=${PORT:-9300}
MSGS=${PROFILE_MSGS:-5000}
SESS=${PROFILE_SESSIONS:-20}
FLAGS=${PROFILE_FLAGS--d}
work=$(mktemp -d /tmp/smtpgate-profile.XXXXXX); chmod 755 "$work"
. "$bench/servers.sh"
master=""
cleanup() {
  if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
    kill -TERM "$master"; wait "$master" 2>/dev/null
  fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${PROFILE_SERVER:-smtpgate}" = smtp-sink ]; then   # the same numbers for the ceiling
  /usr/sbin/smtp-sink -u nobody "127.0.0.1:$PORT" 256 >"$work/smtp-sink.log" 2>&1 & master=$!
else
  master=$(smtpgate_start "$PORT" "$SMTPGATE_WORKERS" smtpgate) || exit 1
fi
for ((i = 0; i < 50; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
sleep 0.3
workers=$(ps -o pid= --ppid "$master" | tr -s ' \n' ' ')
[ -n "$workers" ] || workers=$master   # single-process server
echo "master $master, workers: $(echo $workers | wc -w)"

src() {  # MSGS -> one smtp-source run, bounded
  # shellcheck disable=SC2086
  timeout -k 5 120 /usr/sbin/smtp-source $FLAGS -s "$SESS" -m "$1" -l 1024 \
    -M client.bench.test -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$PORT"
}
ctxsw() {  # PIDS -> total voluntary+involuntary context switches
  local p t=0 v
  for p in "$@"; do
    v=$(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "/proc/$p/status" 2>/dev/null)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
src 500 || echo "warm-up failed" >&2

# plain run: wall time, context switches
c0=$(ctxsw $workers)
t0=$EPOCHREALTIME
src "$MSGS" & cpid=$!
wait "$cpid"; rc=$?
t1=$EPOCHREALTIME
c1=$(ctxsw $workers)
awk -v m="$MSGS" -v a="$t0" -v b="$t1" -v c=$((c1 - c0)) -v rc="$rc" 'BEGIN {
  printf "plain run: %d msgs in %.3f s = %.0f msg/s (rc %d); worker context switches %.1f per msg\n",
         m, b - a, m / (b - a), rc, c / m }'

if [ "$mode" = strace ] || [ "$mode" = both ]; then
  args=(); for p in $workers; do args+=(-p "$p"); done
  timeout -k 5 180 strace -c -f -o "$work/strace.txt" "${args[@]}" & spid=$!
  sleep 1
  src "$MSGS" >/dev/null; echo "strace run rc=$?"
  kill -INT "$spid"; wait "$spid" 2>/dev/null
  echo "== syscalls of all workers per message ($MSGS msgs)"
  awk -v m="$MSGS" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
      calls = $4; name = $NF; if (name == "total") next
      printf "  %-16s %8d calls  %5.2f per msg\n", name, calls, calls / m; tot += calls }
    END { printf "  %-16s %8d calls  %5.2f per msg\n", "TOTAL", tot, tot / m }' "$work/strace.txt"
fi

if [ "$mode" = stat ] || [ "$mode" = both ]; then
  plist=$(echo $workers | tr ' ' ,)
  timeout -k 5 180 perf stat -e task-clock,context-switches,cpu-migrations,page-faults \
    -p "$plist" -o "$work/stat.txt" & spid=$!
  sleep 0.5
  src "$MSGS" >/dev/null; echo "perf stat run rc=$?"
  kill -INT "$spid"; wait "$spid" 2>/dev/null
  echo "== perf stat of the server processes, per message ($MSGS msgs)"
  awk -v m="$MSGS" '$1 ~ /^[0-9.,]+$/ && NF >= 2 { v = $1; gsub(/,/, "", v)
      if ($2 == "msec") printf "  %-18s %10.1f us per msg\n", $3, v * 1000 / m
      else if ($2 != "seconds") printf "  %-18s %10.2f per msg\n", $2, v / m }' "$work/stat.txt"
fi

if [ "$mode" = perf ] || [ "$mode" = both ]; then
  timeout -k 5 120 perf record -q -a -g -o "$work/perf.data" -- \
    timeout -k 5 120 /usr/sbin/smtp-source $FLAGS -s "$SESS" -m "$MSGS" -l 1024 \
      -M client.bench.test -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$PORT" \
    >/dev/null 2>"$work/perf.err"
  echo "== perf: CPU by process (all CPUs during one run)"
  perf report -i "$work/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | grep '%' | head -8
  echo "== perf: top symbols of the server processes"
  perf report -i "$work/perf.data" --no-children --comm "$(ps -o comm= -p "$master")" --sort dso,sym --stdio -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -25
fi
