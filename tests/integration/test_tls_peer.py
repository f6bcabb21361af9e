"""What TLS shows beyond the channel: the plugin ABI 1.1 fields (debug's
frame, maildir's Received line), client certificates (verify_client with
ca_file: verified, unverified, missing, expired), and the SNI map that
picks a certificate by the name the client asks for.  Certificates are
made here with the openssl command (an expired one with `openssl ca
-startdate/-enddate`, no clock games)."""
import os
import re
import smtplib
import subprocess

from harness import EX_CONFIG, SMTPGATE, check, eq, read_file, wait_until
from test_tls import client_context, make_cert, s_client


def make_ca(ctx):
    """A CA (P-256) and a minimal `openssl ca` setup; (cert, key, cnf)."""
    cert, key = ctx.path("ca.crt"), ctx.path("ca.key")
    rc, so, se = ctx.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                          "/CN=Test Client CA", "-keyout", key, "-out", cert], timeout=30)
    eq(rc, 0, "openssl req for the CA (stderr: %s)" % se)
    open(ctx.path("index.txt"), "w").close()
    ctx.write("serial", "1000\n")
    cnf = ctx.write("ca.cnf", "[ca]\ndefault_ca = d\n[d]\ndir = %s\ndatabase = $dir/index.txt\n"
                    "new_certs_dir = $dir\nserial = $dir/serial\ndefault_md = sha256\n"
                    "policy = p\nunique_subject = no\n[p]\norganizationName = optional\n"
                    "commonName = supplied\n" % ctx.dir)
    return cert, key, cnf


def client_cert(ctx, ca, name, start=None, end=None, days=2):
    """A client certificate signed by ca, valid from start to end
    (YYYYMMDDHHMMSSZ) or for days from now; (cert, key)."""
    ca_cert, ca_key, cnf = ca
    cert, key, csr = ctx.path(name + ".crt"), ctx.path(name + ".key"), ctx.path(name + ".csr")
    rc, so, se = ctx.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-subj",
                          "/O=Example/CN=%s" % name, "-keyout", key, "-out", csr], timeout=30)
    eq(rc, 0, "openssl req for %s (stderr: %s)" % (name, se))
    dates = ["-startdate", start, "-enddate", end] if start else ["-days", str(days)]
    rc, so, se = ctx.run(["openssl", "ca", "-batch", "-notext", "-config", cnf, "-cert", ca_cert,
                          "-keyfile", ca_key, "-in", csr, "-out", cert] + dates, timeout=30)
    eq(rc, 0, "openssl ca for %s (stderr: %s)" % (name, se))
    return cert, key


def fingerprint(ctx, cert):
    rc, so, se = ctx.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", cert])
    eq(rc, 0, "openssl x509 -fingerprint (stderr: %s)" % se)
    return so.strip().split("=", 1)[1]


def peer_daemon(ctx, verify, ca_cert, handler="debug", extra=""):
    """A daemon whose one listener offers STARTTLS and asks for client
    certificates; (daemon, port, output, server cert)."""
    cert, key = make_cert(ctx)
    group = 'tls = { mode = "may"; cert = "%s"; key = "%s"; verify_client = "%s"; ' \
            'ca_file = "%s"; };' % (cert, key, verify, ca_cert)
    text, port, out = ctx.listener(handler=handler, extra=group + extra)
    return ctx.daemon(ctx.config([text])), port, out, cert


def send_with_cert(port, server_cert, cert=None, key=None, sni="localhost"):
    """One message over STARTTLS with s_client, presenting cert/key;
    (status, stdout, stderr)."""
    args = ["-starttls", "smtp", "-connect", "127.0.0.1:%d" % port, "-CAfile", server_cert,
            "-servername", sni]
    if cert:
        args += ["-cert", cert, "-key", key]
    return s_client(args, b"EHLO c.example\nMAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>\n"
                          b"DATA\nSubject: peer\n\nbody\n.\nQUIT\n")


def test_tls_view_in_debug_frame(ctx):
    cert, key = make_cert(ctx)
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; };'
                                   % (cert, key))
    d = ctx.daemon(ctx.config([text]))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.example")
        s.starttls(context=client_context(cert))
        s.ehlo("client.example")
        s.sendmail("a@example.org", ["b@example.org"], "Subject: v\r\n\r\nx\r\n")
    wait_until(lambda: b"END MESSAGE" in read_file(out), what="the message in the output")
    # No SNI: Python sends none for an IP address (RFC 6066 3).
    frame = read_file(out).decode()
    m = re.search(r"^tls protocol: (TLSv1\.3)\ntls cipher: (TLS_\w+)\nSubject: v\n"
                  r"X-Peer: 127\.0\.0\.1\n", frame, re.M)
    check(m, "no TLS lines (and nothing more) before the message:\n" + frame)
    d.wait_log(r"event=tls tls=TLSv1\.3 cipher=%s sni=\"\" client_cert=none$" % m.group(2))
    # A plaintext session's frame stays smtpd.py's: no tls line.
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.sendmail("a@example.org", ["b@example.org"], "Subject: plain\r\n\r\nx\r\n")
    wait_until(lambda: read_file(out).count(b"END MESSAGE") == 2, what="the second message")
    second = read_file(out).decode().split("---------- MESSAGE FOLLOWS ----------\n")[2]
    check(second.startswith("mail options: ['SIZE=21']\nSubject: plain\n"),
          "plaintext frame: %r" % second)


