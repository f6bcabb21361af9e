"""plugins/mailman against a real Mailman 3 core.

One throw-away Mailman 3 instance serves the whole module.  The first test
that needs it starts it with mailman_fixture.py (Debian's mailman3, in its
own temp directory, LMTP on a free loopback port).  With it comes one
shared smtpgate with two listeners:

  - the "loop" listener on 127.0.0.1:P, handler mailman.  It takes the
    tests' mail, and it is also Mailman's smtp_host:smtp_port.  It asks
    Mailman over LMTP about list addresses (@example.com).  It relays
    everything else (relay_networks 127.0.0.0/8) to
  - the "world" listener on 127.0.0.1:W, handler debug, whose output file
    shows what reached the outside world.

So Mailman's copies to members, and its notices, pass through smtpgate.
Its notices to LIST-owner@example.com go back to Mailman over LMTP.
Every test has its own list (a unique name, members and owner at
example.org; see LISTS), all created by one `mailman shell` call right
after the start.  The tests can therefore run at the same time and count
copies at the world sink without seeing each other's mail.  Mailman runs
its lean set of runners (lmtp, in, pipeline, out, virgin, command) with a
0.25 s queue poll: LMTP up in 4-10 s, about 0.5 GiB.

Tests that need a special smtpgate start their own daemon, with ctx.daemon:
  - Mailman stopped: lmtp on a closed free port, which is what a stopped
    Mailman gives (Mailman itself is not needed);
  - an upstream that refuses DATA: Postfix's smtp-sink as remote, lmtp
    at the shared Mailman.

Everything is stopped at exit: the shared daemon (its Ctx is in
harness.Ctx.live, like every test's) and Mailman (MailmanCore.stop, which
also removes its directory, from an atexit handler; run.py also runs the
atexit handlers on SIGINT/SIGTERM and before an os._exit).
"""
import atexit
import email
import os
import re
import smtplib
import socket
import threading
import time

import harness
from mailman_fixture import LEAN, MailmanCore
from postfix_fixture import Postfix
from test_maildir import ROOT, Mount, listdir, server_worker
from test_relay_bdat import bdat_upstream
from test_stream import BLOCK, HEADER, check_hwm, send_big, vm_hwm_kb
from harness import (Client, TestFailure, check, eq, frames, free_port, read_file, smtp_sink,
                     wait_until)

DOMAIN = "example.com"   # the list domain
MM_WAIT = 30.0           # bound of every wait for Mailman (about 0.5-1 s per queue hop)
END = b"------------ END MESSAGE ------------"
DATE_RX = re.compile(rb"^Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$",
                     re.M)

# Runs inside Mailman (`mailman shell -r smtpgate_it.mklists SPEC...`): one
# process creates every list of the module with its owner and members (no
# welcome mail).  A SPEC is "list@domain|owner|member|member...".  Each
# `mailman` command takes 1-2 s, so this is one call instead of two per list.
HELPER = '''\
"""Written by smtpgate's tests/integration/test_mailman.py."""


def mklists(*specs):
    from email.utils import parseaddr
    from zope.component import getUtility
    from mailman.app.lifecycle import create_list
    from mailman.commands.cli_addmembers import get_addr
    from mailman.interfaces.domain import IDomainManager
    from mailman.interfaces.subscriptions import ISubscriptionManager
    from mailman.interfaces.usermanager import IUserManager
    domains = getUtility(IDomainManager)
    users = getUtility(IUserManager)
    for spec in specs:
        fqdn, owner, *members = spec.split("|")
        domain = fqdn.partition("@")[2]
        if domains.get(domain) is None:
            domains.add(domain)
        mlist = create_list(fqdn, [owner])
        registrar = ISubscriptionManager(mlist)
        for line in members:
            name, email = parseaddr(line)
            registrar.register(get_addr(name, email, users), pre_verified=True,
                               pre_approved=True, pre_confirmed=True,
                               send_welcome_message=False)
        print("created %s owner %s members %d" % (fqdn, owner, len(members)))
'''

# Every test's own list: name -> number of members.  Owner
# owner.NAME@example.org, members memberN.NAME@example.org.
LISTS = {"mmpost": 1, "mmrcpt": 0, "mmjoin": 0, "mmreq": 0, "mmboth": 1, "mmdup": 1,
         "mmhdr": 1, "mmutf8": 1, "mmown": 0, "mmdata": 1, "mmpfx": 1, "mmbig": 0,
         "mmgone": 0, "mmchunk": 0}


def owner_of(name):
    return "owner.%s@example.org" % name


def members_of(name):
    return ["member%d.%s@example.org" % (i + 1, name) for i in range(LISTS[name])]


# ---------------------------------------------------------------- the shared instance

