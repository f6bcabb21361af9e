"""The master and its workers: respawn, crash isolation, SIGHUP reload,
SIGTERM, and the back-off when every new worker dies."""
import ctypes
import os
import re
import signal
import socket
import time

from harness import (Client, alive, check, debug_frame, eq, proc_state, read_file, refuses,
                     wait_until)


def test_killed_worker_is_replaced(ctx):
    d, port, out = ctx.simple(workers=1)
    c = Client(port)
    c.cmd("HELO x")
    (w,) = d.wait_workers(1)
    os.kill(w, signal.SIGKILL)
    try:
        r = c.cmd("NOOP")
        check(False, "a killed worker answered: %r" % r)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        pass
    c.close()
    new = d.wait_workers(1, exclude=(w,))
    check(w not in new, "the killed worker %d is still listed" % w)
    with Client(port) as c2:
        eq(c2.transaction("Subject: after\r\n\r\nkill"), "250 OK", "message after the kill")
    check(d.running(), "the master died")


def test_message_not_printed_when_worker_killed_mid_data(ctx):
    d, port, out = ctx.simple(workers=1)
    c = Client(port)
    c.begin_data("MAIL FROM:<a@b>", "RCPT TO:<c@d>", "HELO x")
    c.send(b"Subject: lost\r\n\r\nhalf of it\r\n")
    time.sleep(0.2)
    (w,) = d.wait_workers(1)
    os.kill(w, signal.SIGKILL)
    check(c.closed(5), "connection open after its worker was killed")
    c.close()
    d.wait_workers(1, exclude=(w,))
    with Client(port) as c2:
        eq(c2.transaction("Subject: second\r\n\r\nok"), "250 OK", "next message")
    wait_until(lambda: read_file(out), what="the second message in the output")
    eq(read_file(out), debug_frame("Subject: second\n\nok"), "output: only the second message")


def test_sighup_with_open_session(ctx):
    out1, out2 = ctx.path("old.txt"), ctx.path("new.txt")
    text, port, _ = ctx.listener(workers=1, data_size_limit=1000, output=out1)
    conf = ctx.config([text])
    d = ctx.daemon(conf)
    a = Client(port)
    eq(a.cmd("EHLO a").split("\n")[1], "250-SIZE 1000", "old session's SIZE")
    eq(a.cmd("MAIL FROM:<old@example.org>"), "250 OK", "old session's MAIL")
    # New config: another output file and another limit.
    text2, _, _ = ctx.listener(port=port, workers=1, data_size_limit=2000, output=out2)
    ctx.config([text2])
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded")
    b = Client(port)
    eq(b.cmd("EHLO b").split("\n")[1], "250-SIZE 2000", "new session's SIZE")
    eq(b.transaction("Subject: new\r\n\r\n" + "n" * 1500, helo=None), "250 OK",
       "new session's 1500-byte message")
    b.close()
    # The old session finishes its transaction under the old config.
    eq(a.cmd("RCPT TO:<r@example.org>"), "250 OK", "old session's RCPT")
    eq(a.cmd("DATA")[:3], "354", "old session's DATA")
    a.send(b"Subject: old\r\n\r\nstarted before the reload\r\n.\r\n")
    eq(a.reply(), ["250 OK"], "old session's message")
    eq(a.cmd("QUIT"), "221 Bye", "old session's QUIT")
    a.close()
    wait_until(lambda: read_file(out1) and read_file(out2), what="both messages")
    eq(read_file(out1), debug_frame("Subject: old\n\nstarted before the reload"),
       "old config's output")
    eq(read_file(out2), debug_frame("Subject: new\n\n" + "n" * 1500), "new config's output")
    # A 1500-byte message now fits: the new limit is the one in force.
    with Client(port) as c:
        eq(c.transaction("Subject: x\r\n\r\n" + "m" * 1500), "250 OK", "after the reload")


