#!/usr/bin/env bash
# bench/maildir.sh - durable deliveries per second (issue 4): smtpgate with
# the maildir handler against a private Postfix that fsyncs its queue file
# before 250 and then delivers into a Maildir (postfix-maildir), and against
# the disk's own limit, all in one invocation on the same disk.
#
# usage: sudo bench/maildir.sh
#
#   1. bench/prepare.sh (packages, build) and bench/fsync_loop.c (cc -O2);
#   2. the disk's limit: fsync_loop with 20 processes, 10000 deliveries of
#      1200 bytes (open O_EXCL + write + fsync + close + link into new/ +
#      unlink + fsync(new/)), $REPS times, in a temp dir in ${TMPDIR:-/tmp}
#      (the file system of the harness's temp dir: the cells' Maildirs and
#      Postfix's queue);
#   3. LOADS=L2 bench/harness.sh smtpgate-maildir postfix-maildir
#      (L2: 20 sessions x 10000 messages of 1 KiB, connections reused;
#      $REPS interleaved rounds; its ratio smtpgate-maildir / postfix-maildir);
#   4. the disk loop again, $REPS times (the load may change meanwhile);
#   5. smtpgate-maildir's median rate / the median of the disk loop runs
#      (target >= 0.5).
#
# Knobs: REPS (default 3), OUT_DIR (default bench/results, not tracked),
# LOOP_PROCS (20), LOOP_COUNT (10000), LOOP_SECS (30), and those of
# bench/harness.sh and bench/servers.sh.  Results: bench/RESULTS.md
# ("Maildir: durable deliveries").
set -u -o pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
export OUT_DIR=${OUT_DIR:-$bench/results}
export REPS=${REPS:-3}
export LOADS=L2
STAMP=maildir-$(date +%Y%m%d-%H%M%S)
export STAMP
LOOP_PROCS=${LOOP_PROCS:-20}
LOOP_COUNT=${LOOP_COUNT:-10000}
LOOP_SECS=${LOOP_SECS:-30}

log() { printf '%s maildir.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || log "not root: postfix-maildir will be SKIPped and no private netns"
"$bench/prepare.sh" || exit 1
mkdir -p "$OUT_DIR" || exit 1
loopdir=$(mktemp -d "${TMPDIR:-/tmp}/fsync-loop.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$loopdir"' EXIT
loop_bin="$loopdir/fsync_loop"
cc -O2 -Wall -Wextra -o "$loop_bin" "$bench/fsync_loop.c" || die "cc fsync_loop.c failed"
table="$OUT_DIR/$STAMP-all.txt"

disk_loop() {  # WHEN: REPS runs of fsync_loop, one line each
  local i
  for ((i = 1; i <= REPS; i++)); do
    printf 'disk loop (%s) %d: ' "$1" "$i"
    timeout -k 5 $((LOOP_SECS + 60)) "$loop_bin" "$loopdir/Maildir" "$LOOP_PROCS" "$LOOP_COUNT" \
      "$LOOP_SECS" 1200 || echo "FAILED"
  done
}

{
  echo "command: bench/maildir.sh  (= disk loop x$REPS; LOADS=L2 REPS=$REPS bench/harness.sh smtpgate-maildir postfix-maildir; disk loop x$REPS)"
  echo "disk: $(df -P "$loopdir" | awk 'NR == 2 {print $1 " on " $6}'), $(findmnt -no FSTYPE,OPTIONS -T "$loopdir" 2>/dev/null)"
} | tee "$table"
disk_loop before | tee -a "$table"
"$bench/harness.sh" smtpgate-maildir postfix-maildir | tee -a "$table"
rc=$?
disk_loop after | tee -a "$table"

awk -F'\t' '
  function median(a, n,   i, j, x) {
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  FILENAME == ARGV[1] && /^disk loop/ && match($0, /per_sec=[0-9.]+/) { d[++nd] = substr($0, RSTART + 8, RLENGTH - 8) + 0 }
  FILENAME == ARGV[2] && $1 == "smtpgate-maildir" && $10 == 0 { g[++ng] = $6 }
  END {
    dm = nd ? median(d, nd) : 0; gm = ng ? median(g, ng) : 0
    print ""
    printf "disk loop median %.0f deliveries/s (%d runs); smtpgate-maildir median %.0f msg/s (%d rounds)\n", dm, nd, gm, ng
    if (gm > 0 && dm > 0) printf "  smtpgate-maildir / disk loop  x%.2f  (target >= 0.5)\n", gm / dm
  }' "$table" "$OUT_DIR/$STAMP.tsv" | tee -a "$table"
log "table: $table  per-run rows: $OUT_DIR/$STAMP.tsv"
exit "$rc"