class Mailman:
    """The running Mailman instance plus the shared smtpgate (loop + world)."""

    def __init__(self):
        self.core = None
        self.ctx = None
        self.daemon = None
        self.lmtp_port = self.port = self.world_port = None
        self.world = None
        self.stopped = False

    def start(self):
        atexit.register(self.stop)
        self.lmtp_port = free_port()

        self.ctx = harness.Ctx("mailman-shared")  # in Ctx.live: run.py stops it
        self.world_port = free_port()
        # More workers than the loop listener has: each loop worker keeps its
        # relay connection open, and each open one holds a world worker.
        world, _, self.world = self.ctx.listener(port=self.world_port, workers=8,
                                                 smtputf8=True)
        loop, self.port, _ = self.ctx.listener(
            handler="mailman", remote="127.0.0.1:%d" % self.world_port, workers=6,
            smtputf8=True,
            extra='mailman = { lmtp = "127.0.0.1:%d"; domains = [ "%s" ]; '
                  'relay_networks = [ "127.0.0.0/8" ]; lmtp_timeout = 60; timeout = 60; };'
                  % (self.lmtp_port, DOMAIN))
        self.daemon = self.ctx.daemon(self.ctx.config([loop, world]), name="smtpgate-shared")

        # Mailman sends to the loop listener, which is already up.
        self.core = MailmanCore(self.lmtp_port, self.port, runners=LEAN, sleep="0.25s")
        self.core.start()
        self.core.add_module("smtpgate_it", HELPER)
        specs = ["|".join(["%s@%s" % (name, DOMAIN), owner_of(name)] +
                          ["Member %d <%s>" % (i + 1, a) for i, a in enumerate(members_of(name))])
                 for name in LISTS]
        out = self.ctl("shell", "-r", "smtpgate_it.mklists", *specs)
        for name in LISTS:
            check("created %s@%s " % (name, DOMAIN) in out, "list %s not created: %r" % (name, out))

    def stop(self):
        """Stop Mailman (and purge its dir), then the shared daemon; idempotent."""
        if self.stopped:
            return
        self.stopped = True
        if self.core:
            self.core.stop()
        if self.ctx:
            self.ctx.cleanup()

    def ctl(self, *args, timeout=60):
        """A `mailman` command against the instance: its stdout."""
        return self.core.mailman(*args, timeout=timeout)

    # -- the world sink

    def copies(self, *needles):
        """The complete frames at the world sink that contain every needle."""
        needles = [n.encode("utf-8") if isinstance(n, str) else n for n in needles]
        return [f for f in frames(read_file(self.world))
                if END in f and all(n in f for n in needles)]

    def wait_copies(self, what, *needles, n=1, timeout=MM_WAIT):
        """Wait until at least n frames contain every needle; return them."""
        def enough():
            c = self.copies(*needles)
            return c if len(c) >= n else None
        try:
            return wait_until(enough, timeout, step=0.1, what=what)
        except TestFailure as e:
            raise TestFailure("%s; at the world sink: %d frame(s) of %d bytes\n%s" % (
                e, len(frames(read_file(self.world))), len(read_file(self.world)),
                self.diagnostics()))

    def diagnostics(self, lines=40):
        """The tails of the shared daemon's log and of Mailman's logs."""
        out = []
        log = [l for l in self.daemon.log().splitlines()
               if "event=session" not in l and "event=connect" not in l]
        out.append("--- shared smtpgate (pid %d), last %d lines:" % (self.daemon.pid, lines))
        out += log[-lines:]
        for name in ("mailman.log", "smtp.log"):
            text = self.core.log(name)
            out.append("--- Mailman's %s, last %d lines:" % (name, lines))
            out += text.splitlines()[-lines:]
        return "\n".join(out)


_lock = threading.Lock()
_state = {"mm": None, "error": None}


def mailman():
    """The shared instance, started by the first test that asks for it."""
    with _lock:
        if _state["error"]:
            raise TestFailure("the shared Mailman did not start: " + _state["error"])
        if _state["mm"] is None:
            mm = Mailman()
            try:
                mm.start()
            except Exception as e:
                _state["error"] = str(e)
                mm.stop()
                raise
            _state["mm"] = mm
        return _state["mm"]


def new_list(name):
    """The shared instance and the members of the test's own list NAME@example.com."""
    check(name in LISTS, "list %s is not in LISTS" % name)
    return mailman(), members_of(name)


def list_id(name):
    return "List-Id: <%s.%s>" % (name, DOMAIN)


def message_of(frame):
    """The message in a debug frame: without the frame lines and the
    "mail options:" line."""
    m = frame.split(b"\n", 1)[1].rsplit(END, 1)[0]
    if m.startswith(b"mail options: "):
        m = m.split(b"\n", 1)[1]
    return m


def headers(frame):
    """The header block of the message in a frame."""
    return message_of(frame).split(b"\n\n", 1)[0]


def send(port, sender, rcpts, message, **kw):
    """smtplib to the given port; the refused recipients ({} when none)."""
    if isinstance(message, str):
        message = message.encode("utf-8")
    with smtplib.SMTP("127.0.0.1", port, timeout=MM_WAIT) as s:
        return s.sendmail(sender, rcpts, message, **kw)


def dialog(port, sender, rcpts, mail_params=""):
    """EHLO, MAIL, one RCPT per recipient: (client, [RCPT replies])."""
    c = Client(port, timeout=MM_WAIT)
    r = c.cmd("EHLO client.example.org")
    check(r.startswith("250"), "EHLO: %r" % r)
    r = c.cmd("MAIL FROM:<%s>%s" % (sender, mail_params))
    check(r.startswith("250"), "MAIL: %r" % r)
    return c, [c.cmd("RCPT TO:<%s>" % a) for a in rcpts]


