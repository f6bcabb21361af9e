#!/usr/bin/env bash
# bench/maildir.sh - durable deliveries per second (issue 4): smtpgate with
# the maildir handler against a real Postfix that fsyncs its queue file
# before 250 (postfix-discard), and against the disk's own limit, all in
# one invocation on the same disk.
#
# usage: sudo bench/maildir.sh
#
#   1. builds the tree (flock make) and bench/fsync_loop.c (cc -O2);
#   2. the disk's limit: fsync_loop with 20 processes, 10000 deliveries of
#      1200 bytes (open O_EXCL + write + fsync + close + link into new/ +
#      unlink + fsync(new/)), $REPS times, in a temp dir next to the
#      harness's (same file system as the Maildir and Postfix's queue);
#   3. LOADS=L2 SERVERS_FILE=bench/servers.sh anchors.sh smtpgate-maildir postfix-discard
#      (L2: 20 sessions x 10000 messages of 1 KiB, connections reused);
#   4. the disk loop again, $REPS times (the load may change meanwhile);
#   5. the ratios: smtpgate-maildir / postfix-discard (target >= 3) and
#      smtpgate-maildir / the median of the disk loop runs (target >= 0.5).
#
# Knobs: REPS (default 3), ANCHORS, OUT_DIR (default bench/out), LOOP_PROCS
# (20), LOOP_COUNT (10000), LOOP_SECS (30), and those of anchors.sh and
# bench/servers.sh.  Results: bench/RESULTS.md ("Maildir: durable deliveries").
set -u -o pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$bench/.." && pwd)
ANCHORS=${ANCHORS:-$tree/../shared/bench-peers/anchors.sh}
OUT_DIR=${OUT_DIR:-$bench/out}
export REPS=${REPS:-3}
export LOADS=L2
LOOP_PROCS=${LOOP_PROCS:-20}
LOOP_COUNT=${LOOP_COUNT:-10000}
LOOP_SECS=${LOOP_SECS:-30}

log() { printf '%s maildir.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

[ -r "$ANCHORS" ] || die "no harness at $ANCHORS (set ANCHORS=)"
[ "$(id -u)" = 0 ] || log "not root: postfix-discard will be SKIPped and no private netns"
[ -x /usr/sbin/smtp-source ] || die "no smtp-source: run bench/run.sh once (installs postfix)"

log "building smtpgate"
(cd "$tree" && flock /tmp/smtpgate-make.lock make -j2 >"${TMPDIR:-/tmp}/bench-make.log" 2>&1) ||
  die "make failed; see ${TMPDIR:-/tmp}/bench-make.log"
[ -f "$tree/plugins/maildir/.libs/maildir.so" ] || die "no maildir plugin built"
mkdir -p "$OUT_DIR"
loop_bin="$OUT_DIR/fsync_loop"
cc -O2 -Wall -Wextra -o "$loop_bin" "$bench/fsync_loop.c" || die "cc fsync_loop.c failed"

stamp=$(date +%Y%m%d-%H%M%S)
table="$OUT_DIR/maildir-$stamp.txt"
export RAW=${RAW:-$OUT_DIR/maildir-$stamp.tsv}
export SERVERS_FILE="$bench/servers.sh"
export SMTPGATE_MAILDIR_STORED="$OUT_DIR/maildir-$stamp.stored"
loopdir=$(mktemp -d "${TMPDIR:-/tmp}/fsync-loop.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$loopdir"' EXIT

disk_loop() {  # WHEN: REPS runs of fsync_loop, one line each
  local i
  for ((i = 1; i <= REPS; i++)); do
    printf 'disk loop (%s) %d: ' "$1" "$i"
    timeout -k 5 $((LOOP_SECS + 60)) "$loop_bin" "$loopdir/Maildir" "$LOOP_PROCS" "$LOOP_COUNT" \
      "$LOOP_SECS" 1200 || echo "FAILED"
  done
}

cmd="LOADS=L2 REPS=$REPS SERVERS_FILE=bench/servers.sh $ANCHORS smtpgate-maildir postfix-discard"
{
  echo "command: bench/maildir.sh  (= disk loop x$REPS; $cmd; disk loop x$REPS)"
  echo "smtpgate: $(cd "$tree" && git describe --always --dirty 2>/dev/null), workers=${SMTPGATE_WORKERS:-24}"
  echo "disk: $(df -P "$loopdir" | awk 'NR == 2 {print $1 " on " $6}'), $(findmnt -no FSTYPE,OPTIONS -T "$loopdir" 2>/dev/null)"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus"
} | tee "$table"
disk_loop before | tee -a "$table"
log "$cmd"
bash "$ANCHORS" smtpgate-maildir postfix-discard | tee -a "$table"
rc=$?
disk_loop after | tee -a "$table"
{
  echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "files stored by smtpgate-maildir (warm-up + timed runs, counted after each run): $(cat "$SMTPGATE_MAILDIR_STORED" 2>/dev/null || echo '?')"
} | tee -a "$table"

awk -F'|' '
  function t(s) { gsub(/^ +| +$/, "", s); return s }
  /^disk loop/ && match($0, /per_sec=[0-9.]+/) { d[++nd] = substr($0, RSTART + 8, RLENGTH - 8) + 0 }
  NF >= 12 && t($5) ~ /^[0-9.]+$/ { rate[t($2)] = t($6); cpu[t($2)] = t($8) }
  function median(a, n,   i, j, x) {
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    g = rate["smtpgate-maildir"]; p = rate["postfix-discard"]
    dm = nd ? median(d, nd) : 0
    print ""
    printf "durable deliveries/s (L2): smtpgate-maildir %s, postfix-discard %s, disk loop median %.0f (%d runs)\n", g, p, dm, nd
    if (g > 0 && p > 0) printf "  smtpgate-maildir / postfix-discard  msg/s x%.2f  (target >= 3)   cpu/msg postfix/smtpgate x%.2f\n", g / p, cpu["postfix-discard"] / cpu["smtpgate-maildir"]
    if (g > 0 && dm > 0) printf "  smtpgate-maildir / disk loop        x%.2f  (target >= 0.5)\n", g / dm
  }' "$table" | tee -a "$table"
log "table: $table  per-run rows: $RAW"
exit "$rc"
