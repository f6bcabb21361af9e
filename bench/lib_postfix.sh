# shellcheck shell=bash
# bench/lib_postfix.sh - a private Postfix instance for the benchmarks
# (sourced by bench/proxy_postfix.sh, bench/tls.sh, bench/peers.sh and
# bench/auth.sh).
#
# lib_postfix_write DIR NAME PORT [MAIN [MASTER]] makes DIR/etc, DIR/queue,
# DIR/data and DIR/log, writes a main.cf and a master.cf whose every path
# is under DIR (chroot off, loopback only, mail from 127.0.0.0/8 taken for
# any domain, myhostname NAME.bench.test, log in DIR/log/maillog) with an
# smtpd on 127.0.0.1:PORT; lib_postfix_start DIR (after it, or with the
# same arguments, to do both) runs `postfix -c DIR/etc start`.  MAIN and
# MASTER are lines added to main.cf and master.cf: MAIN says where the mail
# goes (default_transport ...), and a setting in MAIN replaces the one
# written here.  lib_postfix_stop DIR is `postfix -c DIR/etc stop` and a
# bounded wait for that master's PID to go.
#
# What it must never do: start or stop the system's Postfix, read
# /etc/postfix, listen beyond loopback, or signal any process but through
# the `postfix -c DIR/etc` of an instance it started.

# lib_postfix_main DIR NAME MAIN: main.cf, less the settings MAIN sets again.
lib_postfix_main() {
	local d=$1
	{
		cat <<EOF | awk -v extra="$3" '
			BEGIN { n = split(extra, l, "\n"); for (i = 1; i <= n; i++) if (split(l[i], kv, "=") > 1) { k = kv[1]; gsub(/ /, "", k); set[k] = 1 } }
			{ k = $0; sub(/ *=.*/, "", k); if (!(index($0, "=") && (k in set))) print }'
# written by ${0##*/} for one benchmark run; not the system's Postfix
compatibility_level = 3.6
config_directory = $d/etc
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/log/maillog
maillog_file_prefixes = $d/log
mail_owner = postfix
setgid_group = postdrop
myhostname = $2.bench.test
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
biff = no
EOF
		if [ -n "$3" ]; then printf '%s\n' "$3"; fi
	} >"$d/etc/main.cf"
}

# lib_postfix_master DIR PORT MASTER: master.cf, the smtpd on PORT.
lib_postfix_master() {
	{
		cat <<EOF
# service  type  private unpriv chroot wakeup maxproc command
127.0.0.1:$2 inet n - n - - smtpd
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
discard    unix  - - n - - discard
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
		if [ -n "$3" ]; then printf '%s\n' "$3"; fi
	} >"$1/etc/master.cf"
}

# lib_postfix_usable: true as root with the postfix package installed.
lib_postfix_usable() {
	[ "$(id -u)" = 0 ] && command -v postfix >/dev/null && id postfix >/dev/null 2>&1 && return 0
	echo "needs root and the postfix package (scripts/deps.sh)" >&2
	return 1
}

# lib_postfix_write DIR NAME PORT [MAIN [MASTER]]: the instance's directories
# and its main.cf and master.cf (see the header), not started.
lib_postfix_write() {
	local d=$1
	mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/log"
	# The postfix user walks down to its queue; its data dir is its own.
	chmod 755 "$d" "$d/etc" "$d/queue" "$d/log"
	chown postfix "$d/data" && chmod 700 "$d/data" || return 1
	lib_postfix_main "$d" "$2" "${4:-}"
	lib_postfix_master "$d" "$3" "${5:-}"
}

# lib_postfix_start DIR [NAME PORT [MAIN [MASTER]]]: with NAME and PORT,
# lib_postfix_write first; then postfix start.  Says why on stderr and
# fails if Postfix does not start.
lib_postfix_start() {
	local d=$1
	if [ $# -gt 1 ]; then lib_postfix_write "$@" || return 1; fi
	# "postfix start" returns once the master runs (detached, its parent is
	# init); Postfix says why it failed only in its own log.
	postfix -c "$d/etc" start >"$d/start.log" 2>&1 && return 0
	echo "postfix start failed: $(tr '\n' ' ' <"$d/start.log") $(tail -3 "$d/log/maillog" 2>/dev/null | tr '\n' ' ')" >&2
	return 1
}

# lib_postfix_pid DIR: the master's PID from its pid file (empty if none).
lib_postfix_pid() {
	tr -dc 0-9 2>/dev/null <"$1/queue/pid/master.pid"
}

# lib_postfix_stop DIR: postfix stop, then wait (10 s at most) for the master.
lib_postfix_stop() {
	local pid i
	pid=$(lib_postfix_pid "$1")
	postfix -c "$1/etc" stop >/dev/null 2>&1
	[ -n "$pid" ] || return 0
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 0
}
