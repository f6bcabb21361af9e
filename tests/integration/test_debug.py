"""The debug plugin's output, byte for byte, as real clients (smtplib,
swaks) deliver into it; and concurrent clients never interleave."""
import smtplib
import threading

from harness import check, debug_frame, eq, frames, read_file, wait_until


def test_smtplib_8bit_message(ctx):
    d, port, out = ctx.simple(data_size_limit=0)  # no SIZE: smtplib adds no size=
    # Bytes go out as given (smtplib converts line ends of str messages only).
    msg = (b"From: a@example.org\r\nTo: b@example.org, c@example.org\r\nSubject: caf\xc3\xa9\r\n"
           b"\r\n.leading dot\r\n..two dots\r\nna\xc3\xafve 8-bit \xff\xfe\r\n\r\nlast line\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        refused = s.sendmail("a@example.org", ["b@example.org", "c@example.org"], msg,
                             mail_options=["BODY=8BITMIME"])
        eq(refused, {}, "refused recipients")
        eq(s.noop()[0], 250, "NOOP")
    want = debug_frame(msg[:-2].replace(b"\r\n", b"\n"), mail_options=["BODY=8BITMIME"])
    wait_until(lambda: len(read_file(out)) >= len(want), what="the message in the output")
    eq(read_file(out), want, "debug output")
    check(b"mail options: ['BODY=8BITMIME']\n" in want, "(the expected frame names the option)")


def test_smtplib_size_and_7bit(ctx):
    d, port, out = ctx.simple()
    msg = "Subject: plain\r\n\r\nHello\r\n.\r\nworld"  # a lone dot line: smtplib stuffs it
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        eq(s.ehlo()[0], 250, "EHLO")
        check(s.has_extn("size") and s.esmtp_features["size"] == "33554432",
              "SIZE 33554432 advertised: %r" % s.esmtp_features)
        check(s.has_extn("8bitmime"), "8BITMIME advertised")
        s.sendmail("a@example.org", ["b@example.org"], msg)
    data = "Subject: plain\n\nHello\n.\nworld"
    sent = len(msg.encode())  # smtplib's size= is the length of the message it was given
    want = debug_frame(data, mail_options=["SIZE=%d" % sent])
    wait_until(lambda: len(read_file(out)) >= len(want), what="the message in the output")
    eq(read_file(out), want, "debug output")


def swaks_data(transcript):
    """The message data swaks sent, as smtpd.py's `data`, from its transcript."""
    lines, inside = [], False
    for line in transcript.splitlines():
        if line.startswith("<-  354"):
            inside = True
        elif inside and line.startswith(" -> "):
            text = line[4:]
            if text == ".":
                break
            lines.append(text[1:] if text.startswith(".") else text)
        elif inside and line.startswith(" -> ") is False and line.startswith("<-"):
            break
    check(inside and lines, "no DATA in the swaks transcript:\n" + transcript)
    return "\n".join(lines)


def test_swaks_message(ctx):
    d, port, out = ctx.simple()
    rc, so, se = ctx.run(["swaks", "--server", "127.0.0.1:%d" % port, "--to", "a@example.org",
                          "--from", "c@example.org", "--header", "Subject: x",
                          "--body", "first\n.dot line\n\nlast"], timeout=20)
    eq(rc, 0, "swaks exit status (output:\n%s%s)" % (so, se))
    check("<-  250 OK" in so, "no 250 for the message:\n" + so)
    data = swaks_data(so)
    check(".dot line" in data and "Subject: x" in data, "swaks sent %r" % data)
    want = debug_frame(data)
    wait_until(lambda: len(read_file(out)) >= len(want), what="the message in the output")
    eq(read_file(out), want, "debug output")


def test_concurrent_clients_do_not_interleave(ctx):
    d, port, out = ctx.simple(workers=4)
    threads, errors, expected = [], [], []
    lock = threading.Lock()

    def client(t):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
                for m in range(5):
                    body = "".join("thread %d message %d line %d %s\r\n" % (t, m, i, "z" * 60)
                                   for i in range(300))
                    msg = "Subject: t%d m%d\r\n\r\n%s" % (t, m, body)
                    s.sendmail("t%d@example.org" % t, ["r@example.org"], msg)
                    with lock:
                        expected.append(debug_frame(msg.rstrip("\r\n").replace("\r\n", "\n"),
                                                    mail_options=["SIZE=%d" % len(msg)]))
        except Exception as e:
            with lock:
                errors.append("thread %d: %r" % (t, e))

    for t in range(10):
        th = threading.Thread(target=client, args=(t,))
        th.start()
        threads.append(th)
    for th in threads:
        th.join(60)
    check(not any(th.is_alive() for th in threads), "clients still running after 60 s")
    check(not errors, "client errors: %s" % errors)
    eq(len(expected), 50, "messages sent")
    total = sum(len(x) for x in expected)
    wait_until(lambda: len(read_file(out)) >= total, what="50 messages in the output")
    got = frames(read_file(out))
    eq(len(got), 50, "frames in the output")
    missing = [e[:80] for e in expected if e not in got]
    check(not missing, "%d messages not found whole in the output (interleaved?): %r"
          % (len(missing), missing[:3]))
