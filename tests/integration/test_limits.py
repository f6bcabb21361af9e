"""data_size_limit, SMTPUTF8, decode_data and the timeouts."""
import time

from harness import Client, check, debug_frame, eq, read_file, wait_until


def ehlo_lines(c):
    r = c.cmd("EHLO client.example.org").split("\n")
    check(r[0].startswith("250-"), "EHLO: %r" % r)
    return [line[4:] for line in r[1:]]


def test_data_size_limit(ctx):
    d, port, out = ctx.simple(data_size_limit=1000)
    with Client(port) as c:
        eq(ehlo_lines(c), ["SIZE 1000", "8BITMIME", "HELP"], "EHLO extensions")
        eq(c.cmd("MAIL FROM:<a@b> SIZE=1001"),
           "552 Error: message size exceeds fixed maximum message size", "MAIL SIZE=1001")
        # 1001 bytes of data (the CR LF before the final dot not counted).
        big = "Subject: big\r\n\r\n" + "x" * 900 + "\r\n" + "y" * (1001 - 900 - 2 - 16)
        eq(len(big), 1001, "(test) message size")
        eq(c.transaction(big, helo=None), "552 Error: Too much mail data", "1001 bytes")
        eq(c.cmd("NOOP"), "250 OK", "NOOP after the 552 (the session goes on)")
        exact = big[:-1]
        eq(c.transaction(exact, mail="MAIL FROM:<a@b> SIZE=1000", helo=None), "250 OK", "1000 bytes")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame(exact.replace("\r\n", "\n"), mail_options=["SIZE=1000"]),
       "output: only the 1000-byte message")


def test_no_size_limit(ctx):
    d, port, out = ctx.simple(data_size_limit=0)
    with Client(port) as c:
        eq(ehlo_lines(c), ["8BITMIME", "HELP"], "EHLO extensions without a limit")
        body = "Subject: huge\r\n\r\n" + ("x" * 998 + "\r\n") * 40000  # 40 MB > the default limit
        eq(c.transaction(body, mail="MAIL FROM:<a@b> SIZE=99999999999", helo=None), "250 OK",
           "a 40 MB message")
    want = debug_frame(body[:-2].replace("\r\n", "\n"), mail_options=["SIZE=99999999999"])
    wait_until(lambda: len(read_file(out)) >= len(want), what="the 40 MB message in the output")
    check(read_file(out) == want, "the 40 MB message differs in the output")


def test_smtputf8(ctx):
    d, port, out = ctx.simple(smtputf8=True)
    with Client(port) as c:
        eq(ehlo_lines(c), ["SIZE 33554432", "8BITMIME", "SMTPUTF8", "HELP"], "EHLO extensions")
        body = "Subject: \u00fcber\r\nFrom: \u00fc@x\r\n\r\nGr\u00fc\u00dfe \u2603"
        eq(c.transaction(body, mail="MAIL FROM:<\u00fc@x> SMTPUTF8",
                         rcpt="RCPT TO:<\u00e9@\u00e9xample.org>", helo=None), "250 OK", "message")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame(body.replace("\r\n", "\n"), mail_options=["SMTPUTF8"]),
       "debug output")


def test_decode_data(ctx):
    d, port, out = ctx.simple(decode_data=True)
    with Client(port) as c:
        eq(ehlo_lines(c), ["SIZE 33554432", "HELP"], "EHLO extensions (no 8BITMIME)")
        eq(c.cmd("MAIL FROM:<a@b> BODY=8BITMIME"),
           "555 MAIL FROM parameters not recognized or not implemented", "BODY=8BITMIME")
        r = c.transaction(b"Subject: bad\r\n\r\nnot utf-8: \xff\xfe\xc3(", helo=None)
        check(r[:1] == "5", "invalid UTF-8 body: expected a 5xx, got %r" % r)
        eq(c.cmd("NOOP"), "250 OK", "NOOP after the refusal")
        good = "Subject: good\r\n\r\nvalid UTF-8: \u00e9t\u00e9"
        eq(c.transaction(good, mail="MAIL FROM:<a@b> SIZE=100", helo=None), "250 OK", "valid body")
    wait_until(lambda: read_file(out), what="the message in the output")
    # decode_data: the plugin gets no mail options (smtpd.py passes no kwargs).
    eq(read_file(out), debug_frame(good.replace("\r\n", "\n")), "debug output (only the valid one)")


def test_command_timeout(ctx):
    d, port, out = ctx.simple(workers=1, command_timeout=1)
    c = Client(port)
    # From before HELO: the server's second starts after its reply, which
    # a loaded machine may hand to this process late.
    t0 = time.monotonic()
    c.cmd("HELO x")
    r = c.reply()
    took = time.monotonic() - t0
    check(r[0].startswith("421 "), "an idle client: expected a 421, got %r" % r)
    # Only the lower bound: a loaded machine may hand the 421 over late,
    # never early.  That it came at all (not the client's timeout) shows
    # the server's timer.
    check(took >= 0.9, "421 after %.1fs, before command_timeout (1 s)" % took)
    check(c.closed(3), "connection not closed after the 421")
    c.close()
    with Client(port) as c2:  # the same (only) worker serves the next client
        eq(c2.transaction("Subject: next\r\n\r\nok"), "250 OK", "next client's message")
    d.wait_log(r"event=disconnect reason=timeout")


