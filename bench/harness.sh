#!/usr/bin/env bash
# bench/harness.sh - the project's benchmark harness: Postfix's smtp-source
# against smtpgate's cells and the peers they are compared with, every
# ratio taken within one invocation.
#
# usage: bench/harness.sh [-h | --list] SERVER...
#
# For each load in $LOADS it starts a fresh instance of every SERVER named,
# each on its own free loopback port, waits for its 220 greeting and sends an
# untimed warm-up; then it runs $REPS rounds, and each round runs the load
# once against every server, in an order rotated from round to round, so
# that the servers see the same machine within seconds of each other.  After
# the rounds it reads the servers' memory from /proc and stops each by the
# PID it started (SIGTERM, then SIGKILL to what is left of its process tree).
# The ratios smtpgate* / peer are taken per round, then their median.
#
# It never touches a server it did not start, never talks to anything but
# 127.0.0.1, and never lets a loop run unbounded: every smtp-source run is
# under `timeout $RUN_TIMEOUT`, every wait has a count, and no round starts
# after $MAX_SECS.  As root (NETNS=1, the default) it re-runs itself in a
# private network namespace with only lo up: the ports are its own and the
# listen-queue overflow count is this run's.
#
# Servers are defined in bench/servers.sh (smtpgate's cells) and bench/peers.sh
# (the peers): start_NAME PORT starts one in the background and echoes the PID
# to measure and stop (its descendants count as the server); settle_NAME PID,
# if defined, runs after every run (untimed: e.g. wait for a queue to drain);
# cleanup_NAME after the stop.  Scratch files go under "$work".
#
# Loads (smtp-source -M client.bench.test -f sender@bench.test -t rcpt@bench.test;
# about 1.2 KB a message for L1/L1n/L2, one recipient; -d keeps the connection):
#   L1   -d -s 1  -m 2000  -l 1024       one session, connection reused
#   L1n     -s 1  -m 2000  -l 1024       one session, a new connection per message
#   L2   -d -s 20 -m 10000 -l 1024       20 sessions, connections reused
#   L3   -d -s 4  -m 200   -l 1048576    4 sessions of 1 MiB messages
#
# Knobs (environment): LOADS="L2 L1n" REPS=3 SCALE=1 (multiplies the message
# counts; 0.05 for a smoke run) RUN_TIMEOUT=120 MAX_SECS=1800 NETNS=1
# OUT_DIR=bench/results (not tracked) STAMP=<date> KEEP_WORK= (keep the temp
# dir: server logs) and those of bench/servers.sh and bench/peers.sh.
# Output: the table and ratios on stdout and in $OUT_DIR/$STAMP.txt; one row
# per timed run in $OUT_DIR/$STAMP.tsv.
set -u -o pipefail
export LC_ALL=C

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
LOADS=${LOADS:-"L2 L1n"}
REPS=${REPS:-3}
SCALE=${SCALE:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
MAX_SECS=${MAX_SECS:-1800}
OUT_DIR=${OUT_DIR:-$bench/results}
STAMP=${STAMP:-$(date +%Y%m%d-%H%M%S)}

. "$bench/servers.sh"
. "$bench/peers.sh"

harness_log() { printf '%s harness: %s\n' "$(date +%T)" "$*" >&2; }
log() { harness_log "$@"; }   # the name servers.sh and peers.sh call

# harness_load_args LOAD: "sessions messages bytes flag" of a load, flag "-" for none.
harness_load_args() {
	case $1 in
	L1) echo "1 2000 1024 -d" ;;
	L1n) echo "1 2000 1024 -" ;;
	L2) echo "20 10000 1024 -d" ;;
	L3) echo "4 200 1048576 -d" ;;
	*) return 1 ;;
	esac
}

# harness_port: a loopback TCP port nobody listens on and not handed out
# before in this run (start functions that need a second port call it too).
harness_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 30000))
		grep -qx "$p" "$work/ports" 2>/dev/null && continue
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && continue
		echo "$p" >>"$work/ports"
		echo "$p"
		return 0
	done
	echo "no free port found" >&2
	return 1
}

