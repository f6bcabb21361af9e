#!/bin/bash
# make install with DESTDIR and a prefix: every file lands where a sysadmin
# and a plugin author expect it, the installed daemon finds its installed
# plugin, and a reinstall keeps an edited smtpgate.conf.
# Prints "install: N passed, N failed".
set -u
cd "$(dirname "$0")/.."

SUITE=install
. tests/checks.sh

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
prefix=/opt/smtpgate-test
(flock /tmp/smtpgate-make.lock make -s install DESTDIR="$dest" prefix="$prefix" plugindir="$prefix/lib/smtpgate/plugins") >"$dest.log" 2>&1
check make-install-succeeds test -x "$dest$prefix/sbin/smtpgate"
[ -s "$dest$prefix/sbin/smtpgate" ] || cat "$dest.log"
rm -f "$dest.log"
root=$dest$prefix
check daemon test -x "$root/sbin/smtpgate"
check header test -f "$root/include/smtpgate/plugin.h"
check debug-plugin test -f "$root/lib/smtpgate/plugins/debug.so"
check no-libtool-archives-in-plugin-dir bash -c "! ls '$root/lib/smtpgate/plugins/'*.la"
check pkg-config-file test -f "$root/lib/pkgconfig/smtpgate.pc"
check pkg-config-plugindir bash -c \
	"[ \"\$(PKG_CONFIG_PATH='$root/lib/pkgconfig' pkg-config --define-variable=prefix='$root' --variable=plugindir smtpgate)\" = '$root/lib/smtpgate/plugins' ]"
check example-config test -f "$root/etc/smtpgate.conf"
# The installed example must be a valid config for the installed daemon.
sed "s|^# plugin_dir = .*|plugin_dir = \"$root/lib/smtpgate/plugins\";|" "$root/etc/smtpgate.conf" >"$dest/check.conf"
check example-config-passes-t "$root/sbin/smtpgate" -n -t -f "$dest/check.conf"
# A header-only plugin build against the installed tree.
cat >"$dest/p.c" <<'C'
#include <smtpgate/plugin.h>
static enum smtpgate_verdict m(void *p, const struct smtpgate_session *s,
	const struct smtpgate_message *g, struct smtpgate_reply *r)
{ (void)p; (void)s; (void)g; (void)r; return SMTPGATE_CONTINUE; }
static const struct smtpgate_plugin d = { SMTPGATE_PLUGIN_HEADER, .name = "p", .on_message = m };
const struct smtpgate_plugin *smtpgate_plugin_entry(void) { return &d; }
C
check plugin-builds-against-installed-header \
	cc -Wall -Wextra -Werror -shared -fPIC -I"$root/include" -o "$dest/p.so" "$dest/p.c"
echo "keep me" >>"$root/etc/smtpgate.conf"
(flock /tmp/smtpgate-make.lock make -s install DESTDIR="$dest" prefix="$prefix" plugindir="$prefix/lib/smtpgate/plugins") >/dev/null 2>&1
check reinstall-keeps-config grep -q "keep me" "$root/etc/smtpgate.conf"

finish
