"""LMTP listeners (RFC 2033) and UNIX-domain sockets, against the real daemon.

LHLO in place of HELO/EHLO, the extensions it offers, enhanced status
codes after it, one reply per recipient after the final dot (from the
plugin's msg->rcpt_replies, or the message's verdict for each), maildir
answering per recipient; listeners on unix:/path with their mode and
owner, a stale socket file replaced and a live one refused, the file
removed at stop and on a reload that drops it, and the client's
SO_PEERCRED credentials in the log and the plugin's view.
"""
import os
import re
import signal
import smtplib
import socket
import stat

import harness
from harness import Client, check, eq, wait_until

EX_UNAVAILABLE = 69
LHLO_EXTENSIONS = ["PIPELINING", "SIZE 33554432", "8BITMIME", "ENHANCEDSTATUSCODES", "HELP"]


class UnixClient(Client):
    """harness.Client over a UNIX-domain socket."""

    def __init__(self, path, timeout=harness.WAIT, greeting=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.greeting = self.reply() if greeting else None


def listener(ctx, path=None, **settings):
    """One listener's text: on unix:path when path is given, else TCP;
    returns (text, port or None)."""
    if path:
        settings.setdefault("name", "unix-" + os.path.basename(path).split(".")[0][:40])
    text, port, _ = ctx.listener(**settings)
    if path:
        text = text.replace('address = "127.0.0.1:%d";' % port, 'address = "unix:%s";' % path)
        port = None
    return text, port


def lmtp_session(c, rcpts, body, lhlo="LHLO client.example.org"):
    """LHLO (if given), MAIL, the RCPTs, DATA, the body and the dot, all in
    one write (PIPELINING); the replies to LHLO .. DATA, then the one per
    recipient."""
    cmds = ([lhlo] if lhlo else []) + ["MAIL FROM:<a@example.org>"] + \
        ["RCPT TO:<%s>" % r for r in rcpts] + ["DATA"]
    c.send("".join(x + "\r\n" for x in cmds).encode() + body + b"\r\n.\r\n")
    before = ["\n".join(c.reply()) for _ in cmds]
    after = ["\n".join(c.reply()) for _ in rcpts]
    return before, after


def test_lhlo_replaces_helo_and_ehlo(ctx):
    text, port = listener(ctx, protocol="lmtp")
    d = ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        eq(c.cmd("HELO client.example.org"), '500 Error: command "HELO" not recognized', "HELO")
        eq(c.cmd("EHLO client.example.org"), '500 Error: command "EHLO" not recognized', "EHLO")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "503 5.5.1 Error: send LHLO first", "MAIL first")
        eq(c.cmd("LHLO"), "501 Syntax: LHLO hostname", "LHLO without a name")
        r = c.cmd("LHLO client.example.org").split("\n")
        eq([x[4:] for x in r[1:]], LHLO_EXTENSIONS, "LHLO's extensions")
        eq(r[0][:4], "250-", "LHLO's first line")
        # From here on every reply carries an enhanced status code.
        eq(c.cmd("LHLO again"), "503 5.5.1 Error: duplicate LHLO", "second LHLO")
        eq(c.cmd("HELO x"), '500 5.5.2 Error: command "HELO" not recognized', "HELO after LHLO")
        eq(c.cmd("RCPT TO:<b@example.org>"), "503 5.5.1 Error: need MAIL command", "RCPT first")
        eq(c.cmd("MAIL FROM:<a@example.org> SIZE=99999999999"),
           "552 5.3.4 Error: message size exceeds fixed maximum message size", "SIZE")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 OK", "MAIL")
        eq(c.cmd("RCPT TO:<b@example.org> NOTIFY=NEVER"),
           "555 5.5.4 RCPT TO parameters not recognized or not implemented", "RCPT params")
        eq(c.cmd("NOOP"), "250 2.0.0 OK", "NOOP")
        eq(c.cmd("VRFY x@y"),
           "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery", "VRFY")
        eq(c.cmd("QUIT"), "221 2.0.0 Bye", "QUIT")
    d.wait_log(r"event=disconnect reason=quit")


