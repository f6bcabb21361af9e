"""The metrics listener (global `metrics`): its text checked by Debian's
promtool, a real Prometheus (started here on loopback with its own temp
dir) scraping it and the counters read back through Prometheus's HTTP
API after a known load, /healthz/<listener>, and bad input (other paths
and methods, a huge request, slow clients filling every place) that
gets 404/405/400/408 and never touches SMTP."""
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import harness
from harness import Client, check, eq, wait_until

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"


# ---------------------------------------------------------------- helpers

def gate(ctx, extra="", **settings):
    """A daemon with one listener "mx" (the hooks test plugin: a body
    starting REJECT gets 554) and metrics on a free port; (daemon, SMTP
    port, metrics port)."""
    mport = harness.free_port()
    text, port, _ = ctx.listener(handler="hooks", extra='name = "mx"; ' + extra, **settings)
    d = ctx.daemon(ctx.config([text], top='metrics = "127.0.0.1:%d";' % mport))
    wait_until(lambda: get(mport, "/healthz/mx")[0] == 200, what="the metrics child")
    return d, port, mport


def get(port, path, method="GET"):
    """(status, body) of one HTTP request to the metrics listener."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=harness.WAIT) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None, ""


def samples(text):
    """{'name{labels}': value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def load(port, accepted, refused):
    """accepted messages, refused ones (554), one over data_size_limit
    (552) and one RCPT past max_recipients (452), each in its own
    session."""
    for i in range(accepted):
        with Client(port) as c:
            eq(c.transaction("Subject: %d\r\n\r\nok" % i)[:3], "250", "message %d" % i)
            c.cmd("QUIT")
    for i in range(refused):
        with Client(port) as c:
            eq(c.transaction("REJECT %d" % i)[:3], "554", "refused message %d" % i)
            c.cmd("QUIT")
    with Client(port) as c:
        eq(c.transaction("x" * 4000)[:3], "552", "the message over data_size_limit")
        c.cmd("QUIT")
    with Client(port) as c:
        c.cmd("EHLO client.example.org")
        c.cmd("MAIL FROM:<a@example.org>")
        for n in range(2):
            eq(c.code("RCPT TO:<r%d@example.org>" % n), 250, "recipient %d" % n)
        eq(c.code("RCPT TO:<r2@example.org>"), 452, "the recipient past max_recipients")
        c.cmd("QUIT")


def expected(accepted, refused):
    """The counters load() must leave, exactly."""
    mx = 'listener="mx"'
    return {
        'smtpgate_messages_total{%s,result="accepted"}' % mx: accepted,
        'smtpgate_messages_total{%s,result="refused"}' % mx: refused,
        'smtpgate_messages_total{%s,result="tempfailed"}' % mx: 0,
        'smtpgate_messages_total{%s,result="size-limited"}' % mx: 1,
        'smtpgate_recipients_total{%s,result="accepted"}' % mx: accepted,
        'smtpgate_limit_hits_total{%s,limit="max_recipients"}' % mx: 1,
        'smtpgate_limit_hits_total{%s,limit="data_size_limit"}' % mx: 1,
        'smtpgate_sessions_started_total{%s}' % mx: accepted + refused + 2,
        'smtpgate_sessions_ended_total{%s,reason="quit"}' % mx: accepted + refused + 2,
        'smtpgate_commands_total{%s,verb="RCPT",class="4xx"}' % mx: 1,
        'smtpgate_commands_total{%s,verb="DATA",class="3xx"}' % mx: accepted + refused + 1,
        'smtpgate_plugin_hook_duration_seconds_count{%s,hook="on_message"}' % mx:
            accepted + refused,
    }


# ---------------------------------------------------------------- tests

def test_exposition_passes_promtool_and_counts_exactly(ctx):
    # Each worker exits after 2 sessions: most counts come from workers
    # that are gone, and must have survived them.
    d, port, mport = gate(ctx, max_recipients=2, data_size_limit=1000,
                          max_sessions_per_worker=2)
    load(port, 5, 3)
    want = expected(5, 3)

    def settled():
        got = samples(get(mport, "/metrics")[1])
        return all(got.get(k) == v for k, v in want.items())
    wait_until(settled, what="the counters after the load")
    status, text = get(mport, "/metrics")
    eq(status, 200, "GET /metrics")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=harness.WAIT)
    eq(r.returncode, 0, "promtool check metrics: %r %r" % (r.stdout, r.stderr))
    got = samples(text)
    # load() opens 10 sessions: at 2 per worker, 5 workers at least were
    # forked for them (the replacement of the last one may come later).
    check(got['smtpgate_pool_forks_total{listener="mx"}'] >= 5,
          "fewer forks than 10 sessions at 2 per worker need")
    for fam in ("smtpgate_stress_seconds_total", "smtpgate_tls_handshakes_total",
                "smtpgate_proxy_header_errors_total", "smtpgate_workers"):
        check("# TYPE %s " % fam in text, "no family %s" % fam)
    check(re.search(r"^smtpgate_plugin_hook_duration_seconds_bucket\{listener=\"mx\","
                    r"hook=\"on_message\",le=\"\+Inf\"\} 8$", text, re.M), "no +Inf bucket")


