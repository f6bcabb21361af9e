"""Streamed message bodies (plugin ABI 1.1 on_body): the pieces a plugin
gets (at most 64 KiB, the header block first and whole when asked, the
bytes on_message would have had), refusals mid-body that answer the final
dot and end with on_reset, a client gone mid-body, and the bundled plugins
taking a big message (1 GiB; 100 MiB with CI=true or under the sanitizers;
SMTPGATE_BIG_MB to choose) through maildir and proxy with the worker's peak
memory (VmHWM in /proc/PID/status) under 16 MiB."""

import hashlib
import os
import time

import harness
from harness import Client, check, eq, wait_until
from test_maildir import ROOT, delivered, full_maildir, listdir, maildir_daemon, server_worker

PIECE_MAX = 64 * 1024
HWM_MAX_KB = 16 * 1024
# tests/sanitizers.sh runs these under AddressSanitizer (ASAN_OPTIONS set),
# slower: 100 MiB there, within its time bound.
SANITIZED = "ASAN_OPTIONS" in os.environ


def big_mb():
    if os.environ.get("SMTPGATE_BIG_MB"):
        return int(os.environ["SMTPGATE_BIG_MB"])
    return 100 if os.environ.get("CI") == "true" or SANITIZED else 1024


def check_hwm(hwm, mb):
    check(hwm < HWM_MAX_KB, "worker VmHWM %d kB for %d MiB" % (hwm, mb))


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise harness.TestFailure("no VmHWM for pid %d" % pid)


# One MiB of message text: 1000-byte lines, one of them dot-leading (sent
# dot-stuffed), one 8-bit.
BLOCK_LINES = [b"x" * 998] * 1047 + [b"..dot-leading" + b"d" * 985, b"\xc3\xa9" * 499]
BLOCK = b"".join(line + b"\r\n" for line in BLOCK_LINES)
BLOCK_DECODED = b"".join((line[1:] if line.startswith(b".") else line) + b"\n"
                         for line in BLOCK_LINES)
HEADER = b"Subject: big\r\nX-Test: stream\r\n\r\n"
HEADER_DECODED = b"Subject: big\nX-Test: stream\n\n"


def send_big(c, mb):
    """The header, mb blocks and the final dot; the decoded message's
    sha256 (what on_message would have had, plus the final LF a file
    adds)."""
    h = hashlib.sha256(HEADER_DECODED)
    c.send(HEADER)
    for _ in range(mb):
        c.sock.sendall(BLOCK)
        h.update(BLOCK_DECODED)
    c.sock.sendall(b".\r\n")
    return h.hexdigest()


def big_through(ctx, d, port, mb):
    """A message of mb MiB in one session: the reply, the worker's VmHWM."""
    c = Client(port, timeout=600)
    c.begin_data()
    digest = send_big(c, mb)
    r = "\n".join(c.reply())
    hwm = vm_hwm_kb(server_worker(d, port, c.sock))
    c.close()
    return r, hwm, digest


def stream_daemon(ctx, **settings):
    out = ctx.path("stream.rec")
    extra = 'stream = { output = "%s"; };' % out
    text, port, _ = ctx.listener(handler="stream", extra=extra, **settings)
    return ctx.daemon(ctx.config([text])), port, out


def records(out):
    try:
        return harness.read_file(out).decode().splitlines()
    except FileNotFoundError:
        return []


# ----------------------------------------------------------------- tests

def test_pieces_are_bounded_and_whole(ctx):
    d, port, out = stream_daemon(ctx)
    body = HEADER + BLOCK * 3 + b"last line without end"
    with Client(port) as c:
        eq(c.transaction(body), "250 OK", "reply")
    rec = records(out)
    pieces = [int(x.split()[1]) for x in rec if x.startswith("body ")]
    check(len(pieces) >= 48, "%d pieces for 3 MiB" % len(pieces))
    check(max(pieces) <= PIECE_MAX, "a piece of %d bytes" % max(pieces))
    want = HEADER_DECODED + BLOCK_DECODED * 3 + b"last line without end"
    eq(rec[-1], "message streamed=1 len=%d data=NULL" % len(want), "on_message")
    eq(harness.read_file(out + ".body"), want, "the pieces joined")


