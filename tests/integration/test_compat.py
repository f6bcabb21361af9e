"""Compatibility with smtpd.py: the same raw dialogs against a real
smtpd.SMTPServer (Python 3.11) and smtpgate with the same settings must
get the same replies, but for the host names (greeting, first EHLO line,
HELO's 250).  Only dialogs on which smtpd.py neither crashes nor hangs.
"""
import re
import sys

from harness import Client, Proc, TestFailure, check, eq, free_port, wait_until

PY_SERVER = r"""
import asyncore, smtpd, sys
class Server(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        return None
port, size, utf8, decode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
Server(("127.0.0.1", port), None, data_size_limit=size, enable_SMTPUTF8=utf8, decode_data=decode)
print("ready", flush=True)
asyncore.loop(timeout=0.2)
"""

ADDR512 = "VRFY <%s@example.org>" % ("a" * (512 - len("VRFY <@example.org>")))
ADDR513 = "VRFY <%s@example.org>" % ("a" * (513 - len("VRFY <@example.org>")))


def mail_line(total, params=""):
    """A MAIL command of exactly `total` bytes (without CR LF).  The address
    stays under 512 bytes (smtpgate's cap on an address); the rest is made
    of parameters: a SIZE with leading zeros, BODY, and `params`."""
    if total > 480:
        params = ("BODY=8BITMIME SIZE=%s1 %s" % ("0" * 100, params)).strip()
    fixed = len("MAIL FROM:<@example.org>") + (len(params) + 1 if params else 0)
    line = "MAIL FROM:<%s@example.org>" % ("m" * (total - fixed))
    if params:
        line += " " + params
    assert len(line) == total, (len(line), total)
    return line


MSG = "Subject: compat\r\n\r\nline one\r\n..dot line\r\n..\r\n\r\nlast\r\n."

