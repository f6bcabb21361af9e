# tests/checks.sh - the counters every shell test suite shares, sourced
# after setting SUITE (install, kit, sanitizers): "ok SUITE/NAME" or
# "FAIL SUITE/NAME" per check, and finish's "SUITE: N passed, N failed"
# line, which tests/run_all.sh adds up.
passed=0
failed=0
pass() { echo "ok $SUITE/$1"; passed=$((passed + 1)); }
fail() { echo "FAIL $SUITE/$1${2:+: $2}"; failed=$((failed + 1)); }
check() { # NAME COMMAND...: passes when COMMAND succeeds (its output is dropped)
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi
}
finish() { # exits: non-zero when a check failed
	echo "$SUITE: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