def finish(c, message):
    """DATA and the message (LF lines sent as CR LF, dot-stuffed, final
    dot): the final reply."""
    r = c.cmd("DATA")
    check(r.startswith("354"), "DATA: %r" % r)
    if isinstance(message, str):
        message = message.encode("utf-8")
    lines = message.rstrip(b"\n").split(b"\n")
    c.send(b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n")
    return "\n".join(c.reply())


def mailman_daemon(ctx, lmtp_port, remote_port, mixed="split", **settings):
    """The config text of one mailman listener, and its port."""
    text, port, _ = ctx.listener(
        handler="mailman", remote="127.0.0.1:%d" % remote_port,
        extra='mailman = { lmtp = "127.0.0.1:%d"; domains = [ "%s" ]; '
              'relay_networks = [ "127.0.0.0/8" ]; lmtp_connect_timeout = 5; '
              'mixed_recipients = "%s"; };' % (lmtp_port, DOMAIN, mixed), **settings)
    return text, port


LIST_OK = "250 Ok"  # Mailman's own answer to RCPT of a list address
NO_LIST = "550 Requested action not taken: mailbox unavailable"


# ---------------------------------------------------------------- tests

def test_member_post_reaches_member(ctx):
    mm, (member,) = new_list("mmpost")
    c, replies = dialog(mm.port, member, ["mmpost@example.com"])
    eq(replies, [LIST_OK], "RCPT of the list: Mailman's answer")
    # Lines starting with a dot cross both SMTP hops and the LMTP hop intact.
    r = finish(c, "From: Member One <%s>\nTo: mmpost@example.com\nSubject: hello mmpost\n"
                  "Message-ID: <post.mmpost@example.org>\n\nHello list.\n..two dots\n.\n.one dot\n"
                  % member)
    c.close()
    eq(r, "250 2.0.0 OK: delivered to Mailman", "final reply")
    copy, = mm.wait_copies("the member's copy", list_id("mmpost"), "Subject: [Mmpost] hello mmpost")
    check(b"Message-ID: <post.mmpost@example.org>" in copy, "the post's Message-ID: %r" % copy)
    check(b"\n\nHello list.\n..two dots\n.\n.one dot\n" in copy, "the post's body: %r" % copy)
    check(b"From: Member One <%s>" % member.encode() in headers(copy), "From: kept: %r" % copy)
    mm.daemon.wait_log(r'rcpt=<mmpost@example\.com> destination=mailman answer=\\"250 Ok\\"')


def test_rcpt_list_sub_addresses_and_unknown_lists(ctx):
    mm, _ = new_list("mmrcpt")
    subs = ["mmrcpt%s@example.com" % s for s in
            ("", "-bounces", "-confirm", "-join", "-leave", "-owner", "-request",
             "-subscribe", "-unsubscribe", "+tail", "-bounces+member1=example.org",
             "-confirm+0123456789abcdef", "-request+x")]
    c, replies = dialog(mm.port, "probe.mmrcpt@example.org", subs)
    for a, r in zip(subs, replies):
        eq(r, LIST_OK, "RCPT TO:<%s>" % a)
    # Named again in another letter case: the same list, not asked again.
    for a in ("MMRCPT-OWNER@EXAMPLE.COM", "MmRcpt@Example.Com"):
        eq(c.cmd("RCPT TO:<%s>" % a), "250 OK", "RCPT TO:<%s> (named already)" % a)
    unknown = ["nosuchlist@example.com", "mmrcpt-bogus@example.com", "postmaster@example.com",
               "NOSUCHLIST@EXAMPLE.COM"]
    for a in unknown:
        eq(c.cmd("RCPT TO:<%s>" % a), NO_LIST, "RCPT TO:<%s> (no such list)" % a)
    eq(c.cmd("RSET"), "250 OK", "RSET")
    # The probe transaction was reset: a fresh one still gets Mailman's answers.
    eq(c.cmd("MAIL FROM:<probe.mmrcpt@example.org>"), "250 OK", "MAIL again")
    eq(c.cmd("RCPT TO:<nosuchlist2@example.com>"), NO_LIST, "unknown list after RSET")
    for a in ("MMRCPT@EXAMPLE.COM", "MmRcpt-Request@Example.Com", "MMRCPT-JOIN+X@example.com"):
        eq(c.cmd("RCPT TO:<%s>" % a), LIST_OK, "RCPT TO:<%s> (any letter case)" % a)
    eq(c.cmd("RSET"), "250 OK", "RSET")
    # The null sender (a bounce) is passed on as <>, which Mailman takes.
    eq(c.cmd("MAIL FROM:<>"), "250 OK", "MAIL FROM:<>")
    eq(c.cmd("RCPT TO:<mmrcpt-bounces+x=example.org@example.com>"), LIST_OK, "a bounce's RCPT")
    eq(c.cmd("QUIT")[:3], "221", "QUIT")
    c.close()
    # smtplib sees the 550 as a refused recipient.
    try:
        send(mm.port, "probe.mmrcpt@example.org", ["nosuchlist@example.com"],
             "To: nosuchlist@example.com\nSubject: x\n\nbody\n")
        raise TestFailure("a message to an unknown list was accepted")
    except smtplib.SMTPRecipientsRefused as e:
        eq(e.recipients["nosuchlist@example.com"][0], 550, "smtplib's refused recipient")


def test_join_gets_confirmation_and_confirming_makes_a_member(ctx):
    mm, _ = new_list("mmjoin")
    joiner = "joiner.mmjoin@example.org"
    eq(send(mm.port, joiner, ["mmjoin-join@example.com"],
            "From: %s\nTo: mmjoin-join@example.com\nSubject: join\n\n\n" % joiner), {},
       "refused recipients of the join")
    copy, = mm.wait_copies("the confirmation request", "To: %s" % joiner, "mmjoin-confirm+")
    token = re.search(rb"mmjoin-confirm\+([0-9a-f]{40})@example\.com", copy)
    check(token, "no confirm+TOKEN address in %r" % copy)
    # Answering it goes to Mailman through smtpgate (the +TOKEN address).
    confirm = "mmjoin-confirm+%s@example.com" % token.group(1).decode()
    eq(send(mm.port, joiner, [confirm],
            "From: %s\nTo: %s\nSubject: Re: confirm %s\n\n\n" % (joiner, confirm,
                                                             token.group(1).decode())),
       {}, "refused recipients of the confirmation")
    mm.wait_copies("the welcome message", "To: %s" % joiner, 'Welcome to the "Mmjoin" mailing list')


def test_request_help_gets_the_help_reply(ctx):
    mm, _ = new_list("mmreq")
    asker = "asker.mmreq@example.org"
    eq(send(mm.port, asker, ["mmreq-request@example.com"],
            "From: %s\nTo: mmreq-request@example.com\nSubject: help\n\n\n" % asker), {},
       "refused recipients")
    copy, = mm.wait_copies("the help reply", "To: %s" % asker,
                           "The results of your email commands")
    check(b"mmreq-request@example.com" in copy, "the help reply names the request address")


def test_list_and_non_list_recipient_both_get_it(ctx):
    """mixed_recipients "split" (the default): the outsider gets 452 4.5.3
    in the list's transaction and is taken in the next one, so each 250
    stands for one destination."""
    mm, (member,) = new_list("mmboth")
    outsider = "outsider.mmboth@example.org"
    c, replies = dialog(mm.port, member, ["mmboth@example.com", outsider])
    eq(replies, [LIST_OK, "452 4.5.3 Error: too many recipients"], "RCPT replies")
    msg = "From: %s\nTo: mmboth@example.com\nCc: %s\nSubject: both mmboth\n\nHi both.\n" % (
        member, outsider)
    eq(finish(c, msg), "250 2.0.0 OK: delivered to Mailman", "the list's transaction")
    eq(c.cmd("MAIL FROM:<%s>" % member), "250 OK", "MAIL again")
    eq(c.cmd("RCPT TO:<%s>" % outsider), "250 OK", "RCPT of the outsider")
    eq(c.cmd("RCPT TO:<mmboth@example.com>"), "452 4.5.3 Error: too many recipients",
       "the list in the outsider's transaction")
    r = finish(c, msg)
    c.close()
    check(r.startswith("250"), "the outsider's transaction: %r" % r)
    mm.wait_copies("the member's copy", list_id("mmboth"), "both mmboth")
    direct = lambda: [f for f in mm.copies("Subject: both mmboth") if b"List-Id:" not in f]  # noqa
    wait_until(direct, MM_WAIT, step=0.1, what="the outsider's (direct) copy")
    mm.daemon.wait_log(r"rcpts=1 destination=relay verdict=accepted")
    time.sleep(0.5)  # nothing more in flight for this post
    eq(len(mm.copies(list_id("mmboth"), "both mmboth")), 1, "copies for the member")
    eq(len(direct()), 1, "direct copies for the outsider")


def test_postfix_client_delivers_list_and_outsider_once_each(ctx):
    """A real Postfix as the client, relaying through the mailman
    listener: a message to a list and to an outside address is split into
    two transactions by the 452, and each destination gets it once."""
    mm, (member,) = new_list("mmpfx")
    outsider = "outsider.mmpfx@example.org"
    pf = Postfix(ctx, mm.port)
    done = False
    try:
        pf.start()
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=MM_WAIT) as s:
            eq(s.sendmail(member, ["mmpfx@example.com", outsider],
                          "From: %s\r\nTo: mmpfx@example.com\r\nCc: %s\r\n"
                          "Subject: via postfix mmpfx\r\n\r\nOnce each.\r\n"
                          % (member, outsider)), {}, "Postfix took the message")
        for rcpt in ("mmpfx@example.com", outsider):
            pf.wait_log(r"to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=sent"
                        % (re.escape(rcpt), mm.port), what="Postfix's status=sent for %s" % rcpt)
        mm.wait_copies("the member's copy", list_id("mmpfx"), "via postfix mmpfx")
        direct = lambda: [f for f in mm.copies("via postfix mmpfx")  # noqa
                          if b"List-Id:" not in f]
        wait_until(direct, MM_WAIT, step=0.1, what="the outsider's copy")
        time.sleep(1.0)  # nothing more in flight for this post
        log = pf.log()
        done = True
    finally:
        if not done:
            print("--- Postfix's log:\n%s\n%s" % (pf.log(), mm.diagnostics(80)))
        pf.stop()
    eq(len(mm.copies(list_id("mmpfx"), "via postfix mmpfx")), 1, "copies for the member")
    eq(len(direct()), 1, "copies for the outsider")
    # Two transactions at smtpgate, one per destination, each a 250.
    lines = [x for x in mm.daemon.log().splitlines()
             if "event=message plugin=mailman " in x and "from=%s " % member in x]
    eq([re.search(r"nrcpt=(\d+) .*result=(\S+)", x).groups() for x in lines],
       [("1", "accepted"), ("1", "accepted")], "smtpgate's message lines")
    # Postfix's log: the second kind deferred by the 452, then sent.
    eq(sorted(re.findall(r"to=<([^>]+)>, relay=\S+, .*status=sent", log)),
       sorted(["mmpfx@example.com", outsider]), "Postfix's deliveries:\n" + log)
    eq(len(re.findall(r"dsn=4\.5\.3, status=deferred \(host \S+ said: 452 4\.5\.3 Error: "
                      r"too many recipients", log)), 1, "Postfix's deferral:\n" + log)