# (name, [command lines]); each line is sent alone and its whole reply read.
COMMON = [
    ("helo", ["HELO there", "QUIT"]),
    ("helo-lowercase", ["helo there"]),
    ("helo-no-arg", ["HELO", "HELO  ", "EHLO", "EHLO "]),
    ("helo-duplicate", ["HELO a", "HELO b", "EHLO c"]),
    ("ehlo-duplicate", ["EHLO a", "EHLO b", "HELO c"]),
    ("ehlo", ["EHLO there"]),
    ("noop", ["NOOP", "NOOP x", "noop", "NOOP "]),
    ("help", ["HELP", "HELP MAIL", "HELP rcpt", "HELP EHLO", "HELP HELO", "HELP DATA",
              "HELP RSET", "HELP NOOP", "HELP QUIT", "HELP VRFY", "HELP EXPN", "HELP foo",
              "EHLO x", "HELP MAIL", "HELP RCPT"]),
    ("vrfy", ["VRFY", "VRFY <a@example.org>", "VRFY a@example.org", "VRFY postmaster",
              "VRFY <>"]),
    ("expn", ["EXPN", "EXPN list"]),
    # An empty quoted string is no address to smtpd.py (its parser makes
    # nothing of it); in angle brackets it is one.
    ("empty-quoted", ["HELO x", 'VRFY ""', 'VRFY <"">', 'MAIL FROM:""', 'MAIL FROM:<"">',
                      'RCPT TO:""', "RCPT TO:<c@d>", "RSET", 'MAIL FROM:""', "MAIL FROM:<>"]),
    ("before-helo", ["MAIL FROM:<a@b>", "RCPT TO:<a@b>", "DATA", "RSET", "NOOP"]),
    ("mail-syntax-helo", ["HELO x", "MAIL", "MAIL FROM:", "MAIL TO:<a@b>",
                          "MAIL FROM:<a@b> SIZE=10", "MAIL FROM:<a@b>", "MAIL FROM:<c@d>"]),
    ("mail-forms", ["HELO x", "MAIL from:<a@b>", "RSET", "MAIL FROM: <a@b>", "RSET",
                    "MAIL FROM:a@b", "RSET", "mail from:<A@B>", "RSET", "MAIL FROM:<@x,@y:a@b>"]),
    ("mail-params-ehlo", ["EHLO x",
                          "MAIL FROM:<a@b> BODY=9BIT",
                          "MAIL FROM:<a@b> BODY=",
                          "MAIL FROM:<a@b> SIZE=abc",
                          "MAIL FROM:<a@b> SIZE=",
                          "MAIL FROM:<a@b> SIZE=99999999999999",
                          "MAIL FROM:<a@b> FOO=bar",
                          "MAIL FROM:<a@b> FOO",
                          "MAIL FROM:<a@b> =x",
                          "MAIL FROM:<a@b> A-B=1",
                          "MAIL FROM:<a@b> SMTPUTF8",
                          "MAIL FROM:<a@b> BODY=8BITMIME SIZE=100",
                          "RSET",
                          "MAIL FROM:<a@b> body=7bit",
                          "RSET",
                          "MAIL FROM:<a@b> SIZE=0",
                          "RSET",
                          "MAIL FROM:<a@b> BODY=7BIT FOO=1"]),
    ("nested-mail", ["EHLO x", "MAIL FROM:<a@b>", "MAIL FROM:<c@d>", "MAIL FROM:<c@d> FOO=1",
                     "RSET", "MAIL FROM:<c@d>"]),
    ("rcpt", ["EHLO x", "RCPT TO:<a@b>", "MAIL FROM:<a@b>", "RCPT", "RCPT TO:", "RCPT FROM:<a@b>",
              "RCPT TO:<a@b> FOO=1", "RCPT TO:<a@b> =x", "RCPT TO:<a@b> NOTIFY=NEVER",
              "RCPT TO:<c@d>", "rcpt to: <e@f>", "RCPT TO:postmaster"]),
    ("rcpt-helo-params", ["HELO x", "MAIL FROM:<a@b>", "RCPT TO:<a@b> FOO=1", "RCPT TO:<a@b>"]),
    ("rset", ["EHLO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "RSET x", "RSET", "RCPT TO:<c@d>",
              "DATA"]),
    ("data-errors", ["HELO x", "DATA", "MAIL FROM:<a@b>", "DATA", "RCPT TO:<c@d>", "DATA x"]),
    ("unknown", ["FOO", "foo bar", "HELO x", "XYZZY 1 2", "MAILFROM:<a@b>", "QUITX",
                 "X" * 40, "y" * 200 + " z"]),
    ("many-params", ["EHLO x", "MAIL FROM:<a@b>" + " SIZE=1" * 17, "RSET",
                     "MAIL FROM:<a@b> SIZE=" + "0" * 122 + "1", "RSET",
                     "MAIL FROM:<a@b>" + " X=1" * 17, "MAIL FROM:<a@b> X=" + "v" * 200,
                     "MAIL FROM:<a@b>", "RCPT TO:<c@d>" + " X=1" * 17]),
    ("empty-line", ["", "HELO x", "", " ", "NOOP"]),
    ("line-512-513", [ADDR512, ADDR513, "NOOP", "HELO x", ADDR512, ADDR513, "NOOP"]),
    ("mail-limit-helo", ["HELO x", "MAIL FROM:<%s@example.org>" % ("m" * 488), "RSET",
                         "MAIL FROM:<%s@example.org>" % ("m" * 489), "NOOP"]),
    ("transaction", ["EHLO x", "MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=100",
                     "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>", "DATA", MSG,
                     "MAIL FROM:<d@example.org>", "RCPT TO:<e@example.org>", "DATA",
                     "Subject: 2\r\n\r\n.", "QUIT"]),
    ("transaction-helo", ["HELO x", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>",
                          "DATA", "body\r\n.", "RSET", "QUIT"]),
]

# With SIZE advertised (the default limit): MAIL may grow by 26 after EHLO.
SIZE_ROWS = [
    ("mail-limit-ehlo-size", ["EHLO x", mail_line(538), "RSET", mail_line(539), "NOOP",
                              ADDR512, ADDR513]),
]
# data_size_limit = 0: no SIZE, no growth.
NOSIZE_ROWS = [
    ("ehlo-nosize", ["EHLO x", mail_line(512), "RSET", mail_line(513),
                     "MAIL FROM:<a@b> SIZE=99999999999999", "RSET", "MAIL FROM:<a@b> SIZE=x"]),
]
SMALL_ROWS = [
    ("size-limit-100", ["EHLO x", "MAIL FROM:<a@b> SIZE=101", "MAIL FROM:<a@b> SIZE=100",
                        "RCPT TO:<c@d>", "DATA", "y" * 50 + "\r\n.", "MAIL FROM:<a@b>", "RCPT TO:<c@d>",
                        "DATA", "x" * 150 + "\r\n."]),
    # (after its 552, smtpd.py stays in DATA state: nothing may follow)
]
# enable_SMTPUTF8: SIZE +26 and SMTPUTF8 +10.
UTF8_ROWS = [
    ("smtputf8-ehlo", ["EHLO x", "MAIL FROM:<a@b> SMTPUTF8", "RSET",
                       "MAIL FROM:<a@b> SMTPUTF8=yes", "MAIL FROM:<a@b> smtputf8 body=8bitmime",
                       "RCPT TO:<c@d>", "DATA", "Subject: x\r\n\r\nbody\r\n."]),
    ("smtputf8-helo", ["HELO x", "MAIL FROM:<a@b> SMTPUTF8", "MAIL FROM:<a@b>"]),
    ("smtputf8-limit", ["EHLO x", mail_line(548, "SMTPUTF8"), "RSET",
                        mail_line(549, "SMTPUTF8"), "NOOP"]),
    ("smtputf8-address", ["EHLO x", "MAIL FROM:<\u00fc@x> SMTPUTF8", "RCPT TO:<\u00e9@y>",
                          "DATA", "Subject: \u00fc\r\n\r\n\u00fc\r\n.", "QUIT"]),
]
# decode_data: no 8BITMIME, BODY is not a known parameter.
DECODE_ROWS = [
    ("decode-ehlo", ["EHLO x", "MAIL FROM:<a@b> BODY=8BITMIME", "MAIL FROM:<a@b> BODY=7BIT",
                     "MAIL FROM:<a@b> SMTPUTF8", "MAIL FROM:<a@b> SIZE=10", "RCPT TO:<c@d>",
                     "DATA", "Subject: x\r\n\r\n..dot\r\n.", "QUIT"]),
]


