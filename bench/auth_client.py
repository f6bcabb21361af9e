#!/usr/bin/env python3
"""bench/auth_client.py - authenticated submissions per second.

usage: auth_client.py HOST PORT CAFILE USER PASSWORD COUNT CONCURRENCY

Each of CONCURRENCY processes makes COUNT/CONCURRENCY submissions one
after another, each on a new connection: implicit TLS (no session
resumption), EHLO, AUTH PLAIN with an initial response, MAIL, RCPT, DATA
with a 1 KiB message, QUIT.  Every reply is checked; a wrong one counts as
an error and ends that connection.  Prints one line:
  submissions=N errors=E seconds=S rate=R
It talks only to HOST:PORT (loopback in bench/auth.sh), and every socket
has a timeout: nothing waits unbounded.
"""
import base64
import multiprocessing
import socket
import ssl
import sys
import time

BODY = b"Subject: auth bench\r\n\r\n" + (b"x" * 76 + b"\r\n") * 13 + b".\r\n"


def reply(f):
    """The code of the next (multi-line) reply; 0 if the server closed."""
    while True:
        line = f.readline(1024)
        if len(line) < 4:
            return 0
        if line[3:4] != b"-":
            return int(line[:3])


def submit(host, port, ctx, auth_line):
    s = socket.create_connection((host, port), timeout=30)
    try:
        ss = ctx.wrap_socket(s, server_hostname="localhost")
        f = ss.makefile("rb")
        steps = [(None, 220), (b"EHLO bench.test\r\n", 250), (auth_line, 235),
                 (b"MAIL FROM:<alice@bench.test>\r\n", 250),
                 (b"RCPT TO:<rcpt@bench.test>\r\n", 250), (b"DATA\r\n", 354), (BODY, 250),
                 (b"QUIT\r\n", 221)]
        for send, want in steps:
            if send:
                ss.sendall(send)
            if reply(f) != want:
                return False
        return True
    finally:
        s.close()


def worker(args):
    host, port, cafile, user, password, n = args
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.options |= ssl.OP_NO_TICKET  # a new TLS session every time
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
    auth_line = b"AUTH PLAIN " + token + b"\r\n"
    errors = 0
    for _ in range(n):
        try:
            errors += not submit(host, port, ctx, auth_line)
        except (OSError, ssl.SSLError):
            errors += 1
    return errors


def main():
    host, port, cafile, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4], sys.argv[5]
    count, conc = int(sys.argv[6]), int(sys.argv[7])
    per = [count // conc + (1 if i < count % conc else 0) for i in range(conc)]
    started = time.monotonic()
    with multiprocessing.Pool(conc) as pool:
        errors = sum(pool.map(worker, [(host, port, cafile, user, password, n) for n in per]))
    secs = time.monotonic() - started
    print("submissions=%d errors=%d seconds=%.2f rate=%.1f" % (count, errors, secs,
                                                               (count - errors) / secs))


if __name__ == "__main__":
    main()
