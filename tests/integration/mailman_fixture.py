"""mailman_fixture.py - a throw-away Mailman 3 core for the mailman tests.

MailmanCore(lmtp_port, smtp_port).start() runs Debian's mailman3 (the
package scripts/deps.sh installs) as a private instance: a fresh directory
under the temp dir holds its own config, sqlite database, queues and logs.
Its LMTP runner listens on 127.0.0.1:lmtp_port and it sends its mail to
127.0.0.1:smtp_port.  start() returns once LMTP answers 220 (bounded);
mailman() runs a `mailman` command against the instance; stop() ends it
and removes its directory.

What it must never do: read or write Debian's own instance (/etc/mailman3,
/var/lib/mailman3: only our config file is given with -C), listen beyond
loopback (no REST runner, NullMTA so nothing calls postmap), signal a
process it did not start, or leave a Mailman process or its directory
behind.  stop() is idempotent and runs from atexit and from SIGINT,
SIGTERM and SIGHUP handlers (run.py's own handlers run the atexit ones).
It signals the master it started, by PID, and every process whose command
line names this instance's config file (the runners, a `mailman` command
still running), and SIGKILLs what outlives the bound.
"""
import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import TestFailure

MAILMAN = "/usr/bin/mailman"             # Debian's; its shebang is /usr/bin/python3,
BIN_DIR = "/usr/lib/mailman3/bin"        # which has mailman (a pyenv python3 may not)
MAILMAN_USER = "list"                    # Debian's Mailman user, used when we are root
# Every runner Debian's mailman.cfg defines (bad and shunt never start).
RUNNERS = ("archive", "bounces", "command", "digest", "in", "lmtp", "nntp", "out",
           "pipeline", "rest", "retry", "task", "virgin")
# Enough for posts, -request, -join/-leave and owner notices: about 0.5 GiB
# and LMTP up in 4-10 s, against 0.9 GiB for all of them.
LEAN = ("lmtp", "in", "pipeline", "out", "virgin", "command")
# Runners that keep Mailman's own poll interval (15 min, 1 min): nothing
# the tests do waits for them.
LONG_POLL = ("retry", "task")
START_TIMEOUT = 120.0   # bound of the wait for LMTP (4-10 s when the box is not loaded)
STOP_TIMEOUT = 30.0     # then SIGKILL (a stop takes 2-4 s)

_live = set()           # started and not yet stopped: what stop_all() ends