def test_prometheus_scrapes_and_reads_back_the_load(ctx):
    check(os.path.exists(PROMETHEUS), "%s missing: apt-get install prometheus" % PROMETHEUS)
    d, port, mport = gate(ctx, max_recipients=2, data_size_limit=1000)
    pport = harness.free_port()
    cfg = ctx.write("prometheus.yml", "global:\n  scrape_interval: 1s\n"
                    "scrape_configs:\n  - job_name: smtpgate\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % mport)
    harness.Proc(ctx, [PROMETHEUS, "--config.file=" + cfg,
                       "--web.listen-address=127.0.0.1:%d" % pport,
                       "--storage.tsdb.path=" + ctx.path("tsdb")], "prometheus")
    load(port, 7, 4)
    want = expected(7, 4)

    def query(expr):
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (
            pport, urllib.request.quote(expr))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                res = json.loads(r.read())["data"]["result"]
        except (urllib.error.URLError, ConnectionError, KeyError, ValueError):
            return None
        return float(res[0]["value"][1]) if len(res) == 1 else None

    def scraped():
        return all(query(k) == v for k, v in want.items())
    wait_until(scraped, timeout=45, step=0.5, what="Prometheus to hold the load's counters")
    eq(query('up{job="smtpgate"}'), 1.0, "the scrape's up")


def test_healthz_ready_unknown_and_stress(ctx):
    d, port, mport = gate(ctx, workers=None, min_spare=1, max_spare=1, max_workers=1,
                          stress_timeout=60)
    eq(get(mport, "/healthz/mx"), (200, "ready\n"), "an idle worker")
    eq(get(mport, "/healthz/nope")[0], 404, "a listener that does not exist")
    held = Client(port)  # the only worker is busy ...
    waiting = socket.create_connection(("127.0.0.1", port))  # ... and one more waits
    try:
        wait_until(lambda: get(mport, "/healthz/mx") == (503, "stress\n"), what="503 under stress")
        d.wait_log(r"listener=mx event=stress-on")
        check(samples(get(mport, "/metrics")[1])['smtpgate_stress{listener="mx"}'] == 1,
              "the stress gauge is not 1")
    finally:
        held.close()
        waiting.close()
    wait_until(lambda: get(mport, "/healthz/mx")[0] == 200, what="ready again")


def test_bad_requests_get_4xx(ctx):
    d, port, mport = gate(ctx)
    eq(get(mport, "/")[0], 404, "GET /")
    eq(get(mport, "/metrics/x")[0], 404, "GET /metrics/x")
    eq(get(mport, "/healthz/")[0], 404, "GET /healthz/")
    eq(get(mport, "/metrics", method="POST")[0], 405, "POST /metrics")
    eq(get(mport, "/metrics", method="HEAD")[0], 200, "HEAD /metrics")
    eq(get(mport, "/metrics?x=1")[0], 200, "a query string")
    for raw in (b"GARBAGE\r\n\r\n", b"GET /metrics\r\n\r\n", b"GET /metrics HTTP/2.0\r\n\r\n",
                b"get /metrics HTTP/1.1\r\n\r\n", b"GET metrics HTTP/1.1\r\n\r\n",
                b"GET /met\x01rics HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", mport), timeout=harness.WAIT) as s:
            s.sendall(raw)
            eq(s.recv(4096).split(b"\r\n")[0], b"HTTP/1.1 400 Bad Request", repr(raw))
    # A request larger than the bound: 400 (or a reset if the client
    # was still sending), never a wait for the rest.
    with socket.create_connection(("127.0.0.1", mport), timeout=harness.WAIT) as s:
        head = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000
        try:
            s.sendall(head)
            first = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            first = b""
        check(first == b"" or first.startswith(b"HTTP/1.1 400 "), "huge request: %r" % first[:80])
    with Client(port) as c:
        eq(c.transaction("Subject: after\r\n\r\nstill served")[:3], "250", "SMTP after bad HTTP")