def test_sighup_dropping_an_address(ctx):
    """A reload that moves the listener to another port closes the old
    port at once, though a session on it goes on to its end."""
    text, old_port, out = ctx.listener(workers=2)
    d = ctx.daemon(ctx.config([text]))
    a = Client(old_port)
    eq(a.cmd("HELO a")[:3], "250", "old session's HELO")
    text2, new_port, _ = ctx.listener(workers=2, output=out)
    ctx.config([text2])
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded")

    wait_until(lambda: refuses(old_port), timeout=5, step=0.1,
               what="the old port closed after the reload")
    with Client(new_port) as c:
        eq(c.transaction("Subject: new port\r\n\r\nx"), "250 OK", "message on the new port")
    eq(a.transaction("Subject: old port\r\n\r\ny", helo=None), "250 OK",
       "the old session's message")
    eq(a.cmd("QUIT"), "221 Bye", "old session's QUIT")
    a.close()


def test_bad_config_on_sighup_keeps_running(ctx):
    text, port, out = ctx.listener(workers=1, data_size_limit=1234)
    conf = ctx.config([text])
    d = ctx.daemon(conf)
    with open(conf, "a") as f:
        f.write("this is not libconfig {\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reload-failed")
    check(d.running(), "the master exited on a bad reload")
    with Client(port) as c:
        eq(c.cmd("EHLO x").split("\n")[1], "250-SIZE 1234", "SIZE after the failed reload")
        eq(c.transaction("Subject: x\r\n\r\nstill", helo=None), "250 OK", "message")
    # An unknown handler is refused as well.
    text2, _, _ = ctx.listener(port=port, handler="nosuchplugin", workers=1)
    ctx.config([text2])
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reload-failed", count=2)
    with Client(port) as c:
        eq(c.cmd("EHLO x").split("\n")[1], "250-SIZE 1234", "SIZE after the second failed reload")


def test_sigterm_stops_cleanly(ctx):
    d, port, out = ctx.simple(workers=2)
    idle = Client(port)
    idle.cmd("HELO idle")
    busy = Client(port)
    busy.cmd("HELO busy")
    busy.cmd("MAIL FROM:<a@b>")
    workers = d.wait_workers(2)
    d.signal(signal.SIGTERM)
    r = idle.reply()
    check(r[0].startswith("421 "), "idle session at SIGTERM: expected 421, got %r" % r)
    check(idle.closed(3), "idle session not closed after its 421")

    # No longer accepting: a new client is refused at once, not queued by
    # the kernel for a busy worker's copy of the socket until it exits.
    wait_until(lambda: refuses(port), timeout=3, step=0.1,
               what="the port closed while a session ends")

    # The transaction in progress may finish.
    eq(busy.cmd("RCPT TO:<c@d>"), "250 OK", "RCPT during the stop")
    eq(busy.cmd("DATA")[:3], "354", "DATA during the stop")
    busy.send(b"Subject: last\r\n\r\nfinished\r\n.\r\n")
    eq(busy.reply(), ["250 OK"], "message finished during the stop")
    r = busy.reply()
    check(r[0].startswith("421 "), "after its transaction: expected 421, got %r" % r)
    rc = d.wait(30)
    eq(rc, 0, "master's exit status")
    check(not any(alive(w) for w in workers), "workers left running: %r" % workers)
    eq(read_file(out), debug_frame("Subject: last\n\nfinished"), "output")


def test_usr_signals_to_the_master_are_ignored(ctx):
    """SIGUSR1 is the workers' stress wake-up; sent to the master by
    mistake it killed the master, and every worker with it."""
    d, port, out = ctx.simple(workers=2)
    workers = d.wait_workers(2)
    d.signal(signal.SIGUSR1)
    d.wait_log(r"event=signal-ignored signal=USR1")
    d.signal(signal.SIGUSR2)
    d.wait_log(r"event=signal-ignored signal=USR2")
    # The workers' own SIGUSR1 handler is still theirs: it only wakes them.
    os.kill(workers[0], signal.SIGUSR1)
    with Client(port) as c:
        eq(c.transaction("Subject: usr\r\n\r\nserved"), "250 OK", "message after SIGUSR1/2")
    check(d.running(), "the master died")
    eq(d.wait_workers(2), workers, "the workers (none died or was replaced)")