def start_python(ctx, size, utf8, decode):
    port = free_port()
    script = ctx.write("smtpd_server.py", PY_SERVER)
    p = Proc(ctx, [sys.executable, "-W", "ignore", script, str(port), str(size),
                   "1" if utf8 else "0", "1" if decode else "0"], "smtpd.py")
    wait_until(lambda: b"ready" in p.stdout() or not p.running(), what="smtpd.py to start")
    check(p.running(), "smtpd.py died: " + p.log())
    return port


def normalise(cmd, reply):
    verb = cmd.split(" ", 1)[0].upper()
    if verb in ("HELO", "EHLO") and reply.startswith("250"):
        lines = reply.split("\n")
        lines[0] = lines[0][:4] + "HOST"
        return "\n".join(lines)
    return reply


def dialog(port, lines, server, row):
    """The replies to lines, one by one; "<closed>" when the server hangs up."""
    out = []
    with Client(port, timeout=5) as c:
        for line in lines:
            try:
                out.append(normalise(line, c.cmd(line)))
            except EOFError:
                out.append("<closed>")
                break
            except TestFailure as e:
                raise TestFailure("%s, row %s, command %r: %s" % (server, row, line[:60], e))
        else:
            if out and out[-1].startswith("221"):
                out.append("<closed>" if c.closed(5) else "<open after 221>")
    return out


def compare(ctx, rows, size=33554432, utf8=False, decode=False):
    py_port = start_python(ctx, size, utf8, decode)
    text, port, _ = ctx.listener(data_size_limit=size, smtputf8=utf8, decode_data=decode)
    ctx.daemon(ctx.config([text]))
    diffs = []
    for name, lines in rows:
        want = dialog(py_port, lines, "smtpd.py", name)
        got = dialog(port, lines, "smtpgate", name)
        check("<closed>" not in want or lines[-1:] == ["QUIT"],
              "row %s: smtpd.py dropped the connection (not a valid row): %r" % (name, want))
        if want != got:
            for i, (w, g) in enumerate(zip(want, got)):
                if w != g:
                    diffs.append("row %s, command %r:\n      smtpd.py: %r\n      smtpgate: %r"
                                 % (name, lines[i][:80], w, g))
                    break
            else:
                diffs.append("row %s: smtpd.py %r\n      smtpgate %r" % (name, want, got))
    check(not diffs, "%d of %d rows differ:\n    " % (len(diffs), len(rows)) + "\n    ".join(diffs))


def test_same_replies_default(ctx):
    compare(ctx, COMMON + SIZE_ROWS)


def test_same_replies_no_size_limit(ctx):
    compare(ctx, NOSIZE_ROWS + [r for r in COMMON if r[0] in ("ehlo", "transaction")], size=0)


def test_same_replies_small_limit(ctx):
    compare(ctx, SMALL_ROWS, size=100)


def test_same_replies_smtputf8(ctx):
    compare(ctx, UTF8_ROWS + [r for r in COMMON if r[0] in ("ehlo", "mail-params-ehlo",
                                                            "transaction", "line-512-513")],
            utf8=True)


def test_same_replies_decode_data(ctx):
    compare(ctx, DECODE_ROWS + [r for r in COMMON if r[0] in ("ehlo", "mail-params-ehlo",
                                                              "transaction")],
            decode=True)


