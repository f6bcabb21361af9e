# bench/servers.sh - smtpgate's cells for bench/harness.sh (sourced; see
# its header for the start_/settle_/cleanup_ contract).  Also sourced by
# bench/proxy_rounds.sh and bench/profile.sh for smtpgate_cell and
# smtpgate_start.
#
# Defines start_smtpgate PORT: writes a config into the harness's temp dir
# ("$work"), starts the master in the foreground (it does not daemonize) in
# the background of the harness, and echoes its PID; the workers are its
# children, so the harness counts their CPU and memory as the server's.
#
# Knobs (environment):
#   SMTPGATE_BIN=...         the daemon (default: the tree's ./smtpgate)
#   SMTPGATE_DEBUG_SO=...    the debug plugin (default: plugins/debug/.libs/debug.so)
#   SMTPGATE_WORKERS=24      worker processes (> the 20 concurrent sessions of L2)
#   SMTPGATE_DEBUG_OUTPUT=/dev/null   where the debug plugin writes each message
#   SMTPGATE_LOG=FILE        the daemon's stderr log (default: $work/<cell>/smtpgate.log)
#   SMTPGATE_WORKER_SCHEDULING=normal   the worker_scheduling setting (default: not set: "batch")
#
# start_smtpgate_maildir: the maildir handler (durable deliveries), see below.
#
# start_smtpgate_base: the debug cell of another built tree (see below).
#
# start_smtpgate_w4 is the same with a fixed pool of 4 workers, for
# comparing pool sizes: `bench/run.sh smtpgate smtpgate-w4 smtp-sink`.

