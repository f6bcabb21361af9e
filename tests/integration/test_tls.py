"""TLS on the intake: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with
real clients (openssl s_client, smtplib, swaks), certificates made here
with the openssl command; the plaintext injection after STARTTLS, bad and
stalled handshakes, and the checks of cert/key at -t."""
import os
import pwd
import re
import signal
import smtplib
import socket
import ssl
import stat
import subprocess

from harness import (EX_CONFIG, SMTPGATE, Client, check, debug_frame, eq, read_file,
                     wait_until)


def make_cert(ctx, name="server", kind="ec"):
    """A self-signed certificate (P-256, or RSA 2048 with kind "rsa") for
    localhost and 127.0.0.1 and its key (mode 0600); (cert, key) paths."""
    cert, key = ctx.path(name + ".crt"), ctx.path(name + ".key")
    algo = ["rsa:2048"] if kind == "rsa" else ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    rc, so, se = ctx.run(["openssl", "req", "-x509", "-newkey"] + algo + ["-nodes", "-days", "2",
                          "-subj", "/CN=localhost",
                          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                          "-keyout", key, "-out", cert], timeout=30)
    eq(rc, 0, "openssl req (stderr: %s)" % se)
    os.chmod(key, 0o600)
    return cert, key


def tls_listener(ctx, mode, cert, key, **settings):
    """A debug listener with a tls group; (config text, port, output)."""
    timeout = settings.pop("handshake_timeout", None)
    more = settings.pop("extra_tls", "")  # listener settings ctx.listener() cannot write
    group = 'tls = { mode = "%s"; cert = "%s"; key = "%s";%s };' % (
        mode, cert, key, " handshake_timeout = %d;" % timeout if timeout else "")
    return ctx.listener(extra=group + more, **settings)


def tls_daemon(ctx, mode, **settings):
    """A daemon with one TLS listener: (daemon, port, output, cert)."""
    cert, key = make_cert(ctx)
    text, port, out = tls_listener(ctx, mode, cert, key, **settings)
    return ctx.daemon(ctx.config([text])), port, out, cert


def client_context(cert):
    """A client context that trusts only our certificate, names checked."""
    c = ssl.create_default_context(cafile=cert)
    c.check_hostname = True
    return c


