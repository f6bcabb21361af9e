"""plugins/maildir: durable delivery into Maildirs, against the real daemon.

Every test looks at the effects on disk: the files in new/ (byte-exact:
the plugin's headers, then the data as smtpd.py hands it to
process_message, then a final LF), tmp/ left empty, the unique names
(",S=" is the size), and nothing created outside the configured base.
Faults: a full tmpfs (root) or RLIMIT_FSIZE (anyone), a read-only
remount, permission denied, a worker killed during DATA.
"""
import os
import re
import resource
import select
import signal
import smtplib
import socket
import stat
import subprocess
import threading
import time

import harness
from harness import Client, check, eq, wait_until

ROOT = os.geteuid() == 0
HOST = socket.gethostname()
NAME_RX = re.compile(r"^(\d+)\.M(\d{6})P(\d+)Q(\d+)R([0-9a-f]{16})\.(.+),S=(\d+)$")
DATE = r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"


# ---------------------------------------------------------------- helpers

def maildir_daemon(ctx, path, group="", daemon_kw=None, **settings):
    """A daemon with one maildir listener; (daemon, port)."""
    g = 'path = "%s";' % path + (" " + group if group else "")
    text, port, _ = ctx.listener(handler="maildir", extra="maildir = { %s };" % g, **settings)
    d = ctx.daemon(ctx.config([text]), **(daemon_kw or {}))
    return d, port


def listdir(p):
    try:
        return sorted(os.listdir(p))
    except FileNotFoundError:
        return []


def delivered(md, n=None):
    """The files in md/new as [(name, bytes)]; tmp/ must be empty, cur/ exist,
    and every name must be unique-name shaped with S= its size."""
    eq(listdir(os.path.join(md, "tmp")), [], "files left in %s/tmp" % md)
    check(os.path.isdir(os.path.join(md, "cur")), "%s/cur missing" % md)
    out = []
    for name in listdir(os.path.join(md, "new")):
        data = harness.read_file(os.path.join(md, "new", name))
        m = NAME_RX.match(name)
        check(m, "file name %r is not time.MusecPpidQseqRrand.host,S=size" % name)
        eq(m.group(6), HOST, "host part of %s" % name)
        eq(int(m.group(7)), len(data), "S= of %s against its size" % name)
        check(abs(int(m.group(1)) - time.time()) < 600, "time part of %s" % name)
        out.append((name, data))
    if n is not None:
        eq(len(out), n, "number of files in %s/new" % md)
    return out


def smtpd_data(body):
    """What smtpd.py hands process_message for a body given to smtplib as
    CRLF lines (smtplib dot-stuffs, the server undoes it): the lines joined
    by LF, without the last line end."""
    check(body.endswith(b"\r\n"), "test bodies end with CRLF")
    return b"\n".join(body[:-2].split(b"\r\n"))


def received_rx(helo, with_="ESMTP", rcpt=None):
    """Over TLS (a with-word with S) Postfix's "(using ... with cipher ...)"
    line follows the from line."""
    using = rb"\t\(using TLSv1\.[23] with cipher \S+\)\n" if with_.rstrip("A").endswith("S") else b""
    return (rb"Received: from " + re.escape(helo.encode()) + rb" \(\[127\.0\.0\.1\]\)\n" +
            using + rb"\tby (\S+) \(smtpgate\) with " + with_.encode() + rb" id (\S+)" +
            (rb"\n\tfor <" + re.escape(rcpt.encode()) + rb">" if rcpt else b"") +
            rb";\n\t" + DATE.encode() + rb"\n")


def check_copy(content, data, return_path=None, original_to=(), delivered_to=None,
               received=None, what="stored copy"):
    """content == [Return-Path][Delivered-To][X-Original-To...][Received] data LF.
    received: (helo, with, rcpt-or-None), checked by regex (the date varies).
    Returns the Received id (or None)."""
    rx = b""
    if return_path is not None:
        rx += re.escape(b"Return-Path: <" + return_path.encode() + b">\n")
    if delivered_to is not None:
        rx += re.escape(b"Delivered-To: " + delivered_to.encode() + b"\n")
    for r in original_to:
        rx += re.escape(b"X-Original-To: " + r.encode() + b"\n")
    if received is not None:
        rx += received_rx(*received)
    m = re.match(rx, content)
    check(m, "%s: headers do not match\n  want /%r/\n  got %r" % (what, rx, content[:600]))
    rest = content[m.end():]
    if rest != data + b"\n":
        i = next((k for k in range(min(len(rest), len(data) + 1))
                  if rest[k:k + 1] != (data + b"\n")[k:k + 1]), min(len(rest), len(data) + 1))
        raise harness.TestFailure("%s: body differs at byte %d (got %d bytes, want %d): "
                                  "got %r, want %r" % (what, i, len(rest), len(data) + 1,
                                                       rest[max(0, i - 20):i + 40],
                                                       (data + b"\n")[max(0, i - 20):i + 40]))
    return m.group(2).decode() if received is not None else None


def tree(top):
    """Every path under top (dirs with a trailing /), relative."""
    out = []
    for root, dirs, files in os.walk(top):
        rel = os.path.relpath(root, top)
        for n in dirs:
            out.append(os.path.normpath(os.path.join(rel, n)) + "/")
        for n in files:
            out.append(os.path.normpath(os.path.join(rel, n)))
    return sorted(out)


def sendmail(port, frm, to, msg, helo="client.example.org", **kw):
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=30) as s:
        return s.sendmail(frm, to, msg, **kw)


def log_sid_of(d, path):
    """The session id of the log line that delivered path."""
    for line in d.log().splitlines():
        if "delivered=" + path in line:
            m = re.search(r"sid=(\S+)", line)
            return m and m.group(1)
    return None


