#!/bin/bash
# The plugin authors' kit, as an author meets it: smtpgate installed into a
# temporary prefix (DESTDIR), the example plugin built from its installed
# copy with nothing but that tree and pkg-config, the installed daemon
# running it on loopback and a real client (python3 smtplib) checking its
# replies; the manual pages render without warnings and are installed;
# -V names the header's ABI and -t the plugin and its version.
# Prints "ok kit/NAME" or "FAIL kit/NAME" per check, then
# "kit: N passed, N failed"; exits non-zero when a check failed.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

SUITE=kit
. tests/checks.sh

tmp=$(mktemp -d /tmp/smtpgate-kit.XXXXXX)
daemon_pid=
stop_daemon() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid" 2>/dev/null
	fi
	[ -n "$daemon_pid" ] && wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}
trap 'stop_daemon; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# --- (a) make install into a temporary prefix -------------------------------
prefix=/opt/smtpgate-kit
root=$tmp$prefix
if (flock /tmp/smtpgate-make.lock make -s install DESTDIR="$tmp" prefix="$prefix" \
	plugindir="$prefix/lib/smtpgate/plugins") >"$tmp/install.log" 2>&1 &&
	[ -x "$root/sbin/smtpgate" ]; then
	pass make-install
else
	fail make-install
	cat "$tmp/install.log"
	finish
fi

