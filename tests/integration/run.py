#!/usr/bin/env python3
"""run.py - the integration suite of smtpgate.

Run from the top of the tree after the build (`make check` builds the test
plugins):

    python3 tests/integration/run.py [-j N] [-k SUBSTRING] [-v]

Discovers every function named test_* in tests/integration/test_*.py, runs
each with a fresh Ctx (temp dir, free ports), N at a time (default 6), and
prints `ok NAME` or `FAIL NAME: reason` followed by the logs of the daemons
it started.  Every process a test started is stopped by PID (SIGTERM, then
SIGKILL) when it ends.  The last line is `integration: N passed, N failed`;
the exit status is 1 if any test failed.
"""
import argparse
import atexit
import signal
import glob
import importlib.util
import os
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

TEST_TIMEOUT = 60.0


def discover(pattern):
    tests = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name, fn in vars(mod).items():
            if name.startswith("test_") and callable(fn) and fn.__module__ == modname:
                full = "%s.%s" % (modname[5:], name[5:])
                if not pattern or pattern in full:
                    tests.append((full, fn, fn.__code__.co_firstlineno))
    return [(n, f) for n, f, _ in sorted(tests, key=lambda t: (t[0].split(".")[0], t[2]))]


def run_one(name, fn, verbose):
    ctx = harness.Ctx(name.replace(".", "-"))
    started = time.monotonic()
    reason = None
    try:
        fn(ctx)
    except harness.TestFailure as e:
        reason = str(e)
    except EOFError as e:
        reason = "connection closed by the server (unread: %r)\n%s" % (
            e.args[0] if e.args else b"", traceback.format_exc(limit=4))
    except Exception:
        reason = "exception:\n" + traceback.format_exc()
    took = time.monotonic() - started
    logs = ctx.logs() if (reason or verbose) else ""
    ctx.cleanup()
    if reason is None and ctx.sanitizer_reports:
        reason = "sanitizer report in a log:\n" + "\n".join(ctx.sanitizer_reports)
    return reason, took, logs


def main():
    ap = argparse.ArgumentParser(description="smtpgate integration tests")
    ap.add_argument("-j", type=int, default=6, help="tests run at once (default 6)")
    ap.add_argument("-k", default="", help="run only tests whose name contains this")
    ap.add_argument("-v", action="store_true", help="print the logs of passing tests too")
    opts = ap.parse_args()

    missing = [p for p in [harness.SMTPGATE] + list(harness.PLUGINS.values())
               if not os.path.exists(p)]
    tests = discover(opts.k)
    if missing:
        for p in missing:
            print("FAIL setup: %s is missing: build with `make check` first" % p)
        print("integration: 0 passed, %d failed" % max(1, len(tests)))
        return 1

    def interrupted(sig, frame):
        for ctx in list(harness.Ctx.live):  # stop every daemon started so far
            ctx.cleanup()
        atexit._run_exitfuncs()  # module cleanups (test_mailman's Mailman): os._exit skips them
        for ctx in list(harness.Ctx.live):  # started by running tests meanwhile
            ctx.cleanup()
        print("integration: interrupted by signal %d" % sig)
        print("integration: 0 passed, %d failed" % max(1, len(tests)))
        sys.stdout.flush()
        os._exit(1)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)

    lock = threading.Lock()
    results = {}
    t0 = time.monotonic()

    def job(name, fn):
        reason, took, logs = run_one(name, fn, opts.v)
        with lock:
            results[name] = reason
            if reason is None:
                print("ok %s (%.1fs)" % (name, took))
            else:
                print("FAIL %s: %s" % (name, reason))
            if logs:
                print("  --- logs of %s ---" % name)
                print("\n".join("  " + line for line in logs.splitlines()))
            sys.stdout.flush()

    ex = ThreadPoolExecutor(max_workers=max(1, opts.j))
    futures = [(n, ex.submit(job, n, f)) for n, f in tests]
    deadline = time.monotonic() + TEST_TIMEOUT * max(1, len(tests)) / max(1, opts.j) + 60
    for name, fut in futures:
        try:
            fut.result(timeout=max(1.0, deadline - time.monotonic()))
        except Exception as e:  # a test that hangs past every bound
            with lock:
                if name not in results:
                    results[name] = "hung"
                    print("FAIL %s: did not finish (%s)" % (name, type(e).__name__))
    ex.shutdown(wait=False)
    hung = [n for n, fut in futures if not fut.done()]
    for ctx in list(harness.Ctx.live):  # stop what hung tests left running
        ctx.cleanup()

    passed = sum(1 for r in results.values() if r is None)
    failed = len(results) - passed
    print("# %d tests in %.1fs" % (len(results), time.monotonic() - t0))
    print("integration: %d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    rc = 1 if failed or not results else 0
    if hung:
        atexit._run_exitfuncs()
        os._exit(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