class Mount:
    """A tmpfs mounted at path for one test (root only); always unmounted."""

    def __init__(self, ctx, path, size):
        self.ctx, self.path = ctx, path
        os.makedirs(path, exist_ok=True)
        rc, out, err = ctx.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                                "tmpfs", path])
        eq(rc, 0, "mount tmpfs at %s: %s" % (path, err))

    def remount_ro(self):
        rc, out, err = self.ctx.run(["mount", "-o", "remount,ro", self.path])
        eq(rc, 0, "remount ro: %s" % err)

    def umount(self):
        rc, out, err = self.ctx.run(["umount", self.path])
        if rc != 0:  # a daemon still holds it: lazy unmount, it goes with the daemon
            self.ctx.run(["umount", "-l", self.path])


def full_maildir(ctx, path):
    """A Maildir at path that cannot take a message: as root, on a tmpfs
    of its own filled to the last block (ENOSPC: 452 4.3.1; remove
    path/filler to make room); otherwise one whose tmp is a file (451
    4.3.0; remove path/tmp).  Its Mount (root) or None, and that reply."""
    if not ROOT:
        os.makedirs(path)
        open(path + "/tmp", "w").close()
        return None, "451 4.3.0 Error: local delivery failed"
    mount = Mount(ctx, path, "64k")
    for sub in ("tmp", "new", "cur"):
        os.mkdir(path + "/" + sub, 0o700)
    fill(path)
    return mount, "452 4.3.1 Error: insufficient system storage"


def fill(path):
    """The file system of directory path filled up, by path/filler."""
    fd = os.open(os.path.join(path, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)


def server_worker(d, listen_port, client_sock):
    """The worker (a child of the master) holding the server side of the
    client's connection, found by the socket inode in /proc."""
    cport = client_sock.getsockname()[1]
    want = "0100007F:%04X" % listen_port, "0100007F:%04X" % cport
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if (p[1], p[2]) == want:
                inode = p[9]
    check(inode, "no server-side socket for client port %d" % cport)
    for w in d.workers():
        try:
            for fd in os.listdir("/proc/%d/fd" % w):
                if os.readlink("/proc/%d/fd/%s" % (w, fd)) == "socket:[%s]" % inode:
                    return w
        except (FileNotFoundError, ProcessLookupError):
            pass
    raise harness.TestFailure("no worker holds socket inode %s" % inode)


# ---------------------------------------------------------------- delivery

def test_single_folder_envelope_headers_and_body(ctx):
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md)
    check(os.path.isdir(md + "/tmp") and os.path.isdir(md + "/new") and os.path.isdir(md + "/cur"),
          "single-folder Maildir not made at start")
    body = (b"Subject: hello\r\nFrom: a@example.org\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
            b"8-bit: \xe9\xe8\xff\x80\r\nbare\rCR and tab\t\r\n\r\nlast\r\n")
    rcpts = ["One@Example.org", "two@example.net", "three@example.com"]
    eq(sendmail(port, "from@example.org", rcpts, body, mail_options=["BODY=8BITMIME"]), {},
       "refused")
    ((name, content),) = delivered(md, 1)
    sid = check_copy(content, smtpd_data(body), return_path="from@example.org",
                     original_to=rcpts, received=("client.example.org", "ESMTP", None))
    eq(sid, log_sid_of(d, os.path.join(md, "new", name)), "Received id against the log's sid")
    m = NAME_RX.match(name)
    check(int(m.group(3)) in d.workers(), "P%s is not a worker of the daemon" % m.group(3))
    # One recipient: Received has "for <rcpt>"; HELO (not EHLO) gives "with SMTP".
    with Client(port) as c:
        eq(c.transaction(b"Subject: 2\r\n\r\nsecond", helo="HELO helo.example",
                         mail="MAIL FROM:<x@example.org>", rcpt="RCPT TO:<Only@Example.org>"),
           "250 OK", "second message")
    files = delivered(md, 2)
    new = [f for f in files if f[0] != name]
    check_copy(new[0][1], b"Subject: 2\n\nsecond", return_path="x@example.org",
               original_to=["Only@Example.org"],
               received=("helo.example", "SMTP", "Only@Example.org"))
    eq(d.log().count("delivery failed"), 0, "failures logged")


def test_null_sender_and_swaks(ctx):
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md)
    eq(sendmail(port, "", ["r@example.org"], b"Subject: bounce\r\n\r\nnull sender\r\n"), {},
       "refused")
    ((_, content),) = delivered(md, 1)
    check(content.startswith(b"Return-Path: <>\nX-Original-To: r@example.org\nReceived: "),
          "null sender's copy: %r" % content[:120])
    check_copy(content, b"Subject: bounce\n\nnull sender", return_path="",
               original_to=["r@example.org"],
               received=("client.example.org", "ESMTP", "r@example.org"))
    # swaks, the null sender with -f '<>', a dot-leading line, two recipients.
    msg = ctx.write("swaks.txt", "Subject: swaks\nX-Test: yes\n\n.dot line\nsecond line\n")
    rc, out, err = ctx.run(["swaks", "--server", "127.0.0.1", "--port", str(port),
                            "--helo", "swaks.example", "-f", "<>", "--to",
                            "s1@example.org,s2@example.org", "--data", "@" + msg], timeout=20)
    eq(rc, 0, "swaks exit status (%s)" % out[-800:])
    files = delivered(md, 2)
    (content,) = [c for _, c in files if b"Subject: swaks" in c]
    # swaks sends the file's last line end and then its own CRLF . CRLF.
    check_copy(content, b"Subject: swaks\nX-Test: yes\n\n.dot line\nsecond line\n",
               return_path="", original_to=["s1@example.org", "s2@example.org"],
               received=("swaks.example", "ESMTP", None), what="swaks copy")


