"""The PROXY protocol on a listener (proxy_protocol, proxy_trusted,
proxy_timeout): a real HAProxy (Debian's haproxy, started here in the
foreground on loopback) relaying clients from other loopback addresses
with send-proxy and send-proxy-v2, and raw sockets for what a balancer
should never send: untrusted sources, malformed, missing, split and slow
headers, SMTP right behind the header, LOCAL health checks, and the
per-client limit counted per original address."""
import os
import re
import smtplib
import socket
import struct
import time

import harness
from harness import SMTPGATE, Client, check, eq, frames, read_file, wait_until

HAPROXY = "/usr/sbin/haproxy"
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V2_LOCAL = SIG + b"\x20\x00\x00\x00"


# ---------------------------------------------------------------- helpers

def v1(src, sport, dst="127.0.0.1", dport=25):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src, sport, dst="127.0.0.1", dport=25, tlvs=b""):
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    body = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) +
            struct.pack("!HH", sport, dport) + tlvs)
    return SIG + bytes([0x21, 0x21 if fam == socket.AF_INET6 else 0x11]) + \
        struct.pack("!H", len(body)) + body


def gate(ctx, proto="any", trusted='"127.0.0.1"', extra="", **settings):
    """A daemon with one listener taking PROXY headers from trusted;
    returns (daemon, port, debug output)."""
    text, port, out = ctx.listener(proxy_protocol=proto,
                                   extra="proxy_trusted = [ %s ]; %s" % (trusted, extra),
                                   **settings)
    return ctx.daemon(ctx.config([text])), port, out


def listening(port):
    """True when something listens on 127.0.0.1:port (from /proc, so the
    check itself opens no connection through the balancer)."""
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(want) and fields[3] == "0A":
                return True
    return False


def haproxy(ctx, server_port, frontends):
    """HAProxy in the foreground in mode tcp: one frontend per entry of
    frontends ({name: server options}) relaying to 127.0.0.1:server_port;
    returns {name: frontend port} once all listen."""
    check(os.path.exists(HAPROXY), "%s missing: apt-get install haproxy" % HAPROXY)
    ports = {name: harness.free_port() for name in frontends}
    cfg = ["global", "    maxconn 200", "defaults", "    mode tcp",
           "    timeout connect 5s", "    timeout client 60s", "    timeout server 60s"]
    for name, options in frontends.items():
        cfg += ["frontend fe_%s" % name, "    bind 127.0.0.1:%d" % ports[name],
                "    default_backend be_%s" % name, "backend be_%s" % name]
        if "check" in options:
            cfg.append("    option smtpchk HELO lb.example")
        cfg.append("    server gate 127.0.0.1:%d %s" % (server_port, options))
    path = ctx.write("haproxy.cfg", "\n".join(cfg) + "\n")
    harness.Proc(ctx, [HAPROXY, "-db", "-f", path], "haproxy")
    for name, port in ports.items():
        wait_until(lambda: listening(port), what="haproxy frontend %s on %d" % (name, port))
    return ports


def closed_unanswered(c):
    """The server closed c without sending a byte."""
    check(c.closed(harness.WAIT), "the connection was not closed")
    eq(c.buf, b"", "bytes sent before the close")
    c.close()


# ---------------------------------------------------------------- through HAProxy

def test_haproxy_v1_and_v2_show_the_original_client(ctx):
    d, port, out = gate(ctx)
    fe = haproxy(ctx, port, {"v1": "send-proxy", "v2": "send-proxy-v2"})
    for n, (name, source) in enumerate((("v1", "127.0.0.2"), ("v2", "127.0.0.3"))):
        with smtplib.SMTP("127.0.0.1", fe[name], timeout=10,
                          source_address=(source, 0)) as s:
            cport = s.sock.getsockname()[1]
            eq(s.sendmail("a@example.org", ["b@example.org"],
                          "Subject: %s\r\n\r\nthrough haproxy" % name), {}, "refused")
        d.wait_log(r"event=connect client=%s port=%d via=127\.0\.0\.1 via_port=\d+ proxy=%s$"
                   % (re.escape(source), cport, name))
        wait_until(lambda: len(frames(read_file(out))) == n + 1, what="message %d" % (n + 1))
        check(b"\nX-Peer: %s\n" % source.encode() in frames(read_file(out))[n],
              "the plugin's peer is not %s:\n%r" % (source, frames(read_file(out))[n]))
    check("client=127.0.0.1 " not in d.log(), "the balancer was taken for the client")