def test_whole_header_comes_first(ctx):
    d, port, out = stream_daemon(ctx)
    header = b"Subject: h\r\n" + b"X-Long: " + b"h" * 200000 + b"\r\n\r\n"
    with Client(port) as c:
        eq(c.transaction(header + b"body\r\n" * 30000), "250 OK", "reply")
    rec = records(out)
    first = int(rec[0].split()[1])
    eq(first, len(b"Subject: h\nX-Long: " + b"h" * 200000 + b"\n\n"),
       "first piece: the header block")
    rest = [int(x.split()[1]) for x in rec[1:] if x.startswith("body ")]
    check(rest and max(rest) <= PIECE_MAX, "later pieces at most 64 KiB: %r" % rest[:3])


def test_header_block_over_1mib_is_refused(ctx):
    d, port, out = stream_daemon(ctx)
    with Client(port) as c:
        r = c.transaction(b"X-Big: " + b"b" * (1100 * 1024) + b"\r\n\r\nbody\r\n")
        eq(r, "552 5.3.4 Error: message header block too big", "reply")
        eq(c.cmd("NOOP"), "250 OK", "session goes on")
    rec = records(out)
    check("reset" in rec and not any(x.startswith("message") for x in rec), rec)


def test_refusal_mid_body_answers_the_dot(ctx):
    d, port, out = stream_daemon(ctx)
    with Client(port) as c:
        r = c.transaction(b"Subject: r\r\n\r\n" + BLOCK * 2 + b"REFUSE-ME\r\n" + BLOCK * 2)
        eq(r, "554 5.7.1 refused mid-body", "reply")
        eq(c.transaction(b"Subject: next\r\n\r\nfine", helo=None), "250 OK", "next")
    rec = records(out)
    i = rec.index("reset")
    check(not any(x.startswith("message") for x in rec[:i]), "on_message before reset")
    eq(rec[-1], "message streamed=1 len=%d data=NULL" % len(b"Subject: next\n\nfine"),
       "next message")
    # Nothing after the refusing piece reached the plugin.
    body = harness.read_file(out + ".body")
    check(body.count(BLOCK_DECODED[:998]) < 4 * 1048, "pieces after the refusal")


def test_disconnect_mid_body(ctx):
    d, port, out = stream_daemon(ctx)
    with Client(port) as c:
        c.begin_data()
        c.send(b"Subject: d\r\n\r\nDROP-ME\r\n" + BLOCK + b".\r\n")
        eq(c.reply()[0][:4], "421 ", "reply")
        check(c.closed(), "connection still open")
    eq(records(out)[-1], "reset", "on_reset after DISCONNECT")


def test_size_limit_while_streaming(ctx):
    d, port, out = stream_daemon(ctx, data_size_limit=1024 * 1024)
    with Client(port) as c:
        eq(c.transaction(b"Subject: s\r\n\r\n" + BLOCK * 3), "552 Error: Too much mail data",
           "reply")
    rec = records(out)
    eq(rec[-1], "reset", "on_reset")
    total = sum(int(x.split()[1]) for x in rec if x.startswith("body "))
    check(total <= 1024 * 1024 + PIECE_MAX, "%d bytes given past the limit" % total)


def test_utf8_checked_across_pieces(ctx):
    d, port, out = stream_daemon(ctx, decode_data=True)
    # A two-byte character at every offset around the 64 KiB piece bounds.
    good = b"Subject: u\r\n\r\n" + (b"a" * 997 + b"\xc3\xa9\r\n") * 300
    bad = b"Subject: u\r\n\r\n" + (b"a" * 997 + b"\xc3\xa9\r\n") * 200 + b"\xc3\r\n"
    with Client(port) as c:
        eq(c.transaction(good), "250 OK", "valid UTF-8")
        eq(c.transaction(bad, helo=None), "554 5.6.0 Error: message data is not valid UTF-8",
           "a cut sequence")
    eq(records(out)[-1], "reset", "on_reset after the 554")


def test_client_gone_mid_body_calls_reset(ctx):
    d, port, out = stream_daemon(ctx)
    c = Client(port)
    c.begin_data()
    c.send(b"Subject: g\r\n\r\n" + BLOCK * 2)
    c.close()
    d.wait_log(r"event=disconnect reason=eof")
    wait_until(lambda: records(out) and records(out)[-1] == "reset", what="reset recorded")


