"""Per-session and per-transaction state of ABI 1.1 (tests/plugins/state.c):
*session_data and *tx_data start NULL, on_tx_end runs exactly once per
transaction with the pointer the plugin set, however the transaction
ended (final reply, RSET, a refused MAIL, the core's size refusal,
disconnect); messages_accepted counts the session's 2xx'd messages; the
protocol word is SMTP, ESMTP, ESMTPS with STARTTLS.  The message line
says result=accepted|refused|tempfailed|size-limited with the code and
enhanced code sent, and plugin= is the descriptor's name."""
import re
import smtplib
import ssl

from harness import Client, check, eq
from test_tls import make_cert


def hook_lines(d, hook):
    return re.findall(r'msg="hook=%s([^"]*)"' % hook, d.log())


def state_daemon(ctx, **settings):
    text, port, _ = ctx.listener(handler="state", workers=1, **settings)
    return ctx.daemon(ctx.config([text])), port


def test_tx_end_once_per_transaction_however_it_ends(ctx):
    d, port = state_daemon(ctx, data_size_limit=1000)
    with Client(port) as c:
        eq(c.transaction("Subject: 1\r\n\r\nfirst")[:3], "250", "accepted")       # tx 1
        eq(c.transaction("TEMPFAIL\r\n", helo=None)[:3], "451", "tempfailed")     # tx 2
        eq(c.transaction("REJECT\r\n", helo=None)[:3], "554", "refused")          # tx 3
        c.begin_data(helo=None)                                                     # tx 4
        c.send(b"x" * 2000 + b"\r\n.\r\n")
        eq(c.reply()[0][:3], "552", "size-limited")
        eq(c.cmd("MAIL FROM:<a@example.org>")[:3], "250", "MAIL")                 # tx 5
        eq(c.cmd("RCPT TO:<b@example.org>")[:3], "250", "RCPT")
        eq(c.cmd("RSET")[:3], "250", "RSET")
        eq(c.cmd("MAIL FROM:<refuse@example.org>")[:3], "550", "MAIL refused")    # tx 6
        eq(c.transaction("Subject: 7\r\n\r\nseventh", helo=None)[:3], "250", "7")  # tx 7
        eq(c.cmd("MAIL FROM:<a@example.org>")[:3], "250", "MAIL")                 # tx 8
        eq(c.cmd("RCPT TO:<b@example.org>")[:3], "250", "RCPT")
        eq(c.cmd("RCPT TO:<c@example.org>")[:3], "250", "RCPT")
    # tx 8 ends with the client's disconnect
    d.wait_log(r'msg="hook=on_disconnect')
    ends = hook_lines(d, "on_tx_end")
    eq(ends, [" tx=%d rcpts=%d same_pointer=yes" % (n, r)
              for n, r in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 0), (7, 1), (8, 2)]],
       "on_tx_end calls")
    eq(hook_lines(d, "on_mail"), [" tx_data=null protocol=ESMTP"] * 8, "tx_data at each MAIL")
    eq(hook_lines(d, "on_connect"), [" session_data=null"], "session_data at connect")
    eq(hook_lines(d, "on_message"), [" messages_accepted=%d protocol=ESMTP" % n
                                     for n in (0, 1, 1, 1)], "messages_accepted seen")
    eq(hook_lines(d, "on_disconnect"), [" transactions=8 messages_accepted=2"], "disconnect")
    results = re.findall(r"event=message plugin=state .* result=(\S+) code=(\d+) "
                         r"enhanced=(\S+) reply=(\"[^\"]*\"|\S+)", d.log())
    eq(results, [("accepted", "250", "2.0.0", '"250 2.0.0 Ok: kept by state"'),
                 ("tempfailed", "451", "4.3.0", '"451 4.3.0 try again"'),
                 ("refused", "554", "5.7.1", '"554 5.7.1 content refused"'),
                 ("size-limited", "552", "-", '"552 Error: Too much mail data"'),
                 ("accepted", "250", "2.0.0", '"250 2.0.0 Ok: kept by state"')],
       "the message lines' results")


def test_state_is_per_session(ctx):
    d, port = state_daemon(ctx)
    for i in range(2):
        with Client(port) as c:
            eq(c.cmd("HELO client.example.org")[:3], "250", "HELO")
            eq(c.transaction("Subject: x\r\n\r\nx", helo=None)[:3], "250", "message")
            eq(c.cmd("QUIT")[:3], "221", "QUIT")
    d.wait_log(r'msg="hook=on_disconnect', count=2)
    eq(hook_lines(d, "on_connect"), [" session_data=null"] * 2, "fresh session_data")
    eq(hook_lines(d, "on_disconnect"), [" transactions=1 messages_accepted=1"] * 2,
       "counts are the session's own")
    eq(hook_lines(d, "on_mail"), [" tx_data=null protocol=SMTP"] * 2, "HELO is SMTP")


def test_protocol_esmtps_after_starttls(ctx):
    cert, key = make_cert(ctx)
    text, port, _ = ctx.listener(handler="state", workers=1, extra='tls = { mode = "may"; '
                                 'cert = "%s"; key = "%s"; };' % (cert, key))
    d = ctx.daemon(ctx.config([text]))
    context = ssl.create_default_context(cafile=cert)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.example")
        eq(s.starttls(context=context)[0], 220, "STARTTLS")
        s.ehlo("client.example")
        eq(s.sendmail("a@example.org", ["b@example.org"], b"Subject: t\r\n\r\nx\r\n"), {}, "sent")
    d.wait_log(r'msg="hook=on_disconnect')
    eq(hook_lines(d, "on_mail"), [" tx_data=null protocol=ESMTPS"], "protocol over TLS")
