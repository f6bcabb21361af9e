"""ESMTP beyond smtpd.py's set (issue 18 items 1-5, issue 16 item 5), with
real peers: what EHLO offers per listener, HELP, enhanced status codes,
BDAT dialogues at the edges, the unauthorised-pipelining check, swaks
pipelining, DSN through the proxy, and a private Postfix delivering into
smtpgate with CHUNKING (its log shows BDAT) and with pipelining.
"""
import os
import re
import smtplib

from harness import (SMTPGATE, Client, check, debug_frame, eq, frames, free_port, read_file,
                     wait_until)
from postfix_fixture import Postfix

SMTPD_EHLO = ["250-SIZE 33554432", "250-8BITMIME", "250 HELP"]
ESMTP_EHLO = ["250-SIZE 33554432", "250-8BITMIME", "250-PIPELINING", "250-CHUNKING",
              "250-ENHANCEDSTATUSCODES", "250 HELP"]


def ehlo_lines(port):
    with Client(port) as c:
        return c.cmd("EHLO client.example.org").split("\n")[1:]


def test_extensions_defaults(ctx):
    # A config file's listener without `extensions` offers the three; one
    # with `extensions = [ ]` and one started smtpd.py-style offer
    # smtpd.py's set, and answer with smtpd.py's texts.
    text1, p1, _ = ctx.listener(extensions=None)
    text2, p2, _ = ctx.listener()
    ctx.daemon(ctx.config([text1, text2]))
    eq(ehlo_lines(p1), ESMTP_EHLO, "config-file default")
    eq(ehlo_lines(p2), SMTPD_EHLO, "extensions = [ ]")
    with Client(p2) as c:
        c.cmd("EHLO x")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "250 OK", "no enhanced code")
        eq(c.cmd("BDAT 1 LAST"), '500 Error: command "BDAT" not recognized', "no BDAT")
    p3 = free_port()
    ctx.daemon(args=["-c", "DebuggingServer", "127.0.0.1:%d" % p3], name="cmdline")
    eq(ehlo_lines(p3), SMTPD_EHLO, "smtpd.py-style")