def test_python_smtplib_lmtp_client(ctx):
    """smtplib.LMTP: LHLO, and a one-recipient message (smtplib reads one
    reply after the dot, which is all LMTP gives for one recipient)."""
    text, port = listener(ctx, protocol="lmtp", output=ctx.path("out.txt"))
    ctx.daemon(ctx.config([text]))
    c = smtplib.LMTP("127.0.0.1", port)
    try:
        code, msg = c.ehlo("client.example.org")  # smtplib.LMTP sends LHLO
        eq(code, 250, "LHLO")
        check(c.has_extn("pipelining") and c.has_extn("enhancedstatuscodes"),
              "extensions: %r" % c.esmtp_features)
        eq(c.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nbody\r\n"), {},
           "sendmail")
    finally:
        c.quit()
    wait_until(lambda: harness.read_file(ctx.path("out.txt")), what="the debug output")
    eq(harness.frames(harness.read_file(ctx.path("out.txt"))),
       [harness.debug_frame("Subject: x\n\nbody", mail_options=["SIZE=20"])], "the message")


def test_a_reply_per_recipient_in_rcpt_order(ctx):
    text, port = listener(ctx, protocol="lmtp", handler="lmtpverdict")
    d = ctx.daemon(ctx.config([text]))
    rcpts = ["one@x.org", "temp@x.org", "perm@x.org", "two@x.org", "bad@x.org"]
    with Client(port) as c:
        before, after = lmtp_session(c, rcpts, b"Subject: x\r\n\r\nhello")
        eq(before[1:], ["250 2.1.0 OK"] + ["250 2.1.5 OK"] * 5 + ["354 End data with <CR><LF>.<CR><LF>"],
           "replies before the dot")
        eq(after, ["250 2.0.0 Ok: delivered", "452 4.2.2 <temp@x.org>: mailbox full",
                   "550 5.1.1 <perm@x.org>: no such user", "250 2.0.0 Ok: delivered",
                   "451 4.3.0 Error: internal error in the message handler"],
           "one reply per recipient")
        d.wait_log(r"event=bad-answer msg=\"a recipient's reply that is not 2xx")
        # One verdict for the message: every recipient unset gets it.
        before, after = lmtp_session(c, ["a@x.org", "temp@x.org", "b@x.org"],
                                     b"REJECT this", lhlo=None)
        eq(after, ["554 5.7.1 message content rejected", "452 4.2.2 <temp@x.org>: mailbox full",
                   "554 5.7.1 message content rejected"], "message refused, one own reply")
        # The session goes on: a message to one recipient, one reply.
        before, after = lmtp_session(c, ["c@x.org"], b"x", lhlo=None)
        eq(after, ["250 2.0.0 Ok: delivered"], "one recipient")
        # DISCONNECT: each recipient gets the 421, then the close.
        before, after = lmtp_session(c, ["d@x.org", "e@x.org"], b"DISCONNECT", lhlo=None)
        eq([x[:10] for x in after], ["421 4.3.0 "] * 2, "disconnect replies")
        check(c.closed(), "the connection stays open after the disconnect")
    for rcpt, reply in (("temp@x.org", "452 4.2.2 <temp@x.org>: mailbox full"),
                        ("one@x.org", "250 2.0.0 Ok: delivered")):
        d.wait_log(r"event=rcpt-reply rcpt=%s reply=\"%s\"" % (re.escape(rcpt), re.escape(reply)))


def test_refusals_after_the_dot_go_to_every_recipient(ctx):
    """A message the core refuses (too big) gets the refusal once per
    recipient; the plugin never sees it."""
    text, port = listener(ctx, protocol="lmtp", handler="lmtpverdict", data_size_limit=100)
    ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        before, after = lmtp_session(c, ["a@x.org", "b@x.org"], b"x" * 500)
        eq(after, ["552 5.3.4 Error: Too much mail data"] * 2, "too big, per recipient")
        eq(c.cmd("NOOP"), "250 2.0.0 OK", "the session goes on")


def test_unix_socket_lmtp_peer_credentials_and_view(ctx):
    path = ctx.path("lmtp.sock")
    text, _ = listener(ctx, path, protocol="lmtp", handler="lmtpverdict", socket_mode="0600")
    d = ctx.daemon(ctx.config([text]))
    st = os.stat(path)
    check(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % path)
    eq(oct(stat.S_IMODE(st.st_mode)), oct(0o600), "socket_mode")
    with UnixClient(path) as c:
        check(c.greeting[0].startswith("220 "), "greeting %r" % c.greeting)
        before, after = lmtp_session(c, ["a@x.org", "temp@x.org"], b"Subject: u\r\n\r\nx")
        eq(after, ["250 2.0.0 Ok: delivered", "452 4.2.2 <temp@x.org>: mailbox full"],
           "replies over the UNIX socket")
    me = "uid=%d pid=%d" % (os.getuid(), os.getpid())
    d.wait_log(r"event=connect client=unix %s$" % me)
    for at in ("connect", "message"):
        d.wait_log(r"view at=%s peer_addr=unix peer_uid=%d peer_pid=%d lmtp=1 protocol=LMTP"
                   % (at, os.getuid(), os.getpid()))
    # A TCP listener's view: no credentials (-1), and no protocol of ours.
    text2, port = listener(ctx, handler="lmtpverdict")
    d2 = ctx.daemon(ctx.config([text2], name="tcp.conf"))
    with Client(port) as c:
        eq(c.transaction(b"x"), "250 2.0.0 Ok: delivered", "TCP")
    d2.wait_log(r"view at=message peer_addr=127\.0\.0\.1 peer_uid=-1 peer_pid=-1 lmtp=0")
    d.stop()
    check(not os.path.exists(path), "the socket file is left after the stop")


