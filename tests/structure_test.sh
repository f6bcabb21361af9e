#!/bin/bash
# tests/structure_test.sh - the shape of the code, checked on the built tree:
#   - no call cycle between core modules: module A calls B when A's object
#     leaves a symbol undefined that B's object defines (nm on the objects
#     the build made, so macros and static helpers cannot hide a call);
#   - no include cycle between core headers;
#   - no function over 80 lines and no .c over 600 lines in core/ and
#     plugins/ (functions are found by their opening brace in column 0, the
#     tree's style);
#   - every .c in core/ and plugins/ opens with a comment saying what it
#     does and what it must never do.
# Run after the build (scripts/test.sh builds first).  Prints "ok/FAIL
# structure/NAME" per check and "structure: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
SUITE=structure
. tests/checks.sh

FUNC_MAX_LINES=80
FILE_MAX_LINES=600

# Print "caller callee" module pairs (stems of core/*.c) from the objects.
module_calls() {
	local objdir=core/.libs defs
	defs=$(mktemp)
	for o in "$objdir"/*.o; do
		nm --defined-only "$o" | awk -v m="$(basename "$o" .o)" '$2 ~ /^[TDBR]$/ { print $3, m }'
	done | sort -u >"$defs"
	for o in "$objdir"/*.o; do
		local m
		m=$(basename "$o" .o)
		nm --undefined-only "$o" | awk '{ print $2 }' | sort -u |
			join - "$defs" | awk -v m="$m" '$2 != m { print m, $2 }'
	done | sort -u
	rm -f "$defs"
}

# Print "header included" pairs between core headers (and .c -> .h).
include_edges() {
	for f in core/*.h; do
		sed -n 's/^#include "\([a-z_]*\.h\)".*/\1/p' "$f" | while read -r inc; do
			echo "$(basename "$f") $inc"
		done
	done
}

# Reads "from to" edges on stdin; prints one cycle found, or nothing.
find_cycle() {
	python3 -c '
import sys
graph = {}
for line in sys.stdin:
    a, b = line.split()
    graph.setdefault(a, set()).add(b)
state, stack = {}, []
def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(graph.get(n, ())):
        if state.get(m) == 1:
            print(" -> ".join(stack[stack.index(m):] + [m]))
            sys.exit(0)
        if m not in state:
            visit(m)
    stack.pop()
    state[n] = 2
for n in sorted(graph):
    if n not in state:
        visit(n)
'
}

# Print "file:line name length" for every function longer than the limit.
long_functions() {
	awk -v max="$FUNC_MAX_LINES" '
		FNR == 1 { start = 0 }
		/^[a-zA-Z].*\(/ && !/;[ \t]*$/ { sig = $0; sigline = FNR }
		/^\{/ { start = FNR; name = sig; at = sigline }
		/^\}/ && start {
			len = FNR - at + 1
			if (len > max) {
				sub(/\(.*/, "", name); n = split(name, w, /[ *]+/)
				print FILENAME ":" at " " w[n] " " len
			}
			start = 0
		}' "$@"
}

sources=$(ls core/*.c plugins/*/*.c)

if [ ! -d core/.libs ] || ! ls core/.libs/*.o >/dev/null 2>&1; then
	fail core-call-cycles "no objects in core/.libs: build first"
else
	cycle=$(module_calls | find_cycle)
	if [ -z "$cycle" ]; then pass core-call-cycles; else fail core-call-cycles "$cycle"; fi
fi

cycle=$(include_edges | find_cycle)
if [ -z "$cycle" ]; then pass core-include-cycles; else fail core-include-cycles "$cycle"; fi

long=$(long_functions $sources)
if [ -z "$long" ]; then
	pass "functions-at-most-$FUNC_MAX_LINES-lines"
else
	fail "functions-at-most-$FUNC_MAX_LINES-lines" "$(echo "$long" | tr '\n' ';')"
fi

big=$(wc -l $sources | awk -v max="$FILE_MAX_LINES" '$2 != "total" && $1 > max { print $2 " " $1 }')
if [ -z "$big" ]; then
	pass "files-at-most-$FILE_MAX_LINES-lines"
else
	fail "files-at-most-$FILE_MAX_LINES-lines" "$(echo "$big" | tr '\n' ';')"
fi

# The opening comment (up to its first "*/") must say what the file must
# never do: "never" or "must not".
silent=$(for f in $sources; do
	awk '/\*\// { exit } { print }' "$f" | grep -qiE "never|must not" || echo "$f"
done)
if [ -z "$silent" ]; then
	pass files-say-what-they-never-do
else
	fail files-say-what-they-never-do "$(echo "$silent" | tr '\n' ' ')"
fi

finish