def starttls(c, cert):
    """STARTTLS on a harness Client; its socket is TLS afterwards."""
    eq(c.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS", "STARTTLS")
    eq(c.buf, b"", "bytes after the 220")
    c.sock = client_context(cert).wrap_socket(c.sock, server_hostname="localhost")


def s_client(args, text):
    """openssl s_client with args, text (lines ended by LF: -crlf sends
    CR LF) as its input; (status, out, err)."""
    r = subprocess.run(["openssl", "s_client"] + args + ["-crlf", "-ign_eof", "-quiet"],
                       input=text, capture_output=True, timeout=20)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def without_tls_lines(frame):
    """A debug frame less the "tls ...: " lines the session's TLS adds
    (test_tls_peer.py checks them), after checking they are there."""
    check(re.search(rb"^tls protocol: TLSv1\.[23]\ntls cipher: \S+\n", frame, re.M),
          "no TLS lines in the frame: %r" % frame)
    return re.sub(rb"^tls [a-z ]+: .*\n", b"", frame, flags=re.M)


def test_tls_s_client_starttls(ctx):
    d, port, out, cert = tls_daemon(ctx, "may")
    rc, so, se = s_client(["-starttls", "smtp", "-connect", "127.0.0.1:%d" % port,
                           "-CAfile", cert, "-verify_return_error"],
                          b"EHLO after.example\nQUIT\n")
    eq(rc, 0, "s_client exit status (stderr: %s)" % se)
    check(re.search(r"^250-", so, re.M), "no EHLO reply: %r" % so)
    check("STARTTLS" not in so, "STARTTLS offered again after the handshake: %r" % so)
    check("221 Bye" in so, "no 221 to QUIT: %r" % so)
    d.wait_log(r"event=tls tls=TLSv1\.[23] cipher=\S+")
    d.wait_log(r"event=disconnect reason=quit .* tls=TLSv1\.[23] cipher=\S+")


def test_tls_s_client_implicit(ctx):
    d, port, out, cert = tls_daemon(ctx, "implicit")
    rc, so, se = s_client(["-connect", "127.0.0.1:%d" % port, "-CAfile", cert,
                           "-verify_return_error"], b"EHLO c.example\nSTARTTLS\nQUIT\n")
    eq(rc, 0, "s_client exit status (stderr: %s)" % se)
    lines = so.splitlines()
    check(lines and lines[0].startswith("220 "), "no greeting over TLS: %r" % so)
    check("250-STARTTLS" not in so, "STARTTLS offered on an implicit-TLS listener: %r" % so)
    check("503 5.5.1 Error: TLS already active" in so, "STARTTLS over TLS: %r" % so)
    check("221 Bye" in so, "no 221: %r" % so)


def test_tls_smtplib_starttls_message(ctx):
    d, port, out, cert = tls_daemon(ctx, "may", data_size_limit=0)
    msg = b"Subject: tls\r\n\r\n.leading dot\r\nbody \xc3\xa9\r\nlast\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.example")
        check(s.has_extn("starttls"), "STARTTLS not offered: %r" % s.esmtp_features)
        eq(s.starttls(context=client_context(cert))[0], 220, "STARTTLS")
        s.ehlo("client.example")
        check(not s.has_extn("starttls"), "STARTTLS offered over TLS: %r" % s.esmtp_features)
        eq(s.sendmail("a@example.org", ["b@example.org"], msg, mail_options=["BODY=8BITMIME"]),
           {}, "refused")
    want = debug_frame(msg[:-2].replace(b"\r\n", b"\n"), mail_options=["BODY=8BITMIME"])
    wait_until(lambda: b"END MESSAGE" in read_file(out), what="the message in the output")
    eq(without_tls_lines(read_file(out)), want, "debug output")
    d.wait_log(r"event=message .*result=accepted code=250 .* ms=\d+ tls=TLSv1\.3 cipher=TLS_\S+$")


def test_tls_smtplib_ssl_message(ctx):
    d, port, out, cert = tls_daemon(ctx, "implicit")
    msg = "Subject: implicit\r\n\r\nhello\r\n.\r\nworld"
    with smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_context(cert)) as s:
        eq(s.ehlo("client.example")[0], 250, "EHLO")
        s.sendmail("a@example.org", ["b@example.org"], msg)
    want = debug_frame("Subject: implicit\n\nhello\n.\nworld",
                       mail_options=["SIZE=%d" % len(msg.encode())])
    wait_until(lambda: b"END MESSAGE" in read_file(out), what="the message in the output")
    eq(without_tls_lines(read_file(out)), want, "debug output")
    d.wait_log(r"event=message .* tls=TLSv1\.3 cipher=\S+")


def test_tls_swaks(ctx):
    d, port, out, cert = tls_daemon(ctx, "may")
    rc, so, se = ctx.run(["swaks", "--server", "127.0.0.1:%d" % port, "--tls",
                          "--to", "a@example.org", "--from", "c@example.org",
                          "--header", "Subject: swaks tls", "--body", "over tls"], timeout=20)
    eq(rc, 0, "swaks exit status (output:\n%s%s)" % (so, se))
    check("TLS started" in so, "swaks did not start TLS:\n" + so)
    check("<~  250 OK" in so, "no 250 over TLS for the message:\n" + so)
    wait_until(lambda: b"swaks tls" in read_file(out), what="the message in the output")
    check(b"\nover tls\n" in read_file(out), "body: %r" % read_file(out))