def test_smtp_on_a_unix_socket_into_maildir(ctx):
    path = ctx.path("smtp.sock")
    md = ctx.path("Maildir")
    text, _ = listener(ctx, path, handler="maildir", extra='maildir = { path = "%s"; };' % md)
    ctx.daemon(ctx.config([text]))
    eq(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(0o666), "default socket_mode")
    with UnixClient(path) as c:
        eq(c.transaction(b"Subject: s\r\n\r\nbody", helo="EHLO local.example.org"), "250 OK",
           "SMTP over a UNIX socket")
    files = os.listdir(md + "/new")
    eq(len(files), 1, "files in new/")
    data = harness.read_file(md + "/new/" + files[0])
    check(re.search(rb"Received: from local\.example\.org \(uid %d\)\n\tby \S+ \(smtpgate\) "
                    rb"via UNIX socket with ESMTP id \S+\n\tfor <b@example\.org>;" % os.getuid(),
                    data), "Received line: %r" % data[:400])


def test_maildir_answers_each_recipient(ctx):
    """LMTP into a Maildir per recipient: bob's Maildir is broken (its
    tmp is a file), so bob (and BOB, the same Maildir) get 451 and no
    copy; alice and carol get 250 and one copy each."""
    path, base = ctx.path("lmtp.sock"), ctx.path("mail")
    text, _ = listener(ctx, path, protocol="lmtp", handler="maildir",
                       extra='maildir = { path = "%s/%%u"; };' % base)
    d = ctx.daemon(ctx.config([text]))
    os.makedirs(base + "/bob")
    open(base + "/bob/tmp", "w").close()
    rcpts = ["alice@x.org", "bob@x.org", "carol@x.org", "BOB@x.org"]
    with UnixClient(path) as c:
        _, after = lmtp_session(c, rcpts, b"Subject: each\r\n\r\nx")
    eq(after, ["250 2.0.0 OK", "451 4.3.0 Error: local delivery failed", "250 2.0.0 OK",
               "451 4.3.0 Error: local delivery failed"], "replies")
    for u in ("alice", "carol"):
        files = os.listdir("%s/%s/new" % (base, u))
        eq(len(files), 1, "%s's copies" % u)
        data = harness.read_file("%s/%s/new/%s" % (base, u, files[0]))
        check(re.search(rb"\(smtpgate\) via UNIX socket with LMTP id \S+\n\tfor <%s@x\.org>;"
                        % u.encode(), data), "Received of %s: %r" % (u, data[:300]))
        eq(os.listdir("%s/%s/tmp" % (base, u)), [], "%s's tmp" % u)
    eq(sorted(os.listdir(base)), ["alice", "bob", "carol"], "Maildirs")
    d.wait_log(r"delivery failed: open %s/bob/tmp" % re.escape(base))
    # Over SMTP the same message stays all or nothing.
    text2, port = listener(ctx, handler="maildir", extra='maildir = { path = "%s/%%u"; };' % base)
    ctx.daemon(ctx.config([text2], name="smtp.conf"))
    try:
        smtplib.SMTP("127.0.0.1", port).sendmail("a@example.org", rcpts[:3], b"x\r\n")
        raise harness.TestFailure("SMTP accepted a message bob cannot get")
    except smtplib.SMTPDataError as e:
        eq(e.smtp_code, 451, "SMTP reply")
    for u in ("alice", "carol"):
        eq(len(os.listdir("%s/%s/new" % (base, u))), 1, "%s's copies after SMTP" % u)