def test_same_list_twice_is_given_to_mailman_once(ctx):
    mm, (member,) = new_list("mmdup")
    c, replies = dialog(mm.port, member, ["mmdup@example.com", "MMDUP@example.com",
                                          "MmDup@Example.Com"])
    eq(replies[0], LIST_OK, "RCPT of the list")
    eq(replies[1:], ["250 OK", "250 OK"], "RCPT of the same list again")
    r = finish(c, "From: %s\nTo: mmdup@example.com, MMDUP@example.com\nSubject: dup first\n\n"
                  "once\n" % member)
    check(r.startswith("250"), "final reply: %r" % r)
    # A second post after it: Mailman's queues are processed in order, so a
    # duplicate of the first would reach the sink before this one does.
    r = c.transaction("From: %s\nTo: mmdup@example.com\nSubject: dup second\n\nsentinel" % member,
                      helo=None, mail="MAIL FROM:<%s>" % member, rcpt="RCPT TO:<mmdup@example.com>")
    c.close()
    check(r.startswith("250"), "final reply of the second post: %r" % r)
    mm.wait_copies("the second post's copy", list_id("mmdup"), "dup second")
    mm.wait_copies("the first post's copy", list_id("mmdup"), "dup first")
    time.sleep(1.0)
    eq(len(mm.copies(list_id("mmdup"), "dup first")), 1, "copies of the post to the member")
    mm.daemon.wait_log(r"rcpt=<mmdup@example\.com> destination=mailman", count=2)
    n = sum(1 for line in mm.daemon.log().splitlines()
            if re.search(r"rcpt=<mmdup@example\.com> destination=mailman", line, re.I))
    eq(n, 2, "LMTP deliveries of the two posts")


