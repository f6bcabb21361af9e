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

# peers_postfix_conf DIR PORT: main.cf and master.cf of the private instance.
# Every path is under DIR; chroot is off (the instance lives in a temp dir);
# the one domain, bench.test, is a virtual mailbox domain whose every
# address maps to DIR/mail/Maildir/ (the trailing / asks for maildir
# delivery), owned by nobody.
peers_postfix_conf() {
	local d=$1 port=$2
	cat >"$d/etc/main.cf" <<EOF
# written by bench/peers.sh for one benchmark run; not the system's Postfix
compatibility_level = 3.6
config_directory = $d/etc
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/log/maillog
maillog_file_prefixes = $d/log
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-maildir.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
default_transport = error:no relaying from the benchmark instance
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
biff = no
EOF
	cat >"$d/etc/master.cf" <<EOF
# service  type  private unpriv chroot wakeup maxproc command
127.0.0.1:$port inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
virtual    unix  - n n - - virtual
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
}

# start_postfix_maildir PORT: the private instance; echoes its master's PID
# (it daemonizes: the harness finds smtpd, cleanup, qmgr, virtual ... as the
# master's descendants and stops them through it).
start_postfix_maildir() {
	if [ "$(id -u)" != 0 ] || ! command -v postfix >/dev/null || ! id postfix >/dev/null 2>&1; then
		echo "needs root and the postfix package (scripts/deps.sh)" >&2
		return 1
	fi
	local d="$work/postfix-maildir" pid
	rm -rf "$d"
	mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/log" "$d/mail"
	chmod 755 "$d" "$d/etc" "$d/queue" "$d/log"
	chown postfix "$d/data" && chmod 700 "$d/data"
	chown nobody: "$d/mail"
	peers_postfix_conf "$d" "$1"
	echo 0 >"$d/stored"
	# "postfix start" returns once the master runs (detached, its parent is
	# init); Postfix says why it failed only in its own log.
	postfix -c "$d/etc" start >"$d/start.log" 2>&1 ||
		{ echo "postfix start failed: $(tail -3 "$d/log/maillog" 2>/dev/null | tr '\n' ' ')" >&2; return 1; }
	pid=$(tr -dc 0-9 <"$d/queue/pid/master.pid" 2>/dev/null)
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
