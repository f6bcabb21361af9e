"""maildir's copy fallback: past MAILDIR_STREAM_FILES_MAX distinct Maildirs
the further ones share one file, hard-linked into each new/; a Maildir on
another file system (a tmpfs of its own here, as root) cannot get a link
(EXDEV) and gets a copy of that file instead, read back and written
durably, which further Maildirs on its file system then share.  Each
recipient gets one whole copy with the right ,S= size; a copy that fails
(a full tmpfs) fails the whole message on SMTP and only its recipients on
LMTP."""

import os

from harness import Client, check, eq
from test_maildir import ROOT, Mount, delivered, fill, listdir, maildir_daemon
from test_stream import BLOCK, BLOCK_DECODED

# 33 on the test's file system (32 own files, u32's the shared one), then
# sharers: on the same file system (linked), on fs1 (the first copied, the
# second linked to that copy), on fs2 (copied again), and back home.
HOME = ["u%02d@example.org" % i for i in range(34)]
RCPTS = HOME[:33] + ["a1@fs1.example", "a2@fs1.example", "u33@example.org",
                     "b1@fs2.example", "a3@fs1.example"]
SHARERS = RCPTS[33:]


def maildir_of(base, rcpt):
    local, domain = rcpt.split("@")
    return os.path.join(base, domain, local, "Maildir")


def send_many(port, rcpts, lmtp=False):
    """One message to every recipient: the replies after the dot."""
    with Client(port) as c:
        c.cmd("LHLO x" if lmtp else "EHLO x")
        eq(c.cmd("MAIL FROM:<a@example.org>")[:3], "250", "MAIL")
        for r in rcpts:
            eq(c.cmd("RCPT TO:<%s>" % r)[:3], "250", "RCPT " + r)
        eq(c.cmd("DATA")[:3], "354", "DATA")
        c.send(b"Subject: copies\r\n\r\n" + BLOCK + b".\r\n")
        return ["\n".join(c.reply()) for _ in (rcpts if lmtp else [0])]


def mounts(ctx, base, fs2_size="8m"):
    os.makedirs(base)
    return [Mount(ctx, os.path.join(base, "fs1.example"), "8m"),
            Mount(ctx, os.path.join(base, "fs2.example"), fs2_size)]


def full_fs2(ctx, base):
    """The two mounts, fs2 with b1's Maildir made and then filled up."""
    ms = mounts(ctx, base, fs2_size="256k")
    try:
        os.makedirs(maildir_of(base, "b1@fs2.example"))
        for sub in ("tmp", "new", "cur"):
            os.mkdir(os.path.join(maildir_of(base, "b1@fs2.example"), sub))
        fill(os.path.join(base, "fs2.example"))
    except BaseException:
        for m in ms:
            m.umount()
        raise
    return ms


def inode(base, rcpt, name):
    return os.stat(os.path.join(maildir_of(base, rcpt), "new", name)).st_ino


def test_maildir_copies_where_it_cannot_link(ctx):
    if not ROOT:
        return  # tmpfs mounts need root; test_stream covers the links
    base = ctx.path("mail")
    ms = mounts(ctx, base)
    try:
        d, port = maildir_daemon(ctx, base + "/%d/%u/Maildir")
        eq(send_many(port, RCPTS), ["250 OK"], "reply")
        names = {}
        for i, r in enumerate(RCPTS):
            (name, data), = delivered(maildir_of(base, r), 1)  # checks ,S=
            check(data.startswith(b"Return-Path: <a@example.org>\n"), "%s: the start" % r)
            check(data.endswith(b"Subject: copies\n\n" + BLOCK_DECODED), "%s: the message" % r)
            eq(b"Delivered-To: %s\n" % r.encode() in data, i < 32, "%s: Delivered-To" % r)
            names[r] = name
        shared = names["u32@example.org"]
        eq({names[r] for r in SHARERS}, {shared}, "the sharers' names")
        ino = {r: inode(base, r, names[r]) for r in RCPTS}
        eq(len(set(ino.values())), 36, "files: 32 own, the shared one, copies for a1, b1, a3")
        eq(ino["u33@example.org"], ino["u32@example.org"], "u33: a link to the shared file")
        eq(ino["a2@fs1.example"], ino["a1@fs1.example"], "a2: a link to a1's copy")
        eq(ino["a3@fs1.example"] != ino["a1@fs1.example"], True,
           "a3: a copy of its own (one copy open at a time)")
        eq(os.stat(os.path.join(maildir_of(base, "a1@fs1.example"), "new", shared)).st_nlink,
           2, "links to a1's copy")
        d.wait_log(r"delivered=\S*/fs2\.example/b1/Maildir/new/%s" % shared.replace(".", r"\."))
    finally:
        for m in ms:
            m.umount()


def test_maildir_failed_copy_all_or_nothing(ctx):
    """fs2 full: b1's copy fails, so on SMTP no recipient keeps anything
    (the shared file and a1's copy taken back, no tmp/ file left), 452."""
    if not ROOT:
        return
    base = ctx.path("mail")
    ms = full_fs2(ctx, base)
    try:
        d, port = maildir_daemon(ctx, base + "/%d/%u/Maildir")
        eq(send_many(port, RCPTS), ["452 4.3.1 Error: insufficient system storage"], "reply")
        d.wait_log(r"delivery failed: copy \S*/fs2\.example/b1/Maildir/tmp: No space left")
        for r in RCPTS:
            md = maildir_of(base, r)
            eq((listdir(md + "/tmp"), listdir(md + "/new")), ([], []), r + ": tmp/ and new/")
    finally:
        for m in ms:
            m.umount()


def test_maildir_failed_copy_lmtp_each_on_its_own(ctx):
    """The same on LMTP: b1 gets 452, every other recipient 250 and its copy."""
    if not ROOT:
        return
    base = ctx.path("mail")
    ms = full_fs2(ctx, base)
    try:
        d, port = maildir_daemon(ctx, base + "/%d/%u/Maildir", protocol="lmtp")
        replies = send_many(port, RCPTS, lmtp=True)
        eq(replies, ["452 4.3.1 Error: insufficient system storage" if r == "b1@fs2.example"
                     else "250 2.0.0 OK" for r in RCPTS], "replies")
        for r in RCPTS:
            md = maildir_of(base, r)
            if r == "b1@fs2.example":
                eq((listdir(md + "/tmp"), listdir(md + "/new")), ([], []), r + ": tmp/ and new/")
            else:
                (name, data), = delivered(md, 1)
                check(data.endswith(BLOCK_DECODED), "%s: the message" % r)
    finally:
        for m in ms:
            m.umount()
