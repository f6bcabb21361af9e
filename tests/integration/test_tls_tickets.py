"""TLS session resumption shared by the workers: ticket keys made by the
master, rotated on a schedule and at SIGHUP (the previous key still
reads tickets for one rotation), and a reload that reads the
certificates again without cutting a session, or fails as a whole when
one does not load.  Clients: openssl s_client -sess_out/-sess_in and
smtplib."""
import os
import re
import signal
import smtplib
import subprocess

from harness import check, eq, read_file, wait_until
from test_tls import client_context, make_cert


def ticket_daemon(ctx, top="", **settings):
    """A daemon with one STARTTLS listener; (daemon, port, cert, key)."""
    cert, key = make_cert(ctx)
    text, port, out = ctx.listener(extra='tls = { mode = "may"; cert = "%s"; key = "%s"; };'
                                   % (cert, key), **settings)
    return ctx.daemon(ctx.config([text], top=top)), port, cert, key


def session(ctx, d, port, sess_in=None, sess_out=None):
    """One STARTTLS session with s_client, saving or offering a session;
    (reused?, pid of the worker that served it)."""
    before = d.log().count("event=disconnect")
    args = ["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % port,
            "-servername", "localhost", "-crlf", "-ign_eof"]
    if sess_in:
        args += ["-sess_in", sess_in]
    if sess_out:
        args += ["-sess_out", sess_out]
    r = subprocess.run(args, input=b"EHLO c.example\nQUIT\n", capture_output=True,
                       timeout=20)
    so = r.stdout.decode("utf-8", "replace")
    m = re.search(r"^(New|Reused), TLSv1\.3", so, re.M)
    check(m and "221 Bye" in so, "s_client session: %r %r" % (so[-800:], r.stderr[-400:]))
    wait_until(lambda: d.log().count("event=disconnect") > before, what="the session's end")
    tls = [ln for ln in d.log().splitlines() if " event=tls " in ln][-1]
    return m.group(1) == "Reused", int(re.search(r"worker\[(\d+)\]", tls).group(1))


def test_tls_ticket_resumes_on_another_worker(ctx):
    # One session per worker: each resumption is served by a process
    # that did not issue the ticket (and shares nothing with it but the
    # master's keys).
    d, port, cert, key = ticket_daemon(ctx, max_sessions_per_worker=1)
    sess = ctx.path("sess.pem")
    reused, first = session(ctx, d, port, sess_out=sess)
    check(not reused, "the first session cannot be a resumption")
    pids = {first}
    for i in range(3):
        reused, pid = session(ctx, d, port, sess_in=sess)
        check(reused, "session %d: a full handshake on worker %d" % (i + 1, pid))
        check(pid not in pids, "worker %d served twice (max_sessions_per_worker 1)" % pid)
        pids.add(pid)
    # A resumed session gets a fresh ticket, which resumes in turn (a TLS
    # 1.3 client need not show one ticket twice).
    for i in range(3):
        fresh = ctx.path("sess%d.pem" % i)
        reused, pid = session(ctx, d, port, sess_in=sess, sess_out=fresh)
        check(reused, "chained session %d: a full handshake" % (i + 1))
        check(os.path.exists(fresh), "no new ticket after resumption %d" % (i + 1))
        sess = fresh


def test_tls_ticket_keys_rotate_at_sighup(ctx):
    d, port, cert, key = ticket_daemon(ctx)
    t0, t1 = ctx.path("t0.pem"), ctx.path("t1.pem")
    session(ctx, d, port, sess_out=t0)
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=tls-ticket-rotate reason=reload rotation=1$")
    d.wait_log(r"event=reloaded generation=1")
    # The key before the reload still reads its tickets ...
    check(session(ctx, d, port, sess_in=t0)[0], "a ticket of the previous key not resumed")
    session(ctx, d, port, sess_out=t1)
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=tls-ticket-rotate reason=reload rotation=2$")
    d.wait_log(r"event=reloaded generation=2")
    # ... for one rotation only.
    check(not session(ctx, d, port, sess_in=t0)[0], "a ticket two rotations old resumed")
    check(session(ctx, d, port, sess_in=t1)[0], "a ticket of the previous key not resumed")


def test_tls_ticket_keys_rotate_on_schedule(ctx):
    d, port, cert, key = ticket_daemon(ctx, top="tls_ticket_rotation = 1;")
    t0 = ctx.path("t0.pem")
    session(ctx, d, port, sess_out=t0)
    n = d.log().count("reason=schedule")
    d.wait_log(r"event=tls-ticket-rotate reason=schedule", count=n + 2)
    check(not session(ctx, d, port, sess_in=t0)[0], "a ticket two rotations old resumed")


def test_tls_reload_rereads_certificates_and_keeps_sessions(ctx):
    # One session per worker: the workers forked after the failed reload
    # below serve with the contexts the master kept.
    d, port, cert, key = ticket_daemon(ctx, max_sessions_per_worker=1)
    old_der = read_file(cert)
    # A session open across both reloads below, and a message after them.
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.ehlo("client.example")
    s.starttls(context=client_context(cert))
    s.ehlo("client.example")
    # A certificate that does not load fails the reload; the workers keep
    # serving with what they loaded.
    with open(cert, "wb") as f:
        f.write(b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reload-failed")
    check("generation=1" not in d.log(), "a reload with a broken certificate went through")
    old_ctx = client_context(ctx.write("old.pem", old_der.decode()))
    for i in range(4):  # more sessions than workers: new workers serve some
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
            c.starttls(context=old_ctx)
            eq(c.noop()[0], 250, "session %d with the certificate loaded before" % (i + 1))
    # A good new certificate: new workers serve it; the open session goes on.
    os.remove(cert)
    os.remove(key)
    new_cert, new_key = make_cert(ctx, "server")
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded generation=1")
    wait_until(lambda: served(port) == read_file(new_cert), what="the new certificate served")
    eq(s.sendmail("a@example.org", ["b@example.org"], "Subject: across\r\n\r\nx\r\n"), {},
       "the session open across the reloads")
    s.quit()


def served(port):
    """The certificate the listener shows now, PEM."""
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        "127.0.0.1:%d" % port], input=b"QUIT\n", capture_output=True, timeout=20)
    m = re.search(rb"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", r.stdout, re.S)
    return m.group(0) if m else None
