"""Production limits: error limits and the error delay, the
session time limit, commands without mail, talking before the greeting.

Timings are behaviour bounds, not performance: each lower bound is the
configured delay (less a little), each upper bound is generous.
"""
import select
import signal
import time

from harness import EX_CONFIG, SMTPGATE, Client, TestFailure, check, eq, read_file

FOO = '500 Error: command "FOO" not recognized'


def test_hard_error_limit(ctx):
    d, port, out = ctx.simple(soft_error_limit=2, hard_error_limit=4, error_sleep=0)
    with Client(port) as c:
        eq(c.cmd("HELO x")[:3], "250", "HELO")
        for i in range(3):
            eq(c.cmd("FOO"), FOO, "error %d" % (i + 1))
        eq(c.cmd("FOO"), FOO, "4th error (answered)")
        r = c.reply()
        check(len(r) == 1 and r[0].startswith("421 4.7.0 ") and
              r[0].endswith(" Error: too many errors"),
              "after the 4th error: expected 421 4.7.0, got %r" % r)
        check(c.closed(5), "connection not closed after the 421")
    d.wait_log(r"sid=\S+ listener=\S+ event=limit limit=hard_error_limit errors=4")
    d.wait_log(r"event=disconnect reason=limit")


def test_soft_error_limit_delays(ctx):
    d, port, out = ctx.simple(soft_error_limit=1, hard_error_limit=10, error_sleep=1)
    with Client(port) as c:
        eq(c.cmd("FOO"), FOO, "first error (not delayed)")
        t0 = time.monotonic()
        eq(c.cmd("FOO"), FOO, "second error")
        took = time.monotonic() - t0
        check(took >= 0.9, "second error answered after %.2fs, before error_sleep (1 s)" % took)
        eq(c.cmd("NOOP"), "250 OK", "a good command after the errors")
    d.wait_log(r"event=limit limit=soft_error_limit errors=1 delay=1")


def test_pipelined_errors_before_the_limit_are_not_held_back(ctx):
    # 6 bad commands at once, soft_error_limit 3, error_sleep 10: the first
    # three replies come at once; they used to wait behind the sleeps of
    # the later ones (all six came together at the end).  Shown by order,
    # not by a clock: the three are here while the fourth is still held.
    d, port, out = ctx.simple(soft_error_limit=3, hard_error_limit=20, error_sleep=10)
    with Client(port, timeout=30) as c:
        t0 = time.monotonic()
        c.send(b"FOO\r\n" * 6)
        first = [c.reply() for _ in range(3)]
        eq(first, [[FOO]] * 3, "the first three replies")
        eq(c.buf, b"", "bytes after the third reply, read with it")
        c.sock.setblocking(False)
        try:
            early = c.sock.recv(100)
        except BlockingIOError:
            early = None
        c.sock.settimeout(30)
        eq(early, None, "the fourth reply came with the first three: not delayed")
        eq(c.reply(), [FOO], "the fourth reply")
        check(time.monotonic() - t0 >= 9.9, "the fourth reply came before error_sleep (10 s)")


def test_session_time_limit_active_client(ctx):
    d, port, out = ctx.simple(max_session_time=2)
    c = Client(port)
    t0 = time.monotonic()
    eq(c.cmd("HELO x")[:3], "250", "HELO")
    while True:
        r = c.cmd("NOOP")
        if not r.startswith("250"):
            break
        check(time.monotonic() - t0 < 15, "NOOPs still answered after 15s")
        time.sleep(0.5)
    took = time.monotonic() - t0
    check(r.startswith("421 4.4.2 ") and r.endswith("Error: session time limit exceeded"),
          "expected 421 4.4.2 session time limit, got %r" % r)
    check(1.5 <= took <= 15, "session ended after %.1fs, expected about 2s" % took)
    check(c.closed(5), "connection not closed after the 421")
    c.close()
    d.wait_log(r"sid=\S+ listener=\S+ event=limit limit=max_session_time seconds=2")


def test_session_time_limit_in_data(ctx):
    d, port, out = ctx.simple(workers=1, max_session_time=2)
    c = Client(port)
    c.cmd("HELO x")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    eq(c.cmd("DATA")[:3], "354", "DATA")
    c.send(b"Subject: slow\r\n\r\n")
    t0 = time.monotonic()
    # A line every 0.5s until the server answers (it must before the end).
    while time.monotonic() - t0 < 15:
        c.send(b"a slow line\r\n")
        if select.select([c.sock], [], [], 0.5)[0]:
            break
    r = c.reply()
    check(r[0].startswith("421 4.4.2 ") and r[0].endswith("session time limit exceeded"),
          "slow DATA past the session time: expected 421 4.4.2, got %r" % r)
    check(c.closed(5), "connection not closed after the 421")
    c.close()
    d.wait_log(r"event=disconnect reason=limit")
    with Client(port) as c2:  # the same (only) worker serves the next client
        eq(c2.cmd("NOOP"), "250 OK", "next client")
    eq(read_file(out), b"", "nothing printed for the message past the limit")
    check("event=message" not in d.log(), "a message was logged as received")