def test_maildir_tmp_empty_after_refusals_and_disconnect(ctx):
    md = ctx.path("Maildir")
    d, port = maildir_daemon(ctx, md, data_size_limit=1024 * 1024, bare_lf="reject")
    with Client(port) as c:
        eq(c.transaction(b"Subject: s\r\n\r\n" + BLOCK * 2), "552 Error: Too much mail data",
           "over the limit")
        eq(c.transaction(b"Subject: b\r\n\r\n" + BLOCK[:4000] + b"bare\nlf\r\n" + BLOCK[:4000],
                         helo=None), "550 5.5.2 Error: bare <LF> received", "bare LF")
    c = Client(port)
    c.begin_data()
    c.send(b"Subject: g\r\n\r\n" + BLOCK)
    time.sleep(0.2)
    c.close()
    d.wait_log(r"event=disconnect reason=eof", count=2)
    delivered(md, 0)  # tmp/ empty too
    with Client(port) as c:
        eq(c.transaction(b"Subject: ok\r\n\r\nfine\r\n"), "250 OK", "then a message")
    delivered(md, 1)


def test_maildir_many_maildirs_all_or_nothing(ctx):
    base = ctx.path("mail")
    d, port = maildir_daemon(ctx, base + "/%u/Maildir")
    rcpts = ["u%02d@example.org" % i for i in range(40)]  # 32 own files, 8 sharing one
    with Client(port) as c:
        c.cmd("EHLO x")
        eq(c.cmd("MAIL FROM:<a@example.org>"), "250 OK", "MAIL")
        for r in rcpts:
            eq(c.cmd("RCPT TO:<%s>" % r), "250 OK", "RCPT " + r)
        eq(c.cmd("DATA")[:3], "354", "DATA")
        c.send(b"Subject: many\r\n\r\n" + BLOCK + b".\r\n")
        eq(c.reply(), ["250 OK"], "reply")
    inodes = set()
    for i, r in enumerate(rcpts):
        md = os.path.join(base, "u%02d" % i, "Maildir")
        (name, data), = delivered(md, 1)
        check(data.endswith(BLOCK_DECODED), "%s: the message" % r)
        has_delivered_to = b"Delivered-To: %s\n" % r.encode() in data
        eq(has_delivered_to, i < 32, "%s: Delivered-To" % r)
        inodes.add(os.stat(os.path.join(md, "new", name)).st_ino)
    eq(len(inodes), 33, "files: one per streamed Maildir, one shared")
    # One broken Maildir (its new/ a file; a missing one would be made)
    # among them: no copy anywhere.
    for i in range(40):
        for n in listdir(os.path.join(base, "u%02d" % i, "Maildir", "new")):
            os.unlink(os.path.join(base, "u%02d" % i, "Maildir", "new", n))
    broken = os.path.join(base, "u37", "Maildir", "new")
    os.rmdir(broken)
    open(broken, "w").close()
    with Client(port) as c:
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<a@example.org>")
        for r in rcpts:
            c.cmd("RCPT TO:<%s>" % r)
        c.cmd("DATA")
        c.send(b"Subject: broken\r\n\r\n" + BLOCK + b".\r\n")
        eq(c.reply(), ["451 4.3.0 Error: local delivery failed"], "reply")
    for i in range(40):
        md = os.path.join(base, "u%02d" % i, "Maildir")
        eq(listdir(os.path.join(md, "tmp")), [], "tmp/ of u%02d" % i)
        if i != 37:
            eq(listdir(os.path.join(md, "new")), [], "new/ of u%02d" % i)
    eq(os.path.getsize(broken), 0, "u37's new/, a file")


def broken_maildirs(ctx, base):
    """For the LMTP test below: u05 on a full tmpfs (as root; its tmp/ a
    file otherwise), u32's tmp/ a file, u36's new/ a file.  The Mount or
    None, and u05's reply."""
    u05 = base + "/u05/Maildir"
    mount, want = full_maildir(ctx, u05)
    os.makedirs(base + "/u32/Maildir")
    open(base + "/u32/Maildir/tmp", "w").close()
    for sub in ("tmp", "cur"):
        os.makedirs(base + "/u36/Maildir/" + sub)
    open(base + "/u36/Maildir/new", "w").close()
    return mount, want


