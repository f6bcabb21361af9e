"""dovecot_fixture.py - a private Dovecot for the AUTH tests.

Dovecot(ctx, users).start() runs Debian's dovecot-core as a throw-away
instance: a directory under the test's temp dir holds its dovecot.conf,
base_dir, state_dir and a passwd-file (its log is its stderr, which the
harness shows with a failing test's logs) (users: {name: password},
hashed with libcrypt as sha512-crypt) serving as passdb and userdb.  No
protocol is enabled, so nothing listens on the network: only the auth
service, on the UNIX socket `socket` (mode 0666, so a worker that has
switched to nobody reaches it).  Dovecot's own failure delays are off
(auth_failure_delay 0, no anvil penalty): smtpgate's error_sleep and
limits are what the tests measure.

start() returns once its auth process answers a handshake (bounded).  stop() ends the master
it started, by PID (harness.Proc: SIGTERM, then SIGKILL, and its direct
children by PID); ctx.cleanup() does the same for an instance a test left
running.  auth_pid() is the PID of its auth process (a test may SIGSTOP
it to play a slow Dovecot).

What it must never do: read or write the system's Dovecot (/etc/dovecot,
/run/dovecot: only our config is given with -c), listen on any network
address, or signal a process it did not start.
"""
import ctypes
import ctypes.util
import os
import socket
import threading

from harness import Proc, TestFailure, children, wait_until

DOVECOT = "/usr/sbin/dovecot"
START_TIMEOUT = 30.0

_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_libcrypt.crypt_gensalt.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                    ctypes.c_int]
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_crypt_lock = threading.Lock()


def hash_password(password, prefix="$6$"):
    """password hashed by libcrypt: "$6$" sha512-crypt, "$y$" yescrypt,
    "$2b$" bcrypt (each at libcrypt's default cost)."""
    # crypt() and crypt_gensalt() return static buffers, and tests run in
    # threads: one at a time, the result copied before the lock is let go.
    with _crypt_lock:
        salt = _libcrypt.crypt_gensalt(prefix.encode(), 0, None, 0)
        if not salt:
            raise TestFailure("crypt_gensalt(%s) failed" % prefix)
        h = _libcrypt.crypt(password.encode(), salt)
    if not h or h.startswith(b"*"):
        raise TestFailure("crypt() failed for %s" % prefix)
    return h.decode()


CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = smtpgate-test-{name}
protocols = none
listen = 127.0.0.1
log_path = /dev/stderr
auth_verbose = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


class Dovecot:
    """One private Dovecot auth service in ctx's temp dir."""

    def __init__(self, ctx, users, name="dovecot"):
        self.ctx = ctx
        self.name = name
        self.dir = ctx.path(name)
        self.socket = os.path.join(self.dir, "run", "auth-client")
        self.users = dict(users)
        self.proc = None

    def write_passwd(self):
        """The passwd-file from self.users (Dovecot rereads it when it changes)."""
        lines = ["%s:{SHA512-CRYPT}%s::::::" % (u, hash_password(p))
                 for u, p in sorted(self.users.items())]
        path = os.path.join(self.dir, "passwd")
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(path + ".tmp", path)
        return path

    def start(self):
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        self.write_passwd()
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(dir=self.dir, name=os.path.basename(self.ctx.dir)[-12:],
                                user="root", group="root"))
        if os.path.exists(self.socket):  # left by an instance stopped before
            os.unlink(self.socket)
        self.proc = Proc(self.ctx, [DOVECOT, "-F", "-c", conf], self.name)
        wait_until(lambda: self._answers() or self._died(), START_TIMEOUT,
                   what="Dovecot's auth-client socket")
        return self

    def _answers(self):
        """True once the auth process itself answers a handshake (the
        master takes connections before its auth process is up)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        try:
            s.connect(self.socket)
            s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
            got = b""
            while b"\nDONE\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                got += chunk
            return True
        except OSError:
            return False
        finally:
            s.close()

    def _died(self):
        if self.proc.running():
            return False
        raise TestFailure("dovecot exited with %s: %s" % (self.proc.p.returncode, self.log()))

    def auth_pid(self):
        """The PID of the auth process (a child of our master)."""
        def find():
            for pid in children(self.proc.pid):
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        if f.read().split(b"\0")[0].endswith(b"/auth"):
                            return pid
                except FileNotFoundError:
                    pass
            return None
        return wait_until(find, 10, what="Dovecot's auth process")

    def log(self):
        return self.proc.log() if self.proc else ""

    def stop(self):
        if self.proc:
            self.proc.stop()
