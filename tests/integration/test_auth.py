"""AUTH for submission (RFC 4954: PLAIN, LOGIN): a private Dovecot as the
backend (dovecot_fixture.py), a crypt(3) password file, a plugin's
on_auth; clients smtplib.login(), swaks, openssl s_client and raw
dialogues over Python's ssl; bad input, a Dovecot down or stopped, a
client that never answers, 1000 failures from one address across
workers, and no credential in any output, -d traces included."""
import base64
import os
import signal
import smtplib
import subprocess
import threading

from dovecot_fixture import Dovecot, hash_password
from harness import SMTPGATE, Client, check, eq, read_file, wait_until
from test_tls import client_context, make_cert, starttls

PASSWORDS = {"alice": "Pw-alice-7Q3zX", "carol": "Pw-carol-K9wq2"}
WRONG = "Wrong-pw-Z8m4L"


def b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def plain(user, password, authzid=""):
    return b64("%s\0%s\0%s" % (authzid, user, password))


def auth_group(**settings):
    parts = []
    for k, v in settings.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, str):
            v = '"%s"' % v
        elif isinstance(v, (list, tuple)):
            v = "[%s]" % ", ".join('"%s"' % x for x in v)
        parts.append("%s = %s;" % (k, v))
    return " auth = { %s };" % " ".join(parts)


def submission(ctx, mode, auth, cert=None, handler="debug", **settings):
    """A daemon with one listener: tls.mode mode (with a fresh certificate
    unless "off") and the auth group auth; (daemon, port, output, cert)."""
    extra = settings.pop("extra", "")
    tls = ""
    if mode != "off":
        if cert is None:
            cert, key = make_cert(ctx)
        else:
            key = cert[:-4] + ".key"
        tls = ' tls = { mode = "%s"; cert = "%s"; key = "%s"; };' % (mode, cert, key)
    settings.setdefault("error_sleep", 0)
    text, port, out = ctx.listener(handler=handler, extra=tls + auth_group(**auth) + extra,
                                   **settings)
    return ctx.daemon(ctx.config([text])), port, out, cert


def tls_client(port, cert, source=None):
    """A harness Client after EHLO and STARTTLS, greeted again."""
    c = Client(port, source=source)
    check(c.cmd("EHLO client.example").startswith("250"), "EHLO")
    starttls(c, cert)
    check(c.cmd("EHLO client.example").startswith("250"), "EHLO after STARTTLS")
    return c


def test_auth_dovecot_smtplib_implicit_tls(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    d, port, out, cert = submission(ctx, "implicit", dict(backend="dovecot",
                                    dovecot_socket=dv.socket, required=True))
    s = smtplib.SMTP_SSL("127.0.0.1", port, context=client_context(cert), timeout=20)
    s.ehlo("client.example")
    eq(s.esmtp_features.get("auth", "").split(), ["PLAIN", "LOGIN"], "AUTH keyword")
    eq(s.docmd("MAIL FROM:<alice@example.org>"), (530, b"5.7.0 Authentication required"),
       "MAIL before AUTH")
    s.close()
    replies = []
    for user, pw in (("alice", WRONG), ("nobody-here", WRONG)):
        # login() tries PLAIN, then LOGIN: two failures of max_failures' 3.
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=client_context(cert), timeout=20)
        try:
            s.login(user, pw)
            raise AssertionError("login with %s succeeded" % user)
        except smtplib.SMTPAuthenticationError as e:
            replies.append((e.smtp_code, e.smtp_error))
        s.close()
    eq(replies[0], (535, b"5.7.8 Authentication credentials invalid"), "wrong password")
    eq(replies[1], replies[0], "unknown user: the same reply as a wrong password")
    s = smtplib.SMTP_SSL("127.0.0.1", port, context=client_context(cert), timeout=20)
    eq(s.login("alice", PASSWORDS["alice"])[0], 235, "login")
    s.sendmail("alice@example.org", ["bob@example.org"], "Subject: hi\n\nsubmitted\n")
    s.quit()
    d.wait_log(r"event=auth result=ok mechanism=PLAIN user=alice tls=TLSv1")
    d.wait_log(r"event=message .*from=alice@example\.org .*result=accepted.* user=alice")
    d.wait_log(r"event=disconnect reason=quit .* user=alice")
    check(b"submitted" in read_file(out), "the message reached the plugin")