# --- (d) the manual pages render without warnings ---------------------------
pages="man/smtpgate.8 man/smtpgate.conf.5 man/smtpgate-plugin.3"
for page in $pages; do
	name=${page#man/}
	out=$(mandoc -T lint -W warning "$page" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then pass "mandoc-lint-$name"; else fail "mandoc-lint-$name" "$out"; fi
	out=$(groff -ww -z -man -Tutf8 "$page" 2>&1)
	if [ -z "$out" ]; then pass "groff-ww-$name"; else fail "groff-ww-$name" "$out"; fi
done

# --- (e) the installed manual pages -----------------------------------------
check man8-installed test -s "$root/share/man/man8/smtpgate.8"
check man5-installed test -s "$root/share/man/man5/smtpgate.conf.5"
check man3-installed test -s "$root/share/man/man3/smtpgate-plugin.3"
check installed-man-page-renders bash -c "groff -man -Tutf8 -P-cbou '$root/share/man/man3/smtpgate-plugin.3' | grep -q 'ABI VERSIONS'"

# --- (f) -V prints the ABI of the installed header --------------------------
hdr=$root/include/smtpgate/plugin.h
major=$(sed -n 's/^#define SMTPGATE_ABI_MAJOR \([0-9]*\).*/\1/p' "$hdr")
minor=$(sed -n 's/^#define SMTPGATE_ABI_MINOR \([0-9]*\).*/\1/p' "$hdr")
version_out=$("$root/sbin/smtpgate" -V 2>&1)
if [ -n "$major" ] && [ -n "$minor" ] && [[ $version_out == *"plugin ABI $major.$minor"* ]]; then
	pass version-prints-abi-of-header
else
	fail version-prints-abi-of-header "header $major.$minor, -V said: $version_out"
fi
check header-has-dated-abi-log grep -Eq '^ \*   [0-9]{4}-[0-9]{2}-[0-9]{2}  [0-9]+\.[0-9]+  ' "$hdr"

# --- (b) the example, built from its installed copy with pkg-config only ----
export PKG_CONFIG_PATH=$root/lib/pkgconfig
export PKG_CONFIG="pkg-config --define-prefix"
unset PKG_CONFIG_LIBDIR CPATH C_INCLUDE_PATH
plugindir=$($PKG_CONFIG --variable=plugindir smtpgate)
cflags=$($PKG_CONFIG --cflags smtpgate)
check pkg-config-plugindir-in-installed-tree test "$plugindir" = "$root/lib/smtpgate/plugins"
check pkg-config-cflags-in-installed-tree test "$(echo $cflags)" = "-I$root/include"
src=$root/share/doc/smtpgate/examples/plugin-rcptcheck
check example-installed test -f "$src/Makefile" -a -f "$src/rcptcheck.c" -a -f "$src/README"
check example-makefile-is-short test "$(wc -l <"$src/Makefile")" -le 20
check example-uses-only-public-header bash -c \
	"! grep -E '#include \"|core/' '$src/rcptcheck.c' && grep -q '#include <smtpgate/plugin.h>' '$src/rcptcheck.c'"
mkdir -p "$tmp/build"
cp "$src/Makefile" "$src/rcptcheck.c" "$tmp/build/"
if make -C "$tmp/build" >"$tmp/build.log" 2>&1 && [ -f "$tmp/build/rcptcheck.so" ]; then
	pass example-builds
else
	fail example-builds
	cat "$tmp/build.log"
fi
if grep -q -- "-I$root/include" "$tmp/build.log" && ! grep -qF "$top" "$tmp/build.log"; then
	pass example-compile-line-uses-installed-tree-only
else
	fail example-compile-line-uses-installed-tree-only "$(grep -- -shared "$tmp/build.log")"
fi
check example-builds-without-warnings bash -c "! grep -q 'warning:' '$tmp/build.log'"
make -C "$tmp/build" install DESTDIR="$tmp/stage" >"$tmp/install-example.log" 2>&1
check example-install-honours-destdir test -f "$tmp/stage$plugindir/rcptcheck.so"
make -C "$tmp/build" install >>"$tmp/install-example.log" 2>&1
check example-installs-into-plugindir test -f "$plugindir/rcptcheck.so"
check example-clean bash -c "make -C '$tmp/build' clean && test ! -e '$tmp/build/rcptcheck.so'"

# The example of smtpgate-plugin(3) compiles too, against the installed header.
sed -n '/^\.\\" example-begin/,/^\.\\" example-end/p' "$root/share/man/man3/smtpgate-plugin.3" |
	sed -e '1,2d' -e '$d' | sed -e '$d' |
	sed -e 's/\\&//g' -e 's/\\-/-/g' -e 's/\\(dq/"/g' -e 's/\\e/\\/g' >"$tmp/build/denysender.c"
check man-page-example-compiles cc -Wall -Wextra -Werror -fPIC -shared $cflags \
	-o "$tmp/build/denysender.so" "$tmp/build/denysender.c"

# The example configuration of smtpgate.conf(5), one listener per handler,
# is valid for the installed daemon and its plugins (paths moved into $tmp).
{
	echo "plugin_dir = \"$root/lib/smtpgate/plugins\";"
	sed -n '/^\.SH EXAMPLES/,/^\.EE/p' "$root/share/man/man5/smtpgate.conf.5" |
		sed -e '1,/^\.EX/d' -e '/^\.EE/d' |
		sed -e 's/\\(dq/"/g' -e 's/\\-/-/g' -e "s|\"/var/|\"$tmp/var/|g"
} >"$tmp/man-example.conf"
mkdir -p "$tmp/var/log" # the debug output's directory must exist
conf_out=$("$root/sbin/smtpgate" -n -t -f "$tmp/man-example.conf" 2>&1)
conf_rc=$?
if [ $conf_rc -eq 0 ] &&
	[ "$(grep -c '^listener ' <<<"$conf_out")" -eq "$(grep -c 'handler = ' "$tmp/man-example.conf")" ]; then
	pass conf-man-page-example-passes-t
else
	fail conf-man-page-example-passes-t "rc=$conf_rc: $conf_out"
fi

# --- (c) the installed daemon runs the example on loopback ------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '# accepted recipients\nListed@Example.org\n\n  second@example.org  \n' >"$tmp/rcpts"
cat >"$tmp/kit.conf" <<CONF
plugin_dir = "$plugindir";
user = "";
shutdown_timeout = 5;
listeners = (
	{ name = "kit"; address = "127.0.0.1:$port"; handler = "rcptcheck"; workers = 2;
	  rcptcheck = { file = "$tmp/rcpts"; }; }
);
CONF

# (g) -t lists the listener, its handler, the plugin file and its version.
t_out=$("$root/sbin/smtpgate" -n -t -f "$tmp/kit.conf" 2>&1)
t_rc=$?
want="listener kit address 127.0.0.1:$port handler rcptcheck plugin $plugindir/rcptcheck.so version 1.0"
if [ $t_rc -eq 0 ] && grep -qxF "$want" <<<"$t_out"; then
	pass check-lists-listener-plugin-and-version
else
	fail check-lists-listener-plugin-and-version "rc=$t_rc: $t_out"
fi
# An unreadable list is a configuration error naming the file and the setting.
sed "s|$tmp/rcpts|$tmp/missing-rcpts|" "$tmp/kit.conf" >"$tmp/bad.conf"
bad_out=$("$root/sbin/smtpgate" -n -t -f "$tmp/bad.conf" 2>&1)
bad_rc=$?
if [ $bad_rc -eq 78 ] && [[ $bad_out == *"file=$tmp/bad.conf line="*"rcptcheck.file"*"$tmp/missing-rcpts"* ]]; then
	pass unreadable-list-is-config-error
else
	fail unreadable-list-is-config-error "rc=$bad_rc: $bad_out"
fi

: >"$tmp/daemon.log"
"$root/sbin/smtpgate" -n -f "$tmp/kit.conf" >"$tmp/daemon.out" 2>"$tmp/daemon.log" &
daemon_pid=$!
ready=0
for _ in $(seq 100); do # 10 s at most
	grep -q "event=ready listener=kit" "$tmp/daemon.log" && { ready=1; break; }
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
if [ $ready -eq 1 ]; then pass daemon-ready; else fail daemon-ready; fi

if [ $ready -eq 1 ]; then
	python3 - "$port" >"$tmp/client.out" 2>&1 <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("kit.test")
s.mail("sender@example.org")
for rcpt in ("listed@example.ORG", "Second@Example.org", "nobody@example.org"):
    code, text = s.rcpt(rcpt)
    print("rcpt %s %d %s" % (rcpt, code, text.decode()))
code, text = s.data(b"Subject: kit\r\n\r\nhello\r\n")
print("data %d %s" % (code, text.decode()))
s.quit()
PY
	out=$(cat "$tmp/client.out")
	if grep -qx "rcpt listed@example.ORG 250 2.1.5 OK" <<<"$out"; then
		pass listed-recipient-gets-250
	else
		fail listed-recipient-gets-250 "$out"
	fi
	check listed-recipient-trimmed-and-caseless grep -qx "rcpt Second@Example.org 250 2.1.5 OK" "$tmp/client.out"
	if grep -qx "rcpt nobody@example.org 550 5.1.1 <nobody@example.org>: Recipient address rejected: not in the list" <<<"$out"; then
		pass unlisted-recipient-gets-550-5.1.1
	else
		fail unlisted-recipient-gets-550-5.1.1 "$out"
	fi
	check message-accepted grep -qx "data 250 2.0.0 OK" "$tmp/client.out"
	check plugin-logged-message grep -q 'plugin=rcptcheck msg="rcptcheck: accepted' "$tmp/daemon.log"
fi

stop_daemon_rc() {
	kill -TERM "$daemon_pid" 2>/dev/null
	local rc
	for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	return $rc
}
if stop_daemon_rc; then pass daemon-exits-0-on-sigterm; else fail daemon-exits-0-on-sigterm; fi
[ "$failed" -eq 0 ] || { echo "--- daemon log"; cat "$tmp/daemon.log"; }

finish