def test_per_recipient_copies_and_same_mailbox_twice(ctx):
    base = ctx.path("mail")
    d, port = maildir_daemon(ctx, base + "/%d/%u")
    body = b"Subject: many\r\n\r\n.dot\r\nbody \xc3\xa9\r\n"
    rcpts = ["Alice@Example.ORG", "bob@example.org", "Bob@Example.org", "carol@other.test"]
    eq(sendmail(port, "s@example.org", rcpts, body), {}, "refused")
    for rcpt, md in (("Alice@Example.ORG", base + "/example.org/alice"),
                     ("bob@example.org", base + "/example.org/bob"),
                     ("carol@other.test", base + "/other.test/carol")):
        ((name, content),) = delivered(md, 1)
        check_copy(content, smtpd_data(body), return_path="s@example.org", delivered_to=rcpt,
                   received=("client.example.org", "ESMTP", rcpt), what=md)
        check(b"X-Original-To" not in content, "X-Original-To in a per-recipient copy")
    eq(tree(base), ["example.org/", "example.org/alice/", "example.org/alice/cur/",
                    "example.org/alice/new/", "example.org/alice/new/" +
                    listdir(base + "/example.org/alice/new")[0], "example.org/alice/tmp/",
                    "example.org/bob/", "example.org/bob/cur/", "example.org/bob/new/",
                    "example.org/bob/new/" + listdir(base + "/example.org/bob/new")[0],
                    "example.org/bob/tmp/", "other.test/", "other.test/carol/",
                    "other.test/carol/cur/", "other.test/carol/new/", "other.test/carol/new/" +
                    listdir(base + "/other.test/carol/new")[0], "other.test/carol/tmp/"],
       "tree under the base")
    d.wait_log(r"delivered=.*/example\.org/bob/new/", count=1)
    eq(d.log().count('plugin=maildir msg="delivered='), 3, "delivered= log lines")
    # %a (the whole address) as one component.
    base2 = ctx.path("byaddr")
    text, port2, _ = ctx.listener(handler="maildir",
                                  extra='maildir = { path = "%s/%%a/Maildir"; };' % base2)
    d2 = ctx.daemon(ctx.config([text], name="a.conf"))
    eq(sendmail(port2, "s@example.org", ["Dan@Example.org"], body), {}, "refused (%a)")
    ((_, content),) = delivered(base2 + "/dan@example.org/Maildir", 1)
    check_copy(content, smtpd_data(body), return_path="s@example.org",
               delivered_to="Dan@Example.org",
               received=("client.example.org", "ESMTP", "Dan@Example.org"))


def test_hostile_addresses_refused(ctx):
    base = ctx.path("base")
    # Two dozen refused RCPTs in one session: above the error limits.
    lax = {"soft_error_limit": 100, "hard_error_limit": 100}
    d, port = maildir_daemon(ctx, base + "/%d/%u/Maildir", **lax)
    text, port_a, _ = ctx.listener(handler="maildir",
                                   extra='maildir = { path = "%s/a/%%a"; };' % base, **lax)
    d_a = ctx.daemon(ctx.config([text], name="a.conf"))
    refused_by_plugin = [b"../x@example.org", b".hidden@example.org", b'"a/b"@example.org',
                         b'"../../etc"@example.org', b'".."@example.org', b'"."@example.org',
                         b'"a b"@example.org', b'"a\\/b"@example.org',
                         b"x@[127.0.0.1]", b"a%2fb@example.org", b'"x"@example.org',
                         b".@example.org", b"..@example.org"]
    # The core's parser refuses these before the plugin sees them (any 5xx).
    refused_by_core = [b"x@..", b"x@.example.org", b"x@a/b", b"x@../../tmp", b'"a\x01b"@d',
                       b"a\x00b@d", b"x@", b"@d", b"a\\/b@d", b"x@a\x7fb"]
    for p in (port, port_a):
        c = Client(p)
        eq(c.code("EHLO x"), 250, "EHLO")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "250 OK", "MAIL")
        for a in refused_by_plugin + ([b"postmaster"] if p == port else []):
            r = c.cmd(b"RCPT TO:<" + a + b">")
            check(r.startswith("550 5.1.3 "), "RCPT TO:<%r> on port %d: %r" % (a, p, r))
        for a in refused_by_core:
            try:
                r = c.cmd(b"RCPT TO:<" + a + b">")
            except EOFError:  # a server may hang up on garbage; then start over
                c.close()
                c = Client(p)
                c.cmd("EHLO x")
                c.cmd("MAIL FROM:<a@example.org>")
                continue
            check(r[:1] == "5", "RCPT TO:<%r> on port %d: %r" % (a, p, r))
        eq(c.cmd("DATA"), "503 Error: need RCPT command", "DATA with every RCPT refused")
        # A good recipient is still delivered in the same transaction.
        eq(c.cmd("RCPT TO:<Good@Example.org>"), "250 OK", "good RCPT")
        eq(c.cmd("DATA")[:3], "354", "DATA")
        c.send(b"Subject: x\r\n\r\nok\r\n.\r\n")
        eq(c.reply(), ["250 OK"], "message to the good recipient")
        c.close()
    d.wait_log(r"refused: a leading dot")
    # Nothing outside the base; inside it only the good recipient's Maildirs.
    eq(sorted(x for x in tree(ctx.dir) if not x.startswith("base/")),
       sorted([x for x in os.listdir(ctx.dir) if os.path.isfile(ctx.path(x))] + ["plugins/"]
              + ["plugins/" + n for n in os.listdir(ctx.path("plugins"))]), "tree outside the base")
    dirs = [x for x in tree(base) if x.endswith("/")]
    eq(dirs, ["a/", "a/good@example.org/", "a/good@example.org/cur/", "a/good@example.org/new/",
              "a/good@example.org/tmp/", "example.org/", "example.org/good/",
              "example.org/good/Maildir/", "example.org/good/Maildir/cur/",
              "example.org/good/Maildir/new/", "example.org/good/Maildir/tmp/"],
       "directories under the base")
    delivered(base + "/example.org/good/Maildir", 1)
    delivered(base + "/a/good@example.org", 1)


