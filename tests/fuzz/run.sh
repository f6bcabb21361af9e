#!/bin/bash
# The libFuzzer targets (tests/fuzz/fuzz_TARGET.c), built with clang, ASan
# and UBSan over the core's sources (all of core/ but main.c).
#
#   tests/fuzz/run.sh [TARGET...]         CI: FUZZ_SECONDS (default 15) per
#       target from its kept corpus and seeds; what it finds goes to a
#       throw-away directory, so the tree is left as it was.
#   tests/fuzz/run.sh --grow [TARGET...]  FUZZ_SECONDS (default 300) per
#       target, then the kept corpus (tests/fuzz/corpus/TARGET) is rebuilt
#       as a small set of files covering every edge it, the seeds and the
#       new inputs cover (libFuzzer -merge=1 counting edges, not hit
#       counts, so it stays at a few hundred files): commit what changed.
#   tests/fuzz/run.sh --minimize [TARGET...]  that rebuild alone.
#
# The seeds (tests/fuzz/seeds/TARGET) are written by hand and never pruned;
# a crash's input goes to tests/fuzz/crashes/ and, once fixed, into the
# seeds under a name saying what it was.  Prints one line per target and
# "fuzz: N passed, N failed" (a crash, a sanitizer report, a timeout or a
# build failure is a failure).
set -u
cd "$(dirname "$0")/../.."
SUITE=fuzz
. tests/checks.sh

mode=ci
case "${1:-}" in
--grow | --minimize)
	mode=${1#--}
	shift
	;;
esac
seconds=${FUZZ_SECONDS:-$([ "$mode" = grow ] && echo 300 || echo 15)}
[ "$seconds" -ge 1 ] 2>/dev/null || seconds=1 # libFuzzer takes 0 as "no limit"
# target, its dictionary (- for none), its largest input in bytes, and
# whether its stderr is dropped (the channel logs every session; sanitizer
# and libFuzzer reports still show)
table="session smtp.dict 12288 quiet
reply reply.dict 4096 -
parse smtp.dict 1024 -
addr - 512 -
proxy_proto proxy.dict 1100 -"
targets=${*:-$(echo "$table" | cut -d' ' -f1)}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"

# One core source, instrumented for coverage (run by xargs, two at a time).
compile() {
	clang $flags -fsanitize=fuzzer-no-link -Iinclude -Icore -D_GNU_SOURCE \
		-DPACKAGE_VERSION='"fuzz"' $(pkg-config --cflags libconfig openssl) \
		-c "$1" -o "$out/$(basename "$1" .c).o"
}

# The core once, as an archive each target takes only what it needs from
# (a new core file is picked up as it is), then each target.  0, or 1.
build() {
	export -f compile
	export flags out
	ls core/*.c | grep -vx core/main.c | xargs -P 2 -n 1 bash -c 'compile "$1"' _ \
		>"$out/build.log" 2>&1 &&
		ar rcs "$out/libcore.a" "$out"/*.o >>"$out/build.log" 2>&1 || return 1
	for t in $targets; do
		clang $flags -fsanitize=fuzzer -Iinclude -Icore -D_GNU_SOURCE "tests/fuzz/fuzz_$t.c" \
			"$out/libcore.a" $(pkg-config --libs libconfig openssl libxcrypt) -o "$out/fuzz_$t" \
			>>"$out/build.log" 2>&1 || return 1
	done
}

# The fuzzer's options for target $1, from the table.
options() {
	local dict max quiet
	read -r _ dict max quiet < <(echo "$table" | grep "^$1 ")
	echo "-max_len=$max -timeout=10 -rss_limit_mb=2048 -print_final_stats=1"
	[ "$dict" = - ] || echo "-dict=tests/fuzz/$dict"
	[ "$quiet" = - ] || echo "-close_fd_mask=2"
}

# Fuzz target $1 for $seconds into directory $2 from its corpus and seeds;
# prints what it did and returns libFuzzer's status.
fuzz() {
	local t=$1 new=$2 log=$out/$1.log rc
	mkdir -p "$new" "tests/fuzz/corpus/$t" "tests/fuzz/seeds/$t" tests/fuzz/crashes
	"$out/fuzz_$t" $(options "$t") -max_total_time="$seconds" \
		-artifact_prefix="tests/fuzz/crashes/$t-" \
		"$new" "tests/fuzz/corpus/$t" "tests/fuzz/seeds/$t" >"$log" 2>&1
	rc=$?
	local start end execs
	start=$(grep -m1 -oE 'INITED cov: [0-9]+ ft: [0-9]+' "$log" | sed 's/INITED //')
	end=$(grep -oE 'DONE[[:space:]]+cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | sed -E 's/DONE[[:space:]]+//')
	execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')
	echo "fuzz/$t: ${seconds} s, ${execs:-?} executions; corpus $start, after ${end:-?}"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|invariant broken|Test unit written|^#0 |^ +#[0-9] ' "$log" | head -30
	fi
	return "$rc"
}

# The kept corpus of target $1 rebuilt from itself and directory $2:
# seeds first, so only what they do not cover is kept.
minimize() {
	local t=$1 new=$2 min=$out/$1.min s
	mkdir -p "$min" "$new"
	cp "tests/fuzz/seeds/$t"/* "$min"/ 2>/dev/null
	"$out/fuzz_$t" $(options "$t") -use_counters=0 -merge=1 "$min" "tests/fuzz/corpus/$t" "$new" \
		>"$out/$t.merge.log" 2>&1 || return 1
	for s in "tests/fuzz/seeds/$t"/*; do
		rm -f "$min/$(basename "$s")"
	done
	local before after
	before=$(ls "tests/fuzz/corpus/$t" | wc -l)
	rm -f "tests/fuzz/corpus/$t"/*
	cp "$min"/* "tests/fuzz/corpus/$t"/ 2>/dev/null
	after=$(ls "tests/fuzz/corpus/$t" | wc -l)
	echo "fuzz/$t: kept corpus $before -> $after files" \
		"($(cat "tests/fuzz/corpus/$t"/* 2>/dev/null | wc -c) bytes)"
}

if ! build; then
	tail -40 "$out/build.log"
	fail build
	finish
fi
for t in $targets; do
	new=$out/$t.new
	if [ "$mode" != minimize ] && ! fuzz "$t" "$new"; then
		fail "$t" "see tests/fuzz/crashes/"
	elif [ "$mode" != ci ] && ! minimize "$t" "$new"; then
		tail -20 "$out/$t.merge.log"
		fail "$t" "merge failed"
	else
		pass "$t"
	fi
done
finish