def test_auth_swaks_plain_login_starttls(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    d, port, out, cert = submission(ctx, "may", dict(backend="dovecot", dovecot_socket=dv.socket))
    for mech in ("PLAIN", "LOGIN"):
        rc, so, se = ctx.run(["swaks", "--server", "127.0.0.1:%d" % port, "--tls",
                              "--auth", mech, "--auth-user", "carol",
                              "--auth-password", PASSWORDS["carol"], "--from",
                              "carol@example.org", "--to", "dave@example.org",
                              "--body", "via swaks " + mech], timeout=30)
        eq(rc, 0, "swaks --auth %s (out: %s)" % (mech, so[-1500:]))
        check("235 2.7.0 Authentication successful" in so, "235 for %s: %s" % (mech, so[-800:]))
    d.wait_log(r"event=auth result=ok mechanism=LOGIN user=carol")
    rc, so, se = ctx.run(["swaks", "--server", "127.0.0.1:%d" % port, "--tls", "--auth", "LOGIN",
                          "--auth-user", "carol", "--auth-password", WRONG, "--from",
                          "carol@example.org", "--to", "dave@example.org"], timeout=30)
    check(rc != 0 and "535 5.7.8" in so, "swaks with a wrong password: %s" % so[-800:])


def test_auth_s_client_raw(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    d, port, out, cert = submission(ctx, "may", dict(backend="dovecot", dovecot_socket=dv.socket))
    text = "EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<alice@example.org>\nQUIT\n" % plain(
        "alice", PASSWORDS["alice"])
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        "127.0.0.1:%d" % port, "-CAfile", cert, "-crlf", "-ign_eof", "-quiet"],
                       input=text.encode(), capture_output=True, timeout=30)
    so = r.stdout.decode("utf-8", "replace")
    check("250-AUTH PLAIN LOGIN" in so, "AUTH offered after STARTTLS: %r" % so)
    check("235 2.7.0 Authentication successful" in so, "235: %r" % so)
    check("250 OK" in so and "221 Bye" in so, "MAIL and QUIT: %r" % so)


