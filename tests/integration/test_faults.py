"""Faults and long runs: a worker that served 1000 sessions is clean under
valgrind's memcheck; a stopped (SIGSTOP) worker and a hanging handler
harm only their own client, and the stop deadline (shutdown_timeout) bounds
a hung worker.  (A worker killed mid-DATA: test_master.py.)"""
import os
import re
import shutil
import signal
import time

from harness import (SMTPGATE, Client, Daemon, TestFailure, alive, check, eq, proc_state,
                     read_file, wait_until)

VG_SESSIONS = 1000   # sessions of the worker run under valgrind
VG_BOUND = 90.0      # seconds for driving them


def test_worker_after_1000_sessions_is_clean_under_valgrind(ctx):
    check(shutil.which("valgrind"), "valgrind is not installed (scripts/deps.sh)")
    if b"__asan_init" in read_file(SMTPGATE):
        return  # an ASan build (tests/sanitizers.sh): valgrind cannot run it
    text, port, out = ctx.listener(workers=1, max_sessions_per_worker=VG_SESSIONS,
                                   command_timeout=30)
    conf = ctx.config([text])
    vglog = ctx.path("vg.%p.log")
    argv = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--log-file=" + vglog, SMTPGATE, "-n", "-f", conf]
    d = Daemon(ctx, argv, "smtpgate-valgrind")
    d.wait_log(r"event=ready", timeout=60)
    (w,) = d.wait_workers(1, timeout=60)
    body = b"Subject: s\r\n\r\n" + b"x" * 200 + b"\r\n"
    deadline = time.monotonic() + VG_BOUND
    for i in range(VG_SESSIONS):
        check(time.monotonic() < deadline, "only %d of %d sessions within %.0fs" %
              (i, VG_SESSIONS, VG_BOUND))
        with Client(port, timeout=30) as c:
            eq(c.transaction(body, helo="EHLO c%d" % i), "250 OK", "message %d" % i)
            eq(c.cmd("QUIT"), "221 Bye", "QUIT %d" % i)
    # Its last session served, the worker exits (and valgrind checks leaks).
    wait_until(lambda: not alive(w), timeout=60, what="worker %d to exit" % w)
    path = ctx.path("vg.%d.log" % w)
    wait_until(lambda: b"ERROR SUMMARY" in read_file(path), timeout=30,
               what="valgrind's summary of worker %d" % w)
    log = read_file(path).decode("utf-8", "replace")
    check("HEAP SUMMARY" in log, "no leak check in worker %d's log:\n%s" % (w, log[-3000:]))
    m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
    check(m and m.group(1) == "0", "valgrind errors in worker %d:\n%s" % (w, log[-6000:]))
    dl = re.search(r"definitely lost: ([\d,]+) bytes", log)
    check(not dl or dl.group(1) == "0", "definite leaks in worker %d:\n%s" % (w, log[-6000:]))
    eq(read_file(out).count(b"------------ END MESSAGE ------------"), VG_SESSIONS,
       "messages in the output")
    # The master replaced it and is clean too when stopped.
    d.wait_workers(1, exclude=(w,), timeout=60)
    d.signal(signal.SIGTERM)
    eq(d.wait(60), 0, "master's exit status")
    mlog = read_file(ctx.path("vg.%d.log" % d.pid)).decode("utf-8", "replace")
    m = re.search(r"ERROR SUMMARY: (\d+) errors", mlog)
    check(m and m.group(1) == "0", "valgrind errors in the master:\n%s" % mlog[-6000:])


def test_stopped_worker_harms_only_its_client(ctx):
    d, port, out = ctx.simple(workers=2, command_timeout=3)
    a = Client(port, timeout=1)
    a.cmd("EHLO a")
    a.cmd("MAIL FROM:<a@example.org>")
    w = None
    try:
        # Stop each worker in turn until a's session stops answering: the
        # other one is idle in accept.
        for k in d.wait_workers(2):
            os.kill(k, signal.SIGSTOP)
            wait_until(lambda: proc_state(k) == "T", what="worker %d stopped" % k)
            try:
                a.cmd("NOOP")
            except TestFailure:  # a's own timeout: no reply, k is its worker
                w = k
                break
            os.kill(k, signal.SIGCONT)
        check(w is not None, "a's session answered with every worker stopped")
        # The other worker serves a new client meanwhile.
        with Client(port) as b:
            eq(b.transaction("Subject: b\r\n\r\nwhile the other is stopped"), "250 OK",
               "message while a worker is stopped")
        check(a.closed(0.5) is False, "a's connection closed while its worker is stopped")
    finally:
        if w is not None:
            os.kill(w, signal.SIGCONT)
    # Continued, the worker answers the NOOP (or, past command_timeout,
    # closes the session); either way the daemon then stops cleanly.
    a.close()
    d.signal(signal.SIGTERM)
    eq(d.wait(30), 0, "master's exit status")
    check(not alive(w), "the stopped worker %d outlived its master" % w)


def test_hanging_handler_is_bounded_by_shutdown_timeout(ctx):
    text, port, out = ctx.listener(handler="crash", workers=2, extra="crash = { hang_sec = 120; };")
    d = ctx.daemon(ctx.config([text], top="shutdown_timeout = 2;"))
    h = Client(port, timeout=2)
    h.begin_data(helo="EHLO hang")
    h.send(b"HANG for two minutes\r\n.\r\n")
    try:
        r = h.reply()
        check(False, "a hanging handler's session got a reply: %r" % r)
    except TestFailure:  # the client's own timeout: no reply
        pass
    # The other worker keeps serving.
    for i in range(3):
        with Client(port) as c:
            eq(c.transaction("Subject: %d\r\n\r\nmeanwhile" % i), "250 OK",
               "message %d beside the hung worker" % i)
    workers = d.wait_workers(2)
    # The handler hangs for 120 s: a stop within 60 s, its stop-timeout
    # logged, is shutdown_timeout's doing (no bound tighter than that:
    # a loaded machine may be slow, never early).
    d.signal(signal.SIGTERM)
    d.wait_log(r"event=stop-timeout", timeout=60)
    eq(d.wait(60), 0, "master's exit status")
    check(not any(alive(k) for k in workers), "workers left running: %r" % workers)
    check(h.closed(2), "the hung session's connection is still open")
    h.close()
