#!/usr/bin/env bash
# bench/auth.sh - authenticated submissions per second (issue 17): smtpgate
# against Postfix, both checking the credentials with the same private
# Dovecot, in one run.
#
# usage: bench/auth.sh            (as root; after the build)
#
# It starts, in a temp dir: a private Dovecot (only its auth service, on a
# UNIX socket; a passwd-file with one sha512-crypt user), smtpgate (maildir
# handler: every 250 is an fsync'ed file; port 465-style implicit TLS;
# auth.backend "dovecot", required) and a private Postfix (bench/peers.sh's
# instance with smtpd_tls_wrappermode, smtpd_sasl_type = dovecot on the same
# socket, permit_sasl_authenticated; the queue file is fsync'ed before 250,
# then discard(8) takes it), both with the same ECDSA P-256 certificate.
# Then $REPS rounds, each running bench/auth_client.py against both servers
# in an order rotated per round: $COUNT submissions, $CONC processes, each
# submission a new TLS connection (no resumption), EHLO, AUTH PLAIN, MAIL,
# RCPT, DATA (1 KiB), QUIT.  The ratio smtpgate/Postfix is taken per round,
# then its median.
#
# It never touches the system's Dovecot or Postfix (each instance gets only
# its own config), talks only to 127.0.0.1 and the temp dir's socket, and
# stops what it started by PID (Postfix with `postfix -c ITS_DIR stop`).
#
# Knobs: REPS=3 COUNT=1000 CONC=8 SMTPGATE_WORKERS=16 KEEP_WORK= (keep the
# temp dir and its logs).
set -u -o pipefail
export LC_ALL=C

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tree=$(cd "$bench/.." && pwd)
REPS=${REPS:-3}
COUNT=${COUNT:-1000}
CONC=${CONC:-8}
SMTPGATE_WORKERS=${SMTPGATE_WORKERS:-16}
PASSWORD=Bench-pw-4711