def test_symlinks_below_the_fixed_part_are_not_followed(ctx):
    # The owner of a Maildir replaces a directory below the template's
    # fixed part with a symlink to one only the worker's user may write:
    # 451, a log line naming the symlink, nothing written where it points.
    base, victim = ctx.path("mail"), ctx.path("victim")
    for sub in ("", "/tmp", "/new", "/cur"):
        os.makedirs(victim + sub, exist_ok=True)
    d, port = maildir_daemon(ctx, base + "/%d/%u", workers=1)
    for u in ("alice", "bob", "carol", "erin"):
        for sub in ("tmp", "new", "cur"):
            os.makedirs("%s/x.org/%s/%s" % (base, u, sub))
    for link, target in (("x.org/bob/new", victim + "/new"), ("x.org/carol/tmp", victim + "/tmp"),
                         ("x.org/erin", victim)):
        subprocess.check_call(["rm", "-r", base + "/" + link])
        os.symlink(target, base + "/" + link)
    os.symlink(victim, base + "/evil.org")  # a domain directory, made before its first message
    cases = [("bob@x.org", "x.org/bob/new"), ("carol@x.org", "x.org/carol/tmp"),
             ("erin@x.org", "x.org/erin"), ("dan@evil.org", "evil.org")]
    for rcpt, link in cases:
        try:
            sendmail(port, "a@example.org", ["alice@x.org", rcpt], b"Subject: s\r\n\r\nx\r\n")
            raise harness.TestFailure("accepted with %s a symlink" % link)
        except smtplib.SMTPDataError as e:
            eq((e.smtp_code, e.smtp_error), (451, b"4.3.0 Error: local delivery failed"),
               "reply with %s a symlink" % link)
        d.wait_log(r"delivery failed: not following symlink %s: " % re.escape(base + "/" + link))
        delivered(base + "/x.org/alice", 0)
        eq(tree(victim), ["cur/", "new/", "tmp/"], "the directory the symlinks name")
    # Single folder: its new/ a symlink after start, then at start.
    md = ctx.path("single")
    text, p2, _ = ctx.listener(handler="maildir", extra='maildir = { path = "%s"; };' % md,
                               workers=1)
    conf = ctx.config([text], name="single.conf")
    d2 = ctx.daemon(conf)
    with Client(p2) as c:
        eq(c.code("EHLO x"), 250, "EHLO")  # this worker's init ran before the swap
        os.rmdir(md + "/new")
        os.symlink(victim + "/new", md + "/new")
        eq(c.transaction(b"Subject: s\r\n\r\nx", helo=None),
           "451 4.3.0 Error: local delivery failed", "single folder, new/ a symlink")
    d2.wait_log(r"delivery failed: not following symlink %s/new: " % re.escape(md))
    eq(listdir(md + "/tmp"), [], "single folder's tmp/")
    eq(tree(victim), ["cur/", "new/", "tmp/"], "the directory the symlink names")
    rc, out, err = ctx.run([harness.SMTPGATE, "-n", "-t", "-f", conf])
    check(rc != 0 and md + "/new" in err and "symlink" in err, "-t: rc=%d %r" % (rc, err))


def test_names_too_long_for_the_file_system_refused_at_rcpt(ctx):
    # A component longer than NAME_MAX would 451 at every retry: 550 at
    # RCPT instead; 255 bytes is still a name and is delivered.
    base = ctx.path("base")
    d, port = maildir_daemon(ctx, base + "/%u")
    text, port_a, _ = ctx.listener(handler="maildir", extra='maildir = { path = "%s/a/%%a"; };'
                                   % base)
    ctx.daemon(ctx.config([text], name="a.conf"))
    for p, too_long, fits in ((port, "u" * 256 + "@example.org", "u" * 255 + "@example.org"),
                              (port_a, "u" * 244 + "@example.org", "u" * 243 + "@example.org")):
        with Client(p) as c:
            eq(c.code("EHLO x"), 250, "EHLO")
            eq(c.cmd("MAIL FROM:<a@example.org>"), "250 OK", "MAIL")
            r = c.cmd("RCPT TO:<%s>" % too_long)
            check(r.startswith("550 5.1.3 ") and "NAME_MAX" in r, "%d bytes: %r" % (len(too_long), r))
            eq(c.cmd("RCPT TO:<%s>" % fits), "250 OK", "%d bytes" % len(fits))
            eq(c.cmd("DATA")[:3], "354", "DATA")
            c.send(b"Subject: long\r\n\r\nx\r\n.\r\n")
            eq(c.reply(), ["250 OK"], "message to the longest name")
    d.wait_log(r"refused: a path component longer than NAME_MAX")
    delivered(base + "/" + "u" * 255, 1)
    delivered(base + "/a/" + "u" * 243 + "@example.org", 1)
    eq(sorted(listdir(base)), sorted(["a", "u" * 255]), "directories made under the base")


def test_headers_off_and_crlf(ctx):
    body = b"Subject: plain\r\n\r\n.dot\r\nline \xff\r\n\r\n"
    data = smtpd_data(body)
    md = ctx.path("off")
    off = "return_path = false; original_to = false; delivered_to = false; received = false;"
    d, port = maildir_daemon(ctx, md, group=off)
    eq(sendmail(port, "a@example.org", ["b@example.org"], body), {}, "refused")
    ((_, content),) = delivered(md, 1)
    eq(content, data + b"\n", "copy with every header off: the data and a LF, nothing else")
    # Per-recipient, headers off one by one: only Delivered-To left on.
    base = ctx.path("per")
    text, p2, _ = ctx.listener(handler="maildir", extra='maildir = { path = "%s/%%u"; '
                               'return_path = false; received = false; };' % base)
    ctx.daemon(ctx.config([text], name="b.conf"))
    eq(sendmail(p2, "a@example.org", ["b@example.org"], body), {}, "refused")
    ((_, content),) = delivered(base + "/b", 1)
    eq(content, b"Delivered-To: b@example.org\n" + data + b"\n", "only Delivered-To")
    # line_ending = "crlf": every line of the copy ends CR LF, S= counts them.
    md3 = ctx.path("crlf")
    text, p3, _ = ctx.listener(handler="maildir",
                               extra='maildir = { path = "%s"; line_ending = "crlf"; };' % md3)
    ctx.daemon(ctx.config([text], name="c.conf"))
    eq(sendmail(p3, "a@example.org", ["b@example.org"], body), {}, "refused")
    ((name, content),) = delivered(md3, 1)
    check(b"\n" not in content.replace(b"\r\n", b""), "a bare LF in the crlf copy: %r" % content)
    check_copy(content.replace(b"\r\n", b"\n"), data, return_path="a@example.org",
               original_to=["b@example.org"],
               received=("client.example.org", "ESMTP", "b@example.org"), what="crlf copy")
    check(content.endswith(b"line \xff\r\n\r\n"), "crlf copy's end: %r" % content[-20:])