def test_slow_clients_time_out_and_smtp_goes_on(ctx):
    d, port, mport = gate(ctx)
    slow = []
    for i in range(16):  # every place of the metrics child
        s = socket.create_connection(("127.0.0.1", mport), timeout=harness.WAIT)
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        slow.append(s)
    try:
        with Client(port) as c:
            eq(c.transaction("Subject: slowloris\r\n\r\nserved")[:3], "250",
               "SMTP while the metrics child is full of slow clients")
        for s in slow:  # each is answered 408 and closed at its deadline
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            check(data.startswith(b"HTTP/1.1 408 "), "slow client got %r" % data[:60])
    finally:
        for s in slow:
            s.close()
    eq(get(mport, "/metrics")[0], 200, "a scrape after the slow clients")


def test_metrics_child_is_unprivileged_and_respawned(ctx):
    # Without -n (as root) the HTTP child drops to the workers' user.
    mport = harness.free_port()
    text, port, _ = ctx.listener(extra='name = "mx";')
    os.chmod(ctx.dir, 0o755)
    d = ctx.daemon(ctx.config([text], top='metrics = "127.0.0.1:%d";' % mport),
                   nosetuid=os.geteuid() != 0)

    def http_child():
        owners = [p for p in harness.children(d.pid) if socket_owner(p, mport)]
        return owners[0] if len(owners) == 1 else None
    pid = wait_until(http_child, what="one child holding the metrics socket")
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody").pw_uid
        wait_until(lambda: re.search(r"^Uid:\s+%d\s+%d\s+%d" % (nobody, nobody, nobody),
                                     open("/proc/%d/status" % pid).read(), re.M),
                   what="the metrics child to run as nobody")
    wait_until(lambda: get(mport, "/metrics")[0] == 200, what="a scrape")
    os.kill(pid, signal.SIGKILL)
    d.wait_log(r"event=metrics-exit pid=%d signal=9" % pid)
    wait_until(lambda: http_child() not in (None, pid), what="a new metrics child")
    eq(get(mport, "/metrics")[0], 200, "a scrape from the new child")
    with Client(port) as c:
        eq(c.transaction("Subject: x\r\n\r\nserved")[:3], "250", "SMTP after the child's death")


def socket_owner(pid, port):
    """True when process pid holds the listening socket on port."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(":%04X" % port) and fields[3] == "0A":
                inodes.add(fields[9])
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def test_metrics_setting_checked_and_off_by_default(ctx):
    text, port, _ = ctx.listener()
    bad = ctx.config([text], name="bad.conf", top='metrics = "127.0.0.1";')
    rc, out, err = ctx.run([harness.SMTPGATE, "-t", "-f", bad])
    check(rc != 0, "-t accepted metrics without a port")
    check(re.search(r"bad\.conf line=\d+ setting=metrics ", out + err),
          "no file and line naming metrics:\n" + err)
    d = ctx.daemon(ctx.config([text]))
    check("event=metrics" not in d.log(), "metrics without the setting:\n" + d.log())
    with Client(port) as c:
        eq(c.transaction("Subject: x\r\n\r\nno metrics")[:3], "250", "a message without metrics")


def test_proxy_header_errors_and_limits_by_reason(ctx):
    # A PROXY listener trusting 127.0.0.1 only: garbage from it is
    # malformed, anything from 127.0.0.2 untrusted; a good header makes a
    # session; a client talking before greet_pause ends is a pregreet hit.
    _, port, mport = gate(ctx, extra='proxy_trusted = [ "127.0.0.1" ];', proxy_protocol="v2",
                          greet_pause=300, pregreet="reject")
    with socket.create_connection(("127.0.0.1", port), timeout=harness.WAIT) as s:
        s.sendall(b"GARBAGE\r\n")
        eq(s.recv(100), b"", "garbage instead of a header")
    with socket.create_connection(("127.0.0.1", port), timeout=harness.WAIT,
                                  source_address=("127.0.0.2", 0)) as s:
        eq(s.recv(100), b"", "a connection from outside proxy_trusted")
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    local = sig + b"\x20\x00\x00\x00"
    with socket.create_connection(("127.0.0.1", port), timeout=harness.WAIT) as s:
        s.sendall(local + b"EHLO early.example\r\n")  # before the greeting
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        check(data.startswith(b"554 "), "talking early: %r" % data)
    mx = 'listener="mx"'
    want = {
        'smtpgate_proxy_header_errors_total{%s,reason="malformed"}' % mx: 1,
        'smtpgate_proxy_header_errors_total{%s,reason="untrusted"}' % mx: 1,
        'smtpgate_proxy_header_errors_total{%s,reason="timeout"}' % mx: 0,
        'smtpgate_limit_hits_total{%s,limit="pregreet"}' % mx: 1,
        'smtpgate_sessions_started_total{%s}' % mx: 3,
        'smtpgate_sessions_ended_total{%s,reason="limit"}' % mx: 3,
    }
    wait_until(lambda: all(samples(get(mport, "/metrics")[1]).get(k) == v
                           for k, v in want.items()),
               what="the PROXY and pregreet counters: %r" % want)
