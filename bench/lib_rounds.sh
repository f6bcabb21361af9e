# shellcheck shell=bash
# bench/lib_rounds.sh - interleaved rounds of smtp-source loads against a
# few cells that all stay up (sourced by bench/proxy_rounds.sh,
# bench/proxy_postfix.sh and bench/metrics_rounds.sh).  Each round loads
# every cell once, in an order rotated per round, and divides each cell's
# rate by the base cell's rate of the same round: on a shared, noisy
# machine a ratio taken within one round is steadier than cells measured
# minutes apart.
#
# The caller sets names=(BASE CELL...) and ports=(PORT...), SESSIONS,
# MSGS, RUN_TIMEOUT and ROUNDS, and optionally ROUNDS_RCPT (the recipient;
# rcpt@bench.test).  It keeps its servers' PIDs in pids=() (stopped by
# rounds_cleanup, by PID) and its scratch files in $work.
#
# What it must never do: load anything but 127.0.0.1, run a load without a
# time bound, or stop a process it was not given.

SOURCE=${SOURCE:-/usr/sbin/smtp-source}

# rounds_netns VAR ARGS...: re-run the calling script in a private network
# namespace (unshare -n, lo up) unless VAR says it already is, or cannot.
rounds_netns() {
	local var=$1
	shift
	if [ -z "${!var:-}" ] && unshare -n true 2>/dev/null; then
		exec unshare -n -- env "$var=1" bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
	fi
}

# rounds_cleanup: stop the servers in pids=() by PID, remove $work.
rounds_cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.5
	rm -rf "$work"
}

# rounds_load PORT MSGS: one smtp-source load; its rate (msg/s) on stdout.
rounds_load() {
	local t0=$EPOCHREALTIME
	timeout -k 5 "$RUN_TIMEOUT" "$SOURCE" -d -s "$SESSIONS" -m "$2" -l 1024 -M client.bench.test \
		-f sender@bench.test -t "${ROUNDS_RCPT:-rcpt@bench.test}" "127.0.0.1:$1" || return 1
	awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$2" 'BEGIN { printf "%.0f", m / (b - a) }'
}

# rounds_warm_up MSGS: one untimed load of every cell.
rounds_warm_up() {
	local p
	for p in "${ports[@]}"; do
		rounds_load "$p" "$1" >/dev/null || { echo "warm-up of port $p failed" >&2; return 1; }
	done
}

# rounds_run: the header line, then ROUNDS rounds, a line each; the ratios
# of each cell to the base go into ratios[CELL] (a space-separated list).
rounds_run() {
	local r k j n=${#names[@]} base=${names[0]} nm x line
	echo "smtpgate $(git -C "$tree" rev-parse --short HEAD 2>/dev/null), $(nproc) CPUs, $ROUNDS rounds of $MSGS messages per cell in $SESSIONS sessions, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
	declare -gA ratios=()
	for ((r = 0; r < ROUNDS; r++)); do
		declare -A rate=()
		for ((k = 0; k < n; k++)); do
			j=$(((k + r) % n))
			rate[${names[$j]}]=$(rounds_load "${ports[$j]}" "$MSGS") ||
				{ echo "round $r: ${names[$j]} failed" >&2; return 1; }
		done
		line="round $r: $base ${rate[$base]}"
		for nm in "${names[@]:1}"; do
			x=$(awk -v a="${rate[$nm]}" -v b="${rate[$base]}" 'BEGIN { printf "%.3f", a / b }')
			ratios[$nm]+="$x "
			line+="  $nm ${rate[$nm]} (x$x)"
		done
		echo "$line"
	done
}

# rounds_summary [GOAL]: per cell, the median, min and max of its ratios;
# with GOAL, how many rounds reached it.
rounds_summary() {
	local nm
	for nm in "${names[@]:1}"; do
		echo "${ratios[$nm]}" | tr ' ' '\n' | grep . | sort -n | awk -v nm="$nm" -v base="${names[0]}" -v goal="${1:-}" '
			{ a[NR] = $1; if (goal != "" && $1 >= goal) met++ }
			END { printf "%s / %s: median %.3f, min %.3f, max %.3f", nm, base,
			      (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR]
			      if (goal != "") printf ", >= %s in %d of %d rounds\n", goal, met, NR
			      else printf " over %d rounds\n", NR }'
	done
}