def reload_into_slow_init(ctx, d, port, workers, init_sleep_ms, top=""):
    """SIGHUP d into a config whose plugin (the crash test plugin) sleeps
    init_sleep_ms in its init, so the reload's plugin check takes that
    long; returns once the reload has begun."""
    text, _, _ = ctx.listener(port=port, handler="crash", workers=workers,
                              extra="crash = { init_sleep_ms = %d; };" % init_sleep_ms)
    ctx.config([text], top=top)
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reload source=")


def test_sigterm_during_reload_forks_no_new_generation(ctx):
    """A SIGTERM that comes while a reload checks the plugins (2 s here:
    a slow init) stops the master; the new generation is never forked."""
    text, port, _ = ctx.listener(handler="crash", workers=2)
    d = ctx.daemon(ctx.config([text]))
    d.wait_workers(2)
    reload_into_slow_init(ctx, d, port, 2, 2000)
    d.signal(signal.SIGTERM)
    eq(d.wait(15), 0, "the master's exit status")
    log = d.log()
    check(re.search(r"event=reload(ed|-failed)", log), "the reload never ended:\n%s" % log)
    stopping = re.search(r"event=stopping workers=(\d+)", log)
    check(stopping and int(stopping.group(1)) <= 2,
          "workers at the stop (2 old at most): %s" % (stopping and stopping.group(0)))
    new = [line for line in log.splitlines()
           if re.search(r"event=worker-(exit|died|failed) .*generation=[1-9]", line)]
    eq(new, [], "workers of the new generation")


def test_reload_check_with_hanging_init_has_a_deadline(ctx):
    """The reload's plugin check gets shutdown_timeout (2 s here); a
    plugin whose init hangs (60 s) is killed then and the reload fails.
    The master waited for it without end, reaping and respawning nothing."""
    text, port, out = ctx.listener(workers=1, data_size_limit=1234)
    conf = ctx.config([text])
    d = ctx.daemon(conf)
    (w,) = d.wait_workers(1)
    t0 = time.monotonic()
    reload_into_slow_init(ctx, d, port, 1, 60000, top="shutdown_timeout = 2;")
    # The init hangs 60 s: the line says the deadline ended it; a loaded
    # machine may log it late, never before the deadline.
    d.wait_log(r"did not end within shutdown_timeout \(2 s\), killed", timeout=40)
    d.wait_log(r"event=reload-failed", timeout=40)
    took = time.monotonic() - t0
    check(took > 1.5, "the check was given up after %.1fs (shutdown_timeout 2 s)" % took)
    check(d.running(), "the master died")
    # The running configuration stays, its worker too, and the master
    # reaps and replaces workers again.
    with Client(port) as c:
        eq(c.cmd("EHLO x").split("\n")[1], "250-SIZE 1234", "SIZE after the failed reload")
    os.kill(w, signal.SIGKILL)
    d.wait_workers(1, exclude=(w,), timeout=5)
    with Client(port) as c:
        eq(c.transaction("Subject: x\r\n\r\nafter", helo="HELO x"), "250 OK", "message")


def test_sigterm_cuts_a_hanging_reload_check_short(ctx):
    """A stop during the reload's check (a plugin's init hanging for 60 s)
    is carried out at once: the check is killed, the master exits."""
    text, port, _ = ctx.listener(workers=1)
    d = ctx.daemon(ctx.config([text]))
    d.wait_workers(1)
    reload_into_slow_init(ctx, d, port, 1, 60000)
    time.sleep(0.3)  # the check is running
    # Its init hangs 60 s: an exit well within that is the cut.
    d.signal(signal.SIGTERM)
    eq(d.wait(40), 0, "the master's exit status")
    check("the plugins' check cut short: stopping" in d.log(), "no line for the cut check")