def test_max_idle_commands(ctx):
    d, port, out = ctx.simple(max_idle_commands=3)
    with Client(port) as c:
        c.cmd("HELO x")
        eq(c.cmd("NOOP"), "250 OK", "NOOP 1")
        eq(c.cmd("RSET"), "250 OK", "RSET 2")
        eq(c.cmd("VRFY a@b")[:3], "252", "VRFY 3")
        eq(c.cmd("MAIL FROM:<a@b>"), "250 OK", "MAIL (resets the count)")
        eq(c.cmd("NOOP"), "250 OK", "NOOP 1 after MAIL")
        eq(c.cmd("FOO"), FOO, "unknown 2 after MAIL")
        eq(c.cmd("HELP")[:3], "250", "HELP 3 after MAIL")
        r = c.cmd("NOOP")
        check(r.startswith("421 4.7.0 ") and r.endswith("Error: too many commands without mail"),
              "4th command without mail: expected 421 4.7.0, got %r" % r)
        check(c.closed(5), "connection not closed after the 421")
    d.wait_log(r"sid=\S+ listener=\S+ event=limit limit=max_idle_commands commands=4")


def test_pregreet_reject(ctx):
    d, port, out = ctx.simple(greet_pause=300, pregreet="reject")
    c = Client(port, greeting=False)
    c.send(b"EHLO early.example.org\r\n")
    r = c.reply()
    check(len(r) == 1 and r[0].startswith("554 5.5.1 ") and
          r[0].endswith("Error: talking before the greeting"),
          "talking before the greeting: expected 554 5.5.1, got %r" % r)
    # An orderly close, not a reset: the early EHLO the server never read
    # is discarded before the close, so the 554 cannot be lost to a RST.
    c.sock.settimeout(5)
    try:
        eq(c.sock.recv(100), b"", "after the 554")
    except ConnectionResetError:
        raise TestFailure("connection reset after the 554 (unread input not drained)")
    c.close()
    d.wait_log(r"sid=\S+ listener=\S+ event=pregreet action=reject")
    with Client(port) as c2:  # a client that waits is served
        eq(c2.greeting[0][:4], "220 ", "greeting for a patient client")


def test_pregreet_log(ctx):
    d, port, out = ctx.simple(greet_pause=300, pregreet="log")
    c = Client(port, greeting=False)
    c.send(b"EHLO early.example.org\r\n")
    r = c.reply()
    check(r[0].startswith("220 "), "pregreet log: expected the greeting, got %r" % r)
    r = c.reply()
    check(r[0].startswith("250-"), "EHLO sent early is answered: got %r" % r)
    eq(c.cmd("QUIT"), "221 Bye", "QUIT")
    c.close()
    d.wait_log(r"sid=\S+ listener=\S+ event=pregreet action=log")


def test_greet_pause_normal_client(ctx):
    d, port, out = ctx.simple(greet_pause=300, pregreet="reject")
    t0 = time.monotonic()
    with Client(port) as c:
        took = time.monotonic() - t0
        eq(c.greeting[0][:4], "220 ", "greeting")
        check(took >= 0.25, "greeting after %.3fs, before the 300 ms pause" % took)
        eq(c.transaction("Subject: patient\r\n\r\nok"), "250 OK", "message")
    check("event=pregreet" not in d.log(), "a patient client was logged as pregreet")


def test_limit_settings_checked(ctx):
    for setting, pattern in (('pregreet = "drop";', "pregreet"),
                             ("hard_error_limit = 0;", "hard_error_limit"),
                             ("max_session_time = 0;", "max_session_time"),
                             ("error_sleep = -1;", "error_sleep")):
        text, port, out = ctx.listener(extra=setting)
        conf = ctx.config([text])
        rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", conf])
        eq(rc, EX_CONFIG, "%s: exit status (stderr: %s)" % (setting, se))
        check(pattern in se, "%s: error does not name the setting: %r" % (setting, se))


def test_sigterm_cuts_error_sleep(ctx):
    """A worker sleeping before an error reply (error_sleep) wakes for a
    stop: the reply and a 421 go out at once, not after the 20 s sleep."""
    d, port, out = ctx.simple(soft_error_limit=0, hard_error_limit=10, error_sleep=20)
    with Client(port, timeout=15) as c:
        c.send(b"FOO\r\n")
        d.wait_log(r"event=limit limit=soft_error_limit errors=0 delay=20")
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        eq(c.reply(), [FOO], "the delayed error reply")
        r = c.reply()
        check(r[0].startswith("421 4.3.2 "), "then: expected 421 4.3.2 shutting down, got %r" % r)
        eq(d.wait(15), 0, "master's exit status")
        took = time.monotonic() - t0
        check(took < 10, "stop took %.1fs during a 20 s error_sleep" % took)