# harness_tree PID: PID and all its descendants, one a line.
harness_tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			in_tree[root] = 1
			do {
				grown = 0
				for (p in parent)
					if (!(p in in_tree) && (parent[p] in in_tree)) { in_tree[p] = 1; grown = 1 }
			} while (grown)
			for (p in in_tree) print p
		}'
}

# harness_cpu_ticks PID: user+system CPU of the tree, reaped children included.
harness_cpu_ticks() {
	local p sum=0 v
	for p in $(harness_tree "$1"); do
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# harness_mem PID: "procs rss_kB pss_kB" summed over the live tree.
harness_mem() {
	local p n=0 rss=0 pss=0 r s
	for p in $(harness_tree "$1"); do
		r=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$r" ] || continue
		s=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
		n=$((n + 1)); rss=$((rss + r)); pss=$((pss + ${s:-0}))
	done
	echo "$n $rss $pss"
}

# harness_overflows: TcpExt ListenOverflows of this network namespace.
harness_overflows() {
	awk '/^TcpExt:/ && !n { for (i = 2; i <= NF; i++) col[$i] = i; n = 1; next }
	     /^TcpExt:/ { print $col["ListenOverflows"] }' /proc/net/netstat 2>/dev/null
}

# harness_start_time PID: the kernel's start time of PID, so that a reused
# PID is never signalled.
harness_start_time() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'; }

# harness_alive PID START: true while PID is the process started at START.
harness_alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ] && [ "$(echo "$st" | awk '{ print $20 }')" = "$2" ]
}