def test_haproxy_v2_into_maildir_received_line(ctx):
    md = ctx.path("Maildir")
    d, port, _ = gate(ctx, handler="maildir", proto="v2", extra='maildir = { path = "%s"; };' % md)
    fe = haproxy(ctx, port, {"v2": "send-proxy-v2"})
    with smtplib.SMTP("127.0.0.1", fe["v2"], timeout=10, source_address=("127.0.0.4", 0)) as s:
        s.ehlo("far.example")
        eq(s.sendmail("a@example.org", ["b@example.org"], "Subject: r\r\n\r\nbody"), {}, "refused")
    new = os.path.join(md, "new")
    files = wait_until(lambda: os.listdir(new), what="the message in the maildir")
    data = read_file(os.path.join(new, files[0]))
    check(b"Received: from far.example ([127.0.0.4])" in data,
          "Received line does not name the original client:\n%r" % data[:400])


def test_haproxy_per_client_limit_counts_original_addresses(ctx):
    d, port, _ = gate(ctx, proto="v2", workers=8, max_sessions_per_client=2,
                      extra="client_limit_exceptions = [];")
    d.wait_workers(8)
    fe = haproxy(ctx, port, {"v2": "send-proxy-v2"})["v2"]
    held = [Client(fe, source="127.0.0.2"), Client(fe, source="127.0.0.2")]
    try:
        for c in held:
            eq(c.greeting[0][:4], "220 ", "a session from 127.0.0.2")
        with Client(fe, source="127.0.0.2") as c:
            eq(c.greeting, ["421 4.7.0 %s Error: too many connections from 127.0.0.2"
                            % c.greeting[0].split()[2]], "third session from 127.0.0.2")
        d.wait_log(r"event=limit limit=max_sessions_per_client client=127\.0\.0\.2 sessions=3")
        # Every session comes from the balancer's 127.0.0.1: it is no client.
        for i in range(2):
            held.append(Client(fe, source="127.0.0.3"))
            eq(held[-1].greeting[0][:4], "220 ", "session %d from 127.0.0.3" % (i + 1))
        eq(held[-1].transaction("Subject: x\r\n\r\nserved"), "250 OK", "a message from 127.0.0.3")
    finally:
        for c in held:
            c.close()
    check("client=127.0.0.1" not in d.log(), "the balancer counted as a client:\n" + d.log())


def test_haproxy_health_checks_are_connections_without_a_client(ctx):
    """option smtpchk with send-proxy-v2: HAProxy's checks carry a LOCAL
    header, each a session of the balancer's own address, logged as such,
    and they pass (with send-proxy a check sends its own connection's
    addresses in a v1 line: a client of 127.0.0.1)."""
    d, port, _ = gate(ctx)
    haproxy(ctx, port, {"v2": "send-proxy-v2 check inter 300", "v1": "send-proxy check inter 300"})
    d.wait_log(r"event=connect client=127\.0\.0\.1 port=(\d+) via=127\.0\.0\.1 via_port=\1 "
               r"proxy=local$")
    d.wait_log(r"event=connect client=127\.0\.0\.1 port=\d+ via=127\.0\.0\.1 via_port=\d+ "
               r"proxy=v1$")
    d.wait_log(r"event=disconnect reason=quit ", count=2)
    check("proxy-refused" not in d.log(), "a health check was refused:\n" + d.log())


# ---------------------------------------------------------------- raw sockets

def test_untrusted_source_closed_before_the_greeting(ctx):
    d, port, _ = gate(ctx)
    c = Client(port, source="127.0.0.2", greeting=False)
    c.send(v1("192.0.2.1", 1000))  # a well-formed header from the wrong place
    closed_unanswered(c)
    d.wait_log(r"event=proxy-refused reason=untrusted client=127\.0\.0\.2 port=\d+$")
    check("event=connect" not in d.log(), "a session started:\n" + d.log())