def test_from_and_date_added_when_missing(ctx):
    mm, (member,) = new_list("mmhdr")
    eq(send(mm.port, member, ["mmhdr@example.com"],
            "To: mmhdr@example.com\nSubject: no from no date\n\nbody\n"), {}, "refused recipients")
    copy, = mm.wait_copies("the member's copy", list_id("mmhdr"), "no from no date")
    h = headers(copy)
    check(re.search(rb"^From: %s$" % re.escape(member.encode()), h, re.M),
          "From: the envelope sender, in %r" % h)
    check(DATE_RX.search(h), "a Date: added, in %r" % h)
    # A message with its own From: and Date: keeps them.
    eq(send(mm.port, member, ["mmhdr@example.com"],
            "From: Someone <%s>\nDate: Mon, 01 Jan 2024 10:00:00 +0000\nTo: mmhdr@example.com\n"
            "Subject: own headers\n\nbody\n" % member), {}, "refused recipients")
    copy, = mm.wait_copies("the second copy", list_id("mmhdr"), "own headers")
    h = headers(copy)
    eq(re.findall(rb"^Date: .*$", h, re.M), [b"Date: Mon, 01 Jan 2024 10:00:00 +0000"], "Date:")
    eq(re.findall(rb"^From: .*$", h, re.M), [b"From: Someone <%s>" % member.encode()], "From:")