def test_auth_dialogue_bad_input(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    d, port, out, cert = submission(ctx, "may", dict(backend="dovecot", dovecot_socket=dv.socket,
                                                     max_failures=10))
    c = Client(port)
    ehlo = c.cmd("EHLO client.example")
    check("AUTH" not in ehlo, "AUTH offered before TLS: %r" % ehlo)
    eq(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])),
       "538 5.7.11 Encryption required for requested authentication mechanism", "before TLS")
    starttls(c, cert)
    check("250-AUTH PLAIN LOGIN" in c.cmd("EHLO client.example"), "AUTH after STARTTLS")
    eq(c.cmd("AUTH"), "501 5.5.4 Syntax: AUTH mechanism [initial-response]", "no mechanism")
    eq(c.cmd("AUTH CRAM-MD5"), "504 5.5.4 Unrecognized authentication type", "CRAM-MD5")
    eq(c.cmd("AUTH PLAIN"), "334 ", "PLAIN without initial response")
    eq(c.cmd("*"), "501 5.0.0 Authentication cancelled", "cancel")
    eq(c.cmd("AUTH PLAIN !!notbase64"), "501 5.5.2 Cannot decode response", "bad base64")
    eq(c.cmd("AUTH PLAIN"), "334 ", "PLAIN again")
    eq(c.cmd("QUJD="), "501 5.5.2 Cannot decode response", "base64 with bad padding bits")
    eq(c.cmd("AUTH PLAIN"), "334 ", "PLAIN for a long response")
    eq(c.cmd("A" * 12292), "500 5.5.6 Authentication Exchange line is too long", "12292 octets")
    eq(c.cmd("AUTH PLAIN " + "A" * 13000), "500 Error: line too long", "long initial response")
    eq(c.cmd("AUTH PLAIN " + b64("no-nul-here")), "501 5.5.2 Malformed PLAIN response",
       "PLAIN without NULs")
    eq(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6", "LOGIN: Username:")
    eq(c.cmd(b64("alice")), "334 UGFzc3dvcmQ6", "LOGIN: Password:")
    eq(c.cmd(b64(WRONG)), "535 5.7.8 Authentication credentials invalid", "LOGIN, wrong password")
    eq(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"], authzid="carol")),
       "535 5.7.8 Authentication credentials invalid", "authzid not the user")
    eq(c.cmd("MAIL FROM:<alice@example.org> AUTH=<>"), "250 OK", "MAIL AUTH=<> (auth optional)")
    check(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])).startswith("503 "),
          "AUTH in a transaction")
    eq(c.cmd("RSET"), "250 OK", "RSET")
    eq(c.cmd("AUTH LOGIN " + b64("alice")), "334 UGFzc3dvcmQ6", "LOGIN, user as initial response")
    eq(c.cmd(b64(PASSWORDS["alice"])), "235 2.7.0 Authentication successful", "LOGIN")
    eq(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])),
       "503 5.5.1 Error: already authenticated", "AUTH twice")
    eq(c.cmd("MAIL FROM:<alice@example.org> AUTH=alice@example.org"), "250 OK", "MAIL AUTH=")
    c.close()
    d.wait_log(r"event=auth result=fail mechanism=PLAIN failures=2 reason=\"authzid not allowed\"")


def test_auth_dovecot_down_or_stopped(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    d, port, out, cert = submission(ctx, "may", dict(backend="dovecot", dovecot_socket=dv.socket,
                                                     dovecot_timeout=2))
    c = tls_client(port, cert)
    eq(c.cmd("AUTH PLAIN " + plain("alice", WRONG)), "535 5.7.8 Authentication credentials invalid",
       "Dovecot up")
    pid = dv.auth_pid()
    os.kill(pid, signal.SIGSTOP)  # our Dovecot's auth process: a slow Dovecot
    try:
        eq(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])),
           "454 4.7.0 Temporary authentication failure", "Dovecot not answering")
    finally:
        os.kill(pid, signal.SIGCONT)
    d.wait_log(r"event=auth result=tempfail mechanism=PLAIN reason=\"no answer from Dovecot in time\"")
    dv.stop()
    eq(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])),
       "454 4.7.0 Temporary authentication failure", "Dovecot down")
    eq(c.cmd("AUTH LOGIN " + b64("alice")), "334 UGFzc3dvcmQ6", "LOGIN")
    eq(c.cmd(b64(PASSWORDS["alice"])), "454 4.7.0 Temporary authentication failure",
       "Dovecot down, LOGIN")
    c.close()
    dv.start()  # back: the worker connects again
    c = tls_client(port, cert)
    eq(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])),
       "235 2.7.0 Authentication successful", "Dovecot back")


