"""Postfix's lmtp(8) client delivering into smtpgate's maildir over a UNIX
socket: one LMTP transaction to three recipients, one of whom cannot be
stored (bob's Maildir is on a full tmpfs: 452 4.3.1; as a user, broken:
451).  Postfix must defer bob alone (its queue, read with postqueue -j,
holds the message for bob only, with our reply as the reason) while
alice and carol have exactly one copy each; once bob's Maildir has room,
a flush delivers his copy and nobody gets a second one.

The Postfix instance is private (tests/integration/postfix_fixture.py):
its own config, queue and log in a directory of its own, an SMTP
listener on a free loopback port for injecting, virtual_transport =
lmtp:unix:DIR/lmtp.sock; started and stopped by the test.
"""
import json
import os
import re
import smtplib
import stat

import harness
from harness import check, eq, wait_until
from postfix_fixture import Postfix
from test_lmtp import listener
from test_maildir import full_maildir

ROOT = os.geteuid() == 0


def postfix_instance(ctx):
    """A private Postfix (postfix_fixture) delivering example.test by LMTP
    to DIR/lmtp.sock (in its own 0755 directory, for its lmtp client, user
    postfix; a short path, for sun_path); nothing else leaves it.  Not
    started yet."""
    return Postfix(ctx, transport="error:nothing leaves this instance", main="""\
virtual_mailbox_domains = example.test
virtual_mailbox_maps = static:any
virtual_transport = lmtp:unix:{dir}/lmtp.sock
lmtp_destination_recipient_limit = 50
""")


def queue(ctx, pf):
    """postqueue -j: one JSON object per queued message."""
    rc, out, err = pf.postqueue("-j")
    eq(rc, 0, "postqueue -j: %s" % err)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def files(md):
    try:
        return sorted(os.listdir(md + "/new"))
    except FileNotFoundError:
        return []


def test_postfix_defers_only_the_failed_recipient(ctx):
    pf = postfix_instance(ctx)
    sock, base = pf.dir + "/lmtp.sock", ctx.path("mail")
    d, mount = None, None
    body = b"Subject: to three\r\n\r\n" + (b"L" * 78 + b"\r\n") * 300  # ~24 KB
    try:
        text, _ = listener(ctx, sock, protocol="lmtp", handler="maildir", socket_group="postfix",
                           socket_mode="0660", extra='maildir = { path = "%s/%%u"; };' % base)
        d = ctx.daemon(ctx.config([text]))
        st = os.stat(sock)
        eq((stat.S_IMODE(st.st_mode), st.st_gid), (0o660, harness_gid("postfix")),
           "socket owner")
        # bob's Maildir cannot take it: ENOSPC (452) as root.
        mount, want = full_maildir(ctx, base + "/bob")
        port = pf.start().port
        rcpts = ["alice@example.test", "bob@example.test", "carol@example.test"]
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            eq(s.sendmail("sender@example.org", rcpts, body), {}, "Postfix took the message")

        # Postfix's own log first: two sent, bob deferred with our reply.
        # (Its queue is read after: under load a retry may find the first
        # attempt's agent still holding the file, and qmgr then keeps it
        # aside in a queue of its choosing, so the queue's name proves
        # nothing; its recipient list does.)
        bob = (r"lmtp\[\d+\]: \w+: to=<bob@example\.test>.* status=deferred "
               r"\(host \S+ said: %s \(in reply to end of DATA command\)\)" % re.escape(want))
        wait_until(lambda: re.search(bob, pf.log()), timeout=150, step=0.2,
                   what="Postfix's log line deferring bob")
        log = pf.log()
        for u in ("alice", "carol"):
            check(re.search(r"lmtp\[\d+\]: \w+: to=<%s@example\.test>.* status=sent "
                            r"\(250 2\.0\.0 OK\)" % u, log), "%s not sent in:\n%s" % (u, log))
        # An agent marks a recipient done in the queue file just after
        # logging it: the file may lag the log for a moment.
        seen = []

        def bob_alone():
            seen[:] = [queue(ctx, pf)]
            return [[r["address"] for r in m["recipients"]] for m in seen[0]] == [
                ["bob@example.test"]]
        try:
            wait_until(bob_alone, timeout=60, step=0.2, what="bob alone in Postfix's queue")
        except harness.TestFailure as e:
            raise harness.TestFailure("%s; the queue last: %r" % (e, seen))
        q = seen[0]
        reason = q[0]["recipients"][0].get("delay_reason")
        check(reason is None or want in reason, "bob's delay reason %r lacks %r" % (reason, want))
        for u in ("alice", "carol"):
            eq(len(files("%s/%s" % (base, u))), 1, "%s's copies" % u)
        eq(files(base + "/bob"), [], "bob's copies")
        # One LMTP transaction carried all three, with a reply each.
        d.wait_log(r"event=message plugin=maildir from=sender@example\.org nrcpt=3 ")
        d.wait_log(r"event=rcpt-reply rcpt=bob@example\.test reply=\"%s\"" % want)
        d.wait_log(r"event=connect client=unix uid=%d pid=\d+" % harness_uid("postfix"))
        # Room for bob: the flush delivers his copy, and only his.
        if ROOT:
            os.unlink(base + "/bob/filler")
        else:
            os.unlink(base + "/bob/tmp")
        rc, _, err = pf.postqueue("-f")
        eq(rc, 0, "postqueue -f: %s" % err)
        wait_until(lambda: pf.flush_skipped() is not None and not queue(ctx, pf), timeout=150,
                   step=0.2, what="Postfix's queue empty")
        for u in ("alice", "bob", "carol"):
            eq(len(files("%s/%s" % (base, u))), 1, "%s's copies after the retry" % u)
        data = harness.read_file("%s/bob/new/%s" % (base, files(base + "/bob")[0]))
        check(b"via UNIX socket with LMTP id" in data and data.endswith(
            (b"L" * 78 + b"\n") * 300), "bob's copy: %r ... %r" % (data[:300], data[-100:]))
    finally:
        if d:
            d.stop()
        pf.stop()  # after smtpgate: its socket is in Postfix's directory
        if mount:
            mount.umount()


def harness_uid(user):
    import pwd
    return pwd.getpwnam(user).pw_uid


def harness_gid(group):
    import grp
    return grp.getgrnam(group).gr_gid