# harness_stop NAME: stop the server NAME by the PID it was started as,
# then whatever of its process tree outlived it; run its cleanup.
harness_stop() {
	local name=$1 pid=${PID[$1]:-} p i left
	[ -n "$pid" ] || return 0
	declare -A born=()
	for p in $(harness_tree "$pid"); do born[$p]=$(harness_start_time "$p"); done
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		harness_alive "$pid" "${born[$pid]:-x}" || break
		sleep 0.1
	done
	for ((i = 0; i < 30; i++)); do
		left=0
		for p in "${!born[@]}"; do
			harness_alive "$p" "${born[$p]}" && { left=1; kill -TERM "$p" 2>/dev/null; }
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for p in "${!born[@]}"; do
		harness_alive "$p" "${born[$p]}" &&
			{ harness_log "$name: pid $p outlived SIGTERM, SIGKILL"; kill -KILL "$p" 2>/dev/null; }
	done
	wait "$pid" 2>/dev/null
	unset "PID[$name]"
	local fn=${name//-/_}
	declare -F "cleanup_$fn" >/dev/null && "cleanup_$fn" "$pid"
	return 0
}

# harness_ready PORT PID: true once PORT answers 220 (at most 30 s).
harness_ready() {
	local i line
	for ((i = 0; i < 150; i++)); do
		kill -0 "$2" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r -t 5 line <&3 &&
			[[ $line == 220* ]] && printf 'QUIT\r\n' >&3 && IFS= read -r -t 5 line <&3) 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# harness_source PORT LOAD MSGS LOGFILE: one bounded smtp-source run; its status.
harness_source() {
	local s m l f flags=()
	read -r s m l f <<<"$(harness_load_args "$2")"
	[ "$f" = - ] || flags=("$f")
	timeout -k 5 "$RUN_TIMEOUT" "$SMTP_SOURCE" "${flags[@]}" -s "$s" -m "$3" -l "$l" \
		-M client.bench.test -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$1" >>"$4" 2>&1 &
	CLIENT=$!
	wait "$CLIENT"
	local rc=$?
	CLIENT=""
	return "$rc"
}

# harness_settle NAME: the server's own settle step, if it has one.
harness_settle() {
	local fn=${1//-/_}
	declare -F "settle_$fn" >/dev/null || return 0
	"settle_$fn" "${PID[$1]}"
}

# harness_note NAME LOAD WHAT TEXT: a SKIP or FAIL line for the table.
harness_note() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$work/notes.tsv"; }

# harness_up NAME LOAD MSGS: start NAME for LOAD, wait for it, warm it up.
harness_up() {
	local name=$1 fn=${1//-/_} port pid s
	port=$(harness_port) || { harness_note "$name" "$2" SKIP "no free port"; return 1; }
	if ! "start_$fn" "$port" >"$work/start.pid" 2>"$work/start.err"; then
		harness_note "$name" "$2" SKIP "$(tr '\n' ' ' <"$work/start.err")"
		harness_log "$name: SKIP: $(cat "$work/start.err")"
		return 1
	fi
	pid=$(<"$work/start.pid")
	PID[$name]=$pid; PORT[$name]=$port
	if ! harness_ready "$port" "$pid"; then
		harness_note "$name" "$2" SKIP "no 220 greeting on port $port within 30 s"
		harness_stop "$name"
		return 1
	fi
	read -r s _ <<<"$(harness_load_args "$2")"
	local warm=$(($3 / 10))
	[ "$warm" -ge $((s * 5)) ] || warm=$((s * 5))
	harness_source "$port" "$2" "$warm" "$work/$name.$2.client.log" ||
		harness_log "$name $2: warm-up failed: $(tail -1 "$work/$name.$2.client.log")"
	harness_settle "$name"
	harness_log "$name $2: pid $pid on port $port, warmed up with $warm messages"
}

# harness_run NAME LOAD ROUND MSGS: one timed run, a row in the TSV.
harness_run() {
	local name=$1 pid=${PID[$1]} t0 t1 t2 c0 c1 o0 o1 rc
	o0=$(harness_overflows); c0=$(harness_cpu_ticks "$pid"); t0=$EPOCHREALTIME
	harness_source "${PORT[$name]}" "$2" "$4" "$work/$name.$2.client.log"
	rc=$?
	t1=$EPOCHREALTIME
	harness_settle "$name"
	t2=$EPOCHREALTIME; c1=$(harness_cpu_ticks "$pid"); o1=$(harness_overflows)
	awk -v OFS='\t' -v n="$name" -v l="$2" -v r="$3" -v m="$4" -v t0="$t0" -v t1="$t1" \
		-v t2="$t2" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v o="$((${o1:-0} - ${o0:-0}))" \
		-v rc="$rc" 'BEGIN { s = t1 - t0; printf "%s\t%s\t%d\t%d\t%.3f\t%.1f\t%.2f\t%.2f\t%d\t%d\n",
			n, l, r, m, s, m / s, c / hz, t2 - t1, o, rc }' | tee -a "$RAW" |
		awk -F'\t' '{ printf "%s %s round %s: %s msgs in %s s = %s msg/s, server cpu %s s, settle %s s, rc %s\n",
			$1, $2, $3, $4, $5, $6, $7, $8, $10 }' >&2
	if [ "$rc" -ne 0 ]; then
		harness_note "$name" "$2" FAIL "smtp-source rc=$rc in round $3: $(tail -1 "$work/$name.$2.client.log")"
		harness_stop "$name"
	fi
}

# harness_load LOAD SERVER...: fresh servers, warm-up, interleaved rounds, memory, stop.
harness_load() {
	local load=$1 s m l f name r k n
	shift
	read -r s m l f <<<"$(harness_load_args "$load")"
	m=$(awk -v m="$m" -v f="$SCALE" -v s="$s" 'BEGIN { n = int(m * f); print (n < s) ? s : n }')
	local up=()
	for name in "$@"; do harness_up "$name" "$load" "$m" && up+=("$name"); done
	n=${#up[@]}
	for ((r = 1; r <= REPS && n > 0; r++)); do
		if [ $((SECONDS - T0)) -ge "$MAX_SECS" ]; then
			harness_log "MAX_SECS=$MAX_SECS reached: no round $r for $load"
			printf 'note\t%s\t-\tonly %d of %d rounds: MAX_SECS reached\n' "$load" $((r - 1)) "$REPS" >>"$work/notes.tsv"
			break
		fi
		for ((k = 0; k < n; k++)); do
			name=${up[$(((k + r - 1) % n))]}
			[ -n "${PID[$name]:-}" ] && harness_run "$name" "$load" "$r" "$m"
		done
	done
	for name in "${up[@]}"; do
		[ -n "${PID[$name]:-}" ] || continue
		printf '%s\t%s\t%s\n' "$name" "$load" "$(harness_mem "${PID[$name]}" | tr ' ' '\t')" >>"$work/mem.tsv"
		harness_stop "$name"
	done
}

# harness_exit: stop whatever is still running (a signal or an error) and
# remove the temp dir.
harness_exit() {
	local name
	[ -n "${CLIENT:-}" ] && { kill -TERM "$CLIENT" 2>/dev/null; wait "$CLIENT" 2>/dev/null; }
	for name in "${!PID[@]}"; do harness_stop "$name"; done
	if [ -n "${work:-}" ] && [ -d "$work" ]; then
		if [ -n "${KEEP_WORK:-}" ]; then harness_log "temp dir kept: $work"; else rm -rf "$work"; fi
	fi
}

harness_usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	echo "servers: $(harness_servers | tr '\n' ' ')"
}

harness_servers() { declare -F | awk '{ print $3 }' | sed -n 's/^start_//p' | tr _ -; }

harness_main() {
	case "${1:-}" in
	-h | --help | "") harness_usage; [ $# -gt 0 ]; exit ;;
	--list) harness_servers; exit 0 ;;
	esac
	local name load
	for name in "$@"; do
		declare -F "start_${name//-/_}" >/dev/null || { echo "unknown server: $name (--list)" >&2; exit 2; }
	done
	for load in $LOADS; do harness_load_args "$load" >/dev/null || { echo "unknown load: $load" >&2; exit 2; }; done
	[ -x "$SMTP_SOURCE" ] || { echo "no $SMTP_SOURCE (scripts/deps.sh installs postfix)" >&2; exit 1; }
	if [ -z "${BENCH_IN_NETNS:-}" ] && [ "${NETNS:-1}" = 1 ] && [ "$(id -u)" = 0 ] &&
		unshare -n true 2>/dev/null; then
		exec unshare -n -- env BENCH_IN_NETNS=1 STAMP="$STAMP" \
			bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
	fi
	local where="host network namespace, 127.0.0.1"
	[ -n "${BENCH_IN_NETNS:-}" ] && where="private network namespace (unshare -n, lo only)"
	mkdir -p "$OUT_DIR" || exit 1
	work=$(mktemp -d "${TMPDIR:-/tmp}/smtpgate-bench.XXXXXX") || exit 1
	chmod 755 "$work"
	declare -gA PID=() PORT=()
	CLIENT=""
	T0=$SECONDS
	trap harness_exit EXIT
	trap 'exit 130' INT TERM
	RAW="$OUT_DIR/$STAMP.tsv"
	printf 'server\tload\tround\tmsgs\tsecs\tmsgs_per_s\tserver_cpu_s\tsettle_s\tovfl\trc\n' >"$RAW"
	: >"$work/notes.tsv"; : >"$work/mem.tsv"
	local head
	head="$(date '+%F %T %Z'), smtpgate $(git -C "$bench/.." describe --always --dirty 2>/dev/null), $(nproc) cpus, loadavg at start $(cut -d' ' -f1-3 /proc/loadavg); $where"
	harness_log "loads [$LOADS] x $REPS rounds, servers [$*], scale $SCALE; $where"
	for load in $LOADS; do harness_load "$load" "$@"; done
	{
		echo "command: LOADS=\"$LOADS\" REPS=$REPS SCALE=$SCALE bench/harness.sh $*"
		echo "$head"
		echo "loadavg at end $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - T0)) s"
		echo
		awk -f "$bench/report.awk" "$RAW" "$work/mem.tsv" "$work/notes.tsv"
	} | tee "$OUT_DIR/$STAMP.txt"
	harness_log "table: $OUT_DIR/$STAMP.txt  per-run rows: $RAW"
	! grep -q $'\tFAIL\t' "$work/notes.tsv"
}

harness_main "$@"