log() { printf '%s auth.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (Postfix and Dovecot instances)"
[ -x "$tree/smtpgate" ] || die "build first (scripts/build.sh)"
work=$(mktemp -d /tmp/smtpgate-authbench.XXXXXX)
chmod 755 "$work"
pids=()
postfix_dir=

cleanup() {
  [ -n "$postfix_dir" ] && lib_postfix_stop "$postfix_dir"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP_WORK:-}" ] && log "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for CMD...: run CMD every 0.1 s until it succeeds, at most 100 times.
wait_for() {
  local i
  for ((i = 0; i < 100; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- certificate and Dovecot ------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null || die "openssl req failed"
chmod 600 "$work/key.pem"
dv="$work/dovecot"
mkdir -p "$dv/run" "$dv/state"
echo "alice:$(doveadm pw -s SHA512-CRYPT -p "$PASSWORD")::::::" >"$dv/passwd"
cat >"$dv/dovecot.conf" <<EOF
base_dir = $dv/run
state_dir = $dv/state
instance_name = smtpgate-authbench-$$
protocols = none
listen = 127.0.0.1
log_path = $dv/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = root
default_internal_group = root
default_login_user = root
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT $dv/passwd
}
userdb {
  driver = passwd-file
  args = $dv/passwd
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
EOF
dovecot -F -c "$dv/dovecot.conf" >"$dv/stdout" 2>&1 &
pids+=($!)
sock="$dv/run/auth-client"
wait_for test -S "$sock" || die "Dovecot did not start: $(cat "$dv/stdout")"

# --- smtpgate ---------------------------------------------------------------
sg="$work/smtpgate"
mkdir -p "$sg/plugins" "$sg/Maildir"
chown nobody: "$sg/Maildir"
ln -s "$tree/plugins/maildir/.libs/maildir.so" "$sg/plugins/maildir.so"
sg_port=$(free_port)
cat >"$sg/smtpgate.conf" <<EOF
plugin_dir = "$sg/plugins";
listeners = ( {
  name = "submission"; address = "127.0.0.1:$sg_port"; handler = "maildir";
  workers = $SMTPGATE_WORKERS; max_sessions_per_worker = 0;
  maildir = { path = "$sg/Maildir"; user = "nobody"; };
  tls = { mode = "implicit"; cert = "$work/cert.pem"; key = "$work/key.pem"; };
  auth = { backend = "dovecot"; dovecot_socket = "$sock"; required = true; };
} );
EOF
"$tree/smtpgate" -t -f "$sg/smtpgate.conf" >"$sg/check.log" 2>&1 || die "smtpgate -t: $(tail -3 "$sg/check.log")"
"$tree/smtpgate" -f "$sg/smtpgate.conf" >"$sg/smtpgate.log" 2>&1 &
pids+=($!)
wait_for grep -q "event=ready" "$sg/smtpgate.log" || die "smtpgate did not start"

# --- Postfix ----------------------------------------------------------------
# shellcheck source=bench/peers.sh
. "$bench/peers.sh"
pf="$work/postfix"
pf_port=$(free_port)
peers_postfix_conf "$pf" "$pf_port" || die "postfix: cannot write its config"
mkdir -p "$pf/mail"
sed -i "s|^127.0.0.1:$pf_port inet n - n - - smtpd\$|& -o smtpd_tls_wrappermode=yes|" "$pf/etc/master.cf"
grep -q wrappermode "$pf/etc/master.cf" || die "master.cf: no smtpd line to edit"
echo "tlsmgr     unix  - - n 1000? 1 tlsmgr" >>"$pf/etc/master.cf"
postconf -c "$pf/etc" -e \
  "smtpd_tls_cert_file = $work/cert.pem" "smtpd_tls_key_file = $work/key.pem" \
  "smtpd_tls_security_level = encrypt" "smtpd_tls_auth_only = yes" \
  "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = dovecot" "smtpd_sasl_path = $sock" \
  "smtpd_relay_restrictions = permit_sasl_authenticated, reject" \
  "smtpd_recipient_restrictions = permit_sasl_authenticated, reject" \
  "virtual_transport = discard" \
  "smtpd_client_connection_rate_limit = 0" "smtpd_client_connection_count_limit = 0" \
  "smtpd_client_auth_rate_limit = 0" || die "postconf failed"
postfix_dir=$pf
lib_postfix_start "$pf" || die "postfix did not start"

# --- the rounds -------------------------------------------------------------
client() {  # PORT [COUNT CONC]: one run; prints its result line
  python3 "$bench/auth_client.py" 127.0.0.1 "$1" "$work/cert.pem" alice "$PASSWORD" \
    "${2:-$COUNT}" "${3:-$CONC}"
}
answers() { client "$1" 1 1 | grep -q " errors=0 "; }
wait_for answers "$pf_port" || die "Postfix does not take a submission: $(tail -5 "$pf/log/maillog")"
wait_for answers "$sg_port" || die "smtpgate does not take a submission: $(tail -5 "$sg/smtpgate.log")"
client "$sg_port" >/dev/null  # warm-ups, untimed
client "$pf_port" >/dev/null
log "smtpgate $(git -C "$tree" rev-parse --short HEAD) port $sg_port; Postfix $(postconf -d -h mail_version) port $pf_port; Dovecot $(dovecot --version | cut -d' ' -f1); COUNT=$COUNT CONC=$CONC"
printf '%-6s %-10s %s\n' round server result
ratios=()
for ((r = 1; r <= REPS; r++)); do
  order=(smtpgate postfix)
  ((r % 2 == 0)) && order=(postfix smtpgate)
  sg_rate= pf_rate=
  for s in "${order[@]}"; do
    port=$sg_port
    [ "$s" = postfix ] && port=$pf_port
    out=$(client "$port")
    printf '%-6s %-10s %s\n' "$r" "$s" "$out"
    rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$out")
    if [ "$s" = postfix ]; then pf_rate=$rate; else sg_rate=$rate; fi
    case $out in *" errors=0 "*) ;; *) log "$s: errors in round $r" ;; esac
  done
  ratios+=("$(awk -v a="$sg_rate" -v b="$pf_rate" 'BEGIN { printf "%.3f", a / b }')")
done
printf 'ratio smtpgate/postfix per round: %s\n' "${ratios[*]}"
printf 'median ratio: %s\n' "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
log "smtpgate stored $(find "$sg/Maildir/new" -type f | wc -l) messages in new/ (warm-ups included)"
