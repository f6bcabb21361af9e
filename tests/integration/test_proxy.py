"""plugins/proxy: PureProxy's relaying, with the upstream's own answers.

Upstreams are real: Postfix's smtp-sink (told to refuse, to drop the
connection, to be slow) and a second smtpgate (debug, to see the relayed
bytes; the hooks test plugin, to refuse some recipients).  The client never
gets a 2xx the upstream did not give.
"""
import re
import smtplib
import socket
import threading
import time

import harness
from harness import (Client, check, debug_frame, eq, frames, free_port, read_file, smtp_sink,
                     wait_until)

def proxy_listener(ctx, remote_port, group="", remote_host="127.0.0.1", **settings):
    text, port, _ = ctx.listener(handler="proxy", remote="%s:%d" % (remote_host, remote_port),
                                 extra="proxy = { %s };" % group if group else "", **settings)
    return text, port


def proxy_to_sink(ctx, *sink_opts, group="", **settings):
    up = smtp_sink(ctx, *sink_opts)
    text, port = proxy_listener(ctx, up, group=group, **settings)
    d = ctx.daemon(ctx.config([text]))
    return d, port


def proxy_to_smtpgate(ctx, up_handler="debug", group="", up_settings=None, **settings):
    """A daemon with a proxy listener relaying to a second listener of the
    same daemon; returns (daemon, proxy port, upstream output file)."""
    up_text, up_port, up_out = ctx.listener(handler=up_handler, **(up_settings or {}))
    text, port = proxy_listener(ctx, up_port, group=group, **settings)
    d = ctx.daemon(ctx.config([text, up_text]))
    return d, port, up_out


def rcpt_dialog(port, rcpts, mail="MAIL FROM:<a@example.org>"):
    c = Client(port)
    eq(c.code("EHLO client.example.org"), 250, "EHLO")
    r = c.cmd(mail)
    check(r.startswith("250"), "MAIL: %r" % r)
    return c, [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]


def test_one_and_several_recipients_to_smtp_sink(ctx):
    d, port = proxy_to_sink(ctx)
    c, replies = rcpt_dialog(port, ["one@example.org"])
    eq(replies, ["250 2.1.5 Ok"], "RCPT answered with smtp-sink's own reply")
    eq(c.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>", "DATA")
    c.send(b"Subject: one\r\n\r\nhello\r\n.\r\n")
    eq("\n".join(c.reply()), "250 2.0.0 Ok", "final reply is smtp-sink's")
    c.close()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        refused = s.sendmail("a@example.org", ["x@example.org", "y@example.org", "z@example.net"],
                             b"Subject: three\r\n\r\nbody\r\n")
        eq(refused, {}, "refused recipients")
    d.wait_log(r'event=message plugin=proxy from=a@example.org nrcpt=3 .*result=accepted code=250 '
               r'enhanced=2\.0\.0 reply="250 2\.0\.0 Ok"')


def test_refused_recipient_and_accepted_ones(ctx):
    d, port, _ = proxy_to_smtpgate(ctx, up_handler="hooks")
    c, replies = rcpt_dialog(port, ["ok1@example.org", "unknown@example.org", "busy@example.org",
                                    "ok2@example.org"])
    eq(replies, ["250 OK",
                 "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown",
                 "450 4.2.1 <busy@example.org>: mailbox busy",
                 "250 OK"], "each RCPT gets the upstream's answer for it")
    r = c.transaction("Subject: x\r\n\r\nbody", helo=None, mail="NOOP", rcpt="NOOP")
    eq(r, "250 2.0.0 Ok: queued by hooks", "final reply")
    d.wait_log(r"event=message .*nrcpt=2 .*reply=\"250 2\.0\.0 Ok: queued by hooks\"")
    # The content refusal of the upstream reaches the client as it is.
    r = c.transaction("REJECT me\r\n\r\nbody", helo=None, rcpt="RCPT TO:<ok@example.org>")
    eq(r, "554 5.7.1 message content rejected", "upstream's 554 to the message")


def test_upstream_down_is_451(ctx):
    dead = free_port()
    text, port = proxy_listener(ctx, dead)
    d = ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        r = c.cmd("MAIL FROM:<a@example.org>")
        check(r.startswith("451 4.4.2 ") and "refused" in r.lower(),
              "MAIL with the upstream down: %r" % r)
        eq(c.cmd("RCPT TO:<b@example.org>"), "503 Error: need MAIL command", "no transaction")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        try:
            s.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nbody\r\n")
            raise harness.TestFailure("sendmail succeeded with the upstream down")
        except smtplib.SMTPSenderRefused as e:
            eq(e.smtp_code, 451, "smtplib sees 451")


def test_upstream_452_and_554_to_data(ctx):
    for opts, want in ((("-b", "452 4.3.1 Insufficient system storage", "-r", "."),
                        "452 4.3.1 Insufficient system storage"),
                       (("-B", "554 5.7.1 Go away", "-f", "."), "554 5.7.1 Go away")):
        d, port = proxy_to_sink(ctx, *opts)
        with Client(port) as c:
            eq(c.transaction("Subject: x\r\n\r\nbody"), want, "final reply with smtp-sink %s" %
               " ".join(opts))


def test_upstream_refusing_mail_or_data_command(ctx):
    d, port = proxy_to_sink(ctx, "-B", "553 5.7.1 Sender not wanted", "-f", "mail")
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "553 5.7.1 Sender not wanted", "upstream's MAIL refusal")
    # A refusal of the DATA command itself: the proxy sent DATA when the
    # client did, and the client gets the answer after its final dot.
    d, port = proxy_to_sink(ctx, "-b", "452 4.3.1 Insufficient system storage", "-r", "data")
    with Client(port) as c:
        eq(c.transaction("Subject: x\r\n\r\nbody"), "452 4.3.1 Insufficient system storage",
           "upstream's 452 to DATA")
        eq(c.transaction("Subject: y\r\n\r\nbody", helo=None),
           "452 4.3.1 Insufficient system storage", "again on a fresh upstream connection")


