#!/usr/bin/env bash
# bench/prepare.sh - what a benchmark needs before bench/harness.sh runs:
# the packages (scripts/deps.sh with the bench's extra ones) and a built
# tree.  Called by bench/run.sh and bench/maildir.sh; safe to run again.
#
# usage: bench/prepare.sh
#
# scripts/deps.sh already installs postfix (smtp-source, smtp-sink and the
# private postfix-maildir instance) without configuring it, so nothing
# takes port 25; the bench adds python3-aiosmtpd (the aiosmtpd-sink peer;
# Debian's mailman3 pulls it in too).  Without root a missing package is
# an error, not an install.  The build runs under a lock so that two
# benchmarks started in one tree do not run make at once.
set -u -o pipefail
tree=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '%s prepare.sh: %s\n' "$(date +%T)" "$*" >&2; }

"$tree/scripts/deps.sh" python3-aiosmtpd || { log "scripts/deps.sh failed"; exit 1; }
if [ ! -f "$tree/Makefile" ]; then
	log "first build: scripts/build.sh"
	"$tree/scripts/build.sh" >"${TMPDIR:-/tmp}/bench-build.log" 2>&1 ||
		{ log "scripts/build.sh failed; see ${TMPDIR:-/tmp}/bench-build.log"; exit 1; }
fi
(cd "$tree" && flock "${TMPDIR:-/tmp}/smtpgate-bench-make.lock" make -j2 -s) >"${TMPDIR:-/tmp}/bench-make.log" 2>&1 ||
	{ log "make failed; see ${TMPDIR:-/tmp}/bench-make.log"; exit 1; }
for f in smtpgate plugins/debug/.libs/debug.so plugins/proxy/.libs/proxy.so plugins/maildir/.libs/maildir.so; do
	[ -f "$tree/$f" ] || { log "the build left no $f"; exit 1; }
done