# This file is sourced; resolve the tree from its own location.
SMTPGATE_TREE=${SMTPGATE_TREE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SMTPGATE_BIN=${SMTPGATE_BIN:-$SMTPGATE_TREE/smtpgate}
SMTPGATE_DEBUG_SO=${SMTPGATE_DEBUG_SO:-$SMTPGATE_TREE/plugins/debug/.libs/debug.so}
SMTPGATE_WORKERS=${SMTPGATE_WORKERS:-24}
SMTPGATE_DEBUG_OUTPUT=${SMTPGATE_DEBUG_OUTPUT:-/dev/null}

# smtpgate_cell NAME PORT WORKERS HANDLER PLUGIN_SO SETTINGS: the cell's
# directory "$work/NAME" with a plugin dir holding PLUGIN_SO, and a config
# with one listener on 127.0.0.1:PORT (SETTINGS: more listener settings),
# checked with -t.  The start functions below then launch the master.
smtpgate_cell() {
  local name=$1 port=$2 workers=$3 handler=$4 so=$5 settings=$6 d="$work/$1"
  [ -x "$SMTPGATE_BIN" ] || { echo "no smtpgate binary at $SMTPGATE_BIN (build it: make)" >&2; return 1; }
  [ -f "$so" ] || { echo "no $handler plugin at $so" >&2; return 1; }
  rm -rf "$d"; mkdir -p "$d/plugins"; chmod 755 "$d" "$d/plugins"
  ln -s "$so" "$d/plugins/$handler.so"
  cat >"$d/smtpgate.conf" <<EOF
# written by bench/servers.sh for one benchmark cell
plugin_dir = "$d/plugins";
${SMTPGATE_WORKER_SCHEDULING:+worker_scheduling = \"$SMTPGATE_WORKER_SCHEDULING\";}
listeners = (
  {
    address = "127.0.0.1:$port";
    handler = "$handler";
    workers = $workers;
    max_sessions_per_worker = 0;
    $settings
  }
);
EOF
  "$SMTPGATE_BIN" -t -f "$d/smtpgate.conf" >"$d/check.log" 2>&1 ||
    { echo "smtpgate -t failed: $(tail -2 "$d/check.log" | tr '\n' ' ')" >&2; return 1; }
}

smtpgate_start() {  # PORT WORKERS NAME: the debug handler
  local d="$work/$3"
  smtpgate_cell "$3" "$1" "$2" debug "$SMTPGATE_DEBUG_SO" \
    "debug = { output = \"$SMTPGATE_DEBUG_OUTPUT\"; };" || return 1
  # As root the workers switch to user "nobody" (the config default), as
  # smtp-sink does with -u nobody.
  "$SMTPGATE_BIN" -f "$d/smtpgate.conf" >>"${SMTPGATE_LOG:-$d/smtpgate.log}" 2>&1 &
  echo $!
}

start_smtpgate() { smtpgate_start "$1" "$SMTPGATE_WORKERS" smtpgate; }

# start_smtpgate_base PORT: the same cell from another built tree,
# SMTPGATE_BASE_TREE (e.g. a clone checked out at the commit before a
# change, built with scripts/build.sh), so a change is measured against its
# base in one run: `SMTPGATE_BASE_TREE=/tmp/base bench/run.sh smtpgate
# smtpgate-base smtp-sink`.
start_smtpgate_base() {
  local base=${SMTPGATE_BASE_TREE:-}
  [ -x "$base/smtpgate" ] || { echo "smtpgate-base: SMTPGATE_BASE_TREE is no built tree" >&2; return 1; }
  SMTPGATE_BIN=$base/smtpgate SMTPGATE_DEBUG_SO=$base/plugins/debug/.libs/debug.so \
    smtpgate_start "$1" "$SMTPGATE_WORKERS" smtpgate-base
}
cleanup_smtpgate_base() { [ -n "${KEEP_WORK:-}" ] || rm -rf "$work/smtpgate-base"; }

# start_smtpgate_proxy PORT: smtpgate with the proxy handler on PORT,
# relaying to a Postfix smtp-sink on a second free port (harness_port; PORT+1
# outside the harness) (issue 3: through the proxy against straight to
# smtp-sink, the "smtp-sink" peer, in the same run).
# The sink is started by the shell that then execs the smtpgate master, so
# it is the master's child and the harness counts the CPU and memory of the
# whole chain, and stops both.
start_smtpgate_proxy() {
  local port=$1 up=$(( $1 + 1 )) d="$work/smtpgate-proxy"
  if declare -F harness_port >/dev/null; then up=$(harness_port) || return 1; fi
  smtpgate_cell smtpgate-proxy "$port" "$SMTPGATE_WORKERS" proxy \
    "${SMTPGATE_PROXY_SO:-$SMTPGATE_TREE/plugins/proxy/.libs/proxy.so}" \
    "remote = \"127.0.0.1:$up\"; proxy = { relay_networks = [ \"127.0.0.0/8\" ]; };" || return 1
  local sink_user=()
  [ "$(id -u)" = 0 ] && sink_user=(-u nobody)
  (
    /usr/sbin/smtp-sink "${sink_user[@]}" "127.0.0.1:$up" 256 &
    exec "$SMTPGATE_BIN" -f "$d/smtpgate.conf"
  ) >>"${SMTPGATE_LOG:-$d/smtpgate.log}" 2>&1 &
  echo $!
}
cleanup_smtpgate_proxy() { [ -n "${KEEP_WORK:-}" ] || rm -rf "$work/smtpgate-proxy"; }
start_smtpgate_w4() { smtpgate_start "$1" 4 smtpgate-w4; }
cleanup_smtpgate() { [ -n "${KEEP_WORK:-}" ] || rm -rf "$work/smtpgate"; }
cleanup_smtpgate_w4() { [ -n "${KEEP_WORK:-}" ] || rm -rf "$work/smtpgate-w4"; }

# start_smtpgate_maildir PORT: smtpgate with the maildir handler, one
# Maildir for every message ("$work/smtpgate-maildir/Maildir", on the disk
# of the harness's temp dir, like postfix-maildir's queue and Maildir), 24 workers.  Every 250
# is a durable delivery: tmp/ write + fsync + rename into new/ + fsync(new/).
# As root the workers run as nobody: the Maildir is made theirs (user).
# settle_ counts the files in new/ after each run (logged, and checked
# against the messages sent so far), then removes them, untimed, so every
# run starts with an empty new/ (as postfix-maildir's after its settle).
start_smtpgate_maildir() {
  local port=$1 d="$work/smtpgate-maildir" owner=""
  [ "$(id -u)" = 0 ] && owner='user = "nobody";'
  smtpgate_cell smtpgate-maildir "$port" "$SMTPGATE_WORKERS" maildir \
    "${SMTPGATE_MAILDIR_SO:-$SMTPGATE_TREE/plugins/maildir/.libs/maildir.so}" \
    "maildir = { path = \"$d/Maildir\"; $owner };" || return 1
  echo 0 >"$d/stored"
  "$SMTPGATE_BIN" -f "$d/smtpgate.conf" >>"${SMTPGATE_LOG:-$d/smtpgate.log}" 2>&1 &
  echo $!
}
settle_smtpgate_maildir() {
  local d="$work/smtpgate-maildir" n t
  n=$(find "$d/Maildir/new" -type f | wc -l)
  t=$(find "$d/Maildir/tmp" -type f | wc -l)
  echo $(( $(cat "$d/stored") + n )) >"$d/stored"
  log "smtpgate-maildir: $n files in new/ (total $(cat "$d/stored")), $t in tmp/"
  find "$d/Maildir/new" -type f -delete
}
cleanup_smtpgate_maildir() {
  cp "$work/smtpgate-maildir/stored" "${SMTPGATE_MAILDIR_STORED:-/dev/null}" 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work/smtpgate-maildir"
}