def test_tls_sni_name_in_view_and_log(ctx):
    cert, key = make_cert(ctx)
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; };'
                                   % (cert, key))
    d = ctx.daemon(ctx.config([text]))
    rc, so, se = send_with_cert(port, cert, sni="MX.Example.ORG")
    eq(rc, 0, "s_client (stderr: %s)" % se)
    wait_until(lambda: b"END MESSAGE" in read_file(out), what="the message in the output")
    check("\ntls sni: mx.example.org\n" in read_file(out).decode(),
          "SNI name, folded: %r" % read_file(out))
    d.wait_log(r'event=tls tls=TLSv1\.3 cipher=\S+ sni=mx\.example\.org client_cert=none')


def test_tls_received_with_esmtps(ctx):
    cert, key = make_cert(ctx)
    md = ctx.path("Maildir")
    text, port, _ = ctx.listener(handler="maildir", extra='maildir = { path = "%s"; }; '
                                 'tls = { mode = "may"; cert = "%s"; key = "%s"; };'
                                 % (md, cert, key))
    d = ctx.daemon(ctx.config([text]))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.example")
        s.starttls(context=client_context(cert))
        s.ehlo("client.example")
        s.sendmail("a@example.org", ["b@example.org"], "Subject: r\r\n\r\nx\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.helo("plain.example")
        s.sendmail("a@example.org", ["b@example.org"], "Subject: p\r\n\r\nx\r\n")
    new = os.path.join(md, "new")
    wait_until(lambda: len(os.listdir(new)) == 2, what="two messages in the Maildir")
    texts = [read_file(os.path.join(new, n)).decode() for n in os.listdir(new)]
    tls = [t for t in texts if "Subject: r" in t][0]
    plain = [t for t in texts if "Subject: p" in t][0]
    check(re.search(r"^Received: from client\.example \(\[127\.0\.0\.1\]\)\n"
                    r"\t\(using TLSv1\.3 with cipher TLS_\w+\)\n"
                    r"\tby \S+ \(smtpgate\) with ESMTPS id \w+\n", tls, re.M),
          "Received over TLS:\n" + tls)
    check(re.search(r"^Received: from plain\.example \(\[127\.0\.0\.1\]\)\n"
                    r"\tby \S+ \(smtpgate\) with SMTP id \w+\n", plain, re.M),
          "Received in plaintext:\n" + plain)


def test_tls_client_cert_required(ctx):
    ca = make_ca(ctx)
    good = client_cert(ctx, ca, "good-client")
    expired = client_cert(ctx, ca, "old-client", start="20200101000000Z", end="20200201000000Z")
    d, port, out, server_cert = peer_daemon(ctx, "required", ca[0])
    rc, so, se = send_with_cert(port, server_cert, *good)
    eq(rc, 0, "s_client with a good certificate (stderr: %s)" % se)
    check("250 OK" in so and "221 Bye" in so, "session with a good certificate: %r" % so)
    wait_until(lambda: b"END MESSAGE" in read_file(out), what="the message in the output")
    fp = fingerprint(ctx, good[0])
    frame = read_file(out).decode()
    check("\ntls peer subject: CN=good-client,O=Example\ntls peer fingerprint: %s\n"
          "tls peer verified: yes\n" % fp in frame, "client certificate in the frame:\n" + frame)
    d.wait_log(r'client_cert=verified client_subject="CN=good-client,O=Example" '
               r'client_fingerprint=%s$' % re.escape(fp))
    # Expired: the handshake fails, with the reason in the log; nothing
    # is answered in plaintext.
    rc, so, se = send_with_cert(port, server_cert, *expired)
    check("250 OK" not in so, "an expired certificate got a session: %r" % so)
    d.wait_log(r'event=tls-failed reason="certificate verify failed: certificate has expired"')
    # None at all: refused too.
    rc, so, se = send_with_cert(port, server_cert)
    check("250 OK" not in so, "no certificate got a session: %r" % so)
    d.wait_log(r'event=tls-failed reason="peer did not return a certificate"')
    eq(read_file(out).decode().count("END MESSAGE"), 1, "messages delivered")


def test_tls_client_cert_optional(ctx):
    ca = make_ca(ctx)
    expired = client_cert(ctx, ca, "old-client", start="20200101000000Z", end="20200201000000Z")
    stranger = make_cert(ctx, "stranger")  # self-signed: no chain to the CA
    d, port, out, server_cert = peer_daemon(ctx, "optional", ca[0])
    for cert in (expired, stranger, (None, None)):
        rc, so, se = send_with_cert(port, server_cert, *cert)
        eq(rc, 0, "s_client with %s (stderr: %s)" % (cert[0], se))
        check("250 OK" in so, "optional: no session with %s: %r" % (cert[0], so))
    wait_until(lambda: read_file(out).count(b"END MESSAGE") == 3, what="three messages")
    frames = read_file(out).decode().split("---------- MESSAGE FOLLOWS ----------\n")[1:]
    check("tls peer subject: CN=old-client,O=Example\n" in frames[0] and
          "tls peer verified: no\n" in frames[0], "expired, optional:\n" + frames[0])
    check("tls peer subject: CN=localhost\n" in frames[1] and
          "tls peer verified: no\n" in frames[1], "self-signed, optional:\n" + frames[1])
    check("tls peer" not in frames[2], "no certificate, optional:\n" + frames[2])
    d.wait_log(r'client_cert=unverified client_subject="CN=old-client,O=Example"')
    d.wait_log(r"client_cert=none$")


def test_tls_client_cert_settings_checked(ctx):
    cert, key = make_cert(ctx)
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; '
                                   'verify_client = "required"; };' % (cert, key))
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="noca.conf")])
    eq(rc, EX_CONFIG, "verify_client without ca_file (stderr: %s)" % se)
    check("verify_client" in se and "tls.ca_file" in se, "error: %r" % se)
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; '
                                   'verify_client = "maybe"; ca_file = "%s"; };'
                                   % (cert, key, cert))
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="bad.conf")])
    eq(rc, EX_CONFIG, "verify_client \"maybe\" (stderr: %s)" % se)
    check("setting=verify_client" in se and "required" in se, "error: %r" % se)
    missing = ctx.path("missing-ca.pem")
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; '
                                   'verify_client = "optional"; ca_file = "%s"; };'
                                   % (cert, key, missing))
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="missing.conf")])
    eq(rc, EX_CONFIG, "a ca_file that does not exist (stderr: %s)" % se)
    check("tls.ca_file" in se and missing in se, "error: %r" % se)


