"""Reload and shutdown under load (issue #6, "production intake").

20 smtplib clients send messages to a maildir listener for about 10 s,
a few per connection (each with a unique token in Subject and Message-ID),
then QUIT and reconnect.  Meanwhile the master gets SIGHUP five times and
finally SIGTERM.  Checked:

- every message a client got a 250 for is in new/ exactly once, intact;
  no message is there twice; messages the server stored whose 250 the
  client never saw are allowed, counted and printed;
- no client sees an error before the SIGTERM, and after it only a 421 or a
  refused/reset/closed connection while connecting or between
  transactions: a transaction whose MAIL got its 250 is finished
  (README: "a message being received is finished first");
- every worker of an old generation (children of the master just before a
  SIGHUP) exits within OLD_BOUND seconds of that SIGHUP while the load
  is still running, starts no new session after its reload (by the log),
  and the master logs its exit with status=0 and its generation; after the
  SIGTERM the master exits 0, no worker is left, and the maildir plugin's
  delivered= log lines name exactly the files in new/.

About 12 s; it prints one line of numbers (messages acked, delivered,
delivered without a 250 seen, how the clients saw the shutdown).

The number of workers is never assumed (the pool may size itself): the
workers are read from /proc (children of the master).
"""
import collections
import os
import random
import re
import signal
import smtplib
import threading
import time
import zlib

import harness
from harness import check, eq, wait_until

CLIENTS = 20
WORKERS = 8
LOAD_SECONDS = 10.0  # from the first 250 to the SIGTERM (at least)
HUP_AT = (1.5, 3.0, 4.5, 6.0, 7.5)  # seconds into the load
OLD_BOUND = 12.0  # an old worker is gone this long after its SIGHUP at most (a session
                  # of 3-5 messages, on a loaded machine or under sanitizers)
CLIENT_TIMEOUT = 15.0  # socket timeout of each client
MIN_ACKED = 100
MSGS_PER_CONN = (3, 5)
TOKEN_DOMAIN = "reload-load.test"
MSGID_RX = re.compile(rb"^Message-ID: <(c\d\d-\d{5})@" + re.escape(TOKEN_DOMAIN.encode()) +
                      rb">$", re.M)


# ---------------------------------------------------------------- helpers

def message(token):
    """The message (CR LF lines, ending in CR LF) carrying token, and the
    data the maildir plugin stores after its own headers: the lines joined
    by LF, then one LF.  Its size (up to ~6.5 KB, so DATA often takes
    several reads) comes from the token, so the check can rebuild it."""
    t = token.encode()
    seed = zlib.crc32(t)
    lines = [b"From: load@client.example", b"To: intake@example.org", b"Subject: load " + t,
             b"Message-ID: <" + t + b"@" + TOKEN_DOMAIN.encode() + b">", b""]
    for i in range(1 + seed % 120):
        lines.append(b"%s line %d %s" % (t, i, b"x" * (((seed >> 8) + 37 * i) % 60)))
    return b"\r\n".join(lines) + b"\r\n", b"\n".join(lines) + b"\n"


def start_time(pid):
    """The start time of pid (field 22 of /proc/PID/stat); None when gone or
    a zombie.  (pid, start time) names a process even if the pid is reused."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if rest[0] in ("Z", "X"):
        return None
    return rest[19]


def workers_now(d):
    """{pid: start time} of the master's live children (its workers)."""
    out = {}
    for pid in harness.children(d.pid):
        st = start_time(pid)
        if st is not None:
            out[pid] = st
    return out


class Reply(Exception):
    """A reply other than the one expected."""

    def __init__(self, code, msg, stage):
        Exception.__init__(self, code, msg, stage)
        self.code, self.msg, self.stage = code, msg, stage


