#!/bin/bash
# The unit tests (the channel, parsers, DATA decoding, plugins) once more
# under valgrind's memcheck: any invalid access or definite leak fails.
# Then the daemon itself under memcheck (workers traced too) through TLS
# sessions with openssl s_client: a full handshake with a message, and a
# resumption with the master's session ticket; an error or a definite
# leak in any of its processes fails.
# Prints "valgrind: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
SUITE=valgrind
. tests/checks.sh
tmp=$(mktemp -d /tmp/smtpgate-valgrind.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/unit.log
if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	tests/unit/unit_tests >"$log" 2>&1; then
	pass unit-tests
else
	grep -E "==[0-9]+==|FAILED|unit:" "$log" | head -60
	fail unit-tests
fi

# One TLS listener on a free loopback port, its certificate made here.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
mkdir "$tmp/plugins"
ln -s "$top/plugins/debug/.libs/debug.so" "$tmp/plugins/debug.so"
cat >"$tmp/smtpgate.conf" <<CONF
plugin_dir = "$tmp/plugins";
listeners = ( { address = "127.0.0.1:$port"; handler = "debug"; workers = 1;
  max_sessions_per_worker = 1; debug = { output = "$tmp/out.txt"; };
  tls = { mode = "may"; cert = "$tmp/cert.pem"; key = "$tmp/key.pem"; }; } );
CONF
valgrind -q --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite \
	--log-file="$tmp/vg.%p" "$top/smtpgate" -n -f "$tmp/smtpgate.conf" 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 600); do
	grep -q "event=ready" "$tmp/daemon.log" && break
	sleep 0.1
done
session() {
	timeout 60 openssl s_client -starttls smtp -connect "127.0.0.1:$port" -crlf -ign_eof "$@" \
		2>/dev/null <<'SMTP'
EHLO valgrind.example
MAIL FROM:<a@example.org>
RCPT TO:<b@example.org>
DATA
Subject: valgrind

over TLS
.
QUIT
SMTP
}
first=$(session -sess_out "$tmp/sess.pem")
second=$(session -sess_in "$tmp/sess.pem")
kill -TERM "$daemon"
wait "$daemon"
if echo "$first" | grep -q "^New, TLSv1.3" && echo "$second" | grep -q "^Reused, TLSv1.3" &&
	[ "$(grep -c "END MESSAGE" "$tmp/out.txt" 2>/dev/null)" = 2 ]; then
	pass tls-sessions
else
	echo "$first" | tail -5
	echo "$second" | tail -5
	tail -20 "$tmp/daemon.log"
	fail tls-sessions
fi
if cat "$tmp"/vg.* | grep -E "Invalid|uninitialised|are definitely lost|ERROR SUMMARY: [1-9]" >/dev/null; then
	cat "$tmp"/vg.* | head -80
	fail tls-memcheck
else
	pass "tls-memcheck ($(ls "$tmp"/vg.* | wc -l) processes)"
fi
finish
