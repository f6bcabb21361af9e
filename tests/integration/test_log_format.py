"""Log lines are logfmt records: whatever a client sends, the message line
has exactly the fields the daemon wrote, one record per line.  Values with
spaces, quotes or '=' are quoted with backslash escapes, and every byte
outside printable ASCII is escaped as \\xNN (so U+2028 and U+0085, which
split a line for Unicode-aware readers, never appear raw)."""
import re

from harness import Client, check, eq

MESSAGE_KEYS = ["sid", "listener", "event", "plugin", "from", "nrcpt", "size", "result", "code",
                "enhanced", "reply", "ms"]
FIELD_RX = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "]*)(?: |$)')


def fields(record):
    """A logfmt record (the part after the level) as a list of (key, raw value);
    fails unless the fields cover the whole record."""
    out, pos = [], 0
    while pos < len(record):
        m = FIELD_RX.match(record, pos)
        check(m is not None, "not a logfmt field at %d: %r" % (pos, record[pos:]))
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return out


def unquote(raw):
    """A quoted value back to its bytes."""
    if not raw.startswith('"'):
        return raw.encode()
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt == "x":
                out.append(int(body[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"n": b"\n", "r": b"\r", "t": b"\t"}.get(nxt, nxt.encode())
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def message_record(d):
    lines = [l for l in d.log().splitlines() if "event=message" in l]
    eq(len(lines), 1, "message lines")
    return lines[0][lines[0].index("sid="):]


def send_one(port, mail, helo="EHLO client.example.org"):
    with Client(port) as c:
        r = c.transaction("Subject: x\r\n\r\nhello", mail=mail, helo=helo)
        check(r.startswith("250"), "final dot: %r" % r)
        eq(c.cmd("QUIT")[:3], "221", "QUIT")


def test_quoted_local_part_is_one_field(ctx):
    d, port, _ = ctx.simple()
    sender = '"x nrcpt=0 result=refused"@a.example'
    send_one(port, "MAIL FROM:<%s>" % sender)
    d.wait_log(r"event=message")
    f = fields(message_record(d))
    eq([k for k, _ in f], MESSAGE_KEYS, "the message line's keys")
    got = dict(f)
    eq(unquote(got["from"]), sender.encode(), "from= decoded")
    eq(got["nrcpt"], "1", "nrcpt")
    eq(got["result"], "accepted", "result")
    eq(got["code"], "250", "code")


def test_unicode_line_separators_are_escaped(ctx):
    d, port, _ = ctx.simple(smtputf8=True)
    sender = "a\u2028nrcpt=9\u0085b@example.org"
    send_one(port, "MAIL FROM:<%s> SMTPUTF8" % sender)
    d.wait_log(r"event=message")
    raw = d.log().encode("utf-8", "surrogateescape")
    check(b"\xe2\x80\xa8" not in raw and b"\xc2\x85" not in raw,
          "a raw U+2028 or U+0085 in the log")
    f = fields(message_record(d))
    eq([k for k, _ in f], MESSAGE_KEYS, "the message line's keys")
    eq(unquote(dict(f)["from"]), sender.encode("utf-8"), "from= decoded")