def test_auth_client_never_answers(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    d, port, out, cert = submission(ctx, "may", dict(backend="dovecot", dovecot_socket=dv.socket),
                                    command_timeout=2)
    c = tls_client(port, cert)
    eq(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6", "LOGIN")
    r = c.reply()  # nothing sent: the command timeout runs out
    check(r[0].startswith("421 4.4.2"), "timeout reply: %r" % r)
    check(c.closed(), "connection closed after the timeout")
    d.wait_log(r"event=disconnect reason=timeout")


def failures_from(port, source, n, password):
    """n AUTH PLAIN attempts from source, reconnecting when closed; the
    reply codes."""
    codes = []
    while len(codes) < n:
        c = Client(port, source=source)
        try:
            c.cmd("EHLO flood.example")
            while len(codes) < n:
                r = c.cmd("AUTH PLAIN " + plain("alice", password))
                codes.append(int(r[:3]))
                if r.startswith("421"):
                    break
        finally:
            c.close()
    return codes


def test_auth_failure_limit_across_workers(ctx):
    pwfile = ctx.write("passwd", "alice:%s\n" % hash_password(PASSWORDS["alice"], "$6$"))
    os.chmod(pwfile, 0o600)
    d, port, out, cert = submission(
        ctx, "off", dict(backend="file", file=pwfile, plaintext_allowed=True, max_failures=1000,
                         client_failure_limit=10, client_failure_window=600),
        workers=4, soft_error_limit=100000, hard_error_limit=100000, max_idle_commands=100000,
        extra=" client_limit_exceptions = [];")
    codes, threads = [], []
    lock = threading.Lock()

    def flood():
        got = failures_from(port, "127.0.0.2", 125, WRONG)
        with lock:
            codes.extend(got)
    for _ in range(8):
        threads.append(threading.Thread(target=flood))
        threads[-1].start()
    for t in threads:
        t.join(120)
    eq(len(codes), 1000, "attempts made")
    fails, limited = codes.count(535), codes.count(454)
    check(1 <= fails <= 10, "535s from one address: %d (limit 10)" % fails)
    eq(fails + limited, 1000, "every other attempt got 454 (codes: %s)" % sorted(set(codes)))
    # Four workers served the flood at once: the count held across them.
    pids = set()
    for line in d.log().splitlines():
        if "limit=client_failure_limit client=127.0.0.2" in line:
            pids.add(line.split("worker[", 1)[1].split("]", 1)[0])
    check(len(pids) >= 2, "the limit was applied by %d worker(s)" % len(pids))
    # Another address is not affected.
    c = Client(port, source="127.0.0.3")
    c.cmd("EHLO other.example")
    eq(c.cmd("AUTH PLAIN " + plain("alice", WRONG)), "535 5.7.8 Authentication credentials invalid",
       "another client's failure")
    eq(c.cmd("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])),
       "235 2.7.0 Authentication successful", "another client")
    c.close()


def test_auth_file_backend_hashes_and_reload(ctx):
    users = {"yes": ("Pw-yes-1", "$y$"), "sha": ("Pw-sha-2", "$6$"), "bcr": ("Pw-bcr-3", "$2b$")}
    pwfile = ctx.write("passwd", "".join("%s:%s\n" % (u, hash_password(p, pre))
                                         for u, (p, pre) in users.items()))
    os.chmod(pwfile, 0o644)
    cert, key = make_cert(ctx)
    text, port, out = ctx.listener(extra=' tls = { mode = "implicit"; cert = "%s"; key = "%s"; };'
                                   % (cert, key) + auth_group(backend="file", file=pwfile),
                                   error_sleep=0)
    conf = ctx.config([text])
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", conf])
    eq(rc, 0, "-t (stderr: %s)" % se)
    check("setting=auth.file" in se and "readable or writable by others" in se,
          "-t warns of a world-readable password file: %s" % se)
    os.chmod(pwfile, 0o600)
    d = ctx.daemon(conf)
    for user, (pw, _) in users.items():
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=client_context(cert), timeout=20)
        eq(s.login(user, pw)[0], 235, "login of %s" % user)
        s.quit()
    with open(pwfile, "w") as f:
        f.write("sha:%s\n" % hash_password("Pw-sha-new", "$6$"))
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded generation=1")

    def new_password_works():
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=client_context(cert), timeout=20)
        try:
            return s.login("sha", "Pw-sha-new")[0] == 235
        except smtplib.SMTPAuthenticationError:
            return False
        finally:
            s.close()
    wait_until(new_password_works, what="the reread password file in use")


def test_auth_plugin_backend(ctx):
    d, port, out, cert = submission(ctx, "off", dict(backend="plugin", plaintext_allowed=True,
                                                     required=True), handler="authcheck")
    c = Client(port)
    c.cmd("EHLO client.example")
    eq(c.cmd("AUTH PLAIN " + plain("temp", "x")), "454 4.7.0 Temporary authentication failure",
       "plugin TEMPFAIL")
    eq(c.cmd("AUTH PLAIN " + plain("plug", "out")), "535 5.7.8 Authentication credentials invalid",
       "plugin REJECT: the core's 535, not the plugin's text")
    eq(c.cmd("AUTH PLAIN " + plain("plug", "in")), "235 2.7.0 Authentication successful",
       "plugin ACCEPT")
    eq(c.cmd("MAIL FROM:<plug@example.org> AUTH=<>"), "250 OK", "MAIL")
    d.wait_log(r"on_mail from=plug@example.org auth_user=plug auth_mechanism=PLAIN "
               r"options=AUTH=<>")
    c.close()


def test_auth_plugin_backend_needs_on_auth(ctx):
    text, port, out = ctx.listener(extra=auth_group(backend="plugin"))
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text])])
    check(rc != 0 and "no on_auth hook" in se, "-t with a plugin lacking on_auth: %s" % se)


