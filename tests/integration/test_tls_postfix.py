"""Interoperability with a real Postfix over TLS: a private Postfix
instance (tests/integration/postfix_fixture.py: its own config, queue and
log in a temp dir, stopped by the test) delivers into smtpgate
with smtp_tls_security_level = encrypt, and smtpgate's proxy relays into
Postfix's smtpd with TLS on.  Postfix's own log (maillog_file) must show
the TLS session each time."""
import re
import smtplib

from harness import check, free_port, read_file, wait_until
from postfix_fixture import Postfix
from test_tls import make_cert

# Postfix's TLS: its client requires it towards smtpgate, its smtpd offers it.
TLS_MAIN = """\
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 1
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_peername_lookup = yes
"""
TLS_MASTER = "tlsmgr     unix  - - n 1000? 1 tlsmgr\n"


def test_tls_postfix_delivers_with_encrypt_and_takes_the_proxy_over_tls(ctx):
    cert, key = make_cert(ctx, "server", kind="rsa")
    gate_port = free_port()
    pf = Postfix(ctx, gate_port, main=TLS_MAIN.format(cert=cert, key=key), master=TLS_MASTER)
    pf_port = pf.port
    intake, _, out = ctx.listener(port=gate_port, extra='tls = { mode = "may"; cert = "%s"; '
                                  'key = "%s"; };' % (cert, key))
    proxy, proxy_port, _ = ctx.listener(handler="proxy", remote="127.0.0.1:%d" % pf_port,
                                        extra='proxy = { relay_tls = "encrypt"; };')
    d = ctx.daemon(ctx.config([intake, proxy]))
    try:
        pf.start()
        # Postfix -> smtpgate: its smtp client requires TLS.
        with smtplib.SMTP("127.0.0.1", pf_port, timeout=60) as s:
            s.sendmail("a@example.org", ["b@far.example"], "Subject: from postfix\r\n\r\nx\r\n")
        wait_until(lambda: b"Subject: from postfix" in read_file(out), timeout=60,
                   what="Postfix's delivery in smtpgate's output")
        wait_until(lambda: re.search(r"postfix/smtp\[\d+\]: \w+ TLS connection established to "
                                     r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: TLSv1\.3" % gate_port,
                                     pf.log()), timeout=60,
                   what="Postfix's TLS line for its delivery")
        check(re.search(r"status=sent \(250 OK\)", pf.log()), "Postfix's log:\n" + pf.log())
        frame = read_file(out).decode()
        check("\ntls protocol: TLSv1.3\n" in frame, "smtpgate's frame:\n" + frame)
        # smtpgate's proxy -> Postfix's smtpd over STARTTLS (and on to
        # smtpgate again through Postfix's queue).
        with smtplib.SMTP("127.0.0.1", proxy_port, timeout=60) as s:
            s.sendmail("a@example.org", ["c@far.example"], "Subject: via proxy\r\n\r\ny\r\n")
        wait_until(lambda: re.search(r"postfix/smtpd\[\d+\]: Anonymous TLS connection "
                                     r"established from localhost\[127\.0\.0\.1\]: TLSv1\.3",
                                     pf.log()), timeout=60, what="Postfix's smtpd TLS line")
        d.wait_log(r"upstream=127\.0\.0\.1:%d relayed reply=250 hop=tls tls=TLSv1\.3" % pf_port,
                   timeout=60)
        wait_until(lambda: b"Subject: via proxy" in read_file(out), timeout=60,
                   what="the proxied message back through Postfix")
        check(re.search(r"with ESMTPS id", read_file(out).decode()),
              "Postfix's Received line for the proxied message names no ESMTPS:\n%s"
              % read_file(out).decode())
    finally:
        pf.stop()