def test_malformed_headers_are_closed_unanswered(ctx):
    d, port, _ = gate(ctx)
    bad = [
        (b"PROXY TCP4 192.0.2.1 192.0.2 1000 25\r\nQUIT\r\n", "bad-address"),
        (b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 25\nQUIT\r\n", "bad-line"),
        (b"PROXY TCP7 192.0.2.1 192.0.2.2 1000 25\r\n", "bad-family"),
        (b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n", "too-long"),
        (SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12, "bad-version"),
        (SIG + b"\x21\x11\xff\xff", "too-long"),
        (SIG + b"\x21\x11\x00\x11" + b"\x00" * 12 + b"\x01\x00\x05ab", "bad-tlv"),
    ]
    for i, (data, reason) in enumerate(bad):
        c = Client(port, greeting=False)
        c.send(data)
        closed_unanswered(c)
        d.wait_log(r"event=proxy-refused reason=%s client=127\.0\.0\.1 " % reason,
                   count=sum(1 for _, r in bad[:i + 1] if r == reason))
    check("event=connect" not in d.log(), "a session started:\n" + d.log())


def test_missing_header_smtp_at_once_is_closed(ctx):
    d, port, out = gate(ctx)
    c = Client(port, greeting=False)
    c.send(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n")
    closed_unanswered(c)
    d.wait_log(r"event=proxy-refused reason=bad-signature client=127\.0\.0\.1 port=\d+$")


def test_header_timeout(ctx):
    d, port, _ = gate(ctx, proxy_timeout=1)
    silent = Client(port, greeting=False)  # waits for a greeting that never comes
    half = Client(port, greeting=False)
    half.send(SIG + b"\x21\x11")
    closed_unanswered(silent)
    closed_unanswered(half)
    d.wait_log(r"event=proxy-refused reason=timeout client=127\.0\.0\.1 ", count=2)


def test_header_split_across_packets(ctx):
    d, port, out = gate(ctx)
    cases = [(v1("192.0.2.7", 4001), [5, 20, 39]),
             (v2("2001:db8::7", 4002, "2001:db8::25"), [3, 12, 14, 30])]
    for header, cuts in cases:
        c = Client(port, greeting=False)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        last = 0
        for cut in cuts + [len(header)]:
            c.send(header[last:cut])
            last = cut
            time.sleep(0.05)  # separate segments; the result must not depend on it
        eq(c.reply()[0][:4], "220 ", "greeting after a split header")
        eq(c.cmd("NOOP"), "250 OK", "NOOP")
        eq(c.cmd("QUIT")[:3], "221", "QUIT")
        c.close()
    d.wait_log(r"event=connect client=192\.0\.2\.7 port=4001 via=127\.0\.0\.1 via_port=\d+ "
               r"proxy=v1$")
    d.wait_log(r"event=connect client=2001:db8::7 port=4002 via=127\.0\.0\.1 via_port=\d+ "
               r"proxy=v2$")


def test_smtp_in_the_same_segment_as_the_header_is_kept(ctx):
    d, port, out = gate(ctx)
    for header in (v1("192.0.2.8", 4003), v2("192.0.2.9", 4004, tlvs=b"\x04\x00\x02ab")):
        c = Client(port, greeting=False)
        c.send(header + b"EHLO client.example\r\nNOOP\r\n")
        eq(c.reply()[0][:4], "220 ", "greeting")
        r = c.reply()
        check(r[0].startswith("250-") and r[-1].startswith("250 "), "EHLO: %r" % r)
        eq(c.reply(), ["250 OK"], "NOOP")
        eq(c.transaction("Subject: kept\r\n\r\nbody", helo=None), "250 OK", "message")
        c.close()
    got = frames(read_file(out))
    eq(len(got), 2, "messages")
    check(b"X-Peer: 192.0.2.8\n" in got[0] and b"X-Peer: 192.0.2.9\n" in got[1],
          "peers: %r" % got)


def test_header_is_not_pregreet(ctx):
    d, port, _ = gate(ctx, greet_pause=300, pregreet="reject")
    c = Client(port, greeting=False)
    c.send(v2("192.0.2.10", 4005))
    eq(c.reply()[0][:4], "220 ", "greeting after the header alone")
    eq(c.cmd("QUIT")[:3], "221", "QUIT")
    c.close()
    # SMTP behind the header, before the greeting, is still talking early.
    c = Client(port, greeting=False)
    c.send(v2("192.0.2.11", 4006) + b"EHLO early.example\r\n")
    check(c.reply()[0].startswith("554 5.5.1 "), "pregreet after the header")
    c.close()
    d.wait_log(r"event=pregreet action=reject")
    eq(d.log().count("event=pregreet"), 1, "pregreet events")


def test_local_health_check_and_unknown(ctx):
    d, port, out = gate(ctx)
    for header, kind in ((V2_LOCAL, "local"), (b"PROXY UNKNOWN\r\n", "unknown")):
        c = Client(port, greeting=False)
        c.send(header)
        eq(c.reply()[0][:4], "220 ", "greeting after %s" % kind)
        cport = c.sock.getsockname()[1]
        eq(c.transaction("Subject: %s\r\n\r\nbody" % kind), "250 OK", "message")
        eq(c.cmd("QUIT")[:3], "221", "QUIT")
        c.close()
        d.wait_log(r"event=connect client=127\.0\.0\.1 port=%d via=127\.0\.0\.1 via_port=%d "
                   r"proxy=%s$" % (cport, cport, kind))
    for f in frames(read_file(out)):
        check(b"\nX-Peer: 127.0.0.1\n" in f, "peer of a connection without a client: %r" % f)


def test_plugin_view_names_the_balancer_as_via(ctx):
    # ABI 1.1's via_addr/via_port: the hooks plugin's XPING shows them.
    d, port, _ = gate(ctx, handler="hooks")
    c = Client(port, greeting=False)
    c.send(v2("192.0.2.7", 4711) + b"EHLO far.example\r\n")
    eq(c.reply()[0][:4], "220 ", "greeting")
    c.reply()
    eq(c.cmd("XPING"), "250 pong - from 192.0.2.7 via 127.0.0.1 port %d"
       % c.sock.getsockname()[1], "the plugin's view behind a balancer")
    c.close()
    c = Client(port, greeting=False)
    c.send(V2_LOCAL)
    c.reply()
    eq(c.cmd("XPING"), "250 pong - from 127.0.0.1 via 127.0.0.1 port %d"
       % c.sock.getsockname()[1], "a LOCAL header: the balancer is both")
    c.close()
    text, direct, _ = ctx.listener(handler="hooks")
    ctx.daemon(ctx.config([text], name="direct.conf"))
    with Client(direct) as c:
        eq(c.cmd("XPING"), "250 pong - from 127.0.0.1", "no via without the PROXY protocol")


def test_per_client_limit_per_original_address(ctx):
    d, port, _ = gate(ctx, proto="v1", workers=8, max_sessions_per_client=2,
                      extra="client_limit_exceptions = [];")
    d.wait_workers(8)
    # Two connections still in their header: they count for no one.
    pending = [Client(port, greeting=False) for _ in range(2)]
    held = []
    try:
        for i in range(2):
            c = Client(port, greeting=False)
            held.append(c)
            c.send(v1("192.0.2.20", 5000 + i))
            eq(c.reply()[0][:4], "220 ", "session %d from 192.0.2.20" % (i + 1))
        c = Client(port, greeting=False)
        held.append(c)
        c.send(v1("192.0.2.20", 5002))
        r = c.reply()
        check(r[0].startswith("421 4.7.0 ") and
              r[0].endswith("too many connections from 192.0.2.20"), "third: %r" % r)
        c = Client(port, greeting=False)
        held.append(c)
        c.send(v1("192.0.2.21", 5003))
        eq(c.reply()[0][:4], "220 ", "another original address")
    finally:
        for c in held + pending:
            c.close()
    d.wait_log(r"event=limit limit=max_sessions_per_client client=192\.0\.2\.20 sessions=3")
    check("client=127.0.0.1 sessions" not in d.log(), "the balancer was limited")


def test_relay_networks_see_the_original_client(ctx):
    up_text, up_port, up_out = ctx.listener()
    text, port, _ = ctx.listener(handler="proxy", remote="127.0.0.1:%d" % up_port,
                                 proxy_protocol="v2",
                                 extra='proxy_trusted = [ "127.0.0.0/8" ]; '
                                       'proxy = { relay_networks = [ "192.0.2.0/24" ]; };')
    ctx.daemon(ctx.config([text, up_text]))
    for src, want in (("192.0.2.5", "250 OK"),
                      ("198.51.100.9", "554 5.7.1 <b@example.org>: Relay access denied")):
        c = Client(port, greeting=False)
        c.send(v2(src, 6000))
        eq(c.reply()[0][:4], "220 ", "greeting")
        eq(c.code("EHLO client.example"), 250, "EHLO")
        eq(c.code("MAIL FROM:<a@example.org>"), 250, "MAIL")
        eq(c.cmd("RCPT TO:<b@example.org>"), want, "RCPT from %s" % src)
        c.close()


def test_listener_without_it_is_unchanged(ctx):
    d, port, _ = ctx.simple()
    with Client(port) as c:
        eq(c.cmd("PROXY TCP4 192.0.2.1 192.0.2.2 1 2"),
           '500 Error: command "PROXY" not recognized', "a header on a plain listener")
        eq(c.cmd("QUIT")[:3], "221", "QUIT")
    d.wait_log(r"event=connect client=127\.0\.0\.1 port=\d+$")


def test_proxy_protocol_needs_proxy_trusted(ctx):
    text, _, _ = ctx.listener(proxy_protocol="any")
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", ctx.config([text])])
    eq(rc, harness.EX_CONFIG, "exit status of -t")
    check("setting=proxy_protocol" in se and "needs proxy_trusted" in se, "message: %r" % se)