def test_smtputf8_transaction_to_a_list(ctx):
    mm, (member,) = new_list("mmutf8")
    c, replies = dialog(mm.port, member, ["mmutf8@example.com"],
                        mail_params=" SMTPUTF8 BODY=8BITMIME")
    eq(replies, [LIST_OK], "RCPT of the list in a SMTPUTF8 transaction")
    # UTF-8 in the headers, which is what SMTPUTF8 is for (Mailman would
    # answer 501 to MAIL ... SMTPUTF8: the plugin does not pass it on).
    r = finish(c, "From: J\u00f6rg <%s>\nTo: mmutf8@example.com\nSubject: Gr\u00fc\u00dfe utf8 mmutf8\n"
                  "Message-ID: <utf8.mmutf8@example.org>\n"
                  "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                  "Content-Transfer-Encoding: 8bit\n\nGr\u00fc\u00dfe aus K\u00f6ln\n" % member)
    c.close()
    eq(r, "250 2.0.0 OK: delivered to Mailman", "final reply")
    # (Mailman encodes the 8-bit Subject as =?unknown-8bit?q?...?=.)
    copy, = mm.wait_copies("the member's copy", list_id("mmutf8"),
                           "Message-ID: <utf8.mmutf8@example.org>")
    check("From: J\u00f6rg <%s>" % member in copy.decode("utf-8", "replace"),
          "the UTF-8 From: in the copy: %r" % headers(copy))
    # Mailman re-encodes the body (base64) when it adds its footer.
    msg = email.message_from_bytes(message_of(copy))
    text = msg.get_payload(decode=True).decode("utf-8", "replace")
    check("Gr\u00fc\u00dfe aus K\u00f6ln" in text, "the body: %r" % text)


def test_owner_notice_finds_its_way_back(ctx):
    # A non-member's post is held; Mailman's notice to mmown-owner@ goes
    # out through smtpgate, back into Mailman over LMTP, and Mailman
    # forwards it to the owner in the world.
    mm, _ = new_list("mmown")
    stranger = "stranger.mmown@example.org"
    eq(send(mm.port, stranger, ["mmown@example.com"],
            "From: %s\nTo: mmown@example.com\nSubject: held mmown\n\nplease\n" % stranger), {},
       "refused recipients")
    mm.wait_copies("the notice to the poster", "To: %s" % stranger,
                   "awaits moderator approval")
    mm.daemon.wait_log(r'rcpt=<mmown-owner@example\.com> destination=mailman answer=\\"250 Ok\\"',
                       timeout=MM_WAIT)
    copy, = mm.wait_copies("the owner's notice",
                           "mmown@example.com post from %s requires" % stranger)
    check(b"To: mmown-owner@example.com" in headers(copy), "the notice as Mailman addressed "
          "it: %r" % headers(copy))
    # And an outsider's message to -owner@ reaches the owner the same way.
    eq(send(mm.port, stranger, ["mmown-owner@example.com"],
            "From: %s\nTo: mmown-owner@example.com\nSubject: question mmown\n\n?\n" % stranger),
       {}, "refused recipients")
    mm.wait_copies("the message to the owner", "Subject: question mmown")


def test_mailman_stopped_is_451_and_the_relay_still_works(ctx):
    # A stopped Mailman is a closed LMTP port.
    dead = free_port()
    world, world_port, world_out = ctx.listener()
    text, port = mailman_daemon(ctx, dead, world_port, mixed="accept")
    d = ctx.daemon(ctx.config([text, world]))
    outsider = "outsider@example.org"
    c, replies = dialog(port, "someone@example.org",
                        ["test@example.com", outsider, "test-owner@example.com"])
    check(replies[0].startswith("451 4.4.2 ") and "LMTP" in replies[0],
          "RCPT of a list with Mailman stopped: %r" % replies[0])
    eq(replies[1], "250 OK", "RCPT of the outsider")
    check(replies[2].startswith("451 "), "RCPT of another list address: %r" % replies[2])
    r = finish(c, "From: someone@example.org\nTo: test@example.com, %s\nSubject: mm down\n\n"
                  "body\n" % outsider)
    c.close()
    eq(r, "250 OK", "final reply: the outsider's part was relayed")
    wait_until(lambda: [f for f in frames(read_file(world_out)) if b"Subject: mm down" in f],
               what="the outsider's copy")
    d.wait_log(r"upstream=127\.0\.0\.1:%d LMTP connection: no answer" % dead)


def test_upstream_refusing_data_or_the_message_before_mailman_has_it(ctx):
    """The relayed part ends first at the final dot: an upstream refusing
    its DATA, or the whole message at its final dot, refuses it for every
    recipient and Mailman is never given it (the retry serves nobody
    twice)."""
    mm, (member,) = new_list("mmdata")
    outsider = "outsider.mmdata@example.org"
    for n, opts in enumerate((("-r", "data"), ("-r", "."))):
        up = smtp_sink(ctx, "-b", "452 4.3.1 Insufficient system storage", *opts)
        text, port = mailman_daemon(ctx, mm.lmtp_port, up, mixed="accept")
        d = ctx.daemon(ctx.config([text], name="smtpgate%d.conf" % n))
        c, replies = dialog(port, member, ["mmdata@example.com", outsider])
        eq(replies, [LIST_OK, "250 2.1.5 Ok"], "RCPT replies (smtp-sink %s)" % " ".join(opts))
        r = finish(c, "From: %s\nTo: mmdata@example.com\nCc: %s\nSubject: refused %d mmdata\n\n"
                      "body\n" % (member, outsider, n))
        c.close()
        eq(r, "452 4.3.1 Insufficient system storage",
           "final reply, smtp-sink %s: the upstream's answer" % " ".join(opts))
        d.wait_log(r"rcpts=1 destination=relay verdict=failed%s: nothing delivered"
                   % (" at DATA" if opts[1] == "data" else ""))
        check(not re.search(r"destination=mailman", d.log()),
              "Mailman was given a message the client is told to send again")


class ScriptedLmtp:
    """A minimal LMTP peer for cases a real Mailman cannot be steered into
    (the real one proves the feature above): every list exists, every
    message is taken, and each DATA's bytes are kept in self.messages."""

    def __init__(self, data_reply=b"250 2.0.0 taken"):
        self.data_reply = data_reply  # the answer to each message, per recipient
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.messages = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 scripted LMTP\r\n")
        rcpts = 0
        for line in f:
            verb = line[:4].upper()
            if verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            if verb == b"DATA":
                conn.sendall(b"354 go on\r\n")
                data = []
                for body_line in f:
                    if body_line == b".\r\n":
                        break
                    data.append(body_line)
                self.messages.append(b"".join(data))
                conn.sendall((self.data_reply + b"\r\n") * max(rcpts, 1))
                rcpts = 0
                continue
            rcpts += verb == b"RCPT"
            if verb in (b"MAIL", b"RSET"):
                rcpts = 0
            conn.sendall(b"250 ok\r\n")
        conn.close()

    def close(self):
        self.srv.close()


def test_open_relay_transaction_and_long_sender_with_a_scripted_peer(ctx):
    """Two regressions: a relayed recipient refused upstream next to an
    accepted list recipient left the upstream's transaction open, so the
    worker's next relayed MAIL was refused as nested (503); a long sender
    in a message without From: overflowed the added headers."""
    lmtp = ScriptedLmtp()
    try:
        up_text, up_port, _ = ctx.listener(handler="hooks", workers=1)
        ctx.daemon(ctx.config([up_text], name="upstream.conf"), name="upstream")
        text, port = mailman_daemon(ctx, lmtp.port, up_port, mixed="accept", workers=1)
        ctx.daemon(ctx.config([text]))
        with Client(port) as c:
            eq(c.cmd("EHLO c.example.org")[:3], "250", "EHLO")
            eq(c.cmd("MAIL FROM:<a@example.org>"), "250 OK", "MAIL")
            eq(c.cmd("RCPT TO:<scripted@%s>" % DOMAIN)[:3], "250", "list recipient")
            eq(c.cmd("RCPT TO:<unknown@example.org>")[:3], "550", "recipient refused upstream")
            eq(c.cmd("DATA")[:3], "354", "DATA")
            c.send(b"From: a@example.org\r\nSubject: one\r\n\r\nx\r\n.\r\n")
            eq(c.reply()[0][:3], "250", "the list's copy")
            # The same worker, its kept upstream connection: a fresh MAIL.
            eq(c.transaction("Subject: two\r\n\r\ny", rcpt="RCPT TO:<b@example.org>",
                             helo=None)[:3], "250", "the next relayed message")
            sender = "s" * 400 + "@example.org"
            eq(c.transaction("Subject: three\r\n\r\nz", mail="MAIL FROM:<%s>" % sender,
                             rcpt="RCPT TO:<scripted@%s>" % DOMAIN, helo=None)[:3], "250",
               "a message with a 412-byte sender and no From:")
        wait_until(lambda: len(lmtp.messages) == 2, what="two messages at the LMTP peer")
        third = lmtp.messages[1]
        check(third.startswith(b"From: %s\r\nDate: " % sender.encode()),
              "the added From: and Date: of the third message: %r" % third[:700])
        check(third.endswith(b"Subject: three\r\n\r\nz\r\n"), "its body: %r" % third[-100:])
    finally:
        lmtp.close()


# ---------------------------------------------------------------- streamed messages

# Mailman's LMTP runner takes at most 32 MiB (aiosmtpd's default limit):
# the list's part stays under it; the relayed part is bigger.
LIST_BIG_MB = 30
RELAY_BIG_MB = int(os.environ.get("SMTPGATE_BIG_MB", "100"))


def spool_files(worker, spool):
    """The worker's open files in the directory spool (an O_TMPFILE file
    shows as "spool/#INODE (deleted)")."""
    out = []
    try:
        for fd in os.listdir("/proc/%d/fd" % worker):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (worker, fd))
            except OSError:
                continue
            if target.startswith(spool + "/"):
                out.append(target)
    except FileNotFoundError:
        pass
    return out


