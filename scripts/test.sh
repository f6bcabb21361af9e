#!/bin/bash
# Build everything, then run every test: CUnit unit tests and the
# integration tests against the real daemon.  Ends with one line
# "N passed, N failed" and exits non-zero if any test failed.
set -eu
cd "$(dirname "$0")/.."
scripts/build.sh
make -j"$(nproc)" -s check   # builds the unit test runner and the test plugins
exec tests/run_all.sh
