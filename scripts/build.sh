#!/bin/bash
# Bootstrap (autoreconf), configure and build smtpgate in this tree,
# installing missing Debian packages first.  Extra arguments go to
# ./configure on its first run (e.g. --enable-sanitizers).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
# Bootstrap and configure once; after that the generated Makefile re-runs
# automake/configure itself when configure.ac or Makefile.am change.
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure -q "$@"
make -j"$(nproc)" -s
