#!/usr/bin/env bash
# bench/run.sh - smtpgate against its peers, one command from a bare clone:
# installs what is missing and builds (bench/prepare.sh), then runs the
# project's harness (bench/harness.sh) and keeps its table and per-run TSV
# in bench/results/ (not tracked).
#
# usage: sudo bench/run.sh [SERVER ...]
#   default servers: smtpgate pysmtpd-discard pysmtpd-debug aiosmtpd-sink smtp-sink
#   default loads:   LOADS="L2 L1n"  (L2: 20 sessions x 10000 msgs of 1 KiB,
#                    connections reused; L1n: 2000 msgs, a new connection each)
#   other servers:   smtpgate-proxy smtpgate-maildir smtpgate-w4 postfix-maildir
#                    (bench/harness.sh --list)
#
# As root the harness runs in a private network namespace (loopback only);
# without root postfix-maildir is skipped and nothing is installed.  Every
# knob of bench/harness.sh (REPS, LOADS, SCALE, RUN_TIMEOUT, MAX_SECS,
# KEEP_WORK, ...) and of bench/servers.sh (SMTPGATE_WORKERS, ...) passes
# through the environment.  Figures and findings: bench/RESULTS.md; where a
# worker's time goes: bench/profile.sh.
set -u -o pipefail
bench=$(cd "$(dirname "$0")" && pwd)
servers=("$@")
[ $# -gt 0 ] || servers=(smtpgate pysmtpd-discard pysmtpd-debug aiosmtpd-sink smtp-sink)
"$bench/prepare.sh" || exit 1
exec "$bench/harness.sh" "${servers[@]}"
