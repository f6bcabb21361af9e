"""relay_tls: STARTTLS on the proxy's hop to its upstream.  The upstream
is a second smtpgate listener (debug: its frame shows whether the message
came over TLS) with its own tls group; certificates are made here."""
import smtplib

from harness import check, eq, read_file, wait_until
from test_tls import make_cert


def relay_pair(ctx, relay_group, up_tls, remote_host="127.0.0.1"):
    """A proxy listener (relay_group in its proxy group) relaying to a
    debug listener of the same daemon with the tls group up_tls ("" for
    none); (daemon, proxy port, upstream output)."""
    up_text, up_port, up_out = ctx.listener(extra=up_tls)
    text, port, _ = ctx.listener(handler="proxy", remote="%s:%d" % (remote_host, up_port),
                                 extra="proxy = { %s };" % relay_group)
    return ctx.daemon(ctx.config([text, up_text])), port, up_out


def up_tls(cert, key, more=""):
    return 'tls = { mode = "may"; cert = "%s"; key = "%s"; %s };' % (cert, key, more)


def send(port):
    """One message through the proxy: its final reply (code, text)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        s.ehlo("client.example")
        code, text = s.mail("a@example.org")
        if code != 250:
            return code, text
        code, text = s.rcpt("b@example.org")
        if code != 250:
            return code, text
        return s.data(b"Subject: hop\r\n\r\nrelayed\r\n")


def test_relay_tls_may_uses_starttls(ctx):
    cert, key = make_cert(ctx)
    d, port, up_out = relay_pair(ctx, "", up_tls(cert, key))  # relay_tls unset: "may"
    eq(send(port)[0], 250, "message through the proxy")
    wait_until(lambda: b"END MESSAGE" in read_file(up_out), what="the relayed message")
    check(b"\ntls protocol: TLSv1.3\n" in read_file(up_out),
          "the hop was not TLS: %r" % read_file(up_out))
    d.wait_log(r"relayed reply=250 hop=tls tls=TLSv1\.3 cipher=TLS_\w+\"?$")


def test_relay_tls_may_plaintext_when_not_offered(ctx):
    d, port, up_out = relay_pair(ctx, 'relay_tls = "may";', "")
    eq(send(port)[0], 250, "message through the proxy")
    wait_until(lambda: b"END MESSAGE" in read_file(up_out), what="the relayed message")
    check(b"tls protocol" not in read_file(up_out), "TLS lines: %r" % read_file(up_out))
    d.wait_log(r"relayed reply=250 hop=plaintext")


def test_relay_tls_may_retries_in_plaintext_after_failed_handshake(ctx):
    # The upstream wants a client certificate the relay does not have:
    # the handshake fails (with TLS 1.3 the server's alert comes after
    # the client's side is done, so the relay sees its EHLO go
    # unanswered), and "may" connects again without STARTTLS.
    cert, key = make_cert(ctx)
    d, port, up_out = relay_pair(ctx, "", up_tls(cert, key, 'verify_client = "required"; '
                                                  'ca_file = "%s";' % cert))
    eq(send(port)[0], 250, "message through the proxy")
    wait_until(lambda: b"END MESSAGE" in read_file(up_out), what="the relayed message")
    check(b"tls protocol" not in read_file(up_out), "TLS lines: %r" % read_file(up_out))
    d.wait_log(r"event=starttls-failed reason=.*(TLS handshake failed|connection closed).* "
               r"action=retry-plaintext")
    d.wait_log(r"relayed reply=250 hop=plaintext")


def test_relay_tls_encrypt_refuses_plaintext(ctx):
    d, port, up_out = relay_pair(ctx, 'relay_tls = "encrypt";', "")
    code, text = send(port)
    eq(code, 451, "encrypt to an upstream without STARTTLS: %r" % text)
    check(b"STARTTLS not offered" in text, "reply: %r" % text)
    cert, key = make_cert(ctx)
    d2, port2, up_out2 = relay_pair(ctx, 'relay_tls = "encrypt";',
                                    up_tls(cert, key, 'verify_client = "required"; '
                                           'ca_file = "%s";' % cert))
    code, text = send(port2)
    eq(code, 451, "encrypt, failed handshake: %r" % text)
    check(b"TLS handshake failed" in text or b"connection closed" in text, "reply: %r" % text)
    check(b"END MESSAGE" not in read_file(up_out2), "relayed in plaintext anyway")
    # A self-signed upstream is fine for "encrypt": no certificate check.
    d3, port3, up_out3 = relay_pair(ctx, 'relay_tls = "encrypt";', up_tls(cert, key))
    eq(send(port3)[0], 250, "encrypt to a self-signed upstream")


def test_relay_tls_verify(ctx):
    cert, key = make_cert(ctx)  # for localhost and 127.0.0.1
    other, _ = make_cert(ctx, "other")
    d, port, up_out = relay_pair(ctx, 'relay_tls = "verify"; relay_ca_file = "%s";' % cert,
                                 up_tls(cert, key), remote_host="localhost")
    eq(send(port)[0], 250, "verify against the upstream's own certificate")
    d.wait_log(r"relayed reply=250 hop=tls tls=TLSv1\.3")
    d2, port2, up_out2 = relay_pair(ctx, 'relay_tls = "verify"; relay_ca_file = "%s";' % other,
                                    up_tls(cert, key))
    code, text = send(port2)
    eq(code, 451, "verify against another CA: %r" % text)
    check(b"certificate verify failed" in text, "reply: %r" % text)
    # Without relay_ca_file: the system's CAs, which never signed it.
    d3, port3, up_out3 = relay_pair(ctx, 'relay_tls = "verify";', up_tls(cert, key))
    code, text = send(port3)
    eq(code, 451, "verify against the system's CAs: %r" % text)
    check(b"certificate verify failed" in text, "reply: %r" % text)
    # A certificate that verifies but names another host.
    named, named_key = ctx.path("other-name.crt"), ctx.path("other-name.key")
    rc, so, se = ctx.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                          "/CN=mx.other.example", "-addext", "subjectAltName=DNS:mx.other.example",
                          "-keyout", named_key, "-out", named], timeout=30)
    eq(rc, 0, "openssl req (stderr: %s)" % se)
    d4, port4, up_out4 = relay_pair(ctx, 'relay_tls = "verify"; relay_ca_file = "%s";' % named,
                                    up_tls(named, named_key))
    code, text = send(port4)
    eq(code, 451, "verify, a name the certificate lacks: %r" % text)
    check(b"IP address mismatch" in text, "reply: %r" % text)


def test_relay_tls_none_and_bad_setting(ctx):
    cert, key = make_cert(ctx)
    d, port, up_out = relay_pair(ctx, 'relay_tls = "none";', up_tls(cert, key))
    eq(send(port)[0], 250, "relay_tls none")
    wait_until(lambda: b"END MESSAGE" in read_file(up_out), what="the relayed message")
    check(b"tls protocol" not in read_file(up_out), "TLS with none: %r" % read_file(up_out))
    text, port, _ = ctx.listener(handler="proxy", remote="127.0.0.1:25",
                                 extra='proxy = { relay_tls = "sometimes"; };')
    rc, so, se = ctx.run([__import__("harness").SMTPGATE, "-n", "-t", "-f",
                          ctx.config([text], name="bad.conf")])
    eq(rc, 78, "relay_tls \"sometimes\" (stderr: %s)" % se)
    check("relay_tls" in se and "verify" in se, "error: %r" % se)