def test_tls_required_530(ctx):
    d, port, out, cert = tls_daemon(ctx, "required")
    with Client(port) as c:
        eq(c.code("NOOP"), 250, "NOOP before STARTTLS")
        eq(c.cmd("HELO x"), "530 5.7.0 Must issue a STARTTLS command first", "HELO")
        r = c.cmd("EHLO x")
        check("250-STARTTLS" in r, "EHLO does not offer STARTTLS: %r" % r)
        for cmd in ("MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA", "RSET",
                    "VRFY a", "HELP"):
            eq(c.cmd(cmd), "530 5.7.0 Must issue a STARTTLS command first", cmd)
        eq(c.cmd("STARTTLS now"), "501 5.5.4 Syntax: STARTTLS", "STARTTLS with an argument")
        starttls(c, cert)
        # RFC 3207 4.2: the session starts over.
        eq(c.cmd("MAIL FROM:<a@example.org>"), "503 Error: send HELO first", "MAIL after TLS")
        r = c.cmd("EHLO x")
        check(r.startswith("250") and "STARTTLS" not in r, "EHLO over TLS: %r" % r)
        eq(c.cmd("STARTTLS"), "503 5.5.1 Error: TLS already active", "a second STARTTLS")
        eq(c.transaction("Subject: req\r\n\r\nsecret", helo=None), "250 OK", "message over TLS")
        eq(c.cmd("QUIT"), "221 Bye", "QUIT")
    wait_until(lambda: b"secret" in read_file(out), what="the message in the output")


def test_tls_starttls_injection_discarded(ctx):
    d, port, out, cert = tls_daemon(ctx, "may")
    with Client(port) as c:
        check(c.cmd("EHLO x").startswith("250"), "EHLO")
        c.send(b"STARTTLS\r\nRSET\r\n")  # one packet: RSET is plaintext injected
        eq("\n".join(c.reply()), "220 2.0.0 Ready to start TLS", "STARTTLS")
        eq(c.buf, b"", "bytes after the 220")
        c.sock = client_context(cert).wrap_socket(c.sock, server_hostname="localhost")
        # The first reply over TLS is HELP's: RSET was never answered.
        r = c.cmd("HELP")
        check(r.startswith("250 Supported commands"), "first reply over TLS: %r" % r)
        eq(c.cmd("QUIT"), "221 Bye", "QUIT")
    d.wait_log(r"event=starttls-pipelined action=discard bytes=6")
    d.wait_log(r"event=disconnect reason=quit commands=4 ")


def test_tls_starttls_in_transaction_and_mode_off(ctx):
    cert, key = make_cert(ctx)
    text, port, out = tls_listener(ctx, "may", cert, key)
    off, port_off, _ = ctx.listener()
    d = ctx.daemon(ctx.config([text, off]))
    with Client(port) as c:
        eq(c.cmd("STARTTLS"), "503 Error: send HELO first", "STARTTLS before EHLO")
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<a@example.org>")
        eq(c.cmd("STARTTLS"), "503 5.5.1 Error: MAIL transaction in progress", "in a transaction")
    with Client(port_off) as c:
        r = c.cmd("EHLO x")
        check("STARTTLS" not in r, "mode off offers STARTTLS: %r" % r)
        eq(c.cmd("STARTTLS"), '500 Error: command "STARTTLS" not recognized', "mode off")


