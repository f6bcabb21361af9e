"""harness.py - what the integration tests share: the built files, free
loopback ports, a daemon started in the foreground and always stopped, a
raw SMTP client that reads whole replies, and bounded waits.

Every test gets a Ctx (its own temp dir); everything it starts is
registered there and stopped by PID (SIGTERM, then SIGKILL) when the test
ends, pass or fail.  Only 127.0.0.1 and ::1 are ever contacted.
"""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SMTPGATE = os.path.join(TOP, "smtpgate")
PLUGINS = {
    "debug": os.path.join(TOP, "plugins/debug/.libs/debug.so"),
    "badabi": os.path.join(TOP, "tests/plugins/.libs/badabi.so"),
    "nomessage": os.path.join(TOP, "tests/plugins/.libs/nomessage.so"),
    "crash": os.path.join(TOP, "tests/plugins/.libs/crash.so"),
    "hooks": os.path.join(TOP, "tests/plugins/.libs/hooks.so"),
    "state": os.path.join(TOP, "tests/plugins/.libs/state.so"),
    "abi10": os.path.join(TOP, "tests/plugins/abi10/.libs/abi10.so"),
    "stream": os.path.join(TOP, "tests/plugins/.libs/stream.so"),
    "keywords": os.path.join(TOP, "tests/plugins/.libs/keywords.so"),
    "lmtpverdict": os.path.join(TOP, "tests/plugins/.libs/lmtpverdict.so"),
    "authcheck": os.path.join(TOP, "tests/plugins/.libs/authcheck.so"),
    "proxy": os.path.join(TOP, "plugins/proxy/.libs/proxy.so"),
    "maildir": os.path.join(TOP, "plugins/maildir/.libs/maildir.so"),
    "mailman": os.path.join(TOP, "plugins/mailman/.libs/mailman.so"),
}
EX_USAGE, EX_NOPERM, EX_CONFIG = 64, 77, 78
# A report of AddressSanitizer, LeakSanitizer or UBSan (builds made with
# --enable-sanitizers) in a daemon's log fails its test (run.py).
SANITIZER_RX = re.compile(r"ERROR: AddressSanitizer|runtime error:|LeakSanitizer")
# Default bound of every wait, in seconds: a bound on a hang, never a
# claim on speed (a wait returns as soon as its condition holds), so it
# fits the slowest run: a sanitizer build on a shared, loaded machine.
WAIT = 20.0


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what):
    if got != want:
        raise TestFailure("%s: expected %r, got %r" % (what, want, got))


def wait_until(pred, timeout=WAIT, step=0.02, what="condition"):
    """Poll pred() until it returns something true; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(step)


def _below_ephemeral():
    """Ports the kernel never picks by itself (for bind to port 0 or a
    client's connect): the 12000 below its ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return list(range(max(1024, low - 12000), low))


# Between free_port()'s choice and the bind by whoever listens there (a
# daemon, Postfix) lie seconds.  A port from the kernel's ephemeral range
# was twice taken in that time by another test (its own port-0 server,
# another daemon) and a client delivered into the wrong server: ports
# come from below that range, each given once in a run.
_ports = _below_ephemeral()
random.shuffle(_ports)
_ports_lock = threading.Lock()


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free on loopback right now, never given before in this run
    and never one the kernel hands out by itself."""
    while True:
        with _ports_lock:
            if not _ports:
                raise TestFailure("no loopback port left below the ephemeral range")
            port = _ports.pop()
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
            return port
        except OSError:
            continue  # in use by someone else: the next one
        finally:
            s.close()


SMTP_SINK = "/usr/sbin/smtp-sink"


def smtp_sink(ctx, *opts):
    """Postfix's smtp-sink on a free port with opts, started for ctx (and
    stopped with it); returns the port once it accepts connections."""
    check(os.path.exists(SMTP_SINK), "%s missing: apt-get install postfix" % SMTP_SINK)
    port = free_port()
    argv = [SMTP_SINK]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]  # smtp-sink refuses to run as root without it
    argv += list(opts) + ["127.0.0.1:%d" % port, "64"]
    Proc(ctx, argv, "smtp-sink-%d" % port)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(listening, what="smtp-sink on port %d" % port)
    return port


def refuses(port, host="127.0.0.1"):
    """True when nothing listens on the port any more (connection refused)."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def children(pid):
    """PIDs of the direct children of pid (the master's workers)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids.extend(int(x) for x in f.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return sorted(set(kids))


def proc_state(pid):
    """The state letter of /proc/PID/stat, or None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid):
    st = proc_state(pid)
    return st is not None and st != "Z"