def test_enhanced_codes_and_help(ctx):
    d, port, out = ctx.simple(extensions=["ENHANCEDSTATUSCODES", "CHUNKING"])
    with Client(port) as c:
        eq(c.cmd("HELP"), "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT "
           "VRFY BDAT", "HELP before EHLO: no code")
        c.cmd("EHLO x")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 OK", "MAIL")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "503 5.5.1 Error: nested MAIL command", "nested")
        eq(c.cmd("RCPT TO:<b@example.org>"), "250 2.1.5 OK", "RCPT")
        eq(c.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>", "354 has none")
        c.send(b"x\r\n.\r\n")
        eq("\n".join(c.reply()), "250 2.0.0 OK", "message")
        eq(c.cmd("HELP BDAT"), "250 2.0.0 Syntax: BDAT chunk-size [LAST]", "HELP BDAT")
        eq(c.cmd("QUIT"), "221 2.0.0 Bye", "QUIT")
    # smtplib reads the codes as part of the text, and still works.
    with smtplib.SMTP("127.0.0.1", port) as s:
        code, msg = s.ehlo("x")
        check(s.has_extn("enhancedstatuscodes"), "smtplib sees ENHANCEDSTATUSCODES")
        s.sendmail("a@example.org", ["b@example.org"], "Subject: s\r\n\r\nbody\r\n")


def bdat_session(port, payload):
    c = Client(port)
    c.cmd("EHLO x")
    eq(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 OK", "MAIL")
    eq(c.cmd("RCPT TO:<b@example.org>"), "250 2.1.5 OK", "RCPT")
    c.send(payload)
    return c


def test_bdat_edges(ctx):
    d, port, out = ctx.simple(extensions=None, data_size_limit=100)
    # BDAT 0 LAST: an empty message, delivered.
    with bdat_session(port, b"BDAT 0 LAST\r\n") as c:
        eq("\n".join(c.reply()), "250 2.0.0 OK", "BDAT 0 LAST")
    # A chunk that ends inside CR LF, and DATA's terminator as content.
    with bdat_session(port, b"BDAT 11\r\nSubject: a\rBDAT 9 LAST\r\n\n.\r\nend\r\n") as c:
        eq("\n".join(c.reply()), "250 2.0.0 OK: 11 octets received", "first chunk")
        eq("\n".join(c.reply()), "250 2.0.0 OK", "LAST")
        eq(c.cmd("NOOP"), "250 2.0.0 OK", "in step")
    # A chunk over the limit: read whole (its bytes are no commands), 552.
    big = b"RSET\r\n" * 30
    with bdat_session(port, b"BDAT %d LAST\r\n" % len(big) + big) as c:
        eq("\n".join(c.reply()), "552 5.3.4 Error: Too much mail data", "over the limit")
        eq(c.cmd("RSET"), "250 2.0.0 OK", "only one RSET ran")
    # BDAT without a size: the stream cannot be followed; 501 then 421.
    with bdat_session(port, b"BDAT\r\nRSET\r\n") as c:
        eq("\n".join(c.reply()), "501 5.5.4 Syntax: BDAT chunk-size [LAST]", "no size")
        check(c.reply()[0].startswith("421 4.5.0"), "then 421")
        check(c.closed(), "closed")
    wait_until(lambda: len(frames(read_file(out))) >= 2, what="two messages")
    got = frames(read_file(out))
    eq(got[0], debug_frame(b""), "empty message")
    eq(got[1], debug_frame(b"Subject: a\n.\nend"), "CR LF across chunks, dot kept")
    d.wait_log(r"event=message .*size=0 .*result=accepted")


def test_bdat_cut_by_close_delivers_nothing(ctx):
    d, port, out = ctx.simple(extensions=None)
    c = bdat_session(port, b"BDAT 100 LAST\r\nSubject: cut\r\n")
    c.close()
    d.wait_log(r"event=disconnect reason=eof")
    check(b"cut" not in read_file(out), "nothing delivered")


def test_unauthorised_pipelining(ctx):
    # Without PIPELINING offered: logged; with reject_unauth_pipelining 554.
    t1, p1, _ = ctx.listener()
    t2, p2, _ = ctx.listener(reject_unauth_pipelining=True)
    t3, p3, _ = ctx.listener(extensions=None, reject_unauth_pipelining=True)
    d = ctx.daemon(ctx.config([t1, t2, t3]))
    with Client(p1) as c:
        c.send(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\n")
        check(c.reply()[-1] == "250 HELP", "EHLO answered")
        eq(c.reply(), ["250 OK"], "MAIL answered")
    d.wait_log(r"event=pipelining command=EHLO pending=\d+ offered=no action=log")
    with Client(p2) as c:
        c.send(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\n")
        eq(c.reply(), ["554 5.5.0 Error: improper use of SMTP command pipelining"], "refused")
        check(c.closed(), "closed")
    # Offered: MAIL, RCPT in one packet are fine; DATA with its body before
    # the 354 is not (RFC 2920 3.1).
    with Client(p3) as c:
        c.cmd("EHLO x")
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        eq(c.reply(), ["250 2.1.0 OK"], "MAIL")
        eq(c.reply(), ["250 2.1.5 OK"], "RCPT")
        eq(c.reply(), ["354 End data with <CR><LF>.<CR><LF>"], "DATA last in its group")
        c.send(b"x\r\n.\r\n")
        eq(c.reply(), ["250 2.0.0 OK"], "delivered")
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nbody\r\n.\r\n")
        eq(c.reply(), ["250 2.1.0 OK"], "MAIL")
        eq(c.reply(), ["250 2.1.5 OK"], "RCPT")
        eq(c.reply(), ["554 5.5.0 Error: improper use of SMTP command pipelining"],
           "body before 354")
    d.wait_log(r"event=pipelining command=DATA pending=\d+ offered=yes action=reject")


def test_swaks_pipelining(ctx):
    d, port, out = ctx.simple(extensions=None, reject_unauth_pipelining=True)
    rc, so, se = ctx.run(["swaks", "--pipeline", "-s", "127.0.0.1", "-p", str(port),
                          "-f", "a@example.org", "-t", "b@example.org,c@example.org",
                          "--body", "pipelined"], timeout=30)
    eq(rc, 0, "swaks --pipeline: %s %s" % (so[-2000:], se))
    check(re.search(r"<\s+250 2.1.5 OK\n<\s+250 2.1.5 OK", so) or "250 2.1.5" in so,
          "pipelined RCPTs answered: %s" % so)
    wait_until(lambda: frames(read_file(out)), what="the message")
    check("event=pipelining" not in d.log(), "swaks pipelines as RFC 2920 allows")


def dsn_session(port):
    with Client(port) as c:
        check("250-DSN" in c.cmd("EHLO x"), "DSN offered")
        eq(c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=Qa+2B1"), "250 2.1.0 OK", "RET, ENVID")
        eq(c.cmd("RCPT TO:<b@example.org> NOTIFY=BOGUS"), "501 5.5.4 Error: bad NOTIFY parameter",
           "NOTIFY syntax")
        eq(c.cmd("RCPT TO:<c@example.org> BY=10;R")[:3], "555", "other parameters")
        r = c.cmd("RCPT TO:<b@example.org> NOTIFY=success,FAILURE ORCPT=rfc822;B.Smith@example.org")
        check(r.startswith("250"), "NOTIFY, ORCPT: %s" % r)
        eq(c.cmd("DATA")[:3], "354", "DATA")
        c.send(b"Subject: dsn\r\n\r\nbody\r\n.\r\n")
        r = "\n".join(c.reply())
        check(r.startswith("250"), "relayed: %s" % r)


def test_dsn_through_the_proxy(ctx):
    # DSN only where the handler relays: the proxy passes it on to an
    # upstream offering DSN (Postfix's smtpd log shows the parameters).
    pf = Postfix(ctx, debug_peers=True).start()
    text, port, _ = ctx.listener(handler="proxy", extensions=["DSN", "ENHANCEDSTATUSCODES"],
                                 remote="127.0.0.1:%d" % pf.port,
                                 extra='proxy = { relay_networks = [ "127.0.0.0/8" ]; };')
    ctx.daemon(ctx.config([text]))
    dsn_session(port)
    log = pf.wait_sent(1)
    check(re.search(r"< \S+: MAIL FROM:<a@example.org> RET=HDRS ENVID=Qa\+2B1", log),
          "RET, ENVID passed on: %s" % log[-3000:])
    # The client's own text of ENVID and ORCPT, not upper-cased.
    check(re.search(r"< \S+: RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE "
                    r"ORCPT=rfc822;B\.Smith@example\.org", log), "NOTIFY, ORCPT passed on")
    # debug cannot report delivery: DSN on its listener is refused at -t.
    bad = ctx.config([ctx.listener(extensions=["DSN"])[0]], name="bad.conf")
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", bad])
    check(rc != 0 and "does not relay" in so + se, "debug with DSN refused: %s %s" % (so, se))


def test_dsn_dropped_for_an_upstream_without_it(ctx):
    pf = Postfix(ctx, main="smtpd_discard_ehlo_keywords = dsn", debug_peers=True).start()
    text, port, _ = ctx.listener(handler="proxy", extensions=["DSN", "ENHANCEDSTATUSCODES"],
                                 remote="127.0.0.1:%d" % pf.port,
                                 extra='proxy = { relay_networks = [ "127.0.0.0/8" ]; };')
    d = ctx.daemon(ctx.config([text]))
    dsn_session(port)
    log = pf.wait_sent(1)
    check(re.search(r"< \S+: MAIL FROM:<a@example.org>\s*$", log, re.M), "no RET, ENVID")
    check(re.search(r"< \S+: RCPT TO:<b@example.org>\s*$", log, re.M), "no NOTIFY, ORCPT")
    d.wait_log(r"offers no DSN: NOTIFY dropped")


def test_postfix_pipelines_into_smtpgate(ctx):
    # Postfix's smtp client pipelines MAIL, RCPTs and DATA when offered
    # (it sends no BDAT: CHUNKING is a server-side feature in Postfix).
    d, port, out = ctx.simple(extensions=None, reject_unauth_pipelining=True)
    pf = Postfix(ctx, port, debug_peers=True).start()
    body = "Subject: via postfix\r\n\r\n" + "".join("line %d\r\n.\r\n" % i for i in range(50))
    with smtplib.SMTP("127.0.0.1", pf.port) as s:
        s.sendmail("a@it.test", ["b@example.org", "c@example.org"], body)
    log = pf.wait_sent(2)
    check("Using ESMTP PIPELINING" in log, "Postfix pipelined: %s" % log[-3000:])
    check(re.search(r"> \S+\[127\.0\.0\.1\]:%d: RCPT TO:<c@example.org>" % port, log),
          "RCPTs sent")
    wait_until(lambda: frames(read_file(out)), what="the message in smtpgate")
    want = "Subject: via postfix\n\n" + "".join("line %d\n.\n" % i for i in range(50))
    got = frames(read_file(out))[0]
    check(got.endswith(debug_frame(want.rstrip("\n")).split(b"X-Peer")[1].split(b"\n", 1)[1]),
          "dot lines intact: %r" % got[-60:])
    check("event=pipelining" not in d.log(), "Postfix pipelines as RFC 2920 allows")
    check(re.search(r"event=message .*nrcpt=2 .*result=accepted", d.log()), "one message, two rcpts")


NET_SMTP_BDAT = r"""
use Net::SMTP;
my ($port, @chunks) = @ARGV;
my $s = Net::SMTP->new("127.0.0.1", Port => $port, Hello => "perl.example.org", Timeout => 20)
    or die "connect: $@";
$s->mail('a@example.org') or die "MAIL: " . $s->message;
$s->to('b@example.org') or die "RCPT: " . $s->message;
# Net::SMTP turns BDAT on only with BODY=BINARYMIME, which smtpgate does
# not offer (RFC 3030 without BINARYMIME): its BDAT framing, switched on.
${*$s}{net_smtp_chunking} = 1;
my $last = pop @chunks;
for my $c (@chunks) { $s->bdat($c) or die "BDAT: " . $s->code . " " . $s->message; }
$s->bdatlast($last) or die "BDAT LAST: " . $s->code . " " . $s->message;
print $s->code, " ", $s->message;
$s->quit;
"""


def test_bdat_client_through_proxy_to_postfix(ctx):
    # A real BDAT client (Perl's Net::SMTP) into the proxy, which relays
    # with BDAT to an upstream offering CHUNKING (a private Postfix: its
    # smtpd's log shows the BDAT), and with DATA to one that does not.
    pf = Postfix(ctx, debug_peers=True).start()
    text, port, _ = ctx.listener(handler="proxy", extensions=None,
                                 remote="127.0.0.1:%d" % pf.port,
                                 extra='proxy = { relay_networks = [ "127.0.0.0/8" ]; };')
    ctx.daemon(ctx.config([text]))
    chunks = ["Subject: bdat\r\n\r\nfirst\r", "\n.\r\nsecond\r\n"]
    rc, so, se = ctx.run(["perl", "-e", NET_SMTP_BDAT, str(port)] + chunks, timeout=30)
    eq(rc, 0, "Net::SMTP: %s %s" % (so, se))
    check(so.startswith("250"), "accepted: %s" % so)
    log = pf.wait_sent(1)
    check(re.search(r"< \S+\[127\.0\.0\.1\]: BDAT \d+ LAST", log),
          "the proxy relayed with BDAT: %s" % log[-3000:])
    check(not re.search(r"< \S+\[127\.0\.0\.1\]: DATA", log), "no DATA")


def test_proxy_uses_data_without_chunking(ctx):
    pf = Postfix(ctx, main="smtpd_discard_ehlo_keywords = chunking", debug_peers=True).start()
    text, port, _ = ctx.listener(handler="proxy", extensions=None,
                                 remote="127.0.0.1:%d" % pf.port,
                                 extra='proxy = { relay_networks = [ "127.0.0.0/8" ]; };')
    ctx.daemon(ctx.config([text]))
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("a@example.org", ["b@example.org"], "Subject: data\r\n\r\n.body\r\n")
    log = pf.wait_sent(1)
    check(re.search(r"< \S+\[127\.0\.0\.1\]: DATA", log), "DATA used: %s" % log[-2000:])
    check("BDAT" not in log, "no BDAT without CHUNKING")


def test_plugin_keywords_and_verbs(ctx):
    # A plugin's EHLO keywords are offered after the core's, its verb is in
    # HELP, and its DSN says it relays (so a listener may offer DSN); a
    # plugin repeating a core keyword is refused at -t with the reason.
    text, port, _ = ctx.listener(handler="keywords", extensions=["DSN"])
    ctx.daemon(ctx.config([text]))
    with Client(port) as c:
        eq(c.cmd("HELP"), "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT "
           "VRFY XSITE", "HELP lists the plugin's verb")
        eq(c.cmd("HELP xsite"), "250 Syntax: XSITE [SP <argument>]", "HELP XSITE")
        eq(c.cmd("EHLO x").split("\n")[1:],
           ["250-SIZE 33554432", "250-8BITMIME", "250-DSN", "250-XSITE-INFO 1 2", "250 HELP"],
           "the plugin's keyword after the core's")
        eq(c.cmd("XSITE a b"), "250 XSITE a b", "the verb")
    bad = ctx.config([ctx.listener(handler="keywords")[0]], name="bad.conf")
    env = dict(os.environ, SMTPGATE_TEST_BAD_KEYWORD="1")
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", bad], env=env)
    check(rc != 0 and 'EHLO keyword \\"SIZE\\" repeats a keyword the core offers' in so + se,
          "refused: %s %s" % (so, se))