def test_data_timeout(ctx):
    text, port, out = ctx.listener(workers=1, data_timeout=1)
    ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        c.cmd("HELO x")
        c.cmd("MAIL FROM:<a@b>")
        c.cmd("RCPT TO:<c@d>")
        eq(c.cmd("DATA")[:3], "354", "DATA")
        # Before the send: the server's wait for the unfinished line starts
        # after these bytes arrive, whenever this process runs again.
        t0 = time.monotonic()
        c.send(b"Subject: slow\r\n\r\nhalf a mess")
        r = c.reply()
        took = time.monotonic() - t0
        check(r[0].startswith("421 "), "a stalled DATA: expected a 421, got %r" % r)
        check(took >= 0.9, "421 after %.1fs, before data_timeout (1 s)" % took)
        check(c.closed(3), "connection not closed after the 421")
    with Client(port) as c:
        eq(c.transaction("Subject: next\r\n\r\nok"), "250 OK", "next client's message")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame("Subject: next\n\nok"), "output: not the stalled message")


def trickle_until_reply(c, byte, seconds):
    """Send byte every 0.3 s, never a line end, until the server answers
    (then its reply) or `seconds` pass (then None)."""
    c.sock.settimeout(0.3)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = c.sock.recv(4096)
            return data.decode("ascii", "replace") if data else "(closed)"
        except TimeoutError:
            pass
        try:
            c.send(byte)
        except OSError:
            return "(closed)"
    return None


def test_a_line_trickled_without_end_times_out(ctx):
    # The timeout bounds a whole command line or DATA line, however its
    # bytes trickle in: a byte every 0.3 s without a LF used to restart the
    # wait each time, and held the worker past every limit.
    text, port, out = ctx.listener(workers=1, command_timeout=2, data_timeout=2)
    ctx.daemon(ctx.config([text]))
    for what in ("a command", "a DATA line"):
        # Before the connection: the server's wait starts after its last
        # reply, which this process may read well after it was sent.
        t0 = time.monotonic()
        with Client(port) as c:
            if what == "a DATA line":
                c.begin_data(helo="HELO x")
            r = trickle_until_reply(c, b"x", 15)
            took = time.monotonic() - t0
            # The 421 while the client still trickles (15 s) shows the
            # bound; it never comes before the timeout's 2 s.
            check(r and r.startswith("421 4.4.2 "), "%s trickled: %r after %.1fs" % (what, r, took))
            check(took >= 1.9, "%s: the 421 came after %.1fs (timeout 2 s)" % (what, took))
    with Client(port) as c:
        eq(c.transaction("Subject: next\r\n\r\nok"), "250 OK", "next client's message")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame("Subject: next\n\nok"), "output: nothing of the trickled one")


def test_error_sleep_ends_with_the_session(ctx):
    # An error delay never outlives max_session_time: with error_sleep 60
    # and 3 s of session left, the reply comes when the session ends, then
    # its 421 (the client would wait a minute otherwise).
    d, port, out = ctx.simple(workers=1, max_session_time=3, error_sleep=60, soft_error_limit=0)
    with Client(port, timeout=30) as c:
        c.send(b"FOO\r\nNOOP\r\n")
        eq(c.reply(), ['500 Error: command "FOO" not recognized'], "the delayed error reply")
        r = c.reply()
        check(r[0].startswith("421 4.4.2 ") and "session time limit exceeded" in r[0],
              "after the delay: expected the 421 of max_session_time, got %r" % r)
        check(c.closed(5), "connection not closed after the 421")
    d.wait_log(r"event=disconnect reason=limit")


def test_too_many_recipients(ctx):
    d, port, out = ctx.simple(max_recipients=3)
    with Client(port) as c:
        c.cmd("HELO x")
        c.cmd("MAIL FROM:<a@b>")
        for i in range(3):
            eq(c.cmd("RCPT TO:<r%d@example.org>" % i), "250 OK", "recipient %d" % i)
        r = c.cmd("RCPT TO:<r3@example.org>")
        check(r.startswith("452 "), "a 4th recipient: expected 452, got %r" % r)
        eq(c.cmd("DATA")[:3], "354", "DATA with the 3 accepted recipients")
        c.send(b"Subject: three\r\n\r\nok\r\n.\r\n")
        eq(c.reply(), ["250 OK"], "message")


def test_disconnect_mid_data_delivers_nothing(ctx):
    d, port, out = ctx.simple(workers=1)
    c = Client(port)
    c.begin_data("MAIL FROM:<a@b>", "RCPT TO:<c@d>", "HELO x")
    c.send(b"Subject: cut\r\n\r\nthe client goes away\r\n")
    c.close()
    d.wait_log(r"event=disconnect reason=eof")
    with Client(port) as c2:
        eq(c2.transaction("Subject: whole\r\n\r\nok"), "250 OK", "next message")
    wait_until(lambda: read_file(out), what="the next message in the output")
    eq(read_file(out), debug_frame("Subject: whole\n\nok"), "output: only the whole message")


def test_worker_replaced_after_max_sessions(ctx):
    d, port, out = ctx.simple(workers=1, max_sessions_per_worker=2)
    pids = set()
    for i in range(5):
        with Client(port) as c:
            eq(c.cmd("NOOP"), "250 OK", "session %d" % i)
            pids.update(d.workers())
    check(len(pids) >= 3, "5 sessions, 2 per worker: expected at least 3 workers, saw %r" % pids)
