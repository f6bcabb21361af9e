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
if [ -z "${PROXY_POSTFIX_NETNS:-}" ] && unshare -n true 2>/dev/null; then
  exec unshare -n -- env PROXY_POSTFIX_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
tree=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-7}
MSGS=${MSGS:-5000}
SESSIONS=${SESSIONS:-20}
WORKERS=${WORKERS:-24}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
SOURCE=/usr/sbin/smtp-source
[ "$(id -u)" = 0 ] && command -v postfix >/dev/null && id postfix >/dev/null 2>&1 ||
  { echo "needs root and the postfix package (scripts/deps.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/smtpgate-proxy-postfix.XXXXXX)
chmod 755 "$work"
pids=()
postfixes=()
cleanup() {
  for d in "${postfixes[@]}"; do postfix -c "$d/etc" stop >/dev/null 2>&1; done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT

. "$tree/bench/servers.sh" # smtpgate_cell: a cell's directory and checked config

# start_postfix NAME PORT EXTRA: a private Postfix whose smtpd on PORT
# takes mail for any domain from loopback and discards it once queued.
start_postfix() {
  local d="$work/$1"
  mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/log"
  chmod 755 "$d" "$d/etc" "$d/queue" "$d/log"
  chown postfix "$d/data" && chmod 700 "$d/data"
  cat >"$d/etc/main.cf" <<EOC
# written by bench/proxy_postfix.sh for one run; not the system's Postfix
compatibility_level = 3.6
config_directory = $d/etc
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/log/maillog
maillog_file_prefixes = $d/log
mail_owner = postfix
setgid_group = postdrop
myhostname = $1.bench.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
default_transport = discard:benchmark upstream
in_flow_delay = 0s
biff = no
$3
EOC
  cat >"$d/etc/master.cf" <<EOC
127.0.0.1:$2 inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOC
  postfix -c "$d/etc" start >"$d/start.log" 2>&1 ||
    { echo "postfix start failed: $(tr '\n' ' ' <"$d/start.log") $(tail -3 "$d/log/maillog" 2>/dev/null | tr '\n' ' ')" >&2; exit 1; }
  postfixes+=("$d")
}

# start_proxy NAME PORT UPSTREAM: smtpgate+proxy (extensions by default).
start_proxy() {
  local d="$work/$1"
  smtpgate_cell "$1" "$2" "$WORKERS" proxy "$tree/plugins/proxy/.libs/proxy.so" \
    "remote = \"127.0.0.1:$3\"; proxy = { relay_networks = [ \"127.0.0.0/8\" ]; };" || exit 1
  "$SMTPGATE_BIN" -f "$d/smtpgate.conf" >"$d/smtpgate.log" 2>&1 & pids+=($!)
}

load() {  # PORT MSGS -> msg/s on stdout
  local t0=$EPOCHREALTIME
  timeout -k 5 "$RUN_TIMEOUT" "$SOURCE" -d -s "$SESSIONS" -m "$2" -l 1024 -M client.bench.test \
    -f sender@bench.test -t rcpt@remote.bench.test "127.0.0.1:$1" || return 1
  awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$2" 'BEGIN { printf "%.0f", m / (b - a) }'
}

start_postfix postfix 9600 ""
start_postfix postfix-nochunking 9700 "smtpd_discard_ehlo_keywords = chunking"
start_proxy proxy-bdat 9610 9600
start_proxy proxy-data 9710 9700
names=(direct proxy-bdat proxy-data)
ports=(9600 9610 9710)
sleep 2
for p in "${ports[@]}"; do load "$p" 300 >/dev/null || { echo "warm-up of port $p failed" >&2; exit 1; }; done

echo "smtpgate $(git -C "$tree" rev-parse --short HEAD 2>/dev/null), $(nproc) CPUs, $ROUNDS rounds of $MSGS messages per cell in $SESSIONS sessions, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A ratios=()
for ((r = 0; r < ROUNDS; r++)); do
  declare -A rate=()
  for ((k = 0; k < 3; k++)); do
    j=$(( (k + r) % 3 ))
    rate[${names[$j]}]=$(load "${ports[$j]}" "$MSGS") || { echo "round $r: ${names[$j]} failed" >&2; exit 1; }
  done
  line="round $r: direct ${rate[direct]}"
  for nm in proxy-bdat proxy-data; do
    x=$(awk -v a="${rate[$nm]}" -v b="${rate[direct]}" 'BEGIN { printf "%.3f", a / b }')
    ratios[$nm]+="$x "
    line+="  $nm ${rate[$nm]} (x$x)"
  done
  echo "$line"
done
for nm in proxy-bdat proxy-data; do
  echo "${ratios[$nm]}" | tr ' ' '\n' | grep . | sort -n | awk -v nm="$nm" '
    { a[NR] = $1; if ($1 >= 0.6) met++ }
    END { printf "%s / direct: median %.3f, min %.3f, max %.3f, >= 0.6 in %d of %d rounds\n",
          nm, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR], met, NR }'
done
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