def crash_a_session(port, tag):
    """A message the crash plugin dies on: the session ends without a reply."""
    with Client(port, timeout=15) as c:
        c.begin_data("MAIL FROM:<a@b>", "RCPT TO:<c@d>", "HELO x")
        c.send(b"CRASH %s\r\n.\r\n" % tag)
        try:
            r = c.reply()
            check(False, "a crashing plugin's session got a reply: %r" % r)
        except (EOFError, ConnectionResetError):
            pass


def test_crashing_plugin_kills_only_its_worker(ctx):
    text, port, _ = ctx.listener(handler="crash", workers=2)
    d = ctx.daemon(ctx.config([text]))
    other = Client(port)
    other.cmd("HELO other")
    crash_a_session(port, b"now")
    d.wait_log(r"signal=11")
    # The other session and the master are unharmed; a new client is served.
    eq(other.transaction("Subject: fine\r\n\r\nok", helo=None), "250 OK", "other session's message")
    other.close()
    with Client(port) as c2:
        eq(c2.transaction("hello"), "250 OK", "next client")
    check(d.running(), "the master died")


def test_backoff_when_every_worker_dies(ctx):
    backoff_when_every_worker_dies(ctx, exits=False)


def test_backoff_when_every_worker_exits_in_init(ctx):
    # exit(0) from init is a start-up failure too (EX_CONFIG, logged): with
    # status 0 it used to be a normal exit, replaced at once, in a loop.
    d = backoff_when_every_worker_dies(ctx, exits=True)
    check(re.search(r"init called exit\(\)", d.log()), "no line naming the exit()")


def backoff_when_every_worker_dies(ctx, exits):
    trigger = ctx.path("crash-now")
    text, port, _ = ctx.listener(handler="crash", workers=1,
                                 extra='crash = { init_trigger = "%s"; init_trigger_exits = %s; };'
                                 % (trigger, "true" if exits else "false"))
    d = ctx.daemon(ctx.config([text]))
    (w,) = d.wait_workers(1)
    with Client(port) as c:
        eq(c.transaction("fine"), "250 OK", "before the trigger")
    open(trigger, "w").close()
    os.kill(w, signal.SIGKILL)
    time.sleep(4)
    fails = failed_lines(d)
    delays = [int(m.group(1)) for m in (re.search(r"respawn_in_ms=(\d+)", x) for x in fails) if m]
    check(2 <= len(fails) <= 8, "%d worker-failed lines in 4 s (want a handful):\n%s"
          % (len(fails), "\n".join(fails[:20])))
    check(delays == sorted(delays) and delays[-1] > delays[0],
          "respawn_in_ms does not grow: %r" % delays)
    check(d.running(), "the master died")
    os.unlink(trigger)
    # Service resumes after the current back-off (at most a few seconds here).
    with Client(port, timeout=max(5, delays[-1] / 1000 + 5)) as c:
        eq(c.transaction("back"), "250 OK", "after removing the trigger")
    return d


def worker_waiting(pid):
    """True when the worker waits for clients: it has made its epoll set,
    which it does just before it reports itself idle, and sleeps."""
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
        epoll = any(os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[eventpoll]"
                    for fd in fds)
    except OSError:  # gone, or the fd closed between the two reads
        return False
    return epoll and proc_state(pid) == "S"


def failed_lines(d):
    return [line for line in d.log().splitlines() if "event=worker-failed" in line]


def test_killing_every_ready_worker_needs_no_backoff(ctx):
    """Workers that had started fine are no start-up failures, however
    young: killing a whole pool at once is repaired at once, not after a
    back-off (4 at once counted as 4 fast failures: 8 s without workers)."""
    text, port, _ = ctx.listener(workers=4)
    d = ctx.daemon(ctx.config([text]))
    workers = d.wait_workers(4)
    wait_until(lambda: all(worker_waiting(w) for w in workers), what="4 idle workers")
    for w in workers:
        os.kill(w, signal.SIGKILL)
    with Client(port, timeout=15) as c:
        eq(c.greeting[0][:4], "220 ", "greeting after the kill")
        eq(c.transaction("Subject: after\r\n\r\nkill"), "250 OK", "message after the kill")
    d.wait_workers(4, exclude=workers)
    # No back-off is what kept the wait short: no line announces one.
    eq(failed_lines(d), [], "worker-failed lines (a back-off) for killed ready workers")
    check(d.running(), "the master died")