def test_auth_config_checks(ctx):
    cases = [
        (auth_group(backend="file"), "auth.file"),
        (auth_group(backend="dovecot", mechanisms=["PLAIN", "CRAM-MD5"]), "CRAM-MD5"),
        (auth_group(required=True), "needs an authentication backend"),
        (auth_group(backend="dovecot", dovecot_socket="relative/path"), "absolute path"),
        (auth_group(backend="ldap"), "ldap"),
        (auth_group(backend="file", file="/nonexistent/pw"), "/nonexistent/pw"),
        (auth_group(backend="dovecot", dovecot_socket=ctx.path("no-such-socket")),
         "auth.dovecot_socket"),
    ]
    for group, want in cases:
        text, port, out = ctx.listener(extra=group)
        rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text])])
        check(rc != 0 and want in se, "%s: -t status %d, stderr: %s" % (group, rc, se))


def test_auth_dovecot_socket_checked_after_chroot(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    jail = ctx.path("jail")
    os.mkdir(jail)
    text, port, out = ctx.listener(chroot=jail, extra=auth_group(backend="dovecot",
                                                                 dovecot_socket=dv.socket))
    rc, so, se = ctx.run([SMTPGATE, "-t", "-f", ctx.config([text], top='user = "nobody";')])
    check(rc != 0 and "after chroot and user switch" in se and "auth.dovecot_socket" in se,
          "-t with the socket outside the chroot: %s" % se)
    # The socket inside the chroot, at the same path as seen from there.
    inner = os.path.join(jail, "run")
    os.mkdir(inner)
    subprocess.run(["mount", "--bind", os.path.dirname(dv.socket), inner], check=False)
    try:
        if not os.path.exists(os.path.join(inner, "auth-client")):
            return  # no bind mounts here: the refusal above is what can be shown
        text, port, out = ctx.listener(chroot=jail, extra=auth_group(
            backend="dovecot", dovecot_socket="/run/auth-client"))
        rc, so, se = ctx.run([SMTPGATE, "-t", "-f", ctx.config([text], top='user = "nobody";')])
        eq(rc, 0, "-t with the socket inside the chroot (stderr: %s)" % se)
    finally:
        subprocess.run(["umount", inner], check=False)


def test_auth_sender_must_match(ctx):
    pwfile = ctx.write("passwd", "alice:%s\n" % hash_password(PASSWORDS["alice"], "$6$"))
    senders = ctx.write("senders", "# user: addresses\nalice: alice@example.org, @alice.example\n")
    d, port, out, cert = submission(ctx, "off", dict(backend="file", file=pwfile,
                                                     plaintext_allowed=True,
                                                     sender_must_match=senders))
    c = Client(port)
    c.cmd("EHLO client.example")
    eq(c.code("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])), 235, "AUTH")
    eq(c.cmd("MAIL FROM:<bob@example.org>"),
       "553 5.7.1 <bob@example.org>: Sender address rejected: not owned by the authenticated user",
       "someone else's address")
    eq(c.cmd("MAIL FROM:<Alice@Example.org>"), "250 OK", "her own address")
    eq(c.cmd("RSET"), "250 OK", "RSET")
    eq(c.cmd("MAIL FROM:<anything@alice.example>"), "250 OK", "her domain")
    c.close()
    d.wait_log(r"event=auth-sender from=bob@example\.org user=alice action=reject")


def test_auth_credentials_never_in_output(ctx):
    dv = Dovecot(ctx, PASSWORDS).start()
    d_text, port, out = ctx.listener(extra=auth_group(backend="dovecot", dovecot_socket=dv.socket,
                                                      plaintext_allowed=True, max_failures=20),
                                     error_sleep=0)
    d = ctx.daemon(ctx.config([d_text]), args=["-d"])
    c = Client(port)
    c.cmd("EHLO client.example")
    pw, user = PASSWORDS["alice"], "alice"
    c.cmd("AUTH PLAIN " + plain(user, WRONG))
    c.cmd("AUTH PLAIN")
    c.cmd(plain(user, WRONG))
    c.cmd("AUTH LOGIN " + b64(user))
    c.cmd(b64(WRONG))
    c.cmd("AUTH LOGIN")
    c.cmd(b64(user))
    c.cmd(b64(pw))
    c.close()
    c = Client(port)
    c.cmd("EHLO client.example")
    eq(c.code("AUTH PLAIN " + plain(user, pw)), 235, "PLAIN")
    check(c.transaction("Subject: x\n\nbody\n", helo=None).startswith("250"), "message")
    c.cmd("QUIT")
    c.close()
    d.wait_log(r"event=disconnect reason=quit .* user=alice")
    d.stop()
    everything = (d.log() + read_file(d.out_path).decode("utf-8", "replace") +
                  read_file(out).decode("utf-8", "replace"))
    secrets = [pw, WRONG, b64(pw), b64(WRONG), plain(user, pw), plain(user, WRONG)]
    for sec in secrets:
        check(sec not in everything, "a credential (%s...) appears in the output" % sec[:4])
    check("trace sid=" in everything and "<hidden>" in everything,
          "the -d trace ran and hid the responses")


def test_auth_relay_and_hide_client_proxy(ctx):
    """An authenticated client relays through the proxy from outside
    relay_networks (relay_authenticated), without X-Peer (hide_client)."""
    pwfile = ctx.write("passwd", "alice:%s\n" % hash_password(PASSWORDS["alice"], "$6$"))
    up_text, up_port, up_out = ctx.listener()
    text, port, _ = ctx.listener(
        handler="proxy", remote="127.0.0.1:%d" % up_port, error_sleep=0,
        extra='proxy = { relay_networks = [ "192.0.2.0/24" ]; hide_client = true; };' +
        auth_group(backend="file", file=pwfile, plaintext_allowed=True))
    d = ctx.daemon(ctx.config([text, up_text]))
    c = Client(port, source="127.0.0.9")
    c.cmd("EHLO client.example")
    eq(c.code("MAIL FROM:<alice@example.org>"), 250, "MAIL")
    check(c.cmd("RCPT TO:<bob@example.net>").startswith("5"), "relay refused before AUTH")
    eq(c.cmd("RSET"), "250 OK", "RSET")
    eq(c.code("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])), 235, "AUTH")
    r = c.transaction("Subject: relayed\n\nhello\n", mail="MAIL FROM:<alice@example.org>",
                      rcpt="RCPT TO:<bob@example.net>", helo=None)
    check(r.startswith("250"), "relayed after AUTH: %r" % r)
    c.close()
    wait_until(lambda: b"relayed" in read_file(up_out), what="the relayed message")
    # The upstream (debug) adds its own X-Peer, of the proxy's connection.
    check(b"127.0.0.9" not in read_file(up_out),
          "the client's address with hide_client: %r" % read_file(up_out))
    # Without hide_client, and relay_authenticated off: refused even after AUTH.
    up2_text, up2_port, up2_out = ctx.listener()
    text2, port2, _ = ctx.listener(
        handler="proxy", remote="127.0.0.1:%d" % up2_port, error_sleep=0,
        extra='proxy = { relay_networks = [ "192.0.2.0/24" ]; relay_authenticated = false; };' +
        auth_group(backend="file", file=pwfile, plaintext_allowed=True))
    d.stop()
    ctx.daemon(ctx.config([text2, up2_text], name="second.conf"))
    c = Client(port2)
    c.cmd("EHLO client.example")
    eq(c.code("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])), 235, "AUTH")
    eq(c.code("MAIL FROM:<alice@example.org>"), 250, "MAIL")
    check(c.cmd("RCPT TO:<bob@example.net>").startswith("5"),
          "relay refused with relay_authenticated = false")
    c.close()


def test_auth_hide_client_maildir(ctx):
    pwfile = ctx.write("passwd", "alice:%s\n" % hash_password(PASSWORDS["alice"], "$6$"))
    box = ctx.path("Maildir")
    text, port, _ = ctx.listener(handler="maildir", error_sleep=0, extra=(
        'maildir = { path = "%s"; hide_client = true; };' % box) +
        auth_group(backend="file", file=pwfile, plaintext_allowed=True))
    ctx.daemon(ctx.config([text]))
    for authenticated in (False, True):
        c = Client(port, source="127.0.0.5")
        c.cmd("EHLO laptop.example")
        if authenticated:
            eq(c.code("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])), 235, "AUTH")
        r = c.transaction("Subject: %s\n\nx\n" % authenticated, helo=None)
        check(r.startswith("250"), "message: %r" % r)
        c.close()
    msgs = {}
    for name in os.listdir(os.path.join(box, "new")):
        data = read_file(os.path.join(box, "new", name)).decode()
        msgs["Subject: True" in data] = data
    check("([127.0.0.5])" in msgs[False], "Received of an anonymous client: %s" % msgs[False])
    check("127.0.0.5" not in msgs[True] and "Received: from laptop.example\n" in msgs[True],
          "Received of an authenticated client with hide_client: %s" % msgs[True])


def test_auth_forgotten_at_starttls(ctx):
    """An identity from before STARTTLS (plaintext_allowed) does not
    survive the handshake (RFC 3207 4.2)."""
    pwfile = ctx.write("passwd", "alice:%s\n" % hash_password(PASSWORDS["alice"], "$6$"))
    d, port, out, cert = submission(ctx, "may", dict(backend="file", file=pwfile,
                                                     plaintext_allowed=True, required=True))
    c = Client(port)
    c.cmd("EHLO client.example")
    eq(c.code("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])), 235, "AUTH in plaintext")
    starttls(c, cert)
    c.cmd("EHLO client.example")
    eq(c.cmd("MAIL FROM:<alice@example.org>"), "530 5.7.0 Authentication required",
       "MAIL after STARTTLS without a new AUTH")
    eq(c.code("AUTH PLAIN " + plain("alice", PASSWORDS["alice"])), 235, "AUTH again over TLS")
    eq(c.cmd("MAIL FROM:<alice@example.org>"), "250 OK", "MAIL")
    c.close()
