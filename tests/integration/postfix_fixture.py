"""postfix_fixture.py - a private, throw-away Postfix for the tests that
need a real MTA as smtpgate's client, its upstream, or its LMTP client.

Postfix(ctx, relay_port, ...).start() writes main.cf and master.cf into a
fresh short directory of its own under /tmp (mode 0755: Postfix's daemons,
running as the postfix user, walk down to the queue; and its queue's UNIX
sockets must fit sun_path), with its own queue, data directory and log
(DIR/log/maillog), chroot off, and an smtpd on a free loopback port
(self.port) for the test to hand mail to.  What it takes goes to
relayhost = [127.0.0.1]:relay_port (the smtpgate under test), or with
relay_port None to `transport` (by default discarded: an upstream that
offers CHUNKING and PIPELINING).  main and master add lines to main.cf and
master.cf (TLS, virtual/LMTP delivery, discarded EHLO keywords; {dir} in
main stands for DIR; a setting in main replaces the fixture's own);
debug_peers makes its smtp client and smtpd log every command (BDAT,
pipelined MAIL/RCPT).  Deferred mail is retried after 1-2 s.

It runs Debian's postfix (scripts/deps.sh installs it) as
`postfix -c DIR/etc start-fg`, a Proc of the test whose stop() is
`postfix -c DIR/etc stop`, a bounded wait for the master to go (then
SIGTERM/SIGKILL to that PID only), and the directory removed.  The
harness calls it when the test ends and when run.py is interrupted by a
signal; Postfix.stop() calls it too (idempotent), and so does an atexit
handler.

What it must never do: touch the system's instance (/etc/postfix, its
queue) - every path is under DIR -, listen beyond loopback, deliver
anywhere but relay_port or its transport, signal a process other than the
master it started, or outlive the test run.
"""
import atexit
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time

from harness import Proc, TestFailure, check, free_port, read_file, wait_until

POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"
STOP_TIMEOUT = 30.0
# A retry that finds the delivery agent still finishing the first attempt
# (its lock held a moment after it logged; a loaded machine, 1 s backoff)
# is put back by qmgr into the incoming queue, dated 60 s ahead ("skipped,
# still being delivered"), and nothing but a trigger scans that queue
# again: wait_log() flushes (postqueue -f) when it sees that line.
RETRY_WAIT = 90.0
SKIPPED = "skipped, still being delivered"

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
lmtp       unix  - - n - - lmtp
discard    unix  - - n - - discard
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
{extra}"""

MAIN_CF = """\
# written by tests/integration/postfix_fixture.py; not the system's Postfix
compatibility_level = 3.6
config_directory = {d}/etc
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/log/maillog
maillog_file_prefixes = {d}/log
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.it.test
mydomain = it.test
myorigin = it.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
{route}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
{extra}"""

DEBUG_PEERS = "debug_peer_list = 127.0.0.1\ndebug_peer_level = 2\n"


def usable():
    """Why a private Postfix cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(POSTFIX):
        return "no postfix (scripts/deps.sh installs it)"
    return None


