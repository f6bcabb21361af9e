#!/bin/bash
# Run every suite and sum their results into one closing line.
# Each suite prints a line "SUITE: N passed, N failed"; a suite that dies
# without printing it counts as one failure.
set -u
cd "$(dirname "$0")/.."

total_passed=0
total_failed=0

run_suite() {
	local name=$1
	shift
	local out
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	local line
	line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$name: suite did not report its results: counted as 1 failed"
		total_failed=$((total_failed + 1))
	else
		local p f
		p=$(echo "$line" | sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
		f=$(echo "$line" | sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
		total_passed=$((total_passed + p))
		total_failed=$((total_failed + f))
	fi
	rm -f "$out"
}

run_suite unit tests/unit/unit_tests
run_suite structure tests/structure_test.sh
run_suite integration python3 tests/integration/run.py
run_suite install tests/install_test.sh
run_suite kit tests/kit_test.sh
run_suite valgrind tests/valgrind_unit.sh
run_suite fuzz tests/fuzz/run.sh
run_suite sanitizers tests/sanitizers.sh

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