def test_maildir_lmtp_each_copy_on_its_own(ctx):
    """LMTP into 40 Maildirs (32 own files, 8 sharing one) and U05, u05's
    Maildir again: u05 runs out of room mid-message (as root), u32 cannot
    make the common file (u33 makes it instead), u36 cannot show it.
    Those and U05 get their 4xx and keep nothing, not even in tmp/; every
    other recipient gets 250 and its one copy."""
    base = ctx.path("mail")
    d, port = maildir_daemon(ctx, base + "/%u/Maildir", protocol="lmtp")
    rcpts = ["u%02d@example.org" % i for i in range(40)] + ["U05@example.org"]
    mount, want05 = broken_maildirs(ctx, base)
    try:
        with Client(port) as c:
            eq(c.cmd("LHLO x")[:4], "250-", "LHLO")
            eq(c.cmd("MAIL FROM:<a@example.org>"), "250 2.1.0 OK", "MAIL")
            for r in rcpts:
                eq(c.cmd("RCPT TO:<%s>" % r), "250 2.1.5 OK", "RCPT " + r)
            eq(c.cmd("DATA")[:3], "354", "DATA")
            c.send(b"Subject: each\r\n\r\n" + BLOCK + b".\r\n")
            replies = ["\n".join(c.reply()) for _ in rcpts]
        failed = {5: want05, 32: "451 4.3.0 Error: local delivery failed",
                  36: "451 4.3.0 Error: local delivery failed", 40: want05}
        eq(replies, [failed.get(i, "250 2.0.0 OK") for i in range(len(rcpts))], "replies")
        inodes = set()
        for i in range(40):
            md = os.path.join(base, "u%02d" % i, "Maildir")
            if i in failed:
                continue
            (name, data), = delivered(md, 1)
            check(data.endswith(BLOCK_DECODED), "u%02d: the message" % i)
            eq(b"Delivered-To: u%02d@example.org\n" % i in data, i < 32,
               "u%02d: Delivered-To" % i)
            inodes.add(os.stat(os.path.join(md, "new", name)).st_ino)
        eq(len(inodes), 32, "files: one per streamed Maildir but u05's, one shared")
        if ROOT:
            eq((listdir(base + "/u05/Maildir/tmp"), listdir(base + "/u05/Maildir/new")),
               ([], []), "u05's tmp/ and new/")
            d.wait_log(r"delivery failed: write \S*/u05/Maildir/tmp/\S+: No space left")
        eq(sorted(os.listdir(base + "/u32/Maildir")), ["tmp"], "u32's Maildir")
        eq(listdir(base + "/u36/Maildir/tmp"), [], "u36's tmp/")
        d.wait_log(r"delivery failed: open \S*/u32/Maildir/tmp: Not a directory")
        d.wait_log(r"delivery failed: open \S*/u36/Maildir/new: Not a directory")
    finally:
        if mount:
            mount.umount()


def test_big_message_through_maildir_in_constant_memory(ctx):
    md = ctx.path("Maildir")
    mb = big_mb()
    d, port = maildir_daemon(ctx, md, data_size_limit=0, workers=1)
    d.wait_workers(1)
    r, hwm, digest = big_through(ctx, d, port, mb)
    eq(r, "250 OK", "reply to %d MiB" % mb)
    check_hwm(hwm, mb)
    eq(listdir(os.path.join(md, "tmp")), [], "tmp/")
    (name,) = listdir(os.path.join(md, "new"))
    path = os.path.join(md, "new", name)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(65536)
        h.update(head[head.index(b"Subject: big\n"):])
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    eq(h.hexdigest(), digest, "the stored message")
    os.unlink(path)


def test_big_message_through_proxy_in_constant_memory(ctx):
    sink = harness.smtp_sink(ctx)
    mb = big_mb()
    text, port, _ = ctx.listener(handler="proxy", data_size_limit=0, workers=1,
                                 remote="127.0.0.1:%d" % sink)
    d = ctx.daemon(ctx.config([text]))
    d.wait_workers(1)
    r, hwm, _ = big_through(ctx, d, port, mb)
    check(r.startswith("250 "), "reply to %d MiB: %r" % (mb, r))
    check_hwm(hwm, mb)