class Proc:
    """A process started by a test: stdout and stderr go to files."""

    def __init__(self, ctx, argv, name, cwd=None, env=None, preexec_fn=None):
        self.ctx = ctx
        self.argv = argv
        self.name = name
        self.out_path = os.path.join(ctx.dir, "%s.stdout" % name)
        self.err_path = os.path.join(ctx.dir, "%s.stderr" % name)
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                  stderr=self._err, cwd=cwd or ctx.dir, env=env,
                                  preexec_fn=preexec_fn)
        self.pid = self.p.pid
        ctx.procs.append(self)

    def log(self):
        return read_file(self.err_path).decode("utf-8", "replace")

    def stdout(self):
        return read_file(self.out_path)

    def running(self):
        return self.p.poll() is None

    def wait(self, timeout=WAIT):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s (pid %d) did not exit within %.1fs" % (self.name, self.pid, timeout))

    def wait_log(self, pattern, timeout=WAIT, count=1):
        """Wait until pattern (a regex) matches count lines of the stderr log."""
        rx = re.compile(pattern)

        def matches():
            return sum(1 for line in self.log().splitlines() if rx.search(line))

        def found():
            if matches() >= count:
                return True
            if not self.running():
                # It may have logged the line and exited between the read
                # above and this check: read once more, now that it is gone.
                if matches() >= count:
                    return True
                raise TestFailure("%s exited (status %s) before logging %r" %
                                  (self.name, self.p.returncode, pattern))
            return False
        wait_until(found, timeout, what="%r in the log of %s" % (pattern, self.name))

    def signal(self, sig):
        if self.running():
            os.kill(self.pid, sig)

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers; also its workers, by PID."""
        if self.p.poll() is None:
            kids = children(self.pid)
            try:
                self.p.send_signal(signal.SIGTERM)
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
            for k in kids:
                # A worker left behind (it should die with its master).
                if alive(k):
                    try:
                        os.kill(k, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self._out.close()
        self._err.close()


class Daemon(Proc):
    """smtpgate in the foreground, started with a config file (or args)."""

    def workers(self):
        return children(self.pid)

    def wait_workers(self, n, exclude=(), timeout=WAIT):
        """Wait for n live workers, none of them in exclude; return them."""
        def ok():
            w = [k for k in self.workers() if alive(k) and k not in exclude]
            return w if len(w) >= n else None
        return wait_until(ok, timeout, what="%d worker(s) of %s" % (n, self.name))


class Ctx:
    """One test's temp dir, its processes, and its plugin dir."""

    live = set()

    def __init__(self, name):
        Ctx.live.add(self)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="smtpgate-it-%s-" % name)
        self.procs = []
        self.plugin_dir = os.path.join(self.dir, "plugins")
        os.mkdir(self.plugin_dir)
        for n, path in PLUGINS.items():
            os.symlink(path, os.path.join(self.plugin_dir, n + ".so"))
        self._n = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def listener(self, port=None, host="127.0.0.1", handler="debug", output=None,
                 extra="", **settings):
        """One listener's config text; returns (text, port, output path)."""
        if port is None:
            port = free_port()
        if output is None:
            self._n += 1
            output = self.path("out%d.txt" % self._n)
        addr = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        # extensions = [ ]: smtpd.py's replies byte for byte (a config
        # file's default adds PIPELINING, ENHANCEDSTATUSCODES, CHUNKING);
        # extensions=None leaves the setting out.
        s = {"workers": 2, "command_timeout": 300, "data_size_limit": 33554432,
             "smtputf8": False, "decode_data": False, "bare_lf": "keep", "extensions": []}
        s.update(settings)
        parts = ['address = "%s";' % addr, 'handler = "%s";' % handler]
        for k, v in s.items():
            if v is None:  # workers=None: leave the setting out
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, str):
                v = '"%s"' % v
            elif isinstance(v, list):
                v = "[ %s ]" % ", ".join('"%s"' % x for x in v)
            elif isinstance(v, int) and v > 2 ** 31 - 1:
                v = "%dL" % v
            parts.append("%s = %s;" % (k, v))
        if handler == "debug":
            parts.append('debug = { output = "%s"; };' % output)
        if extra:
            parts.append(extra)
        return "{ %s }" % " ".join(parts), port, output

    def config(self, listeners, name="smtpgate.conf", top=""):
        text = 'plugin_dir = "%s";\n%s\nlisteners = (\n  %s\n);\n' % (
            self.plugin_dir, top, ",\n  ".join(listeners))
        return self.write(name, text)

    def daemon(self, config=None, args=(), nosetuid=True, wait_ready=True, name=None,
               preexec_fn=None, env=None):
        argv = [SMTPGATE]
        if nosetuid:
            argv.append("-n")
        if config:
            argv += ["-f", config]
        argv += list(args)
        d = Daemon(self, argv, name or "smtpgate%d" % len(self.procs), preexec_fn=preexec_fn,
                   env=env)
        if wait_ready:
            d.wait_log(r"event=ready")
        return d

    def simple(self, **settings):
        """A daemon with one debug listener; returns (daemon, port, output)."""
        text, port, out = self.listener(**settings)
        d = self.daemon(self.config([text]))
        return d, port, out

    def run(self, argv, timeout=WAIT, **kw):
        """Run a command to its end; (status, stdout, stderr) as text."""
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout, cwd=self.dir, **kw)
        except subprocess.TimeoutExpired:
            raise TestFailure("%r did not finish within %.1fs" % (argv, timeout))
        return (r.returncode, r.stdout.decode("utf-8", "replace"),
                r.stderr.decode("utf-8", "replace"))

    def logs(self):
        out = []
        for p in self.procs:
            out.append("----- %s (pid %d): %s" % (p.name, p.pid, " ".join(p.argv)))
            log = p.log()
            if len(log) > 20000:
                log = "[... %d bytes cut ...]\n" % (len(log) - 20000) + log[-20000:]
            out.append(log.rstrip("\n"))
        return "\n".join(out)

    def cleanup(self, keep=False):
        Ctx.live.discard(self)
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                sys.stderr.write("cleanup of %s: %s\n" % (p.name, e))
        # Read once every process is stopped: leaks are reported at exit.
        self.sanitizer_reports = []
        for p in self.procs:
            log = p.log()
            m = SANITIZER_RX.search(log)
            if m:
                self.sanitizer_reports.append("%s (pid %d): %s" % (
                    p.name, p.pid, log[max(0, m.start() - 200):m.start() + 3000]))
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """A raw SMTP client: send a line, read the whole (multi-line) reply."""

    def __init__(self, port, host="127.0.0.1", timeout=WAIT, greeting=True, source=None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:  # another loopback address, e.g. 127.0.0.2
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.greeting = self.reply() if greeting else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TestFailure("no reply within %.1fs (have %r)" %
                                  (self.sock.gettimeout(), self.buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """The next whole reply as a list of lines ("250-x", "250 y")."""
        lines = [self._line()]
        while len(lines[-1]) >= 4 and lines[-1][3] == "-":
            lines.append(self._line())
        return lines

    def cmd(self, line):
        """Send one command line (CR LF added); its reply as one string."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return "\n".join(self.reply())

    def code(self, line):
        return int(self.cmd(line)[:3])

    def closed(self, timeout=WAIT):
        """True when the server closes the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def begin_data(self, mail="MAIL FROM:<a@example.org>", rcpt="RCPT TO:<b@example.org>",
                   helo="EHLO client.example.org"):
        """HELO/EHLO (if given), MAIL, RCPT and DATA, each checked: the
        session is then reading the message."""
        if helo:
            r = self.cmd(helo)
            check(r.startswith("250"), "%s: %r" % (helo, r))
        for c in (mail, rcpt):
            r = self.cmd(c)
            check(r.startswith("250"), "%s: %r" % (c, r))
        r = self.cmd("DATA")
        check(r.startswith("354"), "DATA: %r" % r)

    def transaction(self, body, mail="MAIL FROM:<a@example.org>", rcpt="RCPT TO:<b@example.org>",
                    helo="EHLO client.example.org"):
        """begin_data(), then body + final dot: the last reply."""
        self.begin_data(mail, rcpt, helo)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send(body + b"\r\n.\r\n")
        return "\n".join(self.reply())


def debug_frame(data, peer="127.0.0.1", mail_options=None):
    """What the debug plugin prints for a message whose data (smtpd.py's
    `data`: de-transparency done, lines joined by LF) is `data` (bytes or
    text): the frame, the mail options, X-Peer before the first empty line."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = [b"---------- MESSAGE FOLLOWS ----------"]
    if mail_options:
        out.append(("mail options: [%s]" % ", ".join("'%s'" % o for o in mail_options))
                   .encode("utf-8"))
    in_headers = True
    lines = data.split(b"\n")
    if lines[-1] == b"":  # as str.splitlines(): no empty line after the last LF
        lines.pop()
    for line in lines:
        if in_headers and line == b"":
            out.append(b"X-Peer: " + peer.encode("ascii"))
            in_headers = False
        out.append(line)
    out.append(b"------------ END MESSAGE ------------")
    return b"\n".join(out) + b"\n"


def frames(output):
    """The messages (whole frames) in a debug output file's bytes."""
    head = b"---------- MESSAGE FOLLOWS ----------\n"
    if not output:
        return []
    check(output.startswith(head), "debug output does not start with a frame: %r" % output[:200])
    return [head + part for part in output.split(head)[1:]]
