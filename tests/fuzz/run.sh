#!/bin/bash
# Build the libFuzzer target of the SMTP channel with clang (ASan + UBSan)
# and run it for a bounded time (FUZZ_SECONDS, default 60) on the corpus in
# tests/fuzz/corpus.  Prints "fuzz: N passed, N failed" (1 test: no crash);
# a crashing input is saved in tests/fuzz/crashes/ to be fixed and kept in
# the corpus.
set -u
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sources="core/session.c core/session_cmd.c core/session_state.c core/session_chat.c core/linebuf.c core/conn.c core/msgbuf.c core/mem.c core/smtp_data.c core/smtp_parse.c
	core/smtp_reply.c core/log.c tests/fuzz/fuzz_session.c"
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Iinclude -Icore -D_GNU_SOURCE -DPACKAGE_VERSION='"fuzz"' $(pkg-config --cflags libconfig) \
	$sources -o "$out/fuzz_session" 2>"$out/build.log"; then
	cat "$out/build.log"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
mkdir -p tests/fuzz/crashes
work=$(mktemp -d)   # new inputs found this run; the committed corpus stays as it is
# The session logs every connection; keep the fuzzer's output readable.
"$out/fuzz_session" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix=tests/fuzz/crashes/ -print_final_stats=1 \
	"$work" tests/fuzz/corpus >"$out/fuzz.log" 2>&1
rc=$?
grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|ERROR|SUMMARY|Test unit written" "$out/fuzz.log" | head -20
rm -rf "$work"
if [ "$rc" -eq 0 ]; then
	echo "ok fuzz/session ($seconds s)"
	echo "fuzz: 1 passed, 0 failed"
else
	tail -40 "$out/fuzz.log"
	echo "FAIL fuzz/session: see tests/fuzz/crashes/"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