def test_crash_in_session_does_not_delay_next_client(ctx):
    """A client that crashes its worker's plugin costs that worker only:
    the replacement is forked at once, the next client is not held back."""
    text, port, _ = ctx.listener(handler="crash", workers=1)
    d = ctx.daemon(ctx.config([text]))
    for k in range(3):
        crash_a_session(port, b"%d" % k)
    with Client(port, timeout=15) as c:
        eq(c.transaction("after the crashes"), "250 OK", "next client")
    # Not held back means no back-off: no line announces one.
    eq(failed_lines(d), [], "worker-failed lines (a back-off) for crashes in sessions")
    eq(len(re.findall(r"event=worker-died .*signal=11", d.log())), 3, "worker-died lines")


def sched_policy(pid):
    """The scheduling policy of a process: 0 SCHED_OTHER, 3 SCHED_BATCH."""
    stat = read_file("/proc/%d/stat" % pid).decode()
    return int(stat[stat.rindex(")") + 2:].split()[38])  # field 41, policy


def test_worker_scheduling(ctx):
    # The default: SCHED_BATCH workers under a SCHED_OTHER master.
    text, port, out = ctx.listener(workers=2)
    d = ctx.daemon(ctx.config([text]))
    workers = d.wait_workers(2)
    # A worker sets its policy itself just after the fork: wait for that
    # (a fresh child still has the master's SCHED_OTHER for a moment).
    wait_until(lambda: [sched_policy(w) for w in workers] == [3, 3] or None,
               what="the workers' default policy (SCHED_BATCH)")
    eq(sched_policy(d.pid), 0, "the master's policy (SCHED_OTHER)")
    with Client(port) as c:
        eq(c.transaction("Subject: batch\r\n\r\nserved\r\n"), "250 OK", "a message")
    # "normal" leaves the workers as they were forked.
    text2, _, _ = ctx.listener(workers=1)
    d2 = ctx.daemon(ctx.config([text2], name="normal.conf", top='worker_scheduling = "normal";'))
    eq([sched_policy(w) for w in d2.wait_workers(1)], [0], "the policy with \"normal\"")


def worker_end_of(worker_pid, client):
    """A duplicate of the worker's socket for the connection client is the
    other end of (pidfd_getfd(2): the test runs as root or as the daemon's
    user)."""
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_pidfd_getfd = 438
    pidfd = os.pidfd_open(worker_pid)
    try:
        for name in os.listdir("/proc/%d/fd" % worker_pid):
            if not os.readlink("/proc/%d/fd/%s" % (worker_pid, name)).startswith("socket:"):
                continue
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            check(fd >= 0, "pidfd_getfd: %s" % os.strerror(ctypes.get_errno()))
            s = socket.socket(fileno=fd)
            try:
                if s.getpeername() == client.getsockname():
                    return s
            except OSError:
                pass
            s.close()
    finally:
        os.close(pidfd)
    check(False, "no socket of worker %d is connected to %r" % (worker_pid, client.getsockname()))


def test_accepted_connections_have_nagle_off(ctx):
    # Set once on the listening socket; the accepted one must inherit it,
    # or every small reply waits for the client's ACK of the previous one.
    text, port, out = ctx.listener(workers=1)
    d = ctx.daemon(ctx.config([text]))
    worker = d.wait_workers(1)[0]
    with Client(port) as c:
        eq(c.code("EHLO client.example.org"), 250, "EHLO")
        s = worker_end_of(worker, c.sock)
        with s:
            eq(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1, "TCP_NODELAY on the worker's end")


