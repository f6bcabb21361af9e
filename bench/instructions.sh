#!/usr/bin/env bash
# bench/instructions.sh - instructions per message of smtpgate's workers,
# counted by valgrind's callgrind: a figure the load of a shared machine
# does not move (the same binary, input and settings give the same count),
# for comparing a change with its base where msg/s ratios are too noisy.
#
# usage: bench/instructions.sh TREE...      (each a built tree; default: this one)
#
# For each tree: one debug listener (output /dev/null, one worker, -n) on a
# free loopback port started under callgrind (--trace-children=yes, one
# output file per process), an untimed warm-up of 20 messages, then
# smtp-source twice: L1 (-d -s 1 -m $MSGS -l 1024, one kept connection)
# and L1n (-s 1 -m $MSGS -l 1024, a connection per message).  The worker's
# instructions for each load are read from callgrind's dump, taken with
# callgrind_control after each run; the difference divided by the messages
# is printed per tree and load.  Only the processes started here are
# stopped, by PID; every run is under `timeout`.  Knobs: MSGS=500,
# KEEP_WORK=1 keeps the callgrind files (callgrind_annotate FILE: where the
# instructions go), INSTR_GLOBAL='metrics = "127.0.0.1:PORT";' adds global
# settings to every tree's config (the rows are then marked "+global").
set -u -o pipefail
export LC_ALL=C
bench=$(cd "$(dirname "$0")" && pwd)
MSGS=${MSGS:-500}
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
trees=("$@")
[ $# -gt 0 ] || trees=("$(cd "$bench/.." && pwd)")
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
	{ echo "needs valgrind (callgrind_control)" >&2; exit 1; }

# A TCP port nobody listens on.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The instructions callgrind has counted so far in process $1 (a dump
# first, so the count is current).
instructions_of() {
	callgrind_control -d "$1" >/dev/null 2>&1
	awk '/^summary:/ { n += $2 } END { print n + 0 }' "$work"/cg.out."$1"*
}

# The worker: the child of the master holding the listening socket on
# port $2 (not a check process, not the metrics child).
worker_of() {
	local master=$1 hex inodes pid
	hex=$(printf ':%04X' "$2")
	inodes=$(awk -v p="$hex" '$2 ~ p"$" && $4 == "0A" { print "socket:[" $10 "]" }' /proc/net/tcp)
	for pid in $(pgrep -P "$master"); do
		for fd in /proc/"$pid"/fd/*; do
			grep -qxF "$(readlink "$fd" 2>/dev/null)" <<<"$inodes" && { echo "$pid"; return; }
		done
	done
}

# Start TREE's daemon under callgrind; echo the master's PID.
start() {
	local tree=$1 port=$2 d=$work/$(basename "$1")
	mkdir -p "$d/plugins"
	ln -sf "$tree/plugins/debug/.libs/debug.so" "$d/plugins/debug.so"
	cat >"$d/smtpgate.conf" <<EOF
plugin_dir = "$d/plugins";
${INSTR_GLOBAL:-}
listeners = ( { address = "127.0.0.1:$port"; handler = "debug"; workers = 1;
  max_sessions_per_worker = 0; debug = { output = "/dev/null"; }; } );
EOF
	valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$work/cg.out.%p" \
		"$tree/smtpgate" -n -f "$d/smtpgate.conf" >"$d/log" 2>&1 &
	echo $!
}

# smtp-source with the load's flags, bounded.
load() {
	timeout 600 "$SMTP_SOURCE" $1 -s 1 -m "$2" -l 1024 -M client.bench.test \
		-f sender@bench.test -t rcpt@bench.test "127.0.0.1:$3" >/dev/null
}

work=$(mktemp -d "${TMPDIR:-/tmp}/smtpgate-instr.XXXXXX") || exit 1
[ -n "${KEEP_WORK:-}" ] && echo "callgrind files kept in $work" >&2
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
printf '%-40s %-5s %14s\n' tree load "instr/msg"
for tree in "${trees[@]}"; do
	port=$(free_port)
	master=$(start "$tree" "$port")
	for _ in $(seq 1 600); do
		grep -q "event=ready" "$work/$(basename "$tree")/log" 2>/dev/null && break
		sleep 0.1
	done
	load -d 20 "$port" || echo "warm-up failed" >&2
	worker=$(worker_of "$master" "$port")
	[ -n "$worker" ] || { echo "no worker for $tree" >&2; kill "$master"; continue; }
	before=$(instructions_of "$worker")
	for l in L1 L1n; do
		flags=$([ "$l" = L1 ] && echo -d)
		load "$flags" "$MSGS" "$port" || echo "$l: smtp-source failed" >&2
		after=$(instructions_of "$worker")
		printf '%-40s %-5s %14d\n' "$(git -C "$tree" describe --always --dirty 2>/dev/null || echo "$tree")${INSTR_GLOBAL:++global}" \
			"$l" $(((after - before) / MSGS))
		before=$after
	done
	kill "$master"
	timeout 60 tail --pid="$master" -f /dev/null
done
