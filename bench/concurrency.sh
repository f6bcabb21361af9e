#!/usr/bin/env bash
# bench/concurrency.sh - issue 6's measurement: 200 concurrent clients
# against smtpgate with max_workers 64 (the self-sizing pool: min_spare 8,
# max_spare 16; the per-client session limit off, since every client is
# 127.0.0.1), and Postfix's smtp-sink in the same run.
#
# usage: bench/concurrency.sh            (root or not; loopback only)
#
# For each server in turn (a fresh instance each, stopped by PID after):
#   1. throughput: smtp-source -d -s $SESSIONS -m $MSGS -l 1024 (after an
#      untimed warm-up of $MSGS/10), bounded by timeout $RUN_TIMEOUT: msg/s;
#   2. latency: $SESSIONS Python threads, each doing sessions of one timed
#      transaction (connect .. the final "." answered; QUIT untimed) for
#      $LAT_SECS s, at most $LAT_MAX transactions in all: p50/p99/max;
#   3. memory: Rss and Pss from /proc/PID/smaps_rollup of the master and of
#      every worker (smtp-sink: its one process), read after 1 and 2 while
#      every session is closed.
# Knobs: SESSIONS=200 MSGS=20000 WORKERS=64 (max_workers) LAT_SECS=10 LAT_MAX=400000
#        WORKER_SCHEDULING=batch (or normal: smtpgate's worker_scheduling)
#        RUN_TIMEOUT=120 PORT=9300 (smtpgate; smtp-sink gets PORT+1).
# Not part of the test suite.  Results: bench/RESULTS.md.
set -u -o pipefail
export LC_ALL=C
bench=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$bench/.." && pwd)
SESSIONS=${SESSIONS:-200}
MSGS=${MSGS:-20000}
WORKERS=${WORKERS:-64}
LAT_SECS=${LAT_SECS:-10}
LAT_MAX=${LAT_MAX:-400000}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
WORKER_SCHEDULING=${WORKER_SCHEDULING:-batch}
PORT=${PORT:-9300}
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
work=$(mktemp -d /tmp/smtpgate-concurrency.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 1
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
log() { printf '%s concurrency.sh: %s\n' "$(date +%T)" "$*" >&2; }
for f in "$SMTP_SOURCE" "$SMTP_SINK" "$tree/smtpgate" "$tree/plugins/debug/.libs/debug.so"; do
	[ -x "$f" ] || [ -f "$f" ] || { log "missing $f (postfix for smtp-source/smtp-sink; make)"; exit 1; }
done

wait_220() {  # PORT: bounded wait for the greeting
	python3 - "$1" <<'PY'
import socket, sys, time
end = time.monotonic() + 15
while time.monotonic() < end:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
        ok = s.recv(512).startswith(b"220")
        s.close()
        if ok:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
}

mem() {  # PID: "master|worker PID Rss_kB Pss_kB" for the process and its children
	local p kids
	kids=$(cat /proc/"$1"/task/*/children 2>/dev/null)
	for p in "$1" $kids; do
		awk -v p="$p" -v role="$([ "$p" = "$1" ] && echo master || echo worker)" \
			'/^Rss:/ {r=$2} /^Pss:/ {s=$2} END {print role, p, r, s}' "/proc/$p/smaps_rollup" 2>/dev/null
	done
}

source_run() {  # PORT MSGS: wall seconds of one smtp-source run
	local t0 t1
	t0=$(date +%s.%N)
	timeout -k 5 "$RUN_TIMEOUT" "$SMTP_SOURCE" -d -s "$SESSIONS" -m "$2" -l 1024 \
		-M client.bench.test -f sender@bench.test -t rcpt@bench.test "127.0.0.1:$1" >/dev/null 2>&1 ||
		{ log "smtp-source failed or timed out"; echo NaN; return; }
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}

latency() {  # PORT
	python3 - "$1" "$SESSIONS" "$LAT_SECS" "$LAT_MAX" <<'PY'
import socket, sys, threading, time
port, n, secs, cap = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
body = b"Subject: lat\r\n\r\n" + (b"x" * 78 + b"\r\n") * 13 + b".\r\n"
lat, errors, lock = [], [0], threading.Lock()
start = threading.Barrier(n + 1)
def reply(f):
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    return line[:3]
def client():
    # One transaction per session: 200 clients share 64 workers, so the wait
    # for a free worker (in the listen queue) is part of the latency.
    mine = []
    start.wait()
    while time.monotonic() < end and len(mine) < cap // n:
        t = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            f = s.makefile("rb")
            r0 = reply(f)
            s.sendall(b"EHLO lat.bench.test\r\n"); r5 = reply(f)
            s.sendall(b"MAIL FROM:<sender@bench.test>\r\n"); r1 = reply(f)
            s.sendall(b"RCPT TO:<rcpt@bench.test>\r\n"); r2 = reply(f)
            s.sendall(b"DATA\r\n"); r3 = reply(f)
            s.sendall(body); r4 = reply(f)
            mine.append(time.monotonic() - t)
            s.sendall(b"QUIT\r\n"); reply(f); s.close()
            if (r0, r5, r1, r2, r3, r4) != (b"220", b"250", b"250", b"250", b"354", b"250"):
                with lock: errors[0] += 1
        except OSError:
            with lock: errors[0] += 1
    with lock: lat.extend(mine)
ts = [threading.Thread(target=client) for _ in range(n)]
for t in ts: t.start()
end = 0
start.wait()
t0 = time.monotonic(); end = t0 + secs
for t in ts: t.join(secs + 60)
wall = time.monotonic() - t0
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
print("transactions=%d errors=%d wall=%.1fs tx/s=%.0f p50=%.1fms p99=%.1fms max=%.1fms" %
      (len(lat), errors[0], wall, len(lat) / wall, q(0.5), q(0.99), (lat[-1] * 1000 if lat else float("nan"))))
PY
}

measure() {  # NAME PORT PID
	local name=$1 port=$2 pid=$3 secs
	wait_220 "$port" || { log "$name did not greet on $port"; return 1; }
	log "$name: warm-up"
	source_run "$port" $((MSGS / 10)) >/dev/null
	log "$name: smtp-source -d -s $SESSIONS -m $MSGS -l 1024"
	secs=$(source_run "$port" "$MSGS")
	echo "$name throughput: $MSGS msgs in ${secs}s = $(awk -v m="$MSGS" -v s="$secs" 'BEGIN {printf "%.0f", m / s}') msg/s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
	log "$name: latency, $SESSIONS threads for ${LAT_SECS}s"
	echo "$name latency: $(latency "$port") (load: $(cut -d' ' -f1-3 /proc/loadavg))"
	sleep 1
	mem "$pid" | awk -v n="$name" '
		$1 == "master" {mr = $3; mp = $4}
		$1 == "worker" {w++; wr += $3; wp += $4; if ($3 > xr) xr = $3}
		END {
			printf "%s memory: master Rss %.1f MiB Pss %.1f MiB", n, mr / 1024, mp / 1024
			if (w) printf "; %d workers: Rss mean %.2f MiB (max %.2f), Pss mean %.2f MiB, Pss sum %.1f MiB", w, wr / w / 1024, xr / 1024, wp / w / 1024, wp / 1024
			printf "; total Pss %.1f MiB\n", (mp + wp) / 1024
		}'
}

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "smtpgate $(git -C "$tree" rev-parse --short HEAD 2>/dev/null), max_workers = $WORKERS (min_spare 8, max_spare 16), worker_scheduling $WORKER_SCHEDULING, debug handler to /dev/null"

# ---- smtpgate
mkdir -p "$work/plugins"
ln -s "$tree/plugins/debug/.libs/debug.so" "$work/plugins/debug.so"
cat >"$work/smtpgate.conf" <<CONF
plugin_dir = "$work/plugins";
worker_scheduling = "$WORKER_SCHEDULING";
listeners = ( {
  address = "127.0.0.1:$PORT"; handler = "debug";
  min_spare = 8; max_spare = 16; max_workers = $WORKERS; max_sessions_per_client = 0;
  max_sessions_per_worker = 0; debug = { output = "/dev/null"; };
} );
CONF
chmod 755 "$work" "$work/plugins"
"$tree/smtpgate" -f "$work/smtpgate.conf" 2>"$work/smtpgate.log" &
sg=$!
pids+=("$sg")
measure smtpgate "$PORT" "$sg"
kill -TERM "$sg"; timeout 15 tail --pid="$sg" -f /dev/null || kill -KILL "$sg"

# ---- smtp-sink (one event-driven process, backlog 256)
u=()
[ "$(id -u)" = 0 ] && u=(-u nobody)
"$SMTP_SINK" "${u[@]}" "127.0.0.1:$((PORT + 1))" 256 >"$work/smtp-sink.log" 2>&1 &
sk=$!
pids+=("$sk")
measure smtp-sink $((PORT + 1)) "$sk"
kill -TERM "$sk"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