def test_tls_garbage_instead_of_client_hello(ctx):
    d, port, out, cert = tls_daemon(ctx, "implicit", workers=1)
    with Client(port, greeting=False) as c:
        c.send(b"EHLO plaintext.example\r\n" + b"\x00garbage" * 64)
        check(c.closed(), "the server kept a connection that sent no ClientHello")
        check(not re.search(rb"^\d{3}[ -]", c.buf, re.M), "plaintext reply: %r" % c.buf)
    d.wait_log(r"event=tls-failed reason=")
    d.wait_log(r"event=disconnect reason=tls-error commands=0 messages=0$")
    cert2, key2 = make_cert(ctx, "other")
    text, port2, _ = tls_listener(ctx, "may", cert2, key2)
    d2 = ctx.daemon(ctx.config([text], name="may.conf"))
    with Client(port2) as c:
        c.cmd("EHLO x")
        eq(c.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS", "STARTTLS")
        c.send(b"MAIL FROM:<a@example.org>\r\n")
        check(c.closed(), "the server kept a connection that sent no ClientHello")
        eq(c.buf, b"", "plaintext after a failed handshake")
    d2.wait_log(r"event=tls-failed reason=")
    # The worker goes on serving.
    with smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_context(cert)) as s:
        eq(s.noop()[0], 250, "NOOP on the next connection")


def test_tls_failed_implicit_handshake_meets_no_hook(ctx):
    cert, key = make_cert(ctx)
    text, port, _ = tls_listener(ctx, "implicit", cert, key, handler="hooks", workers=1)
    d = ctx.daemon(ctx.config([text]))
    with Client(port, greeting=False) as c:
        c.send(b"EHLO plaintext.example\r\n")
        check(c.closed(), "the server kept a connection that sent no ClientHello")
    d.wait_log(r"event=disconnect reason=tls-error")
    with smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_context(cert)) as s:
        eq(s.noop()[0], 250, "NOOP over implicit TLS")
    d.wait_log(r"event=disconnect reason=quit")
    log = d.log()
    eq((log.count("hook=on_connect"), log.count("hook=on_disconnect")), (1, 1),
       "on_connect and on_disconnect of the one session that met the plugin")


