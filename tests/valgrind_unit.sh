#!/bin/bash
# The unit tests (the channel, parsers, DATA decoding, plugins) once more
# under valgrind's memcheck: any invalid access or definite leak fails.
# Prints "valgrind: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	tests/unit/unit_tests >"$log" 2>&1; then
	echo "ok valgrind/unit-tests"
	echo "valgrind: 1 passed, 0 failed"
else
	grep -E "==[0-9]+==|FAILED|unit:" "$log" | head -60
	echo "FAIL valgrind/unit-tests"
	echo "valgrind: 0 passed, 1 failed"
	exit 1
fi