def test_stale_socket_replaced_live_one_refused(ctx):
    path = ctx.path("lmtp.sock")
    # A socket file nobody listens on: a daemon that died.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()
    text, _ = listener(ctx, path, protocol="lmtp")
    conf = ctx.config([text])
    d = ctx.daemon(conf)
    d.wait_log(r"event=stale-socket action=replace path=%s" % re.escape(path))
    with UnixClient(path) as c:
        eq(c.cmd("LHLO x")[:4], "250-", "LHLO on the replaced socket")
    # A second daemon on the same path: refused, and the first one's file kept.
    rc, _, err = ctx.run([harness.SMTPGATE, "-n", "-f", conf])
    eq(rc, EX_UNAVAILABLE, "second daemon's exit status (stderr: %s)" % err)
    check(re.search(r'\\"unix:%s\\": another daemon is listening on this socket' % re.escape(path),
                    err), "the error does not name the path: %r" % err)
    with UnixClient(path) as c:
        eq(c.cmd("LHLO x")[:4], "250-", "the first daemon still serves")
    d.stop()
    check(not os.path.exists(path), "the socket file is left after the stop")
    # Not a socket: never removed.
    with open(path, "w") as f:
        f.write("precious")
    rc, _, err = ctx.run([harness.SMTPGATE, "-n", "-f", conf])
    check(rc != 0 and "exists and is not a socket" in err, "regular file: %d %r" % (rc, err))
    eq(harness.read_file(path), b"precious", "the file at the path")


def test_reload_keeps_or_removes_the_socket(ctx):
    path, path2 = ctx.path("a.sock"), ctx.path("b.sock")
    text, _ = listener(ctx, path, protocol="lmtp", socket_mode="0600")
    d = ctx.daemon(ctx.config([text]))
    held = UnixClient(path)  # a session across the reload
    eq(held.cmd("LHLO held")[:4], "250-", "LHLO before the reload")
    # Same address, another mode: the socket stays, with the new mode.
    text, _ = listener(ctx, path, protocol="lmtp", socket_mode="0660")
    ctx.config([text])
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded generation=1")
    eq(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(0o660), "mode after the reload")
    with UnixClient(path) as c:
        eq(c.cmd("LHLO x")[:4], "250-", "the kept socket serves")
    # Another path: the old file goes, the new one comes.
    text, _ = listener(ctx, path2, protocol="lmtp")
    ctx.config([text])
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded generation=2")
    check(not os.path.exists(path), "the dropped socket's file is left")
    check(stat.S_ISSOCK(os.stat(path2).st_mode), "the new socket file")
    _, after = lmtp_session(held, ["a@x.org"], b"x", lhlo=None)
    eq(after, ["250 2.0.0 OK"], "the session held across both reloads")
    held.close()


def test_unix_socket_config_errors(ctx):
    pd = 'plugin_dir = "%s";\n' % ctx.plugin_dir
    sock = ctx.path("x.sock")
    cases = [
        ("relative", listener(ctx, "x.sock")[0].replace("unix:" + ctx.path("x.sock"), "unix:x.sock"),
         r"address.*absolute path"),
        ("too-long", listener(ctx, "/" + "d" * 120)[0], r"address.*at most 107"),
        ("mode", listener(ctx, sock, socket_mode="0999")[0], r"socket_mode.*octal mode"),
        ("user", listener(ctx, sock, socket_user="no-such-user-x")[0], r"socket_user.*no such user"),
        ("group", listener(ctx, sock, socket_group="no-such-group-x")[0], r"socket_group.*no such"),
        ("tcp-mode", listener(ctx, socket_mode="0600")[0], r"socket_mode.*only for a UNIX socket"),
        ("proxy", listener(ctx, sock, proxy_protocol="v2", extra='proxy_trusted = ["127.0.0.1"];')[0],
         r"proxy_protocol.*not on a UNIX socket"),
        ("tls", listener(ctx, sock, extra='tls = { mode = "may"; cert = "/c"; key = "/k"; };')[0],
         r"tls.*must be \\\"off\\\" on a UNIX socket"),
        ("protocol", listener(ctx, protocol="esmtp")[0], r'protocol.*\\"smtp\\" or \\"lmtp\\"' ),
    ]
    for name, text, pattern in cases:
        conf = ctx.write(name + ".conf", pd + "listeners = (\n  %s\n);\n" % text)
        rc, _, err = ctx.run([harness.SMTPGATE, "-n", "-t", "-f", conf])
        eq(rc, harness.EX_CONFIG, "case %s: exit status (stderr %s)" % (name, err))
        check(re.search(r"file=%s line=3 .*%s" % (re.escape(conf), pattern), err),
              "case %s: %r does not match %r" % (name, err, pattern))
    check(not os.path.exists(sock), "-t made a socket")