# Raw dialogs: (name, [bytes sent, then one whole reply read]).  A command
# line ends only at CR LF (bare_lf "keep", smtpd.py's terminator): a bare
# LF is part of the line, so a session sent with bare LFs is one long line
# until a CR LF comes.
RAW_ROWS = [
    ("bare-lf-in-a-line", [b"NOOP\nNOOP\r\n", b"NOOP\r\n"]),
    ("bare-lf-session-then-crlf", [b"HELO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n" + b"\r\n",
                                   b"MAIL FROM:<a@b>\r\n"]),
    ("bare-lf-session-too-long", [b"HELO x\n" + b"NOOP\n" * 200 + b"\r\n", b"NOOP\r\n",
                                  b"QUIT\r\n"]),
    ("bare-lf-empty-line", [b"\n\r\n", b"\nHELO x\r\n"]),
]


def raw_reply(sock, buf):
    """One whole reply as a list of lines (they end at CR LF; smtpd.py may
    echo a bare LF inside one), and the bytes read past it."""
    lines = []
    while True:
        end = buf.find(b"\r\n")
        if end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                return lines + [b"<closed>"], b""
            buf += chunk
            continue
        line, buf = buf[:end], buf[end + 2:]
        lines.append(line)
        if not re.match(rb"\d{3}-", line):
            return lines, buf


def raw_dialog(port, steps):
    """The replies to steps as text, every byte outside printable ASCII
    shown as '?' (smtpgate echoes a verb so; README, differences) and the
    host name of a 250 to HELO/EHLO replaced."""
    out = []
    with Client(port, timeout=10) as c:
        buf = c.buf
        for step in steps:
            c.send(step)
            reply, buf = raw_reply(c.sock, buf)
            text = "\n".join(re.sub(rb"[^\x20-\x7e]", b"?", line).decode("ascii")
                             for line in reply)
            if re.match(rb"(HELO|EHLO) ", step) and text.startswith("250"):
                text = "250 HOST"
            out.append(text)
    return out


def test_same_replies_bare_lf_keep(ctx):
    py_port = start_python(ctx, 33554432, False, False)
    text, port, _ = ctx.listener()  # bare_lf "keep", the default
    ctx.daemon(ctx.config([text]))
    for name, steps in RAW_ROWS:
        eq(raw_dialog(port, steps), raw_dialog(py_port, steps), "row %s: smtpgate (vs smtpd.py)"
           % name)


def test_bare_lf_session_keep_is_answered(ctx):
    # smtpd.py waits forever for the CR LF of a session sent with bare LFs;
    # smtpgate's command timeout bounds the line, so the client is answered.
    text, port, _ = ctx.listener(command_timeout=2)
    ctx.daemon(ctx.config([text]))
    with Client(port, timeout=20) as c:
        c.send(b"HELO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nhello\n.\nQUIT\n")
        r = c.reply()
        check(len(r) == 1 and r[0].startswith("421 4.4.2 ") and "timeout exceeded" in r[0],
              "a bare-LF session: expected one 421 timeout, got %r" % r)
        check(c.closed(5), "connection not closed after the 421")


def test_bare_lf_normalize_and_reject(ctx):
    norm, nport, nout = ctx.listener(bare_lf="normalize")
    rej, rport, _ = ctx.listener(bare_lf="reject")
    ctx.daemon(ctx.config([norm, rej]))
    # normalize: a bare LF ends a command line, as in Postfix.
    with Client(nport) as c:
        c.send(b"NOOP\nNOOP\r\n")
        eq([c.reply(), c.reply()], [["250 OK"], ["250 OK"]], "normalize: NOOP LF NOOP CR LF")
        c.send(b"HELO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n")
        eq([c.reply()[0][:3] for _ in range(4)], ["250", "250", "250", "354"],
           "normalize: a session of bare-LF lines")
        c.send(b"Subject: n\r\n\r\nbody\r\n.\r\n")
        eq(c.reply(), ["250 OK"], "normalize: the message")
    # reject: a line ended by a bare LF gets 500 5.5.2 and none of it runs.
    with Client(rport) as c:
        c.send(b"NOOP\nNOOP\r\n")
        eq([c.reply(), c.reply()], [["500 5.5.2 Error: bare <LF> received"], ["250 OK"]],
           "reject: NOOP LF NOOP CR LF")
        c.send(b"HELO x\nMAIL FROM:<a@b>\r\n")
        eq([c.reply(), c.reply()], [["500 5.5.2 Error: bare <LF> received"],
                                    ["503 Error: send HELO first"]],
           "reject: HELO ended by a bare LF is not run")
        eq(c.cmd("HELO x")[:3], "250", "reject: HELO ended by CR LF")