def client_hello():
    """The first flight of a real TLS client, as bytes."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.create_default_context()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def test_tls_stalled_handshake_bounded(ctx):
    d, port, out, cert = tls_daemon(ctx, "implicit", workers=1, handshake_timeout=1)
    hello = client_hello()
    check(len(hello) > 100, "a ClientHello of %d bytes" % len(hello))
    with Client(port, greeting=False) as c:
        c.send(hello[:len(hello) // 2])  # and then nothing
        check(c.closed(timeout=20), "the stalled handshake was not ended")
        eq(c.buf, b"", "bytes sent to a stalled handshake")
    d.wait_log(r'event=tls-failed reason="handshake timeout"')
    d.wait_log(r"event=disconnect reason=timeout ")
    with smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_context(cert)) as s:
        eq(s.noop()[0], 250, "NOOP after the stalled client")


def test_tls_greet_pause_after_implicit_handshake(ctx):
    cert, key = make_cert(ctx)
    text, port, out = tls_listener(ctx, "implicit", cert, key, greet_pause=300,
                                   pregreet="reject")
    d = ctx.daemon(ctx.config([text]))
    with smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_context(cert)) as s:
        eq(s.noop()[0], 250, "NOOP: the ClientHello was no pregreet")
    check("event=pregreet" not in d.log(), "a ClientHello counted as pregreet:\n" + d.log())


def test_tls_key_mismatch_fails_check(ctx):
    cert, key = make_cert(ctx)
    cert2, key2 = make_cert(ctx, "other")
    text, port, out = tls_listener(ctx, "may", cert, key2)
    conf = ctx.config([text])
    for test_mode in (True, False):
        rc, so, se = ctx.run([SMTPGATE, "-n"] + (["-t"] if test_mode else []) + ["-f", conf])
        eq(rc, EX_CONFIG, "exit status with -t=%s (stderr: %s)" % (test_mode, se))
        check(key2 in se and "does not match" in se, "error does not name the key: %r" % se)
    text, port, out = tls_listener(ctx, "may", ctx.path("missing.crt"), key)
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="m.conf")])
    eq(rc, EX_CONFIG, "a missing certificate (stderr: %s)" % se)
    check("missing.crt" in se, "error does not name the file: %r" % se)
    text, port, out = ctx.listener(extra='tls = { mode = "may"; };')
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="n.conf")])
    eq(rc, EX_CONFIG, "mode may without cert (stderr: %s)" % se)
    check("tls.cert" in se, "error does not name tls.cert: %r" % se)


def test_tls_check_settings(ctx):
    cert, key = make_cert(ctx)
    good = 'cert = "%s"; key = "%s";' % (cert, key)
    bad = [('mode = "may"; protocols = "TLSv1.2 SSLv3";', "unknown protocol"),
           ('mode = "may"; protocols = "TLSv1.1 TLSv1.3";', "TLSv1.2 is missing"),
           ('mode = "may"; ciphers = "NOSUCHCIPHER";', "tls.ciphers"),
           ('mode = "sometimes";', 'not \\"sometimes\\"'),
           ('mode = "may"; handshake_timeout = 0;', "outside"),
           ('mode = "may"; colour = "blue";', "unknown setting")]
    for i, (setting, why) in enumerate(bad):
        text, port, out = ctx.listener(extra="tls = { %s %s };" % (good, setting))
        rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="%d.conf" % i)])
        eq(rc, EX_CONFIG, "%s: exit status (stderr: %s)" % (setting, se))
        check(why in se, "%s: error %r does not say %r" % (setting, se, why))
    text, port, out = tls_listener(ctx, "implicit", cert, key)
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="ok.conf")])
    eq(rc, 0, "a good tls group (stderr: %s)" % se)
    check("tls.mode=implicit" in so and 'tls.protocols="TLSv1.2 TLSv1.3"' in so,
          "-t does not list the tls settings: %r" % so)
    check("readable by others" not in se, "a 0600 key warned about: %r" % se)
    os.chmod(key, 0o644)
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="ok.conf")])
    eq(rc, 0, "a key readable by others is only a warning (stderr: %s)" % se)
    check("readable by others" in se and key in se, "no warning about the key: %r" % se)


def test_tls_root_only_key_with_user_nobody(ctx):
    if os.geteuid() != 0:
        return  # the privilege drop needs root
    cert, key = make_cert(ctx)
    os.chown(key, 0, 0)
    os.chmod(key, 0o400)
    os.chmod(ctx.dir, 0o755)
    text, port, out = tls_listener(ctx, "implicit", cert, key, workers=1)
    d = ctx.daemon(ctx.config([text]), nosetuid=False)
    (w,) = d.wait_workers(1)
    nobody = pwd.getpwnam("nobody")
    wait_until(lambda: re.search(r"^Uid:\s+%d\s" % nobody.pw_uid,
                                 open("/proc/%d/status" % w).read(), re.M),
               what="worker %d to drop privileges" % w)
    check(stat.S_IMODE(os.stat(key).st_mode) == 0o400, "key mode")
    with smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_context(cert)) as s:
        s.sendmail("a@example.org", ["b@example.org"], "Subject: nobody\r\n\r\nhi")
    wait_until(lambda: b"Subject: nobody" in read_file(out), what="the message in the output")


def served_cert(port, cafile, cipher):
    """The certificate (DER) the server shows a TLS 1.2 client that offers
    only cipher."""
    c = client_context(cafile)
    c.maximum_version = ssl.TLSVersion.TLSv1_2
    c.set_ciphers(cipher)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with c.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def test_tls_rsa_and_ecdsa_pairs(ctx):
    rsa_cert, rsa_key = make_cert(ctx, "rsa", kind="rsa")
    ec_cert, ec_key = make_cert(ctx, "ec")
    both = ctx.write("both.pem", read_file(rsa_cert).decode() + read_file(ec_cert).decode())
    text, port, out = ctx.listener(extra='tls = { mode = "implicit"; cert = [ "%s", "%s" ]; '
                                   'key = [ "%s", "%s" ]; };' % (rsa_cert, ec_cert, rsa_key, ec_key))
    d = ctx.daemon(ctx.config([text]))
    der = {n: ssl.PEM_cert_to_DER_cert(read_file(p).decode()) for n, p in
           (("rsa", rsa_cert), ("ec", ec_cert))}
    eq(served_cert(port, both, "ECDHE-RSA-AES128-GCM-SHA256"), der["rsa"], "RSA client")
    eq(served_cert(port, both, "ECDHE-ECDSA-AES128-GCM-SHA256"), der["ec"], "ECDSA client")
    # Paired by position: the keys swapped match no certificate.
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = [ "%s", "%s" ]; '
                                   'key = [ "%s", "%s" ]; };' % (rsa_cert, ec_cert, ec_key, rsa_key))
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="swapped.conf")])
    eq(rc, EX_CONFIG, "keys swapped (stderr: %s)" % se)
    check("does not match" in se, "error: %r" % se)
    # Two certificates with one key type: the second would replace the first.
    ec2_cert, ec2_key = make_cert(ctx, "ec2")
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = [ "%s", "%s" ]; '
                                   'key = [ "%s", "%s" ]; };' % (ec_cert, ec2_cert, ec_key, ec2_key))
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="twice.conf")])
    eq(rc, EX_CONFIG, "two EC certificates (stderr: %s)" % se)
    check(ec2_cert in se and "one certificate per key type" in se, "error: %r" % se)


def test_tls_implicit_client_limit_closes_unanswered(ctx):
    cert, key = make_cert(ctx)
    text, port, out = tls_listener(ctx, "implicit", cert, key, workers=2,
                                   max_sessions_per_client=1,
                                   extra_tls="client_limit_exceptions = [];")
    d = ctx.daemon(ctx.config([text]))
    d.wait_workers(2)
    first = smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_context(cert))
    try:
        with Client(port, greeting=False) as c:
            c.send(client_hello())
            check(c.closed(), "the second session was not closed")
            check(not re.search(rb"^\d{3}[ -]", c.buf, re.M), "plaintext reply: %r" % c.buf)
        d.wait_log(r"event=limit limit=max_sessions_per_client client=127\.0\.0\.1 sessions=2")
        eq(first.noop()[0], 250, "the first session goes on")
    finally:
        first.close()


def tls_client(port, cert):
    """A harness Client over implicit TLS, greeting read."""
    c = Client(port, greeting=False)
    c.sock = client_context(cert).wrap_socket(c.sock, server_hostname="localhost")
    c.greeting = c.reply()
    return c


def test_tls_sigterm_idle_session_gets_421(ctx):
    d, port, out, cert = tls_daemon(ctx, "implicit", workers=1)
    with tls_client(port, cert) as c:
        check(c.greeting[0].startswith("220 "), "greeting over TLS: %r" % c.greeting)
        eq(c.cmd("EHLO x")[:4], "250-", "EHLO")
        d.signal(signal.SIGTERM)
        r = c.reply()
        check(r[0].startswith("421 4.3.2 "), "at SIGTERM, over TLS: %r" % r)
    eq(d.wait(15), 0, "master's exit status")
    check("reason=stopped" in d.log(), "no stop in the log:\n" + d.log())


def test_tls_sigterm_ends_a_stalled_handshake(ctx):
    # The handshake would wait 60 s; a stop must not wait for it.
    d, port, out, cert = tls_daemon(ctx, "implicit", workers=1, handshake_timeout=60)
    with Client(port, greeting=False) as c:
        hello = client_hello()
        c.send(hello[:len(hello) // 2])
        d.wait_log(r"event=connect ")
        d.signal(signal.SIGTERM)
        check(c.closed(15), "the stalled handshake outlived the stop")
        eq(c.buf, b"", "bytes sent to a stalled handshake")
    eq(d.wait(15), 0, "master's exit status")
    d.wait_log(r'event=tls-failed reason="server shutting down"')