def test_upstream_closes_mid_transaction_is_451(ctx):
    for cmd in ("data", "."):
        d, port = proxy_to_sink(ctx, "-q", cmd)
        with Client(port) as c:
            r = c.transaction("Subject: x\r\n\r\nbody")
            check(r.startswith("451 4.4.2 "), "upstream dropping at %r: %r" % (cmd, r))
            # The session goes on; the next transaction tries a new connection.
            r = c.transaction("Subject: y\r\n\r\nbody", helo=None)
            check(r.startswith("451 4.4.2 "), "second transaction: %r" % r)


def test_upstream_slower_than_timeout_is_451(ctx):
    d, port = proxy_to_sink(ctx, "-w", "6", group="timeout = 1;")
    with Client(port, timeout=15) as c:
        started = time.monotonic()
        r = c.transaction("Subject: x\r\n\r\nbody")
        check(r.startswith("451 4.4.2 ") and "timeout" in r, "slow upstream: %r" % r)
        check(time.monotonic() - started < 5, "the proxy's 1 s timeout bounded the wait")


def test_ehlo_refused_falls_back_to_helo(ctx):
    d, port = proxy_to_sink(ctx, "-f", "ehlo")
    with Client(port) as c:
        eq(c.transaction("Subject: x\r\n\r\nbody"), "250 2.0.0 Ok", "relayed after HELO")


def test_8bitmime_needs_the_upstream_to_offer_it(ctx):
    d, port = proxy_to_sink(ctx, "-8")
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        r = c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME")
        eq(r, "554 5.6.3 Error: the upstream does not accept 8-bit data (no 8BITMIME)",
           "BODY=8BITMIME to an upstream without 8BITMIME")
        eq(c.transaction("Subject: x\r\n\r\nseven bit", helo=None), "250 2.0.0 Ok", "7-bit mail")


def test_smtputf8_needs_the_upstream_to_offer_it(ctx):
    d, port, _ = proxy_to_smtpgate(ctx, smtputf8=True)
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        eq(c.cmd("MAIL FROM:<\u00fc@example.org> SMTPUTF8"),
           "554 5.6.7 Error: the upstream does not support SMTPUTF8", "refused, not mangled")
    d, port, up_out = proxy_to_smtpgate(ctx, smtputf8=True, up_settings={"smtputf8": True})
    with Client(port) as c:
        r = c.transaction("Subject: caf\u00e9\r\n\r\nna\u00efve",
                          mail="MAIL FROM:<\u00fc@example.org> SMTPUTF8",
                          rcpt="RCPT TO:<j\u00f6rg@example.org>")
        eq(r, "250 OK", "relayed to an upstream with SMTPUTF8")
    want = debug_frame("Subject: caf\u00e9\nX-Peer: 127.0.0.1\n\nna\u00efve",
                       mail_options=["SMTPUTF8"])
    wait_until(lambda: read_file(up_out) == want, what="the upstream's copy:\n%r" % want)


