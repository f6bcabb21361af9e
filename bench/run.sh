#!/usr/bin/env bash
# bench/run.sh - measure smtpgate (debug plugin writing to /dev/null) against
# its peers in the same run, with Postfix's smtp-source as the client.
#
# usage: sudo bench/run.sh [server ...]
#   default servers: smtpgate pysmtpd-discard pysmtpd-debug smtp-sink
#   default loads:   LOADS="L2 L1n"  (L2: 20 sessions x 10000 msgs of 1 KiB,
#                    connections reused; L1n: 2000 msgs, new connection each)
#
# It installs what is missing (postfix for smtp-source/smtp-sink, and
# python3-aiosmtpd only if aiosmtpd-sink is asked for), builds smtpgate
# (make under the shared flock), then runs the peers' harness
# $ANCHORS (default ../shared/bench-peers/anchors.sh beside the tree) with
# SERVERS_FILE=bench/servers.sh, which adds the "smtpgate" server.
# As root the harness runs in a private network namespace (loopback only).
#
# Output: the harness's table, then the ratios against the targets
# (smtpgate >= 10x pysmtpd-discard and >= 0.5x smtp-sink on L2).
# The table and the per-run TSV are also saved under $OUT_DIR
# (default bench/out/, not committed).  Every other knob of anchors.sh
# (REPS, SCALE, RUN_TIMEOUT, KEEP_WORK, ...) and of bench/servers.sh
# (SMTPGATE_WORKERS, ...) passes through the environment.
# Results and findings: bench/RESULTS.md; per-message syscalls, context
# switches and perf profile of the workers: bench/profile.sh.
set -u -o pipefail
export LC_ALL=C

bench=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$bench/.." && pwd)
ANCHORS=${ANCHORS:-$tree/../shared/bench-peers/anchors.sh}
OUT_DIR=${OUT_DIR:-$bench/out}
export LOADS=${LOADS:-"L2 L1n"}
servers=("$@")
[ $# -gt 0 ] || servers=(smtpgate pysmtpd-discard pysmtpd-debug smtp-sink)

log() { printf '%s run.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

[ -r "$ANCHORS" ] || die "no harness at $ANCHORS (set ANCHORS=)"
[ "$(id -u)" = 0 ] || log "not root: no private network namespace, and no apt-get installs"

# ---- packages (only what is missing)
apt_install() {
  [ "$(id -u)" = 0 ] || die "missing $*; run as root or install it"
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q --no-install-recommends "$@" \
    >"${TMPDIR:-/tmp}/bench-apt.log" 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q --no-install-recommends "$@" \
        >"${TMPDIR:-/tmp}/bench-apt.log" 2>&1; } ||
    die "apt-get install $* failed; see ${TMPDIR:-/tmp}/bench-apt.log"
}
if [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/sbin/smtp-sink ]; then
  # No debconf question, and no mail system configured: nothing listens on port 25.
  [ "$(id -u)" = 0 ] && echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt_install postfix
fi
for s in "${servers[@]}"; do
  if [ "$s" = aiosmtpd-sink ] && ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
    apt_install python3-aiosmtpd
  fi
done

# ---- build smtpgate (others build in the same tree: always under the lock)
log "building smtpgate"
(cd "$tree" && flock /tmp/smtpgate-make.lock make -j2 >"${TMPDIR:-/tmp}/bench-make.log" 2>&1) ||
  die "make failed; see ${TMPDIR:-/tmp}/bench-make.log"
[ -x "$tree/smtpgate" ] && [ -f "$tree/plugins/debug/.libs/debug.so" ] ||
  die "build produced no smtpgate or debug.so"

# ---- run
mkdir -p "$OUT_DIR"
stamp=$(date +%Y%m%d-%H%M%S)
table="$OUT_DIR/$stamp.txt"
export RAW=${RAW:-$OUT_DIR/$stamp.tsv}
export SERVERS_FILE="$bench/servers.sh"
cmd="LOADS=\"$LOADS\" SERVERS_FILE=bench/servers.sh $ANCHORS ${servers[*]}"
log "$cmd"
{
  echo "command: bench/run.sh ${*:-}  (= $cmd)"
  echo "smtpgate: $(cd "$tree" && git describe --always --dirty 2>/dev/null), workers=${SMTPGATE_WORKERS:-24}, worker_scheduling=${SMTPGATE_WORKER_SCHEDULING:-batch}, debug output=${SMTPGATE_DEBUG_OUTPUT:-/dev/null}"
} >"$table"
bash "$ANCHORS" "${servers[@]}" | tee -a "$table"
rc=$?

# ---- ratios from the table just printed (same run)
awk -F'|' '
  function t(s) { gsub(/^ +| +$/, "", s); return s }
  NF >= 12 && t($5) ~ /^[0-9.]+$/ {
    k = t($2) SUBSEP t($3); rate[k] = t($6); cpu[k] = t($8)
  }
  function ratio(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "n/a" }
  END {
    print ""
    print "ratios, smtpgate / peer (same run): msg/s ratio, and cpu us/msg of the peer / smtpgate (higher = smtpgate cheaper)"
    n = split("pysmtpd-discard pysmtpd-debug smtp-sink", peers, " ")
    nl = split("L1 L1n L2 L3", loads, " ")
    ng = split("smtpgate smtpgate-proxy", ours, " ")
    for (k = 1; k <= ng; k++) for (j = 1; j <= nl; j++) for (i = 1; i <= n; i++) {
      l = loads[j]
      g = ours[k] SUBSEP l; p = peers[i] SUBSEP l
      if (!(g in rate) || !(p in rate)) continue
      target = ""
      if (ours[k] == "smtpgate" && l == "L2" && peers[i] == "pysmtpd-discard") target = "  target >= 10"
      if (l == "L2" && peers[i] == "smtp-sink") target = "  target >= 0.5"
      printf "  %-14s %-4s vs %-16s msg/s x%-6s cpu x%-6s%s\n", ours[k], l, peers[i],
             ratio(rate[g], rate[p]), ratio(cpu[p], cpu[g]), target
    }
  }' "$table" | tee -a "$table"
log "table: $table  per-run rows: $RAW"
exit "$rc"