def test_big_messages_to_a_list_and_an_outsider_in_constant_memory(ctx):
    """data_size_limit = 0, one worker, one session: 30 MiB to a list and
    an outsider in one transaction (the list's copy through the spool's
    temporary file, the relayed part streamed), then 100 MiB to the
    outsider alone.  Both taken; the worker's VmHWM stays under 16 MiB."""
    mm, _ = new_list("mmbig")
    sink = smtp_sink(ctx)
    text, port = mailman_daemon(ctx, mm.lmtp_port, sink, mixed="accept", data_size_limit=0,
                                workers=1, data_timeout=600)
    d = ctx.daemon(ctx.config([text]))
    d.wait_workers(1)
    outsider = "outsider.mmbig@example.org"
    c, replies = dialog(port, "a@example.org", ["mmbig@example.com", outsider])
    c.sock.settimeout(600)
    eq(replies, [LIST_OK, "250 2.1.5 Ok"], "RCPT replies")
    eq(c.cmd("DATA")[:3], "354", "DATA")
    send_big(c, LIST_BIG_MB)
    r = "\n".join(c.reply())
    check(r.startswith("250 "), "reply to %d MiB for a list and an outsider: %r" % (LIST_BIG_MB, r))
    d.wait_log(r'rcpt=<mmbig@example\.com> destination=mailman answer=\\"250 ')
    c.begin_data(helo=None, rcpt="RCPT TO:<%s>" % outsider)
    send_big(c, RELAY_BIG_MB)
    r = "\n".join(c.reply())
    check(r.startswith("250 "), "reply to %d MiB for the outsider: %r" % (RELAY_BIG_MB, r))
    hwm = vm_hwm_kb(server_worker(d, port, c.sock))
    c.close()
    check_hwm(hwm, RELAY_BIG_MB)
    d.wait_log(r"rcpts=1 destination=relay verdict=accepted", count=2)


def test_client_gone_mid_body_leaves_no_spool_and_delivers_nothing(ctx):
    """A list and an outsider; the client leaves after 3 MiB (past the
    spool's 1 MiB in memory, so its temporary file is open): the file is
    closed (it never had a name), the upstream's transaction is aborted
    (nothing at the world sink) and Mailman is never given the message."""
    mm, _ = new_list("mmgone")
    spool = ctx.path("spool")
    os.mkdir(spool)
    world, world_port, world_out = ctx.listener()
    text, port = mailman_daemon(ctx, mm.lmtp_port, world_port, mixed="accept", workers=1)
    d = ctx.daemon(ctx.config([text, world]), env=dict(os.environ, TMPDIR=spool))
    c, replies = dialog(port, "a@example.org", ["mmgone@example.com", "outsider.mmgone@example.org"])
    eq(replies, [LIST_OK, "250 OK"], "RCPT replies")
    eq(c.cmd("DATA")[:3], "354", "DATA")
    c.send(b"Subject: gone mmgone\r\n\r\n" + BLOCK * 3)
    w = server_worker(d, port, c.sock)
    wait_until(lambda: spool_files(w, spool), what="the spool's temporary file")
    check(all(f.endswith(" (deleted)") for f in spool_files(w, spool)),
          "a spool file with a name: %r" % spool_files(w, spool))
    c.close()
    wait_until(lambda: not spool_files(w, spool), what="the spool's file closed")
    eq(listdir(spool), [], "the spool directory")
    # The client's session at the mailman listener, the relay's at the world.
    d.wait_log(r"listener=\S+ event=disconnect reason=eof", count=2)
    eq([f for f in frames(read_file(world_out)) if b"gone mmgone" in f], [],
       "frames at the world sink")
    check(not re.search(r"destination=(mailman|relay)", d.log()),
          "a destination was given the message: %s" % d.log())


