"""postfix_fixture.py - a throw-away Postfix for the tests that need a real
MTA as smtpgate's client or as its upstream.

start_postfix(ctx, relay_port, extra) writes main.cf and master.cf into a
fresh directory under the test's temp dir (its own queue, data and log;
chroot off), runs `postfix -c DIR start-fg` as a Proc of the test (so the
harness stops its master by PID, and the master ends its children), and
returns (proc, smtpd_port, dir) once its smtpd answers.  Mail handed to
that smtpd for any domain goes to relayhost = [127.0.0.1]:relay_port (the
smtpgate under test), or with relay_port None is discarded (an upstream
that offers CHUNKING and PIPELINING).  debug_peer_list makes its smtp
client and smtpd log every command sent and received (BDAT, pipelined
MAIL/RCPT) to DIR/log/maillog.

What it must never do: touch the system's Postfix (/etc/postfix, its
queue) - every path is under the test's directory -, listen beyond
loopback, or outlive the test.
"""
import os
import re
import socket

from harness import Proc, TestFailure, check, free_port, read_file, wait_until

POSTFIX = "/usr/sbin/postfix"

MASTER_CF = """\
127.0.0.1:%(port)d inet n - n - - smtpd
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
discard    unix  - - n - - discard
relay      unix  - - n - - smtp
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
# written by tests/integration/postfix_fixture.py; not the system's Postfix
compatibility_level = 3.6
config_directory = %(d)s/etc
queue_directory = %(d)s/queue
data_directory = %(d)s/data
maillog_file = %(d)s/log/maillog
maillog_file_prefixes = %(d)s/log
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.it.test
mydomain = it.test
myorigin = it.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
%(route)s
smtp_tls_security_level = none
debug_peer_list = 127.0.0.1
debug_peer_level = 2
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
%(extra)s
"""


def usable():
    """Why a private Postfix cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(POSTFIX):
        return "no postfix (scripts/deps.sh installs it)"
    return None


def start_postfix(ctx, relay_port, extra=""):
    why = usable()
    check(why is None, "private Postfix: %s" % why)
    d = ctx.path("postfix")
    for sub in ("etc", "queue", "data", "log"):
        os.makedirs(os.path.join(d, sub))
    # The postfix user walks down to its queue: the test's dir is 0700.
    for p in (ctx.dir, d, os.path.join(d, "etc"), os.path.join(d, "queue"),
              os.path.join(d, "log")):
        os.chmod(p, 0o755)
    os.chown(os.path.join(d, "data"), _uid("postfix"), -1)
    port = free_port()
    with open(os.path.join(d, "etc", "main.cf"), "w") as f:
        route = ("relayhost = [127.0.0.1]:%d" % relay_port if relay_port
                 else "default_transport = discard:upstream of the test")
        f.write(MAIN_CF % {"d": d, "route": route, "extra": extra})
    with open(os.path.join(d, "etc", "master.cf"), "w") as f:
        f.write(MASTER_CF % {"port": port})
    proc = Proc(ctx, [POSTFIX, "-c", os.path.join(d, "etc"), "start-fg"], "postfix")

    def answers():
        if not proc.running():
            raise TestFailure("postfix exited: %s %s" % (proc.log(), maillog(d)[-2000:]))
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            return False
        s.close()
        return True
    # Bounded, generously: a Postfix master starting under a loaded
    # machine (the whole suite in parallel) takes a while.
    wait_until(answers, timeout=120, what="the private Postfix's smtpd")
    return proc, port, d


def _uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


def maillog(d):
    return read_file(os.path.join(d, "log", "maillog")).decode("utf-8", "replace")


def wait_sent(d, count=1, timeout=120):
    """Wait until the maillog shows count deliveries with status=sent."""
    def sent():
        text = maillog(d)
        if re.search(r"status=(bounced|deferred)", text):
            raise TestFailure("Postfix did not deliver: %s" % text[-3000:])
        return len(re.findall(r"status=sent", text)) >= count
    try:
        wait_until(sent, timeout=timeout, what="Postfix's status=sent")
    except TestFailure as e:
        raise TestFailure("%s; its log: %s" % (e, maillog(d)[-3000:]))
    return maillog(d)