def test_body_byte_exact_20_mib(ctx):
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md)
    lines = []
    n = 0
    i = 0
    while n < 20 * 1024 * 1024:
        k = i % 7
        line = (b"." * (k % 3) + b"line %d " % i + bytes(range(0x80, 0x80 + (i % 120))) +
                b"x" * (i % 61))
        lines.append(line)
        n += len(line) + 2
        i += 1
    body = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    eq(sendmail(port, "a@example.org", ["b@example.org"], body, mail_options=["BODY=8BITMIME"]),
       {}, "refused")
    ((_, content),) = delivered(md, 1)
    check_copy(content, smtpd_data(body), return_path="a@example.org",
               original_to=["b@example.org"],
               received=("client.example.org", "ESMTP", "b@example.org"), what="20 MiB copy")


def test_decode_data_and_smtputf8_byte_exact(ctx):
    md = ctx.path("Maildir")
    base = ctx.path("per")
    # SMTPUTF8 (smtpd.py refuses it together with decode_data).
    d, port = maildir_daemon(ctx, md, smtputf8=True)
    text, p2, _ = ctx.listener(handler="maildir", smtputf8=True,
                               extra='maildir = { path = "%s/%%u"; };' % base)
    ctx.daemon(ctx.config([text], name="b.conf"))
    body = ("Subject: caf\u00e9 \u2603\r\nFrom: J\u00fcrgen <j\u00fcrgen@b\u00fccher.example>"
            "\r\n\r\n.\u00e9t\u00e9\r\n\u65e5\u672c\u8a9e \U0001F600\r\n").encode("utf-8")
    for p in (port, p2):
        with smtplib.SMTP("127.0.0.1", p, local_hostname="utf8.example", timeout=30) as s:
            eq(s.sendmail("j\u00fcrgen@b\u00fccher.example", ["Ren\u00e9e@example.org"], body,
                          mail_options=["SMTPUTF8", "BODY=8BITMIME"]), {}, "refused")
    ((_, content),) = delivered(md, 1)
    check_copy(content, smtpd_data(body), return_path="j\u00fcrgen@b\u00fccher.example",
               original_to=["Ren\u00e9e@example.org"],
               received=("utf8.example", "UTF8SMTP", "Ren\u00e9e@example.org"))
    # The UTF-8 local part names the Maildir (only ASCII is lower-cased).
    ((_, content),) = delivered(base + "/ren\u00e9e", 1)
    check_copy(content, smtpd_data(body), return_path="j\u00fcrgen@b\u00fccher.example",
               delivered_to="Ren\u00e9e@example.org",
               received=("utf8.example", "UTF8SMTP", "Ren\u00e9e@example.org"))
    # decode_data: UTF-8 is stored as sent; data that is not UTF-8 is
    # refused by the core (554, as smtpd.py cannot decode it), nothing stored.
    md3 = ctx.path("decoded")
    text, p3, _ = ctx.listener(handler="maildir", decode_data=True,
                               extra='maildir = { path = "%s"; };' % md3)
    ctx.daemon(ctx.config([text], name="c.conf"))
    eq(sendmail(p3, "a@example.org", ["b@example.org"], body), {}, "refused (decode_data)")
    ((_, content),) = delivered(md3, 1)
    check_copy(content, smtpd_data(body), return_path="a@example.org",
               original_to=["b@example.org"],
               received=("client.example.org", "ESMTP", "b@example.org"), what="decoded UTF-8")
    try:
        sendmail(p3, "a@example.org", ["b@example.org"], b"Subject: l1\r\n\r\n\xe9t\xe9\r\n")
        raise harness.TestFailure("latin-1 data accepted with decode_data")
    except smtplib.SMTPDataError as e:
        eq(e.smtp_code, 554, "latin-1 with decode_data")
    delivered(md3, 1)


def test_modes_of_created_dirs_and_files(ctx):
    base = ctx.path("mail")
    # A umask must not change the configured modes.
    d, port = maildir_daemon(ctx, base + "/%u", group='dir_mode = "0751"; file_mode = "0604";',
                             daemon_kw={"preexec_fn": lambda: os.umask(0o077)})
    eq(sendmail(port, "a@example.org", ["bob@example.org"], b"Subject: m\r\n\r\nx\r\n"), {},
       "refused")
    ((name, _),) = delivered(base + "/bob", 1)
    for p in ("", "/bob", "/bob/tmp", "/bob/new", "/bob/cur"):
        eq(oct(stat.S_IMODE(os.stat(base + p).st_mode)), "0o751", "mode of %s" % (base + p))
    eq(oct(stat.S_IMODE(os.stat(base + "/bob/new/" + name).st_mode)), "0o604", "file mode")
    # Defaults: 0700 and 0600.
    md = ctx.path("default")
    text, p2, _ = ctx.listener(handler="maildir", extra='maildir = { path = "%s"; };' % md)
    ctx.daemon(ctx.config([text], name="b.conf"))
    eq(sendmail(p2, "a@example.org", ["bob@example.org"], b"Subject: m\r\n\r\nx\r\n"), {},
       "refused")
    ((name, _),) = delivered(md, 1)
    for p in ("", "/tmp", "/new", "/cur"):
        eq(oct(stat.S_IMODE(os.stat(md + p).st_mode)), "0o700", "default mode of %s" % (md + p))
    eq(oct(stat.S_IMODE(os.stat(md + "/new/" + name).st_mode)), "0o600", "default file mode")
    # Bad settings are refused at start.
    for bad in ('dir_mode = "rwx";', 'file_mode = "0999";', 'line_ending = "cr";'):
        text, _, _ = ctx.listener(handler="maildir",
                                  extra='maildir = { path = "%s"; %s };' % (md, bad))
        conf = ctx.config([text], name="bad.conf")
        rc, out, err = ctx.run([harness.SMTPGATE, "-n", "-t", "-f", conf])
        check(rc != 0, "%s accepted by smtpgate -t" % bad)
    text, _, _ = ctx.listener(handler="maildir", extra='maildir = { path = "relative/%u"; };')
    rc, out, err = ctx.run([harness.SMTPGATE, "-n", "-t", "-f", ctx.config([text], name="r.conf")])
    check(rc != 0 and "absolute" in err, "relative path: rc=%d %r" % (rc, err))


