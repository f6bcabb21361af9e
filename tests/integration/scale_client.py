#!/usr/bin/env python3
"""scale_client.py - the clients of test_scale_out.py, run inside the
clients' network namespace (ip netns exec NS python3 scale_client.py ...),
where the test's own process cannot open sockets.  Prints one JSON
document on stdout.

    load HOST PORT TAG COUNT SRC [SRC ...]
        COUNT messages from each source address, one session each, a
        thread per source; a message is retried (a new session, up to 8
        times) until it gets its 250.  Prints a list of
        {"id", "source", "got_250", "attempts", "last"}.
    limit HOST PORT SRC_HELD N SRC_OTHER
        N sessions from SRC_HELD held open at once, then one from
        SRC_OTHER; prints {"held": [greetings], "other": greeting}.
"""
import json
import smtplib
import socket
import sys
import threading
import time

ATTEMPTS = 8
TIMEOUT = 10


def one_message(host, port, source, msg_id):
    """One attempt: (got 250, what happened)."""
    body = ("From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: <%s>\r\n"
            "Subject: %s\r\n\r\nscale-out test\r\n" % (msg_id, msg_id))
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT, source_address=(source, 0)) as s:
            s.ehlo("client.example")
            refused = s.sendmail("a@example.org", ["b@example.org"], body)
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass  # the 250 came: the message is the server's
            return not refused, "250"
    except (smtplib.SMTPException, OSError) as e:
        return False, "%s: %s" % (type(e).__name__, e)


def load(host, port, tag, count, sources):
    results = []
    lock = threading.Lock()

    def run(source):
        for i in range(count):
            msg_id = "%s-%s-%d@scale.test" % (tag, source, i)
            for attempt in range(1, ATTEMPTS + 1):
                ok, last = one_message(host, port, source, msg_id)
                if ok:
                    break
                time.sleep(0.2)
            with lock:
                results.append({"id": msg_id, "source": source, "got_250": ok,
                                "attempts": attempt, "last": last})
    threads = [threading.Thread(target=run, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def greeting(host, port, source):
    """A connection from source and its first reply line (kept open)."""
    s = socket.create_connection((host, port), timeout=TIMEOUT, source_address=(source, 0))
    f = s.makefile("rb")
    return s, f.readline().decode("utf-8", "replace").rstrip("\r\n")


def limit(host, port, held_src, n, other_src):
    held = [greeting(host, port, held_src) for _ in range(n)]
    other = greeting(host, port, other_src)
    out = {"held": [g for _, g in held], "other": other[1]}
    for s, _ in held + [other]:
        s.close()
    return out


def main(argv):
    if argv[1] == "load":
        out = load(argv[2], int(argv[3]), argv[4], int(argv[5]), argv[6:])
    elif argv[1] == "limit":
        out = limit(argv[2], int(argv[3]), argv[4], int(argv[5]), argv[6])
    else:
        raise SystemExit("usage: see the module's docstring")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
