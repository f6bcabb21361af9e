# shellcheck shell=bash disable=SC2154  # sourced by bench/harness.sh, which sets $work
# bench/peers.sh - the servers smtpgate is compared with, for bench/harness.sh
# (sourced; see its header for the start_/settle_/cleanup_ contract).
#
#   smtp-sink        Postfix's event-driven C test sink (stores nothing):
#                    the ceiling of what one process can take from smtp-source
#   pysmtpd-discard  Python 3.11's stdlib smtpd, process_message -> None
#                    (bench/pysmtpd_sink.py): the protocol cost of smtpd.py
#   pysmtpd-debug    python3 -m smtpd -n -c DebuggingServer, stdout to /dev/null:
#                    what smtpgate's debug handler replaces
#   aiosmtpd-sink    aiosmtpd (Debian's python3-aiosmtpd) with its Sink handler
#   postfix-maildir  a private, durable Postfix: its own config and queue in the
#                    harness's temp dir, smtpd on the given loopback port, every
#                    message fsync'ed into the queue before 250, then delivered
#                    by virtual(8) into one Maildir; the peer of smtpgate-maildir
#
# Knobs: PYTHON=python3 (needs the stdlib smtpd: Python <= 3.11),
# AIOSMTPD_PYTHON (found among python3 and /usr/bin/python3 if not set),
# SMTP_SINK=/usr/sbin/smtp-sink, POSTFIX_SETTLE_SECS=120 (longest wait for
# Postfix's queue to drain after a run).  None of these starts the system's
# own Postfix or reads /etc/postfix.

PYTHON=${PYTHON:-python3}
SMTP_SINK=${SMTP_SINK:-/usr/sbin/smtp-sink}
POSTFIX_SETTLE_SECS=${POSTFIX_SETTLE_SECS:-120}
PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# peers_python_smtpd: true if $PYTHON still has the stdlib smtpd module.
peers_python_smtpd() {
	"$PYTHON" -W ignore -c 'import smtpd' 2>/dev/null ||
		{ echo "$PYTHON has no stdlib smtpd (Python 3.11 or older needed; set PYTHON=)" >&2; return 1; }
}

start_smtp_sink() {
	[ -x "$SMTP_SINK" ] || { echo "no $SMTP_SINK (scripts/deps.sh installs postfix)" >&2; return 1; }
	local as=()
	[ "$(id -u)" = 0 ] && as=(-u nobody)   # smtp-sink refuses to run as root
	"$SMTP_SINK" "${as[@]}" "127.0.0.1:$1" 256 >"$work/smtp-sink.log" 2>&1 &
	echo $!
}

start_pysmtpd_discard() {
	peers_python_smtpd || return 1
	"$PYTHON" -W ignore "$PEERS_DIR/pysmtpd_sink.py" 127.0.0.1 "$1" >"$work/pysmtpd-discard.log" 2>&1 &
	echo $!
}

start_pysmtpd_debug() {
	peers_python_smtpd || return 1
	"$PYTHON" -W ignore -m smtpd -n -c DebuggingServer "127.0.0.1:$1" \
		>/dev/null 2>"$work/pysmtpd-debug.log" &
	echo $!
}

start_aiosmtpd_sink() {
	local py
	for py in ${AIOSMTPD_PYTHON:-} python3 /usr/bin/python3 ""; do
		[ -n "$py" ] && "$py" -c 'import aiosmtpd' 2>/dev/null && break
	done
	[ -n "$py" ] || { echo "no python3 with aiosmtpd (Debian: python3-aiosmtpd; bench/run.sh installs it)" >&2; return 1; }
	"$py" -m aiosmtpd -n -c aiosmtpd.handlers.Sink -l "127.0.0.1:$1" >"$work/aiosmtpd-sink.log" 2>&1 &
	echo $!
}

# shellcheck source=bench/lib_postfix.sh
. "$PEERS_DIR/lib_postfix.sh" # lib_postfix_*: a private Postfix

# peers_postfix_conf DIR PORT: the private instance's directories, main.cf
# and master.cf (bench/lib_postfix.sh's, chroot off, every path under DIR).
# The one domain, bench.test, is a virtual mailbox domain whose every
# address maps to DIR/mail/Maildir/ (the trailing / asks for maildir
# delivery), owned by nobody.
peers_postfix_conf() {
	local d=$1
	lib_postfix_write "$d" postfix-maildir "$2" "\
mydomain = bench.test
myorigin = bench.test
relay_domains =
default_transport = error:no relaying from the benchmark instance
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)" "virtual    unix  - n n - - virtual"
}

# start_postfix_maildir PORT: the private instance; echoes its master's PID
# (it daemonizes: the harness finds smtpd, cleanup, qmgr, virtual ... as the
# master's descendants and stops them through it).
start_postfix_maildir() {
	lib_postfix_usable || return 1
	local d="$work/postfix-maildir" pid
	rm -rf "$d"
	peers_postfix_conf "$d" "$1" || return 1
	mkdir -p "$d/mail" && chown nobody: "$d/mail"
	echo 0 >"$d/stored"
	lib_postfix_start "$d" || return 1
	pid=$(lib_postfix_pid "$d")
	[ -n "$pid" ] || { echo "postfix started but left no master.pid" >&2; return 1; }
	echo "$pid"
}

# settle_postfix_maildir: wait (bounded) until the queue has handed every
# message to virtual(8), count the files delivered into new/ (a running total,
# logged), then empty new/ so every run starts from an empty Maildir.
settle_postfix_maildir() {
	local d="$work/postfix-maildir" i n left
	for ((i = 0; i < POSTFIX_SETTLE_SECS * 10; i++)); do
		left=$(find "$d/queue/maildrop" "$d/queue/incoming" "$d/queue/active" -type f 2>/dev/null | wc -l)
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	[ "$left" -eq 0 ] || log "postfix-maildir: $left messages still queued after ${POSTFIX_SETTLE_SECS}s"
	left=$(find "$d/queue/deferred" "$d/queue/hold" "$d/queue/corrupt" -type f 2>/dev/null | wc -l)
	[ "$left" -eq 0 ] || log "postfix-maildir: WARNING $left messages deferred, held or corrupt"
	n=$(find "$d/mail/Maildir/new" -type f 2>/dev/null | wc -l)
	echo $(($(cat "$d/stored") + n)) >"$d/stored"
	log "postfix-maildir: $n files delivered into new/ (total $(cat "$d/stored"))"
	find "$d/mail/Maildir/new" -type f -delete 2>/dev/null
}

cleanup_postfix_maildir() {
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work/postfix-maildir"
}