class Load:
    """The clients and what they saw.

    states[token]: "sent" once its MAIL was sent (the server may or may not
    have stored it), "acked" once the final dot got its 250."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.term = threading.Event()  # set just before the SIGTERM is sent
        self.halt = threading.Event()  # the test is over: stop
        self.states = {}
        self.across = 0  # transactions begun before the SIGTERM, acked after it
        self.sessions = 0
        self.errors = []
        self.ends = collections.Counter()  # allowed ends seen after the SIGTERM
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True)
                        for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def count(self):
        """Messages acked so far."""
        with self.lock:
            return sum(1 for s in self.states.values() if s == "acked")

    def error(self, cid, text):
        with self.lock:
            if len(self.errors) < 40:
                self.errors.append("client %02d: %s" % (cid, text))

    def session(self, s, cid, rng, seq, progress):
        """One connection: greeting, EHLO, 3 to 5 messages, QUIT."""
        def expect(reply, want, stage):
            progress["stage"] = stage
            if reply[0] != want:
                raise Reply(reply[0], reply[1], stage)
        progress["stage"] = "connect"
        expect(s.connect("127.0.0.1", self.port), 220, "greeting")
        progress["stage"] = "EHLO"
        expect(s.ehlo(), 250, "EHLO")
        with self.lock:
            self.sessions += 1
        for _ in range(rng.randint(*MSGS_PER_CONN)):
            seq += 1
            token = "c%02d-%05d" % (cid, seq)
            body, _ = message(token)
            with self.lock:
                self.states[token] = "sent"
            progress["stage"] = "MAIL %s" % token
            begun_before_term = not self.term.is_set()
            expect(s.mail("c%02d@client.example" % cid), 250, "MAIL %s" % token)
            progress["in_txn"] = True  # the server must finish this transaction
            progress["stage"] = "RCPT %s" % token
            expect(s.rcpt("intake@example.org"), 250, "RCPT %s" % token)
            progress["stage"] = "DATA %s" % token
            try:
                reply = s.data(body)  # 354, the body, the final dot
            except smtplib.SMTPDataError as e:
                raise Reply(e.smtp_code, e.smtp_error, "DATA %s" % token)
            expect(reply, 250, "end of data %s" % token)
            progress["in_txn"] = False
            with self.lock:
                self.states[token] = "acked"
                self.across += begun_before_term and self.term.is_set()
            if self.halt.is_set():
                break
        progress["stage"] = "QUIT"
        expect(s.docmd("QUIT"), 221, "QUIT")
        return seq

    def client(self, cid):
        rng = random.Random(1000 + cid)
        seq = 0
        while not self.halt.is_set():
            progress = {"stage": "connect", "in_txn": False}
            s = smtplib.SMTP(local_hostname="c%02d.client.example" % cid, timeout=CLIENT_TIMEOUT)
            what = None
            try:
                seq = self.session(s, cid, rng, seq, progress)
            except Reply as r:
                what = ("reply", r.code, "%s got %d %r" % (r.stage, r.code, r.msg))
            except (smtplib.SMTPException, OSError) as e:
                # smtplib turns a reset or a timeout while reading a reply
                # into SMTPServerDisconnected("Connection unexpectedly closed...")
                closed = isinstance(e, (smtplib.SMTPServerDisconnected, ConnectionError))
                if isinstance(e, TimeoutError) or "timed out" in str(e):
                    closed = False
                what = (type(e).__name__ if closed else "other", None,
                        "%s: %s: %s" % (progress["stage"], type(e).__name__, e))
            finally:
                s.close()
            term = self.term.is_set()  # read after the end was seen
            if what is None:
                continue  # a whole session; after the SIGTERM: until refused
            kind, code, text = what
            if not term:
                self.error(cid, "before the SIGTERM: " + text)
            elif progress["in_txn"]:
                self.error(cid, "after the SIGTERM, a transaction in progress was cut "
                           "(README: a message being received is finished first): " + text)
            elif kind == "other" or (kind == "reply" and code != 421):
                self.error(cid, "after the SIGTERM: " + text)
            else:
                stage = progress["stage"].split(" ")[0]
                with self.lock:
                    self.ends["%s at %s" % ("421" if kind == "reply" else kind, stage)] += 1
            return

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return sum(1 for t in self.threads if t.is_alive())


class OldWorkers:
    """The workers of every old generation, from the SIGHUP that retired
    them until they are gone; a thread polls /proc every 20 ms."""

    def __init__(self):
        self.lock = threading.Lock()
        self.watch = {}  # pid -> (start time, generation, time of its SIGHUP)
        self.gone = {}  # pid -> seconds from its SIGHUP until seen gone
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def retire(self, procs, generation, at):
        with self.lock:
            for pid, st in procs.items():
                self.watch[pid] = (st, generation, at)

    def poll(self):
        while not self.done.is_set():
            with self.lock:
                items = [(p, w) for p, w in self.watch.items() if p not in self.gone]
            for pid, (st, gen, at) in items:
                if start_time(pid) != st:
                    with self.lock:
                        self.gone[pid] = time.monotonic() - at
            time.sleep(0.02)

    def lingering(self):
        """[(pid, generation, seconds since its SIGHUP)] of those alive."""
        now = time.monotonic()
        with self.lock:
            items = [(p, w) for p, w in self.watch.items() if p not in self.gone]
        return [(p, g, now - at) for p, (st, g, at) in items if start_time(p) == st]

    def stop(self):
        self.done.set()
        self.thread.join(2)


def check_maildir(md, states):
    """Check md's files against what the clients saw: every acked token in
    new/ exactly once, no token twice, each file the message sent.  Returns
    ({token: file name}, [tokens delivered without a 250], [files in tmp/])."""
    where = collections.defaultdict(list)
    for name in sorted(os.listdir(os.path.join(md, "new"))):
        content = harness.read_file(os.path.join(md, "new", name))
        ids = MSGID_RX.findall(content)
        check(len(ids) == 1, "new/%s: expected one Message-ID of the load, found %r (%d bytes)"
              % (name, ids, len(content)))
        token = ids[0].decode()
        where[token].append(name)
        check(token in states, "new/%s holds %s, which no client sent" % (name, token))
        check(content.endswith(b"\n" + message(token)[1]),
              "new/%s (%s): the stored data is not the message sent (%d bytes, ends %r)"
              % (name, token, len(content), content[-80:]))
    dups = sorted((t, names) for t, names in where.items() if len(names) > 1)
    check(not dups, "%d message(s) delivered more than once: %s" % (
        len(dups), "; ".join("%s in %s" % (t, ", ".join(n)) for t, n in dups[:10])))
    missing = sorted(t for t, st in states.items() if st == "acked" and t not in where)
    check(not missing, "%d message(s) got a 250 but are not in new/: %s" % (
        len(missing), ", ".join(missing[:20])))
    unacked = sorted(t for t in where if states[t] != "acked")
    # tmp/: each copy is written there, fsync'd and renamed into new/
    # before its 250.  A file left in tmp/ can only be a message whose
    # client got no 250 (a write cut short): acceptable, and counted; a
    # message that got its 250 must never be found there.
    leftovers = []
    for name in sorted(os.listdir(os.path.join(md, "tmp"))):
        content = harness.read_file(os.path.join(md, "tmp", name))
        for t in MSGID_RX.findall(content):
            check(states.get(t.decode()) != "acked", "tmp/%s holds %s, which got a 250 "
                  "(a finished message left in tmp/)" % (name, t.decode()))
        leftovers.append(name)
    return {t: n[0] for t, n in where.items()}, unacked, leftovers


def exit_lines(log):
    """{pid: [(status, generation or None)]} from the master's worker-exit,
    worker-died and worker-failed lines."""
    out = collections.defaultdict(list)
    rx = re.compile(r"event=worker-(?:exit|died|failed) pid=(\d+) (\S+)(?:.* generation=(\d+))?")
    for line in log.splitlines():
        m = rx.search(line)
        if m:
            out[int(m.group(1))].append((m.group(2), m.group(3) and int(m.group(3))))
    return out


# ---------------------------------------------------------------- the test

def test_reload_and_shutdown_under_load(ctx):
    md = ctx.path("Maildir")
    text, port, _ = ctx.listener(handler="maildir", workers=WORKERS,
                                 extra='maildir = { path = "%s"; };' % md)
    d = ctx.daemon(ctx.config([text]))
    d.wait_workers(1)
    load = Load(port)
    old = OldWorkers()
    retired = []  # (generation, {pid: start time}) retired by each SIGHUP
    try:
        load.start()
        wait_until(lambda: load.count() > 0 or load.errors, timeout=10, what="a first 250")
        t0 = time.monotonic()
        for k, at in enumerate(HUP_AT, 1):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            check(not load.errors, "client errors before SIGHUP %d:\n  %s"
                  % (k, "\n  ".join(load.errors)))
            # Every worker alive now and not retired before belongs to
            # generation k-1 (the last reload was logged, its check process
            # reaped); a worker the master spawns between this read and the
            # signal is missed, not misfiled.
            # The new generation's first workers may still be forking (a
            # loaded machine, a sanitizer build): wait for one, bounded.
            procs = {}

            def new_workers():
                procs.update((p, st) for p, st in workers_now(d).items() if p not in old.watch)
                return bool(procs)
            wait_until(new_workers, timeout=15, what="a new worker before SIGHUP %d" % k)
            d.signal(signal.SIGHUP)
            old.retire(procs, k - 1, time.monotonic())
            retired.append((k - 1, procs))
            d.wait_log(r"event=reloaded generation=%d\b" % k)
        acked_at_last_hup = load.count()
        time.sleep(max(0.0, t0 + LOAD_SECONDS - time.monotonic()))
        # The load goes on while the old workers finish their sessions.
        last_hup = old.watch and max(at for _, _, at in old.watch.values())
        try:
            wait_until(lambda: not old.lingering(),
                       timeout=max(0.5, last_hup + OLD_BOUND - time.monotonic()), step=0.05)
        except harness.TestFailure:
            stay = sorted(old.lingering(), key=lambda x: x[1])
            raise harness.TestFailure(
                "%d old-generation worker(s) outlive their sessions under load: %s" % (
                    len(stay), ", ".join("pid %d (generation %d, %.1fs after its SIGHUP)" % x
                                         for x in stay[:10])))
        slow = sorted((s, p) for p, s in old.gone.items() if s > OLD_BOUND)
        check(not slow, "old-generation workers exited later than %.0fs after their SIGHUP: %s"
              % (OLD_BOUND, ", ".join("pid %d after %.1fs" % (p, s) for s, p in slow)))
        check(not load.errors, "client errors during the load:\n  %s" % "\n  ".join(load.errors))
        check(load.count() > acked_at_last_hup, "the load stopped after the last SIGHUP "
              "(%d acked then, %d now)" % (acked_at_last_hup, load.count()))
        final = workers_now(d)
        load.term.set()
        t_term = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait(15)
        stop_took = time.monotonic() - t_term
        eq(rc, 0, "the master's exit status after SIGTERM")
        left = load.join(CLIENT_TIMEOUT + 5)
        check(not left, "%d client(s) still running %.0fs after the master exited"
              % (left, CLIENT_TIMEOUT + 5))
    finally:
        load.halt.set()
        old.stop()
    took = time.monotonic() - t0
    check(not load.errors, "client errors:\n  %s" % "\n  ".join(load.errors))

    # No worker is left: the old generations', and the last one's.
    for gen, procs in retired + [(len(HUP_AT), final)]:
        alive = [p for p, st in procs.items() if start_time(p) == st]
        check(not alive, "workers of generation %d alive after the master exited: %r"
              % (gen, alive))

    # The master's log: each worker exit, status 0, with its generation.
    log = d.log()
    check("event=reload-failed" not in log, "a reload failed:\n" + log[-3000:])
    check("event=stop-timeout" not in log, "the stop killed workers at its timeout")
    check(re.search(r"event=stopped", log), "no event=stopped in the log")
    exits = exit_lines(log)
    bad = sorted((p, e) for p, es in exits.items() for e in es if e[0] != "status=0")
    check(not bad, "workers that did not exit with status 0: %r" % bad)
    seen = {pid for _, procs in retired for pid in procs}
    for gen, procs in retired + [(len(HUP_AT), final)]:
        for pid in procs:
            if procs is final and pid in seen:
                continue  # an old one still ending when the last set was read: judged above
            es = exits.get(pid, [])
            check(len(es) == 1, "worker %d of generation %d: expected one exit line, got %r"
                  % (pid, gen, es))
            # Without a generation: it exited in its own generation
            # (max_sessions_per_worker, or retired by the pool as spare)
            # between the read of /proc and the SIGHUP.
            # Or one the master forked in generation gen-1 after the
            # snapshot of the SIGHUP before was read and before that
            # SIGHUP: the next snapshot takes it for one of gen.
            ok = (gen, gen - 1, None)
            check(es[0][1] in ok, "worker %d of generation %d logged as generation %r"
                  % (pid, gen, es[0][1]))

    # A retired worker starts no session after its reload: it only ends the
    # one it was in.  Counted by log order from the master's
    # "event=reloaded generation=G+1" line (written after the SIGHUP was
    # sent).  One is allowed: a worker that saw no signal pending when a
    # client came in, and accepted it, just before the signal arrived.
    lines = log.splitlines()
    reloaded_at = {}
    for i, line in enumerate(lines):
        m = re.search(r"master\[\d+\].* event=reloaded generation=(\d+)\b", line)
        if m:
            reloaded_at.setdefault(int(m.group(1)), i)
    late = collections.Counter()
    gen_of = {pid: gen for gen, procs in retired for pid in procs}
    for i, line in enumerate(lines):
        m = re.search(r"worker\[(\d+)\].* event=connect ", line)
        if m and int(m.group(1)) in gen_of:
            pid = int(m.group(1))
            if i > reloaded_at[gen_of[pid] + 1]:
                late[pid] += 1
    many = sorted((p, n) for p, n in late.items() if n > 1)
    check(not many, "retired workers kept accepting clients after their reload "
          "(pid, sessions started after it): %r" % many)

    # The Maildir, against what the clients saw; and the log's deliveries.
    with load.lock:
        states = dict(load.states)
    acked = sum(1 for s in states.values() if s == "acked")
    check(acked > MIN_ACKED, "only %d messages got a 250: the load did not run" % acked)
    where, unacked, leftovers = check_maildir(md, states)
    logged = collections.Counter(os.path.basename(p) for p in
                                 re.findall(r'plugin=maildir msg="delivered=([^"\s]+)"', log))
    eq(sorted(n for n, c in logged.items() if c > 1), [], "files logged as delivered twice")
    eq(sorted(set(logged) ^ set(where.values())), [],
       "files in new/ and files logged as delivered= (symmetric difference)")
    print("reload_load: %d clients, %d sessions, %d messages acked, %d delivered, "
          "%d delivered without a 250 seen, %d left in tmp/; %d transaction(s) begun before "
          "the SIGTERM and acked after it; other ends after SIGTERM: %s; "
          "%d old workers gone after their SIGHUP within max %.2fs, %d session(s) "
          "accepted by one just after its SIGHUP; stop took %.2fs; load %.1fs"
          % (CLIENTS, load.sessions, acked, len(where), len(unacked), len(leftovers),
             load.across, dict(load.ends) or "none", len(old.gone), max(old.gone.values() or [0]),
             sum(late.values()), stop_took, took))