def test_chunking_upstream_refusing_the_message_before_mailman_has_it(ctx):
    """An upstream offering CHUNKING answers only at BDAT LAST: the relay
    ends first at the final dot, so its refusal is the client's reply and
    the list is never served (no 451 after Mailman took it)."""
    mm, _ = new_list("mmchunk")

    def on_chunk(conn, size, last, octets):
        conn.sendall(b"554 5.7.1 content refused\r\n" if last else b"250 2.0.0 chunk\r\n")
        return True
    up, t, commands = bdat_upstream(on_chunk)
    text, port = mailman_daemon(ctx, mm.lmtp_port, up, mixed="accept")
    d = ctx.daemon(ctx.config([text]))
    c, replies = dialog(port, "a@example.org", ["mmchunk@example.com", "outsider@example.org"])
    eq(replies, [LIST_OK, "250 ok"], "RCPT replies")
    r = finish(c, "From: a@example.org\nSubject: chunked mmchunk\n\n" + "line\n" * 30000)
    c.close()
    eq(r, "554 5.7.1 content refused", "the client's reply: the upstream's")
    check(any(cmd.endswith(" LAST") for cmd in commands), "BDAT LAST: %s" % commands[-3:])
    d.wait_log(r"rcpts=1 destination=relay verdict=refused: nothing delivered")
    check(not re.search(r"destination=mailman", d.log()), "Mailman was given the message")


def test_list_copy_spooled_whole_or_refused_with_a_scripted_peer(ctx):
    """The list's copy past the spool's memory: byte for byte at the LMTP
    peer, From: and Date: first.  With its temporary file on a full
    tmpfs (root): 452 4.3.1; in a missing directory: 451 4.3.0, while a
    message under 1 MiB (kept in memory) still goes; never a 250 for a
    copy the spool lost."""
    lmtp = ScriptedLmtp()
    mounts = []
    try:
        body = HEADER + BLOCK * 3 + b"tail"
        cases = [("spool", "250 ")]
        if ROOT:
            cases.append(("full", "452 4.3.1 Error: insufficient system storage"))
        cases.append(("missing", "451 4.3.0 Error: local delivery failed"))
        for n, (name, want) in enumerate(cases):
            spool = ctx.path(name)
            if name == "spool":
                os.mkdir(spool)
            elif name == "full":
                mounts.append(Mount(ctx, spool, "256k"))
            text, port = mailman_daemon(ctx, lmtp.port, free_port(), workers=1)
            d = ctx.daemon(ctx.config([text], name="smtpgate%d.conf" % n),
                           env=dict(os.environ, TMPDIR=spool))
            with Client(port, timeout=60) as c:
                r = c.transaction(body, rcpt="RCPT TO:<scripted@%s>" % DOMAIN)
                check(r.startswith(want), "%s spool: %r" % (name, r))
                if name == "missing":
                    r = c.transaction(b"Subject: small\r\n\r\nsmall\r\n", helo=None,
                                      rcpt="RCPT TO:<scripted@%s>" % DOMAIN)
                    check(r.startswith("250 "), "a message kept in memory: %r" % r)
            if name == "spool":
                wait_until(lambda: len(lmtp.messages) == 1, what="the copy at the LMTP peer")
                got = lmtp.messages[0]
                check(got.startswith(b"From: a@example.org\r\nDate: "), "added: %r" % got[:200])
                eq(got.split(b"\r\n", 2)[2], body + b"\r\n", "the copy after From: and Date:")
            else:
                d.wait_log(r"destination=mailman list spool could not be (written|opened) in %s"
                           % re.escape(spool))
        eq(len(lmtp.messages), 2, "messages at the LMTP peer (the big one, the small one)")
    finally:
        lmtp.close()
        for m in mounts:
            m.umount()


def test_mailman_failing_after_the_upstream_took_it_is_451_at_least_once(ctx):
    """What "accept" leaves at-least-once: the upstream took the message
    (it ends first), then Mailman answers 451 for the list: the client
    gets 451 4.3.0, a warning says the upstream has it, and the upstream
    does have it (the retry will give it a second copy)."""
    lmtp = ScriptedLmtp(data_reply=b"451 4.3.0 scripted failure")
    try:
        world, world_port, world_out = ctx.listener()
        text, port = mailman_daemon(ctx, lmtp.port, world_port, mixed="accept")
        d = ctx.daemon(ctx.config([text, world]))
        c, replies = dialog(port, "a@example.org", ["scripted@%s" % DOMAIN, "out@example.org"])
        eq([r[:3] for r in replies], ["250", "250"], "RCPT replies")
        r = finish(c, "From: a@example.org\nSubject: twice maybe\n\nbody\n")
        c.close()
        eq(r, "451 4.3.0 Error: not every destination took the message; try again later",
           "final reply")
        d.wait_log(r"answering 451 although the upstream already has the message for 1 "
                   r"relayed recipient\(s\): a retry delivers it again there")
        d.wait_log(r'rcpt=<scripted@example\.com> destination=mailman answer=\\"451 ')
        check([f for f in frames(read_file(world_out)) if b"Subject: twice maybe" in f],
              "the upstream's copy")
    finally:
        lmtp.close()
