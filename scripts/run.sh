#!/bin/bash
# Build, install and start smtpgate in the foreground with its embedded
# default: the debug handler on localhost:8025 (every address localhost
# resolves to), printing every message on stdout.  Arguments go to
# smtpgate.  It installs where the tree was configured to (/usr/local
# unless an earlier `scripts/build.sh --prefix=...` said otherwise) and runs
# that installed daemon, whose plugin_dir is where the plugins went.
set -eu
cd "$(dirname "$0")/.."
scripts/build.sh
make -s install
sbindir=$(printf 'print-sbindir:\n\t@echo $(sbindir)\n' |
	make -s --no-print-directory -f Makefile -f - print-sbindir)
exec "$sbindir/smtpgate" "$@"