class MailmanCore:
    """One private Mailman 3 instance in its own temp directory."""

    def __init__(self, lmtp_port, smtp_port, runners=LEAN, sleep="0.25s",
                 site_owner="postmaster@example.com"):
        self.lmtp_port = lmtp_port
        self.smtp_port = smtp_port
        self.runners = tuple(runners)
        self.sleep = sleep
        self.site_owner = site_owner
        self.dir = self.cfg = None
        self.proc = None
        self.uid = self.gid = None
        self.as_root = False
        self.startup_sec = None
        self._lock = threading.RLock()  # a signal handler may re-enter stop()
        self._stopped = False

    # -- start

    def start(self, timeout=START_TIMEOUT):
        """Write the instance, start its master, wait until LMTP answers."""
        for path in (MAILMAN, os.path.join(BIN_DIR, "master")):
            if not os.access(path, os.X_OK):
                raise TestFailure("%s is missing: the mailman tests need Debian's mailman3 "
                                  "(scripts/deps.sh installs it)" % path)
        if "lmtp" not in self.runners:
            raise TestFailure("the runners %r do not include lmtp" % (self.runners,))
        with self._lock:  # stop_all() from a signal may run meanwhile: see _check_open
            self._check_open()
            _live.add(self)  # before anything exists, so that an error below still purges
            self._make_dir()
        started = time.monotonic()
        with self._lock:
            self._check_open()
            with open(os.path.join(self.dir, "master.out"), "wb") as out:
                # Its own session: a Ctrl-C at the terminal must not reach
                # the master, which takes SIGINT as "restart the runners".
                self.proc = subprocess.Popen(
                    [os.path.join(BIN_DIR, "master"), "-C", self.cfg],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=os.path.join(self.dir, "var"), env=self._env(),
                    start_new_session=True, close_fds=True, **self._user_args())
        self._wait_lmtp(started, timeout)
        return self

    def _check_open(self):
        """A stop() that came first (a signal while another thread starts
        the instance) forbids creating anything more."""
        if self._stopped:
            raise TestFailure("Mailman was stopped while it was being started")

    def _make_dir(self):
        """The instance directory with its config, owned by Mailman's user."""
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix="smtpgate-mailman-"))
        os.chmod(self.dir, 0o755)
        for sub in ("etc", "lib", "var", "var/logs"):
            os.makedirs(os.path.join(self.dir, sub))
        # The master resolves -C to a real path and hands that one to its
        # runners; pids() finds them by it.
        self.cfg = os.path.join(self.dir, "etc", "mailman.cfg")
        with open(self.cfg, "w") as f:
            f.write(self._config())
        self._choose_user()
        if self.uid is not None:
            for root, dirs, files in os.walk(self.dir):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.chown(name, self.uid, self.gid)

    def _config(self):
        """The instance's mailman.cfg: only this file and Mailman's schema
        are read when -C is given."""
        d = self.dir
        text = """\
# A throw-away instance of smtpgate's mailman tests (mailman_fixture.py).
[mailman]
layout: smtpgate_test
site_owner: %s

[paths.smtpgate_test]
var_dir: %s/var
# The default ($argv: the directory of sys.executable) is /usr/bin on
# Debian, which has no master or runner script.
bin_dir: %s
etc_dir: %s/etc
log_dir: %s/var/logs
pid_file: %s/var/master.pid

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///$DATA_DIR/mailman.db

[mta]
# The default (postfix.LMTP) writes Postfix maps and runs postmap at every
# list creation; LMTP needs no map.
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
lmtp_host: 127.0.0.1
lmtp_port: %d
smtp_host: 127.0.0.1
smtp_port: %d

[webservice]
hostname: 127.0.0.1
""" % (self.site_owner, d, BIN_DIR, d, d, d, self.lmtp_port, self.smtp_port)
        for name in RUNNERS:
            text += "\n[runner.%s]\nstart: %s\n" % (name, "yes" if name in self.runners else "no")
            if name in self.runners and name not in LONG_POLL:
                # Each hop of a post (in, pipeline, out) waits up to one poll.
                text += "sleep_time: %s\n" % self.sleep
        return text

    def _choose_user(self):
        """Root runs Mailman as `list` (the `mailman` command refuses root
        without --run-as-root); when `list` is missing or cannot reach the
        directory, as root; anybody else, as themselves."""
        if os.geteuid() != 0:
            return
        try:
            pw = pwd.getpwnam(MAILMAN_USER)
        except KeyError:
            self.as_root = True
            return
        if not _reachable(self.dir, pw.pw_uid, pw.pw_gid):
            self.as_root = True
            return
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def _user_args(self):
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def _env(self):
        """A clean environment: MAILMAN_CONFIG_FILE or a MAILMAN_VAR_DIR of
        the caller's would take the instance elsewhere; PYTHONPATH makes
        add_module()'s modules importable by `mailman shell -r`."""
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": self.dir,
                "MAILMAN_VAR_DIR": os.path.join(self.dir, "var"),
                "PYTHONPATH": os.path.join(self.dir, "lib"), "PYTHONDONTWRITEBYTECODE": "1"}

    def _wait_lmtp(self, started, timeout):
        """Until LMTP answers 220; a master that exits, or the bound, fails."""
        deadline = started + timeout
        while not _lmtp_answers(self.lmtp_port):
            if self.proc.poll() is not None:
                raise TestFailure("Mailman's master exited with status %s before LMTP "
                                  "answered:\n%s" % (self.proc.returncode, self.output()))
            if time.monotonic() > deadline:
                raise TestFailure("Mailman's LMTP on 127.0.0.1:%d did not answer within "
                                  "%.0f s:\n%s" % (self.lmtp_port, timeout, self.output()))
            time.sleep(0.1)
        self.startup_sec = time.monotonic() - started

    # -- use

    def add_module(self, name, text):
        """A Python module NAME.py that `mailman shell -r NAME.function` can run."""
        path = os.path.join(self.dir, "lib", name + ".py")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def mailman(self, *args, timeout=60):
        """`mailman -C CFG ARGS...` as the instance's user: its stdout.  Each
        call takes 1-2 s (Python start-up, config, database)."""
        argv = [MAILMAN] + (["--run-as-root"] if self.as_root else []) + ["-C", self.cfg]
        argv += list(args)
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               cwd=self.dir, env=self._env(), timeout=timeout,
                               **self._user_args())
        except subprocess.TimeoutExpired:
            raise TestFailure("%s did not finish within %d s" % (" ".join(argv), timeout))
        if r.returncode != 0:
            raise TestFailure("%s failed with status %d:\n%s" % (
                " ".join(argv), r.returncode, r.stderr.decode("utf-8", "replace")))
        return r.stdout.decode("utf-8", "replace")

    def log(self, name):
        """One of Mailman's logs (mailman.log, smtp.log, ...); '' if absent."""
        try:
            with open(os.path.join(self.dir, "var", "logs", name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def output(self, lines=30):
        """The master's own output and the tail of mailman.log, for errors."""
        try:
            with open(os.path.join(self.dir, "master.out"), "rb") as f:
                out = f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            out = ""
        tail = self.log("mailman.log").splitlines()[-lines:]
        return "--- master's output:\n%s--- mailman.log, last %d lines:\n%s" % (
            out, lines, "\n".join(tail))

    # -- stop

    def pids(self):
        """The live processes of this instance: every one whose command line
        holds `-C CFG` (the master, its runners, `mailman` commands)."""
        if not self.cfg:
            return []
        want = b"\0-C\0" + self.cfg.encode() + b"\0"
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = b"\0" + f.read()
            except OSError:
                continue
            if want in cmdline:  # a zombie's is empty: it is already gone
                found.append(int(entry))
        return found

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM to the master and to the rest of the instance, by PID;
        SIGKILL for what is left after timeout; then remove the directory.
        Idempotent; safe to repeat from a signal handler midway."""
        with self._lock:
            self._stopped = True
            if self.dir is None:
                return
            pids = self.pids()
            if self.proc is not None and self.proc.pid not in pids and self.proc.poll() is None:
                pids.append(self.proc.pid)
            _signal_all(pids, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            again = time.monotonic() + 1.0
            while self.pids() and time.monotonic() < deadline:
                if self.proc is not None:
                    self.proc.poll()  # reap the master: a zombie would linger
                if time.monotonic() > again:
                    # Stopped while starting, a master still forks runners,
                    # and one that got the signal between fork and exec
                    # lost it: each gets SIGTERM again.
                    _signal_all(self.pids(), signal.SIGTERM)
                    again += 1.0
                time.sleep(0.1)
            left = self.pids()
            if left:
                print("mailman_fixture: SIGKILL to %s, still running %.0f s after SIGTERM" % (
                    " ".join(map(str, left)), timeout))
                _signal_all(left, signal.SIGKILL)
            if self.proc is not None:
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            _live.discard(self)


def _reachable(path, uid, gid):
    """Whether uid/gid may search every directory above path (a temp dir
    below a 0700 home is not); path itself is handed to them."""
    d = os.path.dirname(path)
    while True:
        st = os.stat(d)
        bit = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if not st.st_mode & bit:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


def _lmtp_answers(port):
    """Whether 127.0.0.1:port greets with 220 (then QUIT)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            line = s.makefile("rb").readline()
            if line.startswith(b"220"):
                s.sendall(b"QUIT\r\n")
                return True
    except OSError:
        pass
    return False


def _signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_all():
    """Stop every instance still running (at exit, on a signal)."""
    for core in list(_live):
        try:
            core.stop()
        except Exception as e:  # keep stopping the others
            print("mailman_fixture: stopping %s: %s" % (core.dir, e))


def _on_signal(sig, frame):
    """Stop the instances, then do what the previous handler would have."""
    stop_all()
    previous = _previous.get(sig)
    if callable(previous):
        previous(sig, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)


_previous = {}
atexit.register(stop_all)
if threading.current_thread() is threading.main_thread():
    for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        _previous[_sig] = signal.getsignal(_sig)
        signal.signal(_sig, _on_signal)