def test_ownership_when_root(ctx):
    if not ROOT:
        # Without root there is no drop and no chown: the same delivery works.
        md = ctx.path("Maildir")
        d, port = maildir_daemon(ctx, md)
        eq(sendmail(port, "a@example.org", ["b@example.org"], b"x\r\n"), {}, "refused")
        delivered(md, 1)
        return
    import pwd
    nobody = pwd.getpwnam("nobody")
    os.chmod(ctx.dir, 0o755)  # the workers run as nobody
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md, group='user = "nobody";', daemon_kw={"nosetuid": False})
    for p in ("", "/tmp", "/new", "/cur"):
        st = os.stat(md + p)
        eq((st.st_uid, st.st_gid), (nobody.pw_uid, nobody.pw_gid), "owner of %s" % (md + p))
    eq(sendmail(port, "a@example.org", ["b@example.org"], b"Subject: o\r\n\r\nx\r\n"), {},
       "refused")
    ((name, _),) = delivered(md, 1)
    eq(os.stat(md + "/new/" + name).st_uid, nobody.pw_uid, "owner of the delivered file")
    # No user: the Maildir stays root's, and the workers (nobody) cannot
    # write into it: permission denied -> 451, nothing in new/.
    md2 = ctx.path("rootonly")
    text, p2, _ = ctx.listener(handler="maildir", extra='maildir = { path = "%s"; };' % md2)
    d2 = ctx.daemon(ctx.config([text], name="b.conf"), nosetuid=False)
    with Client(p2) as c:
        r = c.transaction(b"Subject: denied\r\n\r\nx")
        eq(r, "451 4.3.0 Error: local delivery failed", "EACCES")
        eq(c.transaction(b"again", helo=None)[:3], "451", "same session, again")
    d2.wait_log(r"delivery failed: .*%s\b.*\(errno 13\)" % re.escape(md2))
    delivered(md2, 0)


# ---------------------------------------------------------------- faults

def fault_check(d, port, md, want_code, errno_, body=None):
    """A message that cannot be stored: want_code, a log line naming the
    path and errno, nothing in new/ or tmp/; the worker keeps serving."""
    body = body or b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 600
    with Client(port) as c:
        r = c.transaction(body[:-2])
        want = {452: "452 4.3.1 Error: insufficient system storage",
                451: "451 4.3.0 Error: local delivery failed"}[want_code]
        eq(r, want, "reply to a message that cannot be stored")
        d.wait_log(r"delivery failed: write %s/tmp/\S+: .*\(errno %d\)" % (re.escape(md), errno_))
        delivered(md, 0)
        # The same session is served, and a small message fits.
        eq(c.transaction(b"Subject: small\r\n\r\nfits", helo=None), "250 OK", "small message after")
    delivered(md, 1)
    check(d.running(), "the master died")


def test_disk_full_is_452(ctx):
    if not ROOT:
        return test_file_size_limit_is_451(ctx)
    mnt = ctx.path("full")
    m = Mount(ctx, mnt, "256k")
    try:
        md = mnt + "/Maildir"
        d, port = maildir_daemon(ctx, md, workers=1)
        fault_check(d, port, md, 452, 28)
        # Per-recipient: three copies, the disk fills during the second: 452, none kept.
        base = mnt + "/per"
        text, p2, _ = ctx.listener(handler="maildir", workers=1,
                                   extra='maildir = { path = "%s/%%u"; };' % base)
        d2 = ctx.daemon(ctx.config([text], name="b.conf"))
        body = b"Subject: third\r\n\r\n" + (b"z" * 998 + b"\r\n") * 100  # ~100 KB a copy
        try:
            sendmail(p2, "a@example.org", ["a1@x.org", "a2@x.org", "a3@x.org"], body)
            raise harness.TestFailure("3 x 100 KB accepted on a 256 KB tmpfs holding 1 message")
        except smtplib.SMTPDataError as e:
            eq((e.smtp_code, e.smtp_error), (452, b"4.3.1 Error: insufficient system storage"),
               "per-recipient on a full disk")
        for u in ("a1", "a2", "a3"):
            delivered(base + "/" + u, 0) if os.path.isdir(base + "/" + u) else None
    finally:
        for p in list(ctx.procs):
            p.stop()
        m.umount()


def test_file_size_limit_is_451(ctx):
    """Injected write failure (works as any user): RLIMIT_FSIZE on the
    daemon, SIGXFSZ ignored, so write() fails with EFBIG."""
    md = ctx.path("Maildir")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300000, 300000))
    d, port = maildir_daemon(ctx, md, workers=1, daemon_kw={"preexec_fn": limit})
    fault_check(d, port, md, 451, 27)