def test_upstream_size_refusal_reaches_the_client(ctx):
    d, port, _ = proxy_to_smtpgate(ctx, up_settings={"data_size_limit": 1000})
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        eq(c.cmd("MAIL FROM:<a@example.org> SIZE=5000"),
           "552 Error: message size exceeds fixed maximum message size", "upstream's 552")
        # Without SIZE the upstream finds out at the final dot.
        r = c.transaction("Subject: big\r\n\r\n" + "x" * 2000, helo=None)
        eq(r, "552 Error: Too much mail data", "upstream's 552 after the dot")


def _big_message():
    """About 20 MiB: dot-leading lines, a 1 MiB line, 8-bit bytes, CR LF ends."""
    parts = [b"From: a@example.org\r\nSubject: big\r\n\r\n"]
    parts.append(b".leading dot\r\n..two dots\r\n.\r\n")  # the last one: a lone dot line
    parts.append(b"8-bit: " + bytes(range(0x80, 0x100)) + b"\r\n")
    parts.append(b"L" * (1024 * 1024) + b"\r\n")
    line = b"0123456789abcdef" * 4 + b" \xc3\xa9t\xc3\xa9\r\n"
    parts.append(line * ((19 * 1024 * 1024) // len(line)))
    parts.append(b".end\r\n")
    return b"".join(parts)


def test_twenty_mib_byte_exact_with_one_added_header(ctx):
    d, port, up_out = proxy_to_smtpgate(ctx, data_size_limit=0,
                                        up_settings={"data_size_limit": 0})
    msg = _big_message()
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        # smtplib dot-stuffs; the proxy must unstuff, then stuff again.
        eq(s.sendmail("a@example.org", ["b@example.org"], msg, mail_options=["BODY=8BITMIME"]),
           {}, "refused")
    data = msg[:-2].replace(b"\r\n", b"\n")
    head, body = data.split(b"\n\n", 1)
    relayed = head + b"\nX-Peer: 127.0.0.1\n\n" + body
    want = debug_frame(relayed, mail_options=["BODY=8BITMIME"])
    wait_until(lambda: len(read_file(up_out)) >= len(want), timeout=30,
               what="the 20 MiB message at the upstream")
    got = read_file(up_out)
    eq(len(got), len(want), "length of the upstream's copy")
    check(got == want, "the upstream's copy differs from the client's bytes + X-Peer")


def test_smuggled_end_of_data_does_not_reach_the_upstream(ctx):
    d, port, up_out = proxy_to_smtpgate(ctx)
    attack = (b"Subject: hello\r\n\r\nfirst line\n.\r\nMAIL FROM:<evil@example.net>\r\n"
              b"RCPT TO:<victim@example.org>\r\nDATA\r\nsmuggled\r\n")
    with Client(port) as c:
        eq(c.transaction(attack), "250 OK", "one message")
        eq(c.code("QUIT"), 221, "QUIT")
    data = (b"Subject: hello\nX-Peer: 127.0.0.1\n\nfirst line\n.\nMAIL FROM:<evil@example.net>\n"
            b"RCPT TO:<victim@example.org>\nDATA\nsmuggled")
    want = debug_frame(data)
    wait_until(lambda: read_file(up_out) == want,
               what="exactly one message at the upstream, the smuggled part as its text")
    time.sleep(0.3)
    eq(len(frames(read_file(up_out))), 1, "messages at the upstream")


def test_relay_networks(ctx):
    for nets, allowed in (('"10.0.0.0/8"', False), ('"10.0.0.0/8", "127.0.0.0/8"', True),
                          ('"127.0.0.1"', True)):
        d, port, _ = proxy_to_smtpgate(ctx, group="relay_networks = [ %s ];" % nets)
        c, replies = rcpt_dialog(port, ["b@example.org"])
        if allowed:
            eq(replies, ["250 OK"], "client in %s" % nets)
        else:
            eq(replies, ["554 5.7.1 <b@example.org>: Relay access denied"],
               "client outside %s" % nets)
        c.close()


def test_relay_domains(ctx):
    group = ('relay_networks = [ "10.0.0.0/8" ]; '
             'relay_domains = [ "example.org", ".sub.example.net" ];')
    d, port, _ = proxy_to_smtpgate(ctx, group=group)
    c, replies = rcpt_dialog(port, ["b@example.org", "c@EXAMPLE.ORG", "d@x.sub.example.net",
                                    "e@sub.example.net", "f@other.net", "g@notexample.org"])
    eq(replies, ["250 OK", "250 OK", "250 OK", "250 OK",
                 "550 5.7.1 <f@other.net>: Relay access denied",
                 "550 5.7.1 <g@notexample.org>: Relay access denied"], "relay domains")
    c.close()


ROUTED = ["u%evil.com@example.org", '"u@evil.com"@example.org', "evil.com!u@example.org",
          '"evil.com!u"@example.org', "u%evil.com@Sub.Example.Net"]


def test_sender_specified_routing(ctx):
    # Postfix's reject_unauth_destination with allow_untrusted_routing = no:
    # a client outside relay_networks may not route through a relay domain
    # with %, ! or @ in the local part; one inside may, and so may anyone
    # with allow_untrusted_routing = true.
    domains = 'relay_domains = [ "example.org", ".sub.example.net" ];'
    for nets, extra, routed_ok in (('"10.0.0.0/8"', "", False),
                                   ('"127.0.0.0/8"', "", True),
                                   ('"10.0.0.0/8"', "allow_untrusted_routing = true;", True)):
        group = "relay_networks = [ %s ]; %s %s" % (nets, domains, extra)
        d, port, up_out = proxy_to_smtpgate(ctx, group=group)
        c, replies = rcpt_dialog(port, ROUTED + ["b@example.org", "x@sub.example.net"])
        want = ["250 OK" if routed_ok else "550 5.7.1 <%s>: Relay access denied" % r
                for r in ROUTED] + ["250 OK", "250 OK"]
        eq(replies, want, "RCPTs with %s %s" % (nets, extra))
        eq(c.cmd("DATA")[:3], "354", "DATA")
        c.send(b"Subject: r\r\n\r\nx\r\n.\r\n")
        eq(c.reply(), ["250 OK"], "the message")
        c.close()
        # The proxy's and the upstream's message lines: the same recipients.
        wait_until(lambda: d.log().count(" event=message ") == 2, what="the message upstream")
        nrcpt = re.findall(r" event=message .* nrcpt=(\d+) ", d.log())
        n = len(ROUTED) + 2 if routed_ok else 2
        eq(nrcpt, [str(n), str(n)], "recipients at the proxy and at the upstream")
        if not routed_ok:
            d.wait_log(r"relay refused: client=127\.0\.0\.1 rcpt=<u%evil\.com@example\.org> "
                       r"reason=sender-routing")


def test_relay_networks_ipv6_client(ctx):
    for nets, want in (('"::1/128"', "250 OK"),
                       ('"127.0.0.0/8", "fe80::/10"',
                        "554 5.7.1 <b@example.org>: Relay access denied")):
        up_text, up_port, _ = ctx.listener()
        text, port = proxy_listener(ctx, up_port, host="::1",
                                    group="relay_networks = [ %s ];" % nets)
        d = ctx.daemon(ctx.config([text, up_text]))
        with Client(port, host="::1") as c:
            eq(c.code("EHLO client.example.org"), 250, "EHLO")
            eq(c.code("MAIL FROM:<a@example.org>"), 250, "MAIL")
            eq(c.cmd("RCPT TO:<b@example.org>"), want, "IPv6 client with %s" % nets)


def test_open_relay_warning_off_loopback(ctx):
    up_text, up_port, _ = ctx.listener()
    text, port = proxy_listener(ctx, up_port, host="0.0.0.0")
    d = ctx.daemon(ctx.config([text, up_text]))
    check("relays for everyone" in d.log(), "a warning for an open relay:\n" + d.log())
    text, port = proxy_listener(ctx, up_port)
    d2 = ctx.daemon(ctx.config([text], name="loopback.conf"))
    check("relays for everyone" not in d2.log(), "no warning on loopback")


def test_upstream_connection_reused(ctx):
    d, port, up_out = proxy_to_smtpgate(ctx, workers=1)
    for session in range(2):
        with Client(port) as c:
            eq(c.transaction("Subject: %d\r\n\r\nbody" % session), "250 OK", "first message")
            eq(c.transaction("Subject: b\r\n\r\nbody", helo=None), "250 OK", "second message")
            eq(c.code("RSET"), 250, "RSET")
    wait_until(lambda: len(frames(read_file(up_out))) == 4, what="4 messages upstream")
    connects = [l for l in d.log().splitlines() if "event=connect" in l]
    # One client connection per session to the proxy, one kept upstream.
    eq(len(connects), 3, "connections seen (2 clients + 1 upstream):\n" + "\n".join(connects))


def test_bad_proxy_settings_are_refused(ctx):
    for group, setting in (('relay_networks = [ "10.0.0.0/33" ];', "relay_networks"),
                           ('relay_domains = [ "a@b" ];', "relay_domains"),
                           ('timeout = 0;', "timeout"),
                           ('relay_networks = "10.0.0.0/8";', "relay_networks")):
        text, port = proxy_listener(ctx, 25, group=group)
        conf = ctx.config([text], name="bad.conf")
        rc, out, err = ctx.run([harness.SMTPGATE, "-n", "-t", "-f", conf])
        eq(rc, harness.EX_CONFIG, "exit status for %s" % group)
        check(re.search(r"file=\S*bad\.conf line=[1-9]\d* ", err) and
              "setting=proxy.%s " % setting in err,
              "the error names the file, line and setting: %r" % err)


def scripted_upstream(session):
    """A one-connection upstream on a free port: session(conn) runs in a
    thread on the first connection; returns (port, thread)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(15)

    def serve():
        try:
            conn, _ = srv.accept()
            session(conn)
        except OSError:
            pass
        finally:
            srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], t


def test_upstream_answering_garbage_is_451(ctx):
    """An upstream that is not an SMTP server (here: an HTTP-ish banner)."""
    def session(conn):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        time.sleep(1)
        conn.close()
    up, t = scripted_upstream(session)
    text, port = proxy_listener(ctx, up)
    d = ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        r = c.cmd("MAIL FROM:<a@example.org>")
        check(r.startswith("451 4.4.2 ") and "not an SMTP reply" in r, "garbage upstream: %r" % r)
    t.join(5)


def scripted_smtp(special):
    """scripted_upstream() of an ESMTP server that answers 250 to all but
    the verbs in special: special[verb](conn, f) answers those, and the
    session ends when it returns True."""
    def session(conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 scripted ESMTP\r\n")
        for line in f:
            verb = line[:4].upper()
            if verb in special:
                if special[verb](conn, f):
                    return
            elif verb == b"EHLO":
                conn.sendall(b"250-scripted\r\n250 PIPELINING\r\n")
            else:
                conn.sendall(b"250 ok\r\n")
    return scripted_upstream(session)


def upstream_until_data(at_data):
    """scripted_smtp() that answers DATA 354 and leaves the rest of the
    session to at_data(conn, f)."""
    def data(conn, f):
        conn.sendall(b"354 go on\r\n")
        at_data(conn, f)
        return True
    return scripted_smtp({b"DATA": data})


def test_client_gone_mid_message_closes_upstream_without_quit(ctx):
    """A client that hangs up inside DATA: the upstream's transaction is
    aborted by closing the connection, with nothing more sent into the
    message (a QUIT there would be message text)."""
    after_354 = []

    def at_data(conn, f):
        conn.settimeout(10)
        got = b""
        try:  # until the proxy closes (a reset: it left the 354 unread)
            while True:
                chunk = f.read1(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        after_354.append(got)
    up, t = upstream_until_data(at_data)
    text, port = proxy_listener(ctx, up)
    ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        c.begin_data()
        c.send("Subject: never finished\r\n\r\nhalf a message\r\n")
    t.join(15)
    check(not t.is_alive(), "the upstream connection was not closed")
    eq(after_354, [b""], "what the upstream received after its 354")


def upstream_recording_message(got):
    """upstream_until_data() that appends to got the bytes it receives after
    its 354, up to the end of data (or the connection's end), answers 250
    to a whole message, and ends the session."""
    def at_data(conn, f):
        conn.settimeout(10)
        data = b""
        try:
            while not data.endswith(b"\r\n.\r\n"):
                chunk = f.read1(65536)
                if not chunk:
                    break
                data += chunk
            if data.endswith(b"\r\n.\r\n"):
                conn.sendall(b"250 2.0.0 queued\r\n")
        except (ConnectionResetError, socket.timeout):
            pass
        got.append(data)
    return upstream_until_data(at_data)


# Bare CRs where an upstream that ends lines at a CR would see a "." line
# and a new command, next to a CR LF after a bare CR.
BARE_CR_BODY = b"Subject: cr\r\n\r\na\r.\rMAIL FROM:<e@x>\rb\r\r\nc\rd"


def test_no_bare_cr_reaches_the_upstream(ctx):
    # Whatever bare_lf says, the upstream gets CR LF line ends only and one
    # message; "keep" keeps the CR as a line end (the "." line stuffed),
    # "normalize" reads it as one (the "." a stuffing dot), "reject"
    # refuses the message with a bare LF's reply and relays nothing of it.
    peer = b"Subject: cr\r\nX-Peer: 127.0.0.1\r\n\r\n"
    wants = {"keep": ("250 2.0.0 queued",
                      peer + b"a\r\n..\r\nMAIL FROM:<e@x>\r\nb\r\nc\r\nd\r\n.\r\n"),
             "normalize": ("250 2.0.0 queued",
                           peer + b"a\r\n\r\nMAIL FROM:<e@x>\r\nb\r\n\r\nc\r\nd\r\n.\r\n"),
             "reject": ("550 5.5.2 Error: bare <LF> received", b"")}
    for mode, (reply, wire) in wants.items():
        got = []
        up, t = upstream_recording_message(got)
        text, port = proxy_listener(ctx, up, bare_lf=mode)
        d = ctx.daemon(ctx.config([text], name="%s.conf" % mode))
        with Client(port) as c:
            eq(c.transaction(BARE_CR_BODY), reply, "the client's reply (%s)" % mode)
        t.join(15)
        check(not t.is_alive(), "the upstream's session did not end (%s)" % mode)
        eq(got, [wire], "what the upstream received after its 354 (%s)" % mode)
        check(not re.search(rb"\r(?!\n)|(?<!\r)\n", got[0]), "a bare CR or LF upstream")
        d.stop()


def test_nul_byte_is_not_relayed(ctx):
    # RFC 5321 text has no NUL, and this client does not speak BDAT with
    # BINARYMIME: the message is refused, the upstream's DATA is aborted.
    got = []
    up, t = upstream_recording_message(got)
    text, port = proxy_listener(ctx, up)
    ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        eq(c.transaction(b"Subject: nul\r\n\r\na\x00b"),
           "554 5.6.0 Error: the message has a NUL byte, which is not relayed", "reply")
    t.join(15)
    check(not t.is_alive(), "the upstream connection was not closed")
    eq(got, [b""], "what the upstream received after its 354")


def test_upstream_refusing_mid_message_and_closing(ctx):
    """An upstream that answers 552 in the middle of a large message and
    hangs up: our send fails, and the client gets that 552, not a 451."""
    def at_data(conn, f):
        f.read(65536)  # some of the message, then the refusal
        conn.sendall(b"552 5.3.4 Message too big for the upstream\r\n")
        conn.close()
    up, _ = upstream_until_data(at_data)
    text, port = proxy_listener(ctx, up)
    ctx.daemon(ctx.config([text]))
    with Client(port, timeout=30) as c:
        r = c.transaction("Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 8000)
    eq(r, "552 5.3.4 Message too big for the upstream", "the client's reply")


def test_upstream_text_cannot_forge_log_lines(ctx):
    """An upstream's odd reply is logged inside the plugin's quoted msg
    field with its control bytes (a CR, a terminal escape) escaped: one log
    line, no forged one after it, the reply text intact and readable."""
    def rcpt(conn, f):
        conn.sendall(b"354 odd\x1b[2J\r2026-01-01T00:00:00.000 master[1] error: forged\r\n")
    up, _ = scripted_smtp({b"RCPT": rcpt})
    text, port = proxy_listener(ctx, up)
    d = ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "250 OK", "MAIL")
        r = c.cmd("RCPT TO:<b@example.org>")
        check(r.startswith("451 4.4.2 ") and "unexpected reply 354" in r, "RCPT: %r" % r)
    d.wait_log(r"unexpected reply 354")
    log = read_file(d.err_path)
    check(b"\x1b" not in log and b"\r" not in log,
          "control bytes in the log: %r" % [x for x in log.split(b"\n") if b"354" in x])
    check(not re.search(rb"^2026-01-01T00:00:00\.000 master\[1\]", log, re.M),
          "a forged line in the log")
    check(re.search(rb'plugin=proxy msg="[^\n]*unexpected reply 354 odd\\x1b\[2J\\r'
                    rb'2026-01-01T00:00:00\.000 master\[1\] error: forged"\n', log),
          "the reply escaped in one msg field: %r" % [x for x in log.split(b"\n") if b"354" in x])
