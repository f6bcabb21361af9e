#!/bin/bash
# Bootstrap (autoreconf), configure and build smtpgate in this tree,
# installing missing Debian packages first.  Extra arguments go to
# ./configure on its first run (e.g. --enable-sanitizers).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] || autoreconf -fi
[ -f Makefile ] && [ Makefile -nt configure ] || ./configure -q "$@"
make -j"$(nproc)" -s
