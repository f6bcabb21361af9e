"""postfix_fixture.py - a private Postfix instance as a real SMTP client.

PostfixInstance(relay_port).start() writes a main.cf and a master.cf
in a temp dir of its own (mode 0755: Postfix's daemons, running as the
postfix user, must reach the queue; the test's dir is 0700), with its own
queue, data directory and log file, removed by stop(),
with an smtpd on a free loopback port for the test to hand mail to and
relayhost = [127.0.0.1]:relay_port, so every message it takes goes to
smtpgate there; deferred mail is retried after 2 s.  It runs Debian's postfix
(the package scripts/deps.sh installs) as `postfix -c DIR start`, and
stop() is `postfix -c DIR stop`, then a wait for the master's PID (from
its pid file) to go, SIGKILL to that PID only if it outlives the bound.

What it must never do: touch the system's instance (/etc/postfix, its
queue), listen beyond loopback, deliver anywhere but relay_port, or
signal a process other than the master it started, or outlive the test
run: stop() also runs at exit, for a test that run.py gave up on.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import TestFailure, free_port, wait_until

STOP_TIMEOUT = 30.0

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix-it.example
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:{relay_port}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_security_level = none
smtpd_tls_security_level = none
disable_dns_lookups = yes
maillog_file_prefixes = {dir}
maillog_file = {dir}/maillog
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 2s
"""

# A retry that finds the delivery agent still finishing the first attempt
# (its lock held a moment after it logged) is put back by qmgr for 60 s
# ("skipped, still being delivered"): waits for a retry allow for that.
RETRY_WAIT = 90.0


class PostfixInstance:
    """One private Postfix: smtpd on self.port, relaying to relay_port."""

    def __init__(self, relay_port):
        self.dir = tempfile.mkdtemp(prefix="smtpgate-postfix-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "conf")
        self.port = free_port()
        self.relay_port = relay_port
        self.pid = None

    def _postfix(self, *args):
        r = subprocess.run(["postfix", "-c", self.conf] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")

    def start(self):
        # A test that hangs past run.py's bound never reaches its finally:
        # the atexit handlers (run.py runs them before it exits) stop it.
        atexit.register(self.stop)
        os.makedirs(self.conf)
        os.mkdir(os.path.join(self.dir, "queue"))  # root's; postfix makes its subdirs
        os.mkdir(os.path.join(self.dir, "data"))
        os.chown(os.path.join(self.dir, "data"), *self._postfix_ids())
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=self.dir, relay_port=self.relay_port))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        rc, out = self._postfix("start")
        if rc != 0:
            raise TestFailure("postfix start: %d %s\n%s" % (rc, out, self.log()))
        pid_file = os.path.join(self.dir, "queue", "pid", "master.pid")
        wait_until(lambda: os.path.exists(pid_file) and open(pid_file).read().strip(),
                   what="Postfix's master.pid")
        self.pid = int(open(pid_file).read().strip())
        wait_until(self._listening, what="Postfix's smtpd on 127.0.0.1:%d" % self.port)
        return self

    @staticmethod
    def _postfix_ids():
        import pwd
        pw = pwd.getpwnam("postfix")
        return pw.pw_uid, pw.pw_gid

    def _listening(self):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", self.port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """postfix stop, then the master's PID gone (SIGKILL past the
        bound), and the directory removed; idempotent."""
        if self.pid is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        self._postfix("stop")
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and _alive(self.pid):
            time.sleep(0.05)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent, init, reaps it).
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
