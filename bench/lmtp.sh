#!/usr/bin/env bash
# bench/lmtp.sh - LMTP into maildir against SMTP into maildir (issue 18),
# from the same client (Postfix's smtp-source; -L makes it speak LMTP),
# in one run, cells interleaved round by round:
#
#   smtp-tcp    protocol "smtp" on 127.0.0.1:PORT       smtp-source
#   lmtp-tcp    protocol "lmtp" on 127.0.0.1:PORT       smtp-source -L
#   lmtp-unix   protocol "lmtp" on unix:DIR/lmtp.sock   smtp-source -L unix:...
#   smtp-unix   protocol "smtp" on unix:DIR/smtp.sock   smtp-source unix:...
#
# usage: sudo bench/lmtp.sh
#
# Every cell: a fresh daemon (workers = 24, max_sessions_per_worker = 0,
# the maildir handler with a Maildir per recipient, path DIR/mail/%u, on
# the file system of ${TMPDIR:-/tmp}), an untimed warm-up of WARM
# messages, then MSGS messages timed: `smtp-source [-L] -d -s SESS -m MSGS
# -r RCPTS -l 1024 -M client.bench.test -f sender@bench.test -t
# rcpt@bench.test ADDRESS` (L2's load: 20 sessions, connections reused).
# After each run the files in new/ are counted (must be MSGS x RCPTS, tmp/
# empty) and removed.  smtp-source exits non-zero on any reply that is not
# 2xx: such a run is reported FAILED.
#
# Knobs: REPS (3), MSGS (10000), WARM (1000), SESS (20), RCPTS (1),
# CELLS ("smtp-tcp lmtp-tcp lmtp-unix smtp-unix"), OUT_DIR (bench/results).
# The daemon runs with -n (as root: no user switch, so the Maildirs it
# makes need no chown).  Results: bench/RESULTS.md ("LMTP into maildir").
set -u -o pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$bench/.." && pwd)
REPS=${REPS:-3}
MSGS=${MSGS:-10000}
WARM=${WARM:-1000}
SESS=${SESS:-20}
RCPTS=${RCPTS:-1}
CELLS=${CELLS:-"smtp-tcp lmtp-tcp lmtp-unix smtp-unix"}
OUT_DIR=${OUT_DIR:-$bench/results}
SMTPGATE_BIN=${SMTPGATE_BIN:-$tree/smtpgate}
MAILDIR_SO=${MAILDIR_SO:-$tree/plugins/maildir/.libs/maildir.so}

log() { printf '%s lmtp.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

command -v smtp-source >/dev/null || die "smtp-source missing (apt-get install postfix)"
[ -x "$SMTPGATE_BIN" ] && [ -f "$MAILDIR_SO" ] || die "build first: scripts/build.sh"
mkdir -p "$OUT_DIR" || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/lmtp-bench.XXXXXX") || die "mktemp failed"
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work/plugins" && ln -s "$MAILDIR_SO" "$work/plugins/maildir.so"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start CELL: the cell's daemon; sets pid and target (smtp-source's address).
start() {
	local cell=$1 proto=${1%%-*} port address
	if [ "${cell#*-}" = unix ]; then
		address="unix:$work/$proto.sock"
		target=$address
	else
		port=$(free_port)
		address="127.0.0.1:$port"
		target=$address
	fi
	rm -rf "$work/mail"
	cat >"$work/$cell.conf" <<CONF
plugin_dir = "$work/plugins";
listeners = ( { name = "$cell"; address = "$address"; protocol = "$proto";
  handler = "maildir"; workers = 24; max_sessions_per_worker = 0;
  maildir = { path = "$work/mail/%u"; }; } );
CONF
	# A log per start: a line of an earlier round's daemon must not
	# pass for this one's readiness.
	"$SMTPGATE_BIN" -n -f "$work/$cell.conf" >"$work/$cell.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q "event=ready" "$work/$cell.log" 2>/dev/null && return 0
		sleep 0.1
	done
	die "$cell: no event=ready: $(tail -3 "$work/$cell.log")"
}

stop() { kill "$pid" && wait "$pid" 2>/dev/null; pid=; }

# source CELL N: smtp-source sending N messages; its exit status.
source_run() {
	local lflag=
	[ "${1%%-*}" = lmtp ] && lflag=-L
	timeout 600 smtp-source $lflag -d -s "$SESS" -m "$2" -r "$RCPTS" -l 1024 \
		-M client.bench.test -f sender@bench.test -t rcpt@bench.test "$target"
}

# settle WANT: the files delivered since the last settle (checked), removed.
settle() {
	local n t
	n=$(find "$work/mail" -path "$work/mail/*/new/*" -type f | wc -l)
	t=$(find "$work/mail" -path "$work/mail/*/tmp/*" -type f | wc -l)
	find "$work/mail" -path "$work/mail/*/new/*" -type f -delete
	[ "$n" -eq "$1" ] && [ "$t" -eq 0 ] || { log "expected $1 files in new/, found $n (tmp/: $t)"; return 1; }
}

stamp=lmtp-$(date +%Y%m%d-%H%M%S)
tsv="$OUT_DIR/$stamp.tsv"
log "cells: $CELLS; $REPS rounds; $MSGS msgs x $RCPTS rcpt, $SESS sessions; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'round\tcell\tmsgs\tseconds\tmsg_per_s\tstatus\n' >"$tsv"
for ((r = 1; r <= REPS; r++)); do
	for cell in $CELLS; do
		start "$cell"
		status=ok
		source_run "$cell" "$WARM" >/dev/null && settle $((WARM * RCPTS)) || status=FAILED
		t0=$(date +%s.%N)
		source_run "$cell" "$MSGS" >/dev/null || status=FAILED
		t1=$(date +%s.%N)
		settle $((MSGS * RCPTS)) || status=FAILED
		stop
		secs=$(echo "$t1 - $t0" | bc -l)
		rate=$(echo "$MSGS / $secs" | bc -l)
		printf '%d\t%s\t%d\t%.2f\t%.0f\t%s\n' "$r" "$cell" "$MSGS" "$secs" "$rate" "$status" >>"$tsv"
		log "round $r $cell: $(printf '%.0f' "$rate") msg/s ($status)"
	done
done
log "loadavg at the end $(cut -d' ' -f1-3 /proc/loadavg)"
# The median per cell, and each cell against smtp-tcp.
awk -F'\t' 'NR > 1 { v[$2] = v[$2] " " $5; if ($6 != "ok") bad[$2]++ }
END {
	for (c in v) {
		n = split(substr(v[c], 2), a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		med[c] = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		rng[c] = a[1] "-" a[n]
	}
	for (c in v)
		printf "| %s | %.0f | %s | %.2f | %d |\n", c, med[c], rng[c], med[c] / med["smtp-tcp"], bad[c]
}' "$tsv" | sort >"$work/table"
{
	echo "| cell | msg/s (median) | min-max | vs smtp-tcp | failed runs |"
	echo "| --- | --- | --- | --- | --- |"
	cat "$work/table"
} | tee "$OUT_DIR/$stamp.txt"
log "raw runs: $tsv"
