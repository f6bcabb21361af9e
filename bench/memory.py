#!/usr/bin/env python3
"""bench/memory.py - a worker's peak memory for one message (issue 16).

usage: sudo bench/memory.py [SIZES_MIB]      (default: 1 100 1024)

Starts the smtpgate of this tree (built, with `make check`'s test plugins)
with two listeners, data_size_limit = 0 and a fresh worker per session
(max_sessions_per_worker = 1):

  maildir    the bundled maildir plugin, which streams (on_body): the
             message goes to its tmp/ file as it arrives;
  proxy      the bundled proxy plugin, which streams to its upstream, a
             Postfix smtp-sink started here (left out without
             /usr/sbin/smtp-sink);
  mailman    the bundled mailman plugin (same smtp-sink as its remote,
             a second one, `smtp-sink -L`, as its LMTP "Mailman"): rows
             "mailman-list" (to a list: the copy spooled, 1 MiB in memory
             then an unnamed temporary file, and sent over LMTP at the
             final dot) and "mailman-relay" (relayed, streamed);
  whole      tests/plugins/hooks.so, a plugin with on_message only: the
             core gathers the whole message for it (the 1.0 contract).

For each size it sends one message of that many MiB (1000-byte lines, some
dot-stuffed and 8-bit) to each listener over loopback, and once the reply
to the final dot is in, reads the worker's VmHWM from /proc/PID/status.
Prints a Markdown table (bench/RESULTS.md, "Streamed bodies: a worker's
peak memory").  Needs root (the daemon starts as root, drops to nobody)
and about 2.5 x the largest size of free memory for the `whole` rows.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SMTP_SINK = "/usr/sbin/smtp-sink"
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LINES = [b"x" * 998] * 1047 + [b"..dot-leading" + b"d" * 985, b"\xc3\xa9" * 499]
BLOCK = b"".join(line + b"\r\n" for line in LINES)  # 1 MiB on the wire


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("memory.py: connection closed")
        lines.append(line.decode().rstrip("\r\n"))
        if line[3:4] != b"-":
            return lines


def worker_of(sock):
    """The worker holding the server side of sock (by socket inode)."""
    lport, cport = sock.getpeername()[1], sock.getsockname()[1]
    want = ("0100007F:%04X" % lport, "0100007F:%04X" % cport)
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if (p[1], p[2]) == want:
                inode = p[9]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == "socket:[%s]" % inode:
                    return int(pid)
        except OSError:
            continue
    raise SystemExit("memory.py: no worker for the session")


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise SystemExit("memory.py: no VmHWM")


def one_message(port, mib, rcpt="b@example.org"):
    """(the reply to the final dot, the worker's VmHWM in kB, seconds)."""
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    reply(f)
    for cmd in (b"EHLO bench", b"MAIL FROM:<a@example.org>", b"RCPT TO:<%s>" % rcpt.encode(),
                b"DATA"):
        s.sendall(cmd + b"\r\n")
        reply(f)
    t0 = time.monotonic()
    s.sendall(b"Subject: memory\r\n\r\n")
    for _ in range(mib):
        s.sendall(BLOCK)
    s.sendall(b".\r\n")
    r = reply(f)[-1]
    secs = time.monotonic() - t0
    hwm = vm_hwm_kb(worker_of(s))
    s.sendall(b"QUIT\r\n")
    s.close()
    return r, hwm, secs


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1, 100, 1024]
    hooks = os.path.join(TOP, "tests/plugins/.libs/hooks.so")
    if not os.path.exists(hooks):
        raise SystemExit("memory.py: %s missing: run make check first" % hooks)
    d = tempfile.mkdtemp(prefix="smtpgate-memory-")
    os.chmod(d, 0o755)
    plugins = os.path.join(d, "plugins")
    os.mkdir(plugins)
    os.symlink(os.path.join(TOP, "plugins/maildir/.libs/maildir.so"),
               os.path.join(plugins, "maildir.so"))
    os.symlink(hooks, os.path.join(plugins, "whole.so"))
    ports = {"maildir": free_port(), "whole": free_port()}
    sink = lmtp = None
    rcpts = {}
    if os.path.exists(SMTP_SINK):
        ports["proxy"] = free_port()
        ports["mailman-list"] = ports["mailman-relay"] = free_port()
        rcpts["mailman-list"] = "list@lists.example.org"
        sink_port, lmtp_port = free_port(), free_port()
        sink = subprocess.Popen([SMTP_SINK, "-u", "nobody", "127.0.0.1:%d" % sink_port, "64"])
        lmtp = subprocess.Popen([SMTP_SINK, "-L", "-u", "nobody", "127.0.0.1:%d" % lmtp_port,
                                 "64"])
        for name in ("proxy", "mailman"):
            os.symlink(os.path.join(TOP, "plugins/%s/.libs/%s.so" % (name, name)),
                       os.path.join(plugins, "%s.so" % name))
    common = ("workers = 1; max_sessions_per_worker = 1; "
              "data_size_limit = 0; command_timeout = 300; data_timeout = 600;")
    conf = os.path.join(d, "smtpgate.conf")
    with open(conf, "w") as f:
        f.write('plugin_dir = "%s";\nlisteners = (\n' % plugins)
        f.write('  { address = "127.0.0.1:%d"; handler = "maildir"; %s '
                'maildir = { path = "%s/Maildir"; user = "nobody"; }; },\n'
                % (ports["maildir"], common, d))
        if sink:
            f.write('  { address = "127.0.0.1:%d"; handler = "proxy"; %s '
                    'remote = "127.0.0.1:%d"; },\n' % (ports["proxy"], common, sink_port))
            f.write('  { address = "127.0.0.1:%d"; handler = "mailman"; %s '
                    'remote = "127.0.0.1:%d"; mailman = { lmtp = "127.0.0.1:%d"; '
                    'domains = [ "lists.example.org" ]; relay_networks = [ "127.0.0.0/8" ]; }; },\n'
                    % (ports["mailman-list"], common, sink_port, lmtp_port))
        f.write('  { address = "127.0.0.1:%d"; handler = "whole"; %s }\n);\n'
                % (ports["whole"], common))
    daemon = subprocess.Popen([os.path.join(TOP, "smtpgate"), "-f", conf],
                              stdout=subprocess.DEVNULL, stderr=open(d + "/log", "w"))
    try:
        for port in list(ports.values()) + ([sink_port, lmtp_port] if sink else []):
            for _ in range(200):
                if daemon.poll() is not None:
                    raise SystemExit("memory.py: smtpgate exited: %s" % open(d + "/log").read())
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.05)
        print("| message | plugin | reply | worker VmHWM | seconds |")
        print("|---:|---|---|---:|---:|")
        for mib in sizes:
            for name, port in ports.items():
                r, hwm, secs = one_message(port, mib, rcpts.get(name, "b@example.org"))
                print("| %d MiB | %s | %s | %.1f MiB | %.1f |" % (mib, name, r[:3], hwm / 1024,
                                                                 secs), flush=True)
                shutil.rmtree(os.path.join(d, "Maildir", "new"), ignore_errors=True)
                os.makedirs(os.path.join(d, "Maildir", "new"), exist_ok=True)
                shutil.chown(os.path.join(d, "Maildir", "new"), "nobody")
    finally:
        daemon.terminate()
        daemon.wait()
        for p in (sink, lmtp):
            if p:
                p.terminate()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
