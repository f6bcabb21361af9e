"""The relay's BDAT (RFC 3030) to an upstream offering CHUNKING, seen from
the upstream's side: a scripted server that records each chunk, refuses
one, or hangs up mid-way.  The message streams as chunks of its octets
(CR LF line ends, no dots doubled) with no DATA before them, and the
client never gets a 2xx the upstream did not give for the whole message.
"""
import re
import socket
import threading

from harness import Client, check, eq


def bdat_upstream(on_chunk):
    """A one-connection ESMTP upstream offering PIPELINING and CHUNKING on
    a free port.  Each BDAT's octets are read and on_chunk(conn, size,
    last, octets) answers it (False to hang up); every command line goes
    to the list returned with the port and thread."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(15)
    commands = []

    def session(conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 scripted ESMTP\r\n")
        for line in f:
            commands.append(line.rstrip(b"\r\n").decode("latin-1"))
            m = re.match(rb"BDAT (\d+)( LAST)?\r\n$", line, re.I)
            if m:
                octets = f.read(int(m.group(1)))
                if not on_chunk(conn, int(m.group(1)), bool(m.group(2)), octets):
                    return
            elif line[:4].upper() == b"EHLO":
                conn.sendall(b"250-scripted\r\n250-PIPELINING\r\n250 CHUNKING\r\n")
            elif line[:4].upper() == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def serve():
        try:
            conn, _ = srv.accept()
            with conn:
                session(conn)
        except OSError:
            pass
        finally:
            srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], t, commands


def proxy(ctx, up):
    text, port, _ = ctx.listener(handler="proxy", remote="127.0.0.1:%d" % up)
    ctx.daemon(ctx.config([text]))
    return port


def test_message_goes_as_bdat_chunks(ctx):
    """The octets of all chunks are the message with X-Peer, CR LF line
    ends and its leading dots as the client meant them; LAST comes last
    and its reply is the client's."""
    got = []

    def on_chunk(conn, size, last, octets):
        eq(len(octets), size, "the chunk's size")
        got.append(octets)
        conn.sendall(b"250 2.0.0 queued as LAST\r\n" if last else b"250 2.0.0 chunk\r\n")
        return True
    up, t, commands = bdat_upstream(on_chunk)
    port = proxy(ctx, up)
    body = "".join("..line %d\r\n" % i for i in range(30000)) + "end"
    with Client(port, timeout=60) as c:
        r = c.transaction("Subject: chunks\r\n\r\n" + body)
    eq(r, "250 2.0.0 queued as LAST", "the client's reply")
    check(not any(cmd.upper().startswith("DATA") for cmd in commands), "no DATA: %s" % commands)
    bdats = [cmd for cmd in commands if cmd.startswith("BDAT")]
    check(len(bdats) > 2 and bdats[-1].endswith(" LAST") and
          not any(b.endswith("LAST") for b in bdats[:-1]), "chunks, then LAST: %s" % bdats)
    eq(b"".join(got), ("Subject: chunks\r\nX-Peer: 127.0.0.1\r\n\r\n" + "".join(
        ".line %d\r\n" % i for i in range(30000)) + "end\r\n").encode(),
       "the octets relayed (the client's dots unstuffed, none added)")


def test_refused_chunk_is_the_clients_reply(ctx):
    """The first chunk refused, the ones after it (wrongly) accepted: the
    message failed at the refusal, which is the client's reply; no LAST."""
    seen = []

    def on_chunk(conn, size, last, octets):
        seen.append(size)
        conn.sendall(b"552 5.3.4 chunk refused\r\n" if len(seen) == 1 else
                     b"250 2.0.0 ok\r\n")
        return True
    up, t, commands = bdat_upstream(on_chunk)
    port = proxy(ctx, up)
    with Client(port, timeout=60) as c:
        r = c.transaction("Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 2000)
    eq(r, "552 5.3.4 chunk refused", "the client's reply")
    check(not any(cmd.endswith(" LAST") for cmd in commands),
          "no LAST after a refused chunk: %s" % commands)


def test_connection_lost_mid_chunks_is_451(ctx):
    """The upstream hangs up after the first chunk, without a reply."""
    def on_chunk(conn, size, last, octets):
        return False
    up, t, commands = bdat_upstream(on_chunk)
    port = proxy(ctx, up)
    with Client(port, timeout=60) as c:
        r = c.transaction("Subject: cut\r\n\r\n" + ("y" * 998 + "\r\n") * 2000)
    check(r.startswith("451 4.4.2 "), "the client's reply: %r" % r)