class Postfix:
    """One private Postfix: smtpd on self.port, its config in self.conf,
    its log read by log()."""

    def __init__(self, ctx, relay_port=None, main="", master="", debug_peers=False,
                 transport="discard:upstream of the test"):
        why = usable()
        check(why is None, "private Postfix: %s" % why)
        self.ctx = ctx
        self.dir = tempfile.mkdtemp(prefix="sg-pf-")
        self.conf = os.path.join(self.dir, "etc")
        self.maillog = os.path.join(self.dir, "log", "maillog")
        self.port = free_port()
        if relay_port:
            route = "relayhost = [127.0.0.1]:%d" % relay_port
        else:
            route = "default_transport = %s" % transport
        route += "\nsmtp_tls_security_level = none"
        extra = (DEBUG_PEERS if debug_peers else "") + _lines(main).replace("{dir}", self.dir)
        self.main = _override(MAIN_CF.format(d=self.dir, route=route, extra=""), extra) + extra
        self.master = MASTER_CF.format(port=self.port, extra=_lines(master))
        self.proc = None
        self.flushed = 0  # SKIPPED lines answered with a flush
        atexit.register(self.stop)

    def start(self):
        """Write the config, start the master, wait (bounded) for smtpd."""
        for sub in ("etc", "queue", "data", "log"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        for sub in ("", "etc", "queue", "log"):
            os.chmod(os.path.join(self.dir, sub), 0o755)
        os.chown(os.path.join(self.dir, "data"), pwd.getpwnam("postfix").pw_uid, -1)
        os.chmod(os.path.join(self.dir, "data"), 0o700)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self.main)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(self.master)
        self.proc = _Master(self.ctx, self)

        def answers():
            if not self.proc.running():
                raise TestFailure("postfix exited: %s %s" % (self.proc.log(), self.log()[-2000:]))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as c:
                    banner = c.recv(512)
            except OSError:
                return False
            # Its own banner: whatever else might listen there is not it.
            if not banner.startswith(b"220 postfix.it.test "):
                raise TestFailure("port %d answers %r, not this Postfix" % (self.port, banner[:80]))
            return True
        # Bounded, generously: a Postfix master starting under a loaded
        # machine (the whole suite in parallel) takes a while.
        wait_until(answers, timeout=120, what="the private Postfix's smtpd")
        return self

    def log(self):
        return read_file(self.maillog).decode("utf-8", "replace")

    def postqueue(self, *args):
        """postqueue -c DIR ARGS: (status, stdout, stderr)."""
        return self.ctx.run([POSTQUEUE, "-c", self.conf] + list(args), timeout=30)

    def flush_skipped(self):
        """Flush (postqueue -f: every queue scanned, time stamps ignored)
        once for each new SKIPPED line; return the log."""
        text = self.log()
        if text.count(SKIPPED) > self.flushed:
            self.flushed = text.count(SKIPPED)
            self.postqueue("-f")
        return text

    def wait_log(self, pattern, timeout=RETRY_WAIT, what=None):
        """Wait until pattern (a regex) is found in the log, flushing what
        qmgr put aside meanwhile."""
        return wait_until(lambda: re.search(pattern, self.flush_skipped()), timeout=timeout,
                          step=0.1, what=what or repr(pattern))

    def wait_sent(self, count=1, timeout=120):
        """Wait until the log shows count deliveries with status=sent (none
        bounced or deferred); return the log."""
        def sent():
            text = self.flush_skipped()
            if re.search(r"status=(bounced|deferred)", text):
                raise TestFailure("Postfix did not deliver: %s" % text[-3000:])
            return len(re.findall(r"status=sent", text)) >= count
        try:
            wait_until(sent, timeout=timeout, what="Postfix's status=sent")
        except TestFailure as e:
            raise TestFailure("%s; its log: %s" % (e, self.log()[-3000:]))
        return self.log()

    def stop(self):
        """The master stopped and the directory removed; idempotent."""
        if self.proc is not None:
            self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class _Master(Proc):
    """`postfix start-fg` as a Proc of the test, whose stop() (the
    harness's at the test's end, or Postfix.stop()) is a graceful
    `postfix stop` first, and removes the instance's directory."""

    def __init__(self, ctx, pf):
        self.pf = pf
        Proc.__init__(self, ctx, [POSTFIX, "-c", pf.conf, "start-fg"], "postfix-%d" % pf.port)
        # Postfix's own log outlives its directory: the harness prints it
        # with a failed test's logs.
        self.kept_maillog = os.path.join(ctx.dir, "postfix-%d.maillog" % pf.port)

    def log(self):
        """What start-fg printed, then Postfix's maillog (kept at stop)."""
        path = self.pf.maillog if os.path.exists(self.pf.maillog) else self.kept_maillog
        text = read_file(path).decode("utf-8", "replace")
        return Proc.log(self) + ("--- its maillog:\n" + text if text else "")

    def stop(self):
        if self.running():
            try:
                subprocess.run([POSTFIX, "-c", self.pf.conf, "stop"], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=60)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and self.running():
                time.sleep(0.05)
        Proc.stop(self)  # SIGTERM, then SIGKILL, to this PID only if it outlived the bound
        if os.path.exists(self.pf.maillog):
            shutil.copyfile(self.pf.maillog, self.kept_maillog)
        shutil.rmtree(self.pf.dir, ignore_errors=True)


def _override(base, extra):
    """base less its settings that extra sets again (Postfix would warn of
    an overriding entry)."""
    keys = {ln.split("=", 1)[0].strip() for ln in extra.splitlines() if "=" in ln}
    return "".join(ln for ln in base.splitlines(True)
                   if "=" not in ln or ln.split("=", 1)[0].strip() not in keys)


def _lines(text):
    return text if not text or text.endswith("\n") else text + "\n"
