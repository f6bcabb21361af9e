"""Where smtpgate does better than smtpd.py: bytes that crashed it, lines
it read into memory without bound, pipelining, early talkers, long and
8-bit body lines, SMTP smuggling, and the bare_lf policies.
"""
import socket
import time

from harness import Client, check, debug_frame, eq, frames, read_file, wait_until


def test_invalid_utf8_and_nul_in_command(ctx):
    d, port, out = ctx.simple()
    with Client(port) as c:
        eq(c.cmd("EHLO x").split("\n")[0][:4], "250-", "EHLO")
        for bad in (b"NOOP \xff\xfe", b"MAIL FROM:<\xc3@x>", b"\xc3\x28", b"NO\x00OP",
                    b"HELO \x00x", b"VRFY <a\x00@b>", b"\xed\xa0\x80"):  # last: a UTF-16 surrogate
            r = c.cmd(bad)
            check(r.startswith("500 "), "%r: expected a 500, got %r" % (bad, r))
        eq(c.cmd("NOOP"), "250 OK", "NOOP after the bad bytes")
        eq(c.transaction("Subject: still\r\n\r\nhere", helo=None), "250 OK", "a message after them")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame("Subject: still\n\nhere"), "debug output")


def test_overlong_line_is_refused_and_skipped(ctx):
    d, port, out = ctx.simple()
    with Client(port) as c:
        c.cmd("HELO x")
        c.send(b"NOOP " + b"x" * 100000)
        time.sleep(0.2)  # the line arrives in pieces: no LF for a while
        c.send(b"\r\n")
        eq("\n".join(c.reply()), "500 Error: line too long", "reply to a 100 KB line")
        eq(c.cmd("NOOP"), "250 OK", "the next command")
        # A long line with the next command behind it in the same send().
        c.send(b"MAIL FROM:<" + b"a" * 70000 + b"@x>\r\nMAIL FROM:<a@b>\r\n")
        eq("\n".join(c.reply()), "500 Error: line too long", "reply to a 70 KB MAIL")
        eq("\n".join(c.reply()), "250 OK", "the MAIL behind it")
    # The worker still serves (it did not die of the long line).
    with Client(port) as c:
        eq(c.cmd("NOOP"), "250 OK", "a new session")
    check("signal=" not in d.log(), "a worker died:\n" + d.log())


def test_pipelined_commands_answered_in_order(ctx):
    d, port, out = ctx.simple()
    with Client(port) as c:
        c.send(b"EHLO x\r\nNOOP\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
               b"RCPT TO:<bad\r\nFOO\r\nDATA\r\nSubject: p\r\n\r\npipelined\r\n.\r\nNOOP x\r\n"
               b"QUIT\r\n")
        got = [c.reply() for _ in range(10)]
        codes = [r[-1][:3] for r in got]
        eq(codes, ["250", "250", "250", "250", "501", "500", "354", "250", "501", "221"],
           "reply codes in order")
        eq(got[5], ['500 Error: command "FOO" not recognized'], "reply to FOO")
        check(c.closed(5), "connection still open after QUIT")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame("Subject: p\n\npipelined"), "debug output")


def test_client_talking_before_greeting(ctx):
    # One worker, kept busy: the second client's commands are surely sent
    # before its greeting (it is still in the listen queue).
    d, port, out = ctx.simple(workers=1)
    first = Client(port)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"HELO early\r\nNOOP\r\n")
        time.sleep(0.2)
        eq(first.cmd("QUIT"), "221 Bye", "first client's QUIT")
        first.close()
        c = Client.__new__(Client)
        c.sock, c.buf = s, b""
        g = c.reply()
        check(len(g) == 1 and g[0].startswith("220 "), "greeting: %r" % g)
        check(c.reply()[0].startswith("250 "), "HELO sent before the greeting not answered")
        eq(c.reply(), ["250 OK"], "NOOP sent before the greeting")
        eq(c.cmd("QUIT"), "221 Bye", "QUIT")
    finally:
        s.close()
        first.close()


def test_long_and_8bit_body_lines_kept_exactly(ctx):
    d, port, out = ctx.simple()
    long_line = bytes(range(33, 127)) * (100000 // 94 + 1)
    eight = bytes(b for b in range(128, 256)) + b" \t\x01\x7f"
    body = (b"Subject: long\r\nX-8bit: " + eight + b"\r\n\r\n" + long_line + b"\r\n" + eight +
            b"\r\n..dot-stuffed " + eight + b"\r\n" + b"y" * 70000 + b"\r\nend")
    with Client(port) as c:
        eq(c.transaction(body, mail="MAIL FROM:<a@example.org> BODY=8BITMIME"), "250 OK", "reply")
    want = debug_frame(body.replace(b"\r\n..", b"\r\n.").replace(b"\r\n", b"\n"),
                       mail_options=["BODY=8BITMIME"])
    wait_until(lambda: len(read_file(out)) >= len(want), what="the message in the output")
    got = read_file(out)
    if got != want:
        i = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                 min(len(got), len(want)))
        check(False, "output differs at byte %d (len %d, want %d): got %r, want %r"
              % (i, len(got), len(want), got[i:i + 60], want[i:i + 60]))


SMUGGLE = (b"Subject: smuggle\r\n\r\nbefore\n.\r\nMAIL FROM:<evil@example.org>\r\n"
           b"RCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nbad\r.\r\n"
           b"NOOP\r\nafter")


def test_smtp_smuggling_is_not_a_terminator(ctx):
    d, port, out = ctx.simple()
    with Client(port) as c:
        eq(c.transaction(SMUGGLE), "250 OK", "reply after the real final dot")
        eq(c.cmd("NOOP"), "250 OK", "NOOP (no stray replies before it)")
    wait_until(lambda: read_file(out), what="the message in the output")
    got = read_file(out)
    eq(len(frames(got)), 1, "messages printed")
    eq(got, debug_frame(SMUGGLE.replace(b"\r\n", b"\n")), "the one message, with the fake ends in it")


def test_bare_lf_reject(ctx):
    d, port, out = ctx.simple(bare_lf="reject")
    with Client(port) as c:
        r = c.transaction(b"Subject: lf\r\n\r\nbare\nlf\r\nmore")
        check(r.startswith("550 "), "a bare LF: expected 550 after the final dot, got %r" % r)
        eq(c.cmd("NOOP"), "250 OK", "NOOP after the 550")
        eq(c.transaction(b"Subject: ok\r\n\r\nfine", helo=None), "250 OK", "a clean message")
    wait_until(lambda: read_file(out), what="the clean message in the output")
    eq(read_file(out), debug_frame("Subject: ok\n\nfine"), "debug output (only the clean message)")


def test_bare_lf_normalize_and_keep(ctx):
    body = b"Subject: n\r\n\r\none\n..two\r\nthree\n.\r\nfour"
    results = {}
    for policy in ("normalize", "keep"):
        d, port, out = ctx.simple(bare_lf=policy)
        with Client(port) as c:
            eq(c.transaction(body), "250 OK", "%s: reply" % policy)
        wait_until(lambda: read_file(out), what="the message in the output")
        results[policy] = read_file(out)
    # normalize: a bare LF ends a line, so "..two" is de-stuffed; keep: as
    # smtpd.py, "one\n..two" is one line and keeps both dots.  In both, the
    # "." after a bare LF does not end the message (with normalize it is
    # read as a line of its own and de-stuffed to an empty line).
    eq(results["normalize"], debug_frame("Subject: n\n\none\n.two\nthree\n\nfour"), "normalize")
    eq(results["keep"], debug_frame("Subject: n\n\none\n..two\nthree\n.\nfour"), "keep")
