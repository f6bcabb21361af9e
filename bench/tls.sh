#!/usr/bin/env bash
# bench/tls.sh - STARTTLS load: smtpgate against a private Postfix smtpd
# with the same certificate, in one run (not a test: figures for
# bench/RESULTS.md).  Needs root (Postfix) and postfix, openssl, gcc,
# libssl-dev and smtp-source installed; run from a built tree.
#
# For each key type (RSA 2048, of record; ECDSA P-256 beside it) and each
# server, bench/tls_load.c measures, ROUNDS times interleaved:
#   new      P processes x N sessions, a full handshake and one message each
#   new0     the same with no message (STARTTLS, EHLO, QUIT): the handshake
#   resumed  as new, each session resuming with its process's last ticket
#   kept     20 sessions x M messages of 1 KiB over TLS (the L2 shape)
# and, for smtpgate alone, plaintext L2 with smtp-source (-d -s 20 -l 1024)
# on a listener without TLS.  Prints one line per cell and round, then the
# median of each cell.  new and resumed pipeline MAIL, RCPT and DATA
# (tls_load -g, both servers offer PIPELINING) as a sending MTA does;
# kept does not, like smtp-source, so that kept and plain-L2 compare.
#
# smtpgate: debug plugin writing to /dev/null, 8 workers, tls.mode "may".
# Postfix: smtpd with smtpd_tls_security_level = may, its tlsmgr session
# cache on (smtpd_tls_session_cache_database) and its ticket keys, mail
# discarded after the queue (default_transport = discard) - so a message
# costs Postfix a queue file, which it does not cost smtpgate's debug
# plugin: compare new0 for the handshake alone.
#
# Knobs: ROUNDS=3 P=8 N=40 M=500 KEYS="rsa ec"
set -u -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
P=${P:-8}
N=${N:-40}
M=${M:-500}
KEYS=${KEYS:-"rsa ec"}
work=$(mktemp -d /tmp/sg-tlsb.XXXXXX)
chmod 755 "$work"
load=$work/tls_load
gcc -O2 -Wall -Wextra -o "$load" "$top/bench/tls_load.c" -lssl -lcrypto || exit 1
sgpid=
pfdir=$work/pf
. "$top/bench/lib_postfix.sh" # lib_postfix_*: a private Postfix
lib_postfix_usable || exit 1

cleanup() {
	[ -n "$sgpid" ] && kill "$sgpid" 2>/dev/null && wait "$sgpid" 2>/dev/null
	[ -d "$pfdir" ] && lib_postfix_stop "$pfdir"
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_cert KIND: cert.pem and key.pem in $work/KIND.
make_cert() {
	local algo=(-newkey rsa:2048)
	[ "$1" = ec ] && algo=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	mkdir -p "$work/$1"
	openssl req -x509 "${algo[@]}" -nodes -days 2 -subj /CN=localhost \
		-keyout "$work/$1/key.pem" -out "$work/$1/cert.pem" >/dev/null 2>&1
}

# start_smtpgate KIND TLSPORT PLAINPORT
start_smtpgate() {
	mkdir -p "$work/plugins"
	ln -sf "$top/plugins/debug/.libs/debug.so" "$work/plugins/debug.so"
	cat >"$work/smtpgate.conf" <<EOF
plugin_dir = "$work/plugins";
listeners = (
  { address = "127.0.0.1:$2"; handler = "debug"; workers = 8; max_sessions_per_worker = 0;
    max_sessions_per_client = 0; debug = { output = "/dev/null"; };
    tls = { mode = "may"; cert = "$work/$1/cert.pem"; key = "$work/$1/key.pem"; }; },
  { address = "127.0.0.1:$3"; handler = "debug"; workers = 8; max_sessions_per_worker = 0;
    max_sessions_per_client = 0; debug = { output = "/dev/null"; }; } );
EOF
	"$top/smtpgate" -n -f "$work/smtpgate.conf" 2>"$work/smtpgate.log" &
	sgpid=$!
	for _ in $(seq 100); do grep -q "event=ready" "$work/smtpgate.log" && return; sleep 0.1; done
	echo "smtpgate did not start" >&2
	exit 1
}

# start_postfix KIND PORT: bench/lib_postfix.sh's instance, smtpd offering
# STARTTLS with KIND's certificate, its tlsmgr session cache on.
start_postfix() {
	lib_postfix_start "$pfdir" pf "$2" "\
smtpd_peername_lookup = yes
default_transport = discard
relay_transport = discard
smtpd_tls_security_level = may
smtpd_tls_cert_file = $work/$1/cert.pem
smtpd_tls_key_file = $work/$1/key.pem
smtpd_tls_session_cache_database = btree:$pfdir/data/smtpd_scache
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0" "tlsmgr     unix  - - n 1000? 1 tlsmgr" || exit 1
}

# cell NAME PORT ARGS...: one tls_load run, its line prefixed by NAME.
cell() {
	local name=$1 port=$2
	shift 2
	echo "$name $("$load" -p "$port" "$@")"
}

results=$work/results.txt
for kind in $KEYS; do
	make_cert "$kind"
	sg=$(free_port) plain=$(free_port) pf=$(free_port)
	start_smtpgate "$kind" "$sg" "$plain"
	start_postfix "$kind" "$pf"
	# Warm-up: fork the pools, fill Postfix's process pool.
	"$load" -p "$sg" -P "$P" -n 5 >/dev/null
	"$load" -p "$pf" -P "$P" -n 5 >/dev/null
	for r in $(seq "$ROUNDS"); do
		for srv in smtpgate:$sg postfix:$pf; do
			name=${srv%%:*} port=${srv##*:}
			cell "$kind $name new" "$port" -P "$P" -n "$N" -g
			cell "$kind $name new0" "$port" -P "$P" -n "$N" -m 0
			cell "$kind $name resumed" "$port" -P "$P" -n "$N" -r -g
			cell "$kind $name kept" "$port" -P 20 -n 1 -m "$M"
		done
		t0=$(date +%s.%N)
		smtp-source -d -s 20 -m $((20 * M)) -l 1024 -M client.bench.test -f sender@bench.test \
			-t rcpt@bench.test "127.0.0.1:$plain" >/dev/null 2>&1
		echo "$kind smtpgate plain-L2 messages_per_sec=$(echo "$(date +%s.%N) $t0" |
			awk -v n=$((20 * M)) '{ printf "%.1f", n / ($1 - $2) }')"
	done | tee -a "$results"
	kill "$sgpid"
	wait "$sgpid" 2>/dev/null
	sgpid=
	lib_postfix_stop "$pfdir"
	rm -rf "$pfdir"
done

echo "--- medians over $ROUNDS rounds (sessions/s for new, new0, resumed; messages/s for kept, plain-L2)"
awk '{
	key = $1 " " $2 " " $3
	for (i = 4; i <= NF; i++) {
		split($i, kv, "=")
		if (($3 == "kept" || $3 == "plain-L2") && kv[1] == "messages_per_sec") v[key] = v[key] " " kv[2]
		if ($3 != "kept" && $3 != "plain-L2" && kv[1] == "sessions_per_sec") v[key] = v[key] " " kv[2]
		if (kv[1] == "failed" && kv[2] > 0) bad[key] += kv[2]
	}
}
END {
	for (k in v) {
		n = split(substr(v[k], 2), a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		printf "%-28s %8.1f  (%s)%s\n", k, a[int((n + 1) / 2)], substr(v[k], 2), bad[k] ? "  FAILED " bad[k] : ""
	}
}' "$results" | sort