def served_subject(port, sni):
    """The subject of the certificate the server shows for sni (None: no
    SNI sent)."""
    args = ["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % port]
    args += ["-servername", sni] if sni else ["-noservername"]
    r = subprocess.run(args, input=b"QUIT\n", capture_output=True, timeout=20)
    m = re.search(rb"^subject=(.*)$", r.stdout, re.M)
    check(m, "no certificate shown for %r: %r" % (sni, r.stdout[-500:]))
    return m.group(1).decode().replace(" ", "")


def test_tls_sni_map(ctx):
    default = make_cert(ctx, "default")
    names = {}
    for n in ("a", "b"):
        cert, key = ctx.path(n + ".crt"), ctx.path(n + ".key")
        rc, so, se = ctx.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                              "/CN=mx.%s.example" % n, "-keyout", key, "-out", cert], timeout=30)
        eq(rc, 0, "openssl req (stderr: %s)" % se)
        names[n] = (cert, key)
    sni = ('sni = ( { name = "mx.a.example"; cert = "%s"; key = "%s"; }, '
           '{ name = "*.b.example"; cert = "%s"; key = "%s"; } );'
           % (names["a"] + names["b"]))
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; %s };'
                                   % (default + (sni,)))
    ctx.daemon(ctx.config([text]))
    eq(served_subject(port, "mx.a.example"), "CN=mx.a.example", "exact name")
    eq(served_subject(port, "MX.A.Example"), "CN=mx.a.example", "name in another case")
    eq(served_subject(port, "smtp.b.example"), "CN=mx.b.example", "wildcard")
    eq(served_subject(port, "x.smtp.b.example"), "CN=localhost", "a wildcard is one label")
    eq(served_subject(port, "other.example"), "CN=localhost", "unknown name: the default")
    eq(served_subject(port, None), "CN=localhost", "no SNI: the default")
    # The map is checked: a name twice, a bad name, a pair that does not load.
    for bad, what in (('{ name = "mx.a.example"; cert = "%s"; key = "%s"; }, '
                       '{ name = "mx.a.example"; cert = "%s"; key = "%s"; }'
                       % (names["a"] + names["a"]), "is named twice"),
                      ('{ name = "Mx.A"; cert = "%s"; key = "%s"; }' % names["a"],
                       "lower-case host name"),
                      ('{ name = "mx.a.example"; cert = "%s"; key = "%s"; }'
                       % (names["a"][0], names["b"][1]), "does not match")):
        text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; '
                                       'sni = ( %s ); };' % (default + (bad,)))
        rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="bad.conf")])
        eq(rc, EX_CONFIG, "sni %r (stderr: %s)" % (bad, se))
        check(what in se and "sni" in se, "error for %r: %r" % (bad, se))