def test_read_only_file_system_is_451(ctx):
    if not ROOT:
        # As a user, a tmp/ without write permission gives EACCES.
        md = ctx.path("Maildir")
        d, port = maildir_daemon(ctx, md, workers=1)
        os.chmod(md + "/tmp", 0o500)
        with Client(port) as c:
            eq(c.transaction(b"x")[:3], "451", "EACCES")
        delivered(md, 0)
        return
    mnt = ctx.path("ro")
    m = Mount(ctx, mnt, "1m")
    try:
        md = mnt + "/Maildir"
        base = mnt + "/per"
        d, port = maildir_daemon(ctx, md, workers=1)
        text, p2, _ = ctx.listener(handler="maildir", workers=1,
                                   extra='maildir = { path = "%s/%%u"; };' % base)
        d2 = ctx.daemon(ctx.config([text], name="b.conf"))
        eq(sendmail(p2, "a@example.org", ["old@x.org"], b"Subject: before\r\n\r\nx\r\n"), {},
           "before the remount")
        m.remount_ro()
        with Client(port) as c:
            eq(c.transaction(b"Subject: ro\r\n\r\nx"), "451 4.3.0 Error: local delivery failed",
               "EROFS")
        d.wait_log(r"delivery failed: write %s/tmp/\S+: .*\(errno 30\)" % re.escape(md))
        delivered(md, 0)
        # A new recipient's Maildir cannot be made, an existing one not written.
        for r in (["new@x.org"], ["old@x.org"]):
            try:
                sendmail(p2, "a@example.org", r, b"Subject: ro\r\n\r\nx\r\n")
                raise harness.TestFailure("accepted on a read-only file system")
            except smtplib.SMTPDataError as e:
                eq(e.smtp_code, 451, "per-recipient on a read-only fs")
        delivered(base + "/old", 1)
        check(not os.path.exists(base + "/new"), "new recipient's Maildir made on a ro fs")
        d2.wait_log(r"delivery failed: .*%s/new.*\(errno 30\)" % re.escape(base))
    finally:
        for p in list(ctx.procs):
            p.stop()
        m.umount()


def test_all_or_nothing_per_recipient(ctx):
    base = ctx.path("mail")
    d, port = maildir_daemon(ctx, base + "/%u", workers=1)
    # bob's new/ is a file: every tmp copy is written, then opening bob's new/
    # fails before any copy shows in a new/ (where a mail reader could take
    # it before it is taken back).
    for u in ("alice", "bob", "carol"):
        for sub in ("tmp", "new", "cur"):
            os.makedirs("%s/%s/%s" % (base, u, sub))
    os.rmdir(base + "/bob/new")
    open(base + "/bob/new", "w").close()
    # dave is a file: his Maildir cannot be made (tmp copies stage).
    open(base + "/dave", "w").close()
    for rcpts, stage in ((["alice@x.org", "bob@x.org", "carol@x.org"], "open %s/bob/new:" % base),
                         (["alice@x.org", "carol@x.org", "dave@x.org"], "open %s/dave:" % base)):
        try:
            sendmail(port, "a@example.org", rcpts, b"Subject: aon\r\n\r\nx\r\n")
            raise harness.TestFailure("%r accepted" % rcpts)
        except smtplib.SMTPDataError as e:
            eq((e.smtp_code, e.smtp_error), (451, b"4.3.0 Error: local delivery failed"),
               "reply when the %s of one copy fails" % stage)
        d.wait_log(r"delivery failed: %s " % re.escape(stage))
        for u in ("alice", "carol"):
            delivered(base + "/" + u, 0)
        eq(listdir(base + "/bob/tmp"), [], "bob's tmp")
    # Fixed: all three get their copy.
    os.unlink(base + "/bob/new")
    os.mkdir(base + "/bob/new")
    eq(sendmail(port, "a@example.org", ["alice@x.org", "bob@x.org", "carol@x.org"],
                b"Subject: aon\r\n\r\nx\r\n"), {}, "after the fix")
    for u in ("alice", "bob", "carol"):
        delivered(base + "/" + u, 1)


def test_worker_killed_during_data(ctx):
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md, workers=3)
    d.wait_workers(3)
    other = Client(port)  # another session, on another worker, unharmed
    eq(other.code("EHLO other"), 250, "other EHLO")
    c = Client(port)
    eq(c.code("EHLO x"), 250, "EHLO")
    eq(c.cmd("MAIL FROM:<a@example.org>"), "250 OK", "MAIL")
    eq(c.cmd("RCPT TO:<b@example.org>"), "250 OK", "RCPT")
    eq(c.cmd("DATA")[:3], "354", "DATA")
    c.send(b"Subject: killed\r\n\r\n" + (b"k" * 998 + b"\r\n") * 2000)  # 2 MB, no end
    time.sleep(0.3)
    w = server_worker(d, port, c.sock)
    check(w != server_worker(d, port, other.sock), "both sessions on one worker")
    os.kill(w, signal.SIGKILL)
    check(c.closed(5), "connection open after its worker was killed")
    c.close()
    d.wait_workers(3, exclude=(w,))
    delivered(md, 0)
    eq(other.transaction(b"Subject: other\r\n\r\nfine", helo=None), "250 OK", "other session")
    other.close()
    with Client(port) as c2:
        eq(c2.transaction(b"Subject: next\r\n\r\nnext client"), "250 OK", "next client")
    files = delivered(md, 2)
    check(not any(b"killed" in x for _, x in files), "the killed message was stored")


def test_100_concurrent_clients_10_messages_each(ctx):
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md, workers=8)
    d.wait_workers(8)
    errors = []
    bodies = {}
    for i in range(100):
        for j in range(10):
            bodies[(i, j)] = (b"Subject: c%d m%d\r\n\r\n.dot %d %d\r\n" % (i, j, i, j) +
                              os.urandom(16).hex().encode() * (1 + (i * 10 + j) % 50) + b"\r\n")

    def client(i):
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="c%d.example" % i,
                              timeout=40) as s:
                for j in range(10):
                    s.sendmail("c%d@example.org" % i, ["r%d@example.org" % j], bodies[(i, j)])
        except Exception as e:  # reported below
            errors.append("client %d: %r" % (i, e))
    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, 150 - (time.monotonic() - t0)))
    check(not any(t.is_alive() for t in threads), "clients still running after 150 s")
    eq(errors, [], "client errors")
    files = delivered(md, 1000)
    seen = {}
    for name, content in files:
        m = re.search(rb"\nSubject: c(\d+) m(\d+)\n", content)
        check(m, "%s: no Subject" % name)
        key = (int(m.group(1)), int(m.group(2)))
        check(key not in seen, "message %r stored twice (%s, %s)" % (key, seen.get(key), name))
        seen[key] = name
        i, j = key
        check_copy(content, smtpd_data(bodies[key]), return_path="c%d@example.org" % i,
                   original_to=["r%d@example.org" % j],
                   received=("c%d.example" % i, "ESMTP", "r%d@example.org" % j), what=name)
    eq(len(seen), 1000, "distinct messages")
    eq(len(set(n for n, _ in files)), 1000, "distinct names")
    eq(d.log().count("delivery failed"), 0, "failures logged")


