#!/bin/bash
# Build, install (under /usr/local) and start smtpgate in the foreground with
# its embedded default: the debug handler on localhost:8025 (every address
# localhost resolves to), printing every message on stdout.  Arguments go
# to smtpgate.
set -eu
cd "$(dirname "$0")/.."
scripts/build.sh
make -s install
exec /usr/local/sbin/smtpgate "$@"