def test_reload_switches_the_log_target(ctx):
    # Started logging to syslog: nothing of it on stderr.  A reload to
    # "stderr" takes effect (it was ignored until a restart): the reload's
    # own line and the new workers' lines are on stderr.
    text, port, _ = ctx.listener(workers=1)
    d = ctx.daemon(ctx.config([text], top='log = "syslog"; log_facility = "local7";'),
                   wait_ready=False)
    wait_until(lambda: not refuses(port), what="the listener")
    with Client(port) as c:
        eq(c.transaction("Subject: to syslog\r\n\r\nhi"), "250 OK", "message")
    ctx.config([text], top='log = "stderr";')
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded generation=1")
    with Client(port) as c:
        eq(c.transaction("Subject: to stderr\r\n\r\nhi"), "250 OK", "message")
    d.wait_log(r"worker\[\d+\] info: sid=\S+ .*event=disconnect")
    check("event=ready" not in d.log(), "the start was logged on stderr, not syslog")


def test_worker_failing_on_its_own_while_idle_is_delayed(ctx):
    """A plugin that aborts 300 ms after its init, client or not (a timer,
    a thread): every new worker would do the same, so the next start is
    delayed as after a start-up failure instead of a fork loop; a worker
    killed from outside while idle is still replaced at once (above)."""
    text, port, _ = ctx.listener(handler="crash", workers=2,
                                 extra="crash = { abort_after_ms = 300; };")
    d = ctx.daemon(ctx.config([text]))
    time.sleep(4)
    log = d.log()
    check(re.search(r"event=worker-failed pid=\d+ signal=%d .*respawn_in_ms=" % signal.SIGABRT,
                    log), "no delayed respawn:\n%s" % log)
    deaths = len(re.findall(r"event=worker-(?:failed|died)", log))
    check(deaths <= 12, "%d workers died within 4 s (each lives 0.3 s)" % deaths)


def test_huge_config_on_sighup_is_refused_and_old_serves(ctx):
    """A reload into a file with a 4 MB comment line is refused before
    libconfig reads it, naming file and line; the old config serves on."""
    text, port, out = ctx.listener(workers=1, data_size_limit=1234)
    conf = ctx.config([text])
    d = ctx.daemon(conf)
    with open(conf) as f:
        good = f.read()
    with open(conf, "w") as f:
        f.write(good + "# " + "x" * (4 * 1024 * 1024) + "\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r'file=%s line=%d error="line longer than 65536 bytes \(the maximum\): not read"'
               % (re.escape(conf), good.count("\n") + 1))
    d.wait_log(r"event=reload-failed")
    check(d.running(), "the master exited on a bad reload")
    with Client(port) as c:
        eq(c.cmd("EHLO x").split("\n")[1], "250-SIZE 1234", "SIZE after the failed reload")
        eq(c.transaction("Subject: x\r\n\r\nstill", helo=None), "250 OK", "message")


def test_worker_replaced_while_a_reload_is_checked(ctx):
    """The reload's check runs in a child: while it waits for a slow
    plugin init (30 s), a killed worker is replaced by the master and
    serves with the running config."""
    text, port, out = ctx.listener(workers=1, data_size_limit=1234)
    d = ctx.daemon(ctx.config([text]))
    (w,) = d.wait_workers(1)
    reload_into_slow_init(ctx, d, port, 1, 30000)
    (checker,) = wait_until(lambda: [k for k in d.workers() if k != w] or None,
                            what="the reload's check process")
    os.kill(w, signal.SIGKILL)
    (w2,) = d.wait_workers(1, exclude=(w, checker))
    with Client(port) as c:
        eq(c.cmd("EHLO x").split("\n")[1], "250-SIZE 1234", "SIZE while the reload is checked")
        eq(c.transaction("Subject: x\r\n\r\nduring", helo=None), "250 OK", "message")
    check(alive(checker), "the check ended before the new worker served")
    check(not re.search(r"event=reload(ed|-failed)", d.log()), "the reload ended already")