def test_headers_past_their_buffer_are_left_out_whole(ctx):
    """300 recipients' X-Original-To lines are more than the 8 KiB the added
    headers may take: the lines that do not fit are left out, none is cut
    in two and run into the message's first line."""
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md, workers=1)
    rcpts = ["recipient-number-%03d@example.org" % i for i in range(300)]
    eq(sendmail(port, "a@example.org", rcpts, b"Subject: many\r\n\r\nbody\r\n"), {},
       "refused recipients")
    (name, data), = delivered(md, 1)
    head, _, body = data.partition(b"\n\n")
    lines = head.split(b"\n")
    eq(lines[-1], b"Subject: many", "the message's own first line, whole")
    for line in lines[:-1]:
        check(re.match(rb"^(Return-Path|X-Original-To|Delivered-To|Received): |^\s", line),
              "a header line cut or run together: %r" % line[:120])
    kept = [l for l in lines if l.startswith(b"X-Original-To: ")]
    check(0 < len(kept) < 300, "X-Original-To lines kept: %d" % len(kept))
    eq(kept[0], b"X-Original-To: recipient-number-000@example.org", "the first one")
    eq(body, b"body\n", "body")


def test_percent_percent_in_a_single_folder_path(ctx):
    # %% is a literal % in every template, not only in per-recipient ones.
    base = ctx.path("spool")
    d, port = maildir_daemon(ctx, base + "/100%%")
    sendmail(port, "a@example.org", ["b@example.org"], b"Subject: pct\r\n\r\nx\r\n")
    delivered(base + "/100%", 1)
    eq(listdir(base), ["100%"], "directories made under the base")


def syncs_during(ctx, pid, action):
    """The directories pid fsyncs while action() runs, as paths (strace -y
    names each descriptor's file: the plugin opens directories relative
    to one another, so the path an openat() was given is not the whole)."""
    log = ctx.path("strace-%d.txt" % pid)
    tracer = subprocess.Popen(["strace", "-y", "-e", "trace=openat,fsync", "-o", log,
                               "-p", str(pid)], stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([tracer.stderr], [], [], 10)
        said = tracer.stderr.readline() if ready else b""
        check(b"attached" in said, "strace did not attach: %r" % said)
        action()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    synced = []
    with open(log) as f:
        for line in f:
            m = re.match(r"fsync\(\d+<([^>]*)>\) += 0", line)
            if m and os.path.isdir(m.group(1)):
                synced.append(m.group(1))
    return synced


def test_existing_maildir_directory_is_synced_into_its_parent(ctx):
    # dora/ exists, made by someone whose sync may never have happened (a
    # worker that failed or died between mkdir and fsync): the first
    # delivery there syncs the base as it would have for a new dora/.
    base = ctx.path("mail")
    d, port = maildir_daemon(ctx, base + "/%u", workers=1)
    os.makedirs(base + "/dora")
    worker = d.wait_workers(1)[0]
    synced = syncs_during(ctx, worker, lambda: sendmail(port, "a@example.org", ["dora@x.org"],
                                                        b"Subject: sync\r\n\r\nx\r\n"))
    delivered(base + "/dora", 1)
    for dirname in (base, base + "/dora", base + "/dora/new"):
        check(dirname in synced, "%s was not synced; synced: %r" % (dirname, synced))


def test_a_maildir_half_made_by_another_worker(ctx):
    """Two workers delivering a recipient's first messages at once: one
    makes the Maildir (tmp/, then new/, then cur/), the other finds tmp/
    already there and must not fail on a new/ not made yet.  The state
    between the two mkdirs, made by hand: the delivery makes what is
    missing and succeeds."""
    base = ctx.path("mail")
    d, port = maildir_daemon(ctx, base + "/%u", workers=1)
    os.makedirs(base + "/bob/tmp")
    eq(sendmail(port, "a@example.org", ["bob@x.org"], b"Subject: first\r\n\r\nx\r\n"), {},
       "delivery into a Maildir without new/ yet")
    delivered(base + "/bob", 1)


def test_received_names_the_protocol_over_tls(ctx):
    """After STARTTLS the Received line says ESMTPS (RFC 3848), and with
    SMTPUTF8 RFC 6531's UTF8SMTPS."""
    from test_tls import client_context, make_cert, tls_listener
    md = ctx.path("Maildir")
    cert, key = make_cert(ctx)
    text, port, _ = tls_listener(ctx, "may", cert, key, handler="maildir", smtputf8=True,
                                 extra_tls=' maildir = { path = "%s"; };' % md)
    ctx.daemon(ctx.config([text]))
    rows = [([], "ESMTPS"), (["SMTPUTF8"], "UTF8SMTPS")]
    for opts, _ in rows:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="tls.example", timeout=30) as s:
            s.starttls(context=client_context(cert))
            eq(s.sendmail("a@example.org", ["b@example.org"], b"Subject: tls\r\n\r\nx\r\n",
                          mail_options=opts), {}, "refused with %r" % opts)
    copies = [content for _, content in delivered(md, 2)]
    for opts, word in rows:
        rx = received_rx("tls.example", word, "b@example.org")
        eq(len([c for c in copies if re.search(rx, c)]), 1,
           "copies with %s: %r" % (word, [c[:300] for c in copies]))
