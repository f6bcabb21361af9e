"""Interoperability with a real Postfix over TLS: a private Postfix
instance (its own config, queue and data directories in the test's temp
dir, `postfix -c DIR start`, stopped by the test) delivers into smtpgate
with smtp_tls_security_level = encrypt, and smtpgate's proxy relays into
Postfix's smtpd with TLS on.  Postfix's own log (maillog_file) must show
the TLS session each time."""
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import tempfile

from harness import check, eq, free_port, read_file, wait_until
from test_tls import make_cert

POSTFIX = "/usr/sbin/postfix"
DAEMONS = """\
{smtpd} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """A private Postfix: smtpd on 127.0.0.1:smtpd_port (STARTTLS offered
    with cert/key), everything relayed to 127.0.0.1:relay_port with TLS
    required; logs to its own maillog."""

    def __init__(self, ctx, smtpd_port, relay_port, cert, key):
        check(os.path.exists(POSTFIX), "%s missing: apt-get install postfix" % POSTFIX)
        # A short path of its own: Postfix's UNIX sockets live under the
        # queue directory, and a socket's path has at most 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="sg-pf-")
        self.conf = os.path.join(self.dir, "conf")
        self.maillog = os.path.join(self.dir, "maillog")
        data = os.path.join(self.dir, "data")
        for d in (self.conf, os.path.join(self.dir, "queue"), data):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chown(data, pwd.getpwnam("postfix").pw_uid, -1)
        main = {
            "compatibility_level": "3.6", "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": data, "meta_directory": "/etc/postfix",
            "mail_owner": "postfix", "setgid_group": "postdrop",
            "myhostname": "pf.example", "mydomain": "example", "myorigin": "pf.example",
            "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8", "mydestination": "", "relay_domains": "",
            "alias_maps": "", "alias_database": "", "biff": "no",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "relayhost": "[127.0.0.1]:%d" % relay_port,
            "smtp_tls_security_level": "encrypt", "smtp_tls_loglevel": "1",
            "smtpd_tls_security_level": "may", "smtpd_tls_loglevel": "1",
            "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
            "maillog_file": self.maillog, "maillog_file_prefixes": self.dir,
        }
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("".join("%s = %s\n" % kv for kv in main.items()))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(DAEMONS.format(smtpd="127.0.0.1:%d" % smtpd_port))
        self.started = False

    def command(self, verb):
        r = subprocess.run([POSTFIX, "-c", self.conf, verb], capture_output=True, timeout=60)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")

    def start(self):
        rc, out = self.command("start")
        self.started = rc == 0
        eq(rc, 0, "postfix start (%s; log: %s)" % (out, self.log()[-2000:]))
        wait_until(lambda: "daemon started" in self.log(), what="Postfix's master")

    def stop(self):
        if self.started:
            self.command("stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        return read_file(self.maillog).decode("utf-8", "replace") \
            if os.path.exists(self.maillog) else ""


def test_tls_postfix_delivers_with_encrypt_and_takes_the_proxy_over_tls(ctx):
    cert, key = make_cert(ctx, "server", kind="rsa")
    pf_port, gate_port = free_port(), free_port()
    intake, _, out = ctx.listener(port=gate_port, extra='tls = { mode = "may"; cert = "%s"; '
                                  'key = "%s"; };' % (cert, key))
    proxy, proxy_port, _ = ctx.listener(handler="proxy", remote="127.0.0.1:%d" % pf_port,
                                        extra='proxy = { relay_tls = "encrypt"; };')
    d = ctx.daemon(ctx.config([intake, proxy]))
    pf = Postfix(ctx, pf_port, gate_port, cert, key)
    try:
        pf.start()
        # Postfix -> smtpgate: its smtp client requires TLS.
        with smtplib.SMTP("127.0.0.1", pf_port, timeout=60) as s:
            s.sendmail("a@example.org", ["b@far.example"], "Subject: from postfix\r\n\r\nx\r\n")
        wait_until(lambda: b"Subject: from postfix" in read_file(out), timeout=60,
                   what="Postfix's delivery in smtpgate's output")
        wait_until(lambda: re.search(r"postfix/smtp\[\d+\]: \w+ TLS connection established to "
                                     r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: TLSv1\.3" % gate_port,
                                     pf.log()), timeout=60,
                   what="Postfix's TLS line for its delivery")
        check(re.search(r"status=sent \(250 OK\)", pf.log()), "Postfix's log:\n" + pf.log())
        frame = read_file(out).decode()
        check("\ntls protocol: TLSv1.3\n" in frame, "smtpgate's frame:\n" + frame)
        # smtpgate's proxy -> Postfix's smtpd over STARTTLS (and on to
        # smtpgate again through Postfix's queue).
        with smtplib.SMTP("127.0.0.1", proxy_port, timeout=60) as s:
            s.sendmail("a@example.org", ["c@far.example"], "Subject: via proxy\r\n\r\ny\r\n")
        wait_until(lambda: re.search(r"postfix/smtpd\[\d+\]: Anonymous TLS connection "
                                     r"established from localhost\[127\.0\.0\.1\]: TLSv1\.3",
                                     pf.log()), timeout=60, what="Postfix's smtpd TLS line")
        d.wait_log(r"upstream=127\.0\.0\.1:%d relayed reply=250 hop=tls tls=TLSv1\.3" % pf_port,
                   timeout=60)
        wait_until(lambda: b"Subject: via proxy" in read_file(out), timeout=60,
                   what="the proxied message back through Postfix")
        check(re.search(r"with ESMTPS id", read_file(out).decode()),
              "Postfix's Received line for the proxied message names no ESMTPS:\n%s"
              % read_file(out).decode())
    finally:
        pf.stop()
