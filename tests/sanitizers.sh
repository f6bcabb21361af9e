#!/bin/bash
# The tree once more with --enable-sanitizers (AddressSanitizer, LeakSanitizer
# and UndefinedBehaviorSanitizer, daemon and plugins alike), built in a
# throw-away copy of the files git tracks (the main tree's in-tree configure
# rules out a VPATH build): its unit tests, then its integration suite, where
# a sanitizer report in any daemon's log fails the test (harness.py).
# Prints `ok ...`/`FAIL ...` per check and ends with
# "sanitizers: N passed, N failed"; exits non-zero if any check failed.
# KEEP_SANITIZER_TREE=1 keeps the copy (its path is printed).
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
SUITE=sanitizers
. tests/checks.sh

tmp=$(mktemp -d /tmp/smtpgate-sanitizers.XXXXXX)
if [ "${KEEP_SANITIZER_TREE:-0}" = 1 ]; then
	echo "sanitizers: the copy is kept in $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi
src=$tmp/src
mkdir -p "$src"
log=$tmp/build.log

# The copy: every tracked file as it is in the working tree now.
if ! git ls-files -z | xargs -0 cp --parents -t "$src" 2>"$log"; then
	cat "$log"
	fail build
	finish
fi
# Installs of the copy (test_config's command-line listener runs
# `make install`) go to its own prefix, never over the main one.
prefix=$tmp/inst
t0=$(date +%s)
if ! (cd "$src" && timeout 900 autoreconf -fi && timeout 900 ./configure -q --prefix="$prefix" --enable-sanitizers &&
	timeout 900 make -j2 -s && timeout 900 make -j2 -s check) >"$log" 2>&1; then
	tail -n 60 "$log"
	fail build
	finish
fi
if grep -E "\.[ch]:[0-9]+:[0-9]+: warning:" "$log" >/dev/null; then
	grep -E "\.[ch]:[0-9]+:[0-9]+: warning:" "$log" | head -20
	fail build-warnings
else
	pass "build ($(($(date +%s) - t0))s)"
fi

# Deliberate crashes (the crash plugin's raise(SIGSEGV)) must stay SIGSEGV:
# handle_segv=0; invalid accesses are caught by the instrumentation anyway.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:handle_segv=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export SMTPGATE_INSTALLED_PLUGIN_DIR=$prefix/lib/smtpgate/plugins

out=$tmp/unit.log
if (cd "$src" && timeout 300 tests/unit/unit_tests) >"$out" 2>&1 &&
	! grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$out" >/dev/null; then
	pass unit-tests
else
	grep -E -A30 "ERROR: AddressSanitizer|runtime error:|LeakSanitizer|FAILED|unit:" "$out" | head -80
	fail unit-tests
fi

out=$tmp/integration.log
t0=$(date +%s)
(cd "$src" && timeout 1200 python3 tests/integration/run.py) >"$out" 2>&1
line=$(grep -E "^integration: [0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1)
if [ -n "$line" ] && echo "$line" | grep -E " 0 failed$" >/dev/null; then
	pass "integration ($line; $(($(date +%s) - t0))s)"
else
	grep -E -A40 "^FAIL " "$out" | head -200
	fail "integration (${line:-no result line})"
fi
finish
