"""The debug plugin as a developer's test double: `format = "jsonl"` (one
JSON object per message, read here with Python's json module) and fault
injection per stage (chaos_connect, chaos_mail, chaos_rcpt, chaos_data:
a reply code with a probability, or a delay), met by smtplib as an
application would meet it."""
import base64
import json
import smtplib

from harness import check, eq, read_file, wait_until


def double(ctx, group):
    """A daemon with one debug listener whose group is `group` plus the
    output file; (daemon, port, output)."""
    text, port, out = ctx.listener(workers=1, smtputf8=True)
    text = text.replace('debug = { output = "%s"; };' % out,
                        'debug = { output = "%s"; %s };' % (out, group))
    return ctx.daemon(ctx.config([text])), port, out


def json_lines(out, n):
    wait_until(lambda: read_file(out).count(b"\n") >= n, what="%d JSON lines" % n)
    return [json.loads(line) for line in read_file(out).decode("utf-8").splitlines()]


def test_jsonl_one_object_per_message(ctx):
    d, port, out = double(ctx, 'format = "jsonl";')
    text = ("Subject: caf\u00e9\r\nFrom: a@example.org\r\nX-Folded: one\r\n two\r\n\r\n"
            "line 1\r\n.dot\r\nline \"3\"\r\n").encode("utf-8")
    binary = b"Subject: bin\r\n\r\n\xff\xfe 8-bit\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("app.example")
        eq(s.sendmail("a@example.org", ["b@example.org", "c@example.org"], text), {}, "text")
        eq(s.sendmail("", ["d@example.org"], binary, mail_options=["BODY=8BITMIME"]), {}, "8bit")
    first, second = json_lines(out, 2)
    eq(first["helo"], "app.example", "helo")
    eq(first["sender"], "a@example.org", "sender")
    eq(first["recipients"], ["b@example.org", "c@example.org"], "recipients")
    eq(first["peer"], "127.0.0.1", "peer")
    check(isinstance(first["peer_port"], int) and first["peer_port"] > 0, "peer_port")
    check(first["session"] and first["time"].endswith("Z"), "session id and time")
    eq(first["headers"], [["Subject", "caf\u00e9"], ["From", "a@example.org"],
                          ["X-Folded", "one\n two"]], "headers")
    eq(first["body_encoding"], "utf-8", "encoding")
    eq(first["body"], 'line 1\n.dot\nline "3"', "body (de-transparent, LF)")
    eq(first["size"], len(text.replace(b"\r\n", b"\n")) - 1, "size")
    eq(second["sender"], "", "the null sender")
    eq(second["mail_options"], ["SIZE=%d" % len(binary), "BODY=8BITMIME"], "mail options")
    eq(second["body_encoding"], "base64", "8-bit body encoding")
    eq(base64.b64decode(second["body"]), b"\xff\xfe 8-bit", "8-bit body")


def test_chaos_refusals_per_stage(ctx):
    cases = [
        ('chaos_rcpt = "451 1";', "rcpt", 451),
        ('chaos_mail = "550 1";', "mail", 550),
        ('chaos_data = "554 1";', "data", 554),
        ('chaos_connect = "421 1";', "connect", 421),
    ]
    for group, stage, code in cases:
        d, port, out = double(ctx, group)
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                s.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
            raise AssertionError("%s: the message was accepted" % stage)
        except smtplib.SMTPRecipientsRefused as e:
            eq((stage, e.recipients["b@example.org"][0]), ("rcpt", code), "refused RCPT")
        except smtplib.SMTPSenderRefused as e:
            eq((stage, e.smtp_code), ("mail", code), "refused MAIL")
        except smtplib.SMTPDataError as e:
            eq((stage, e.smtp_code), ("data", code), "refused data")
        except smtplib.SMTPConnectError as e:
            eq((stage, e.smtp_code), ("connect", code), "refused connection")
        d.wait_log(r'msg="chaos stage=%s code=%d"' % (stage, code))
        d.wait_log(r"event=disconnect")
        eq(read_file(out), b"", "%s: nothing recorded" % stage)
        d.stop()


def erand48_draws(seed, n):
    """What erand48 gives from the state debug_chaos.c sets for seed."""
    x = (((seed >> 16) & 0xffff) << 32) | ((seed & 0xffff) << 16) | 0x330e
    out = []
    for _ in range(n):
        x = (0x5DEECE66D * x + 0xB) % (1 << 48)
        out.append(x / float(1 << 48))
    return out


def test_chaos_probability_follows_the_seed(ctx):
    seed, n = 4242, 24
    d, port, out = double(ctx, 'chaos_rcpt = "452 0.5"; chaos_seed = %d;' % seed)
    want = ["452" if x < 0.5 else "250" for x in erand48_draws(seed, n)]
    check(0 < want.count("452") < n, "a seed that gives both answers")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("app.example")
        eq(s.mail("a@example.org")[0], 250, "MAIL")
        got = [str(s.rcpt("r%d@example.org" % i)[0]) for i in range(n)]
    eq(got, want, "RCPT answers drawn from chaos_seed")


def test_chaos_delay_then_accept(ctx):
    d, port, out = double(ctx, 'chaos_mail = "delay 0.2"; format = "jsonl";')
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        eq(s.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n"), {},
           "accepted after the delay")
    d.wait_log(r'msg="chaos stage=mail delay_ms=200"')
    eq(json_lines(out, 1)[0]["recipients"], ["b@example.org"], "recorded")
