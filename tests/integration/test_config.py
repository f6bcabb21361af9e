"""The config file and the command line: -t, refusals with their exit
status and a message naming the file and line, bad plugins, options,
-V, the command-line listener (-c, -s, -u, -d), the privilege drop."""
import os
import pwd
import re
import shutil
import signal
import socket
import threading

from harness import (EX_CONFIG, EX_NOPERM, EX_USAGE, PLUGINS, SMTPGATE, TOP, Client, check,
                     debug_frame, eq, free_port, read_file, wait_until)

# tests/sanitizers.sh installs its copy of the tree under a prefix of its own.
INSTALLED_PLUGIN_DIR = os.environ.get("SMTPGATE_INSTALLED_PLUGIN_DIR",
                                      "/usr/local/lib/smtpgate/plugins")
_install_lock = threading.Lock()  # tests run in threads: install once


def errors(stderr):
    return [line for line in stderr.splitlines() if line.strip()]


def test_check_config_lists_listeners(ctx):
    l1, p1, _ = ctx.listener(name="intake")
    l2, p2, _ = ctx.listener(handler="crash", workers=1)
    conf = ctx.config([l1, l2])
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", conf])
    eq(rc, 0, "-t exit status (stderr: %s)" % se)
    lines = so.splitlines()
    check(any(re.search(r"\bintake\b.*127\.0\.0\.1:%d.*handler debug.*plugin %s\b"
                        % (p1, re.escape(os.path.join(ctx.plugin_dir, "debug.so"))), x)
              for x in lines), "no line for the debug listener in:\n" + so)
    check(any(re.search(r"127\.0\.0\.1:%d.*handler crash.*plugin %s\b"
                        % (p2, re.escape(os.path.join(ctx.plugin_dir, "crash.so"))), x)
              for x in lines), "no line for the crash listener in:\n" + so)
    # Each listener's settings in effect follow its line, as key=value
    # fields read from the same table the loader uses.
    i = next(i for i, x in enumerate(lines) if re.search(r"\bintake\b", x))
    check(re.search(r"^  name=intake address=127\.0\.0\.1:%d handler=debug .*"
                    r"max_sessions_per_client=50 client_limit_exceptions=127\.0\.0\.0/8,::1/128 "
                    % p1, lines[i + 1]), "no settings line after the listener's: %r" % lines[i + 1])
    # -t binds nothing and starts nothing: the ports are still free.
    for p in (p1, p2):
        s = socket.socket()
        s.bind(("127.0.0.1", p))
        s.close()


def refused(ctx, conf_text, want_line, pattern, name="bad.conf", test_mode=False):
    """Start (or -t) with conf_text: exit 78, one error naming name:line."""
    conf = ctx.write(name, conf_text)
    argv = [SMTPGATE, "-n"] + (["-t"] if test_mode else []) + ["-f", conf]
    rc, so, se = ctx.run(argv)
    eq(rc, EX_CONFIG, "exit status for %s (stderr: %s)" % (pattern, se))
    errs = [x for x in errors(se) if "error" in x or conf in x]
    eq(len(errs), 1, "error lines for %s: %r" % (pattern, errors(se)))
    where = ("file=%s line=%d " % (conf, want_line)) if want_line else "file=%s " % conf
    check(where in errs[0], "the error does not name %s: %r" % (where, errs[0]))
    check(re.search(pattern, errs[0]), "the error does not match %r: %r" % (pattern, errs[0]))
    return errs[0]


def test_bad_configs_refused(ctx):
    pd = 'plugin_dir = "%s";\n' % ctx.plugin_dir
    port = 1  # never bound: the config is refused before

    def lst(**kw):
        return ctx.listener(**kw)[0]
    cases = [
        ("syntax", pd + "listeners = (\n  { address = \"127.0.0.1:1\" \n handler = ; }\n);\n",
         4, r"syntax error"),
        ("unknown-setting", pd + "listeners = (\n  %s\n);\nworkerz = 3;\n" % lst(), 5,
         r"workerz.*unknown setting"),
        ("unknown-listener-setting", pd + "listeners = (\n  { address = \"127.0.0.1:%d\";\n"
         "    handler = \"debug\";\n    tiemout = 5; }\n);\n" % port, 5,
         r"tiemout.*unknown setting"),
        ("unknown-handler", pd + "listeners = (\n  %s\n);\n" % lst(handler="nosuch"), 3,
         r"nosuch"),
        ("bad-address", pd + "listeners = (\n  %s\n);\n" % lst().replace(
            '"127.0.0.1:', '"127.0.0.1:99999'), 3, r"address"),
        ("utf8-and-decode", pd + "listeners = (\n  %s\n);\n" % lst(smtputf8=True, decode_data=True),
         3, r"decode_data"),
        ("bad-type", pd + "listeners = (\n  %s\n);\n" % lst(workers="two"), 3, r"workers"),
        ("no-listeners", pd, 0, r"listeners"),
    ]
    for name, text, line, pattern in cases:
        for test_mode in (False, True):
            try:
                refused(ctx, text, line, pattern, name=name + ".conf", test_mode=test_mode)
            except AssertionError as e:
                raise type(e)("case %s%s: %s" % (name, " (-t)" if test_mode else "", e))


def test_port_in_use_refused(ctx):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        text, _, _ = ctx.listener(port=port)
        err = refused(ctx, 'plugin_dir = "%s";\nlisteners = (\n  %s\n);\n'
                      % (ctx.plugin_dir, text), 3, r"[Aa]ddress already in use")
        check(str(port) in err, "the error does not name the port: %r" % err)
    finally:
        busy.close()


def test_bad_plugins_refused(ctx):
    gw = os.path.join(ctx.plugin_dir, "groupwritable.so")
    shutil.copy(PLUGINS["debug"], gw)
    os.chmod(gw, 0o664)
    for handler, pattern in (("badabi", r"badabi\.so.*ABI"),
                             ("nomessage", r"nomessage\.so.*message hook"),
                             ("groupwritable", r"groupwritable\.so.*writable")):
        text, port, _ = ctx.listener(handler=handler)
        conf = ctx.config([text], name=handler + ".conf")
        rc, so, se = ctx.run([SMTPGATE, "-n", "-f", conf])
        eq(rc, EX_CONFIG, "%s: exit status (stderr: %s)" % (handler, se))
        check(re.search(pattern, se), "%s: no message matching %r in:\n%s" % (handler, pattern, se))
        s = socket.socket()
        try:
            check(s.connect_ex(("127.0.0.1", port)) != 0, "%s: something listens on its port"
                  % handler)
        finally:
            s.close()


def test_bad_options(ctx):
    conf = ctx.config([ctx.listener()[0]])
    for argv in (["-x"], ["--nosuch"], ["-s", "abc"], ["-s", "-1"], ["-s"],
                 ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"],
                 ["-f", conf, "127.0.0.1:1"], ["-f", conf, "-c", "debug"]):
        rc, so, se = ctx.run([SMTPGATE, "-n"] + argv)
        eq(rc, EX_USAGE, "exit status for %r (stderr: %s)" % (argv, se))
        check(se.strip(), "no message for %r" % argv)
    rc, so, se = ctx.run([SMTPGATE, "-h"])
    eq(rc, 0, "-h exit status")
    check("Usage:" in so, "-h prints no usage: %r" % so)


def test_version(ctx):
    rc, so, se = ctx.run([SMTPGATE, "-V"])
    eq(rc, 0, "-V exit status")
    header = open(os.path.join(TOP, "include/smtpgate/plugin.h")).read()
    major = re.search(r"#define SMTPGATE_ABI_MAJOR (\d+)", header).group(1)
    minor = re.search(r"#define SMTPGATE_ABI_MINOR (\d+)", header).group(1)
    version = re.search(r"AC_INIT\(\[smtpgate\], \[([^]]+)\]",
                        open(os.path.join(TOP, "configure.ac")).read()).group(1)
    eq(so.strip(), "smtpgate %s (plugin ABI %s.%s)" % (version, major, minor), "-V output")


def ensure_installed(ctx):
    """The command-line listener uses the compiled-in plugin dir."""
    with _install_lock:
        _install(ctx)


def _install(ctx):
    installed = os.path.join(INSTALLED_PLUGIN_DIR, "debug.so")
    if os.path.exists(installed) and os.path.getmtime(installed) >= os.path.getmtime(PLUGINS["debug"]):
        return
    rc, so, se = ctx.run(["flock", "/tmp/smtpgate-make.lock", "make", "-C", TOP, "install"],
                         timeout=300)
    eq(rc, 0, "make install failed:\n%s\n%s" % (so[-2000:], se[-2000:]))
    check(os.path.exists(os.path.join(INSTALLED_PLUGIN_DIR, "debug.so")),
          "make install did not install %s/debug.so" % INSTALLED_PLUGIN_DIR)


def test_command_line_listener(ctx):
    ensure_installed(ctx)
    port = free_port()
    d = ctx.daemon(args=["-c", "DebuggingServer", "127.0.0.1:%d" % port])
    with Client(port) as c:
        lines = c.cmd("EHLO x").split("\n")
        eq(lines[1:], ["250-SIZE 33554432", "250-8BITMIME", "250 HELP"], "default extensions")
        eq(c.transaction("Subject: cli\r\n\r\nhello", mail="MAIL FROM:<a@b> BODY=8BITMIME",
                         helo=None), "250 OK", "message")
    want = debug_frame("Subject: cli\n\nhello", mail_options=["BODY=8BITMIME"])
    wait_until(lambda: len(d.stdout()) >= len(want), what="the message on stdout")
    eq(d.stdout(), want, "stdout")


def test_command_line_size_utf8_and_trace(ctx):
    ensure_installed(ctx)
    p1, p2 = free_port(), free_port()
    d1 = ctx.daemon(args=["-s", "0", "-d", "127.0.0.1:%d" % p1])
    d2 = ctx.daemon(args=["-u", "-s", "5000", "127.0.0.1:%d" % p2])
    with Client(p1) as c:
        eq(c.cmd("EHLO trace.example").split("\n")[1:], ["250-8BITMIME", "250 HELP"],
           "-s 0: no SIZE")
        eq(c.cmd("NOOP"), "250 OK", "NOOP")
        eq(c.cmd("XTRACEME"), '500 Error: command "XTRACEME" not recognized', "unknown command")
    wait_until(lambda: "XTRACEME" in d1.log(), what="the protocol trace on stderr")
    log = d1.log()
    check("EHLO trace.example" in log and "250-8BITMIME" in log,
          "-d: the trace lacks the commands or replies:\n" + log)
    with Client(p2) as c:
        eq(c.cmd("EHLO x").split("\n")[1:],
           ["250-SIZE 5000", "250-8BITMIME", "250-SMTPUTF8", "250 HELP"], "-u -s 5000")
        eq(c.transaction("Subject: \u00fc\r\n\r\n\u00fc", mail="MAIL FROM:<\u00fc@x> SMTPUTF8",
                         helo=None), "250 OK", "UTF-8 message")
    check("EHLO x" not in d2.log(), "a trace without -d:\n" + d2.log())
    want = debug_frame("Subject: \u00fc\n\n\u00fc", mail_options=["SMTPUTF8"])
    wait_until(lambda: len(d2.stdout()) >= len(want), what="the message on stdout")
    eq(d2.stdout(), want, "stdout")


def test_privilege_drop(ctx):
    text, port, out = ctx.listener(workers=1)
    conf = ctx.config([text])
    if os.geteuid() != 0:
        rc, so, se = ctx.run([SMTPGATE, "-f", conf])
        eq(rc, EX_NOPERM, "not root, without -n: exit status (stderr: %s)" % se)
        check("-n" in se, "the refusal does not suggest -n: %r" % se)
        return
    nobody = pwd.getpwnam("nobody")
    os.chmod(ctx.dir, 0o755)
    d = ctx.daemon(conf, nosetuid=False)
    (w,) = d.wait_workers(1)
    # It drops privileges after loading its plugin: wait for that (slow under ASan).
    wait_until(lambda: re.search(r"^Uid:\s+%d\s" % nobody.pw_uid,
                                 open("/proc/%d/status" % w).read(), re.M),
               what="worker %d to drop privileges" % w)
    status = open("/proc/%d/status" % w).read()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    gids = re.search(r"^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    eq(set(map(int, uids)), {nobody.pw_uid}, "worker uids (real, effective, saved, fs)")
    eq(set(map(int, gids)), {nobody.pw_gid}, "worker gids")
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
    check(all(int(g) == nobody.pw_gid for g in groups), "worker keeps groups %r" % groups)
    with Client(port) as c:
        eq(c.transaction("Subject: nobody\r\n\r\nhi"), "250 OK", "message")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame("Subject: nobody\n\nhi"), "output")
    # Same config with -n: the worker stays root.
    d.stop()
    d2 = ctx.daemon(conf)
    (w2,) = d2.wait_workers(1)
    uid = re.search(r"^Uid:\s+(\d+)", open("/proc/%d/status" % w2).read(), re.M).group(1)
    eq(int(uid), 0, "worker uid with -n")


def test_ipv6_listener(ctx):
    port = free_port(socket.AF_INET6, "::1")
    text, _, out = ctx.listener(port=port, host="::1")
    ctx.daemon(ctx.config([text]))
    with Client(port, host="::1") as c:
        eq(c.transaction("Subject: v6\r\n\r\nover IPv6"), "250 OK", "message over ::1")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame("Subject: v6\n\nover IPv6", peer="::1"), "output (X-Peer: ::1)")
    # Only [::1] is bound: IPv4 loopback on that port is not served.
    s = socket.socket()
    try:
        check(s.connect_ex(("127.0.0.1", port)) != 0, "127.0.0.1:%d is served too" % port)
    finally:
        s.close()


def test_chroot(ctx):
    """chroot: workers run inside the directory after the plugin's init
    (the debug output file, opened at init, lies outside it)."""
    jail = ctx.path("jail")
    os.mkdir(jail)
    text, port, out = ctx.listener(workers=1, chroot=jail)
    conf = ctx.config([text])
    if os.geteuid() != 0:
        d = ctx.daemon(conf, wait_ready=False)
        d.wait_log(r"call=chroot path=%s error=\"Operation not permitted\"" % re.escape(jail))
        return
    os.chmod(ctx.dir, 0o755)
    # LeakSanitizer (tests/sanitizers.sh) needs /proc, which the jail lacks.
    env = dict(os.environ)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    d = ctx.daemon(conf, nosetuid=False, env=env)
    (w,) = d.wait_workers(1)
    wait_until(lambda: os.readlink("/proc/%d/root" % w) == jail,
               what="worker %d inside %s (root is %s)" % (w, jail, os.readlink("/proc/%d/root" % w)))
    with Client(port) as c:
        eq(c.transaction("Subject: jailed\r\n\r\nhi"), "250 OK", "message")
    wait_until(lambda: read_file(out), what="the message in the output")
    eq(read_file(out), debug_frame("Subject: jailed\n\nhi"), "output")
    eq(os.readlink("/proc/%d/root" % d.pid), "/", "the master stays outside")
    # A missing or relative directory is a config error naming the setting.
    for bad, why in ((ctx.path("nowhere"), "No such file"), ("jail", "not an absolute path")):
        text, _, _ = ctx.listener(workers=1, chroot=bad)
        rc, so, se = ctx.run([SMTPGATE, "-t", "-f", ctx.config([text], name="bad.conf")])
        eq(rc, EX_CONFIG, "exit status for chroot %r" % bad)
        check(re.search(r"file=\S*bad\.conf line=\d+ setting=chroot error=.*%s" % why, se),
              "message: %r" % se)


def others_may_run(path):
    """1 if a user other than root can reach and read path (every directory
    above it searchable by others): not so in the sanitizer suite's copy of
    the tree under a private temporary directory."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & 0o004:
        return False
    d = os.path.dirname(path)
    while True:
        if not os.stat(d).st_mode & 0o001:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


def as_nobody():
    """preexec_fn: the daemon started by nobody (the tests run as root)."""
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def test_started_by_its_own_user_and_a_chroot_it_cannot_enter(ctx):
    """A daemon started by nobody, without -n, with user nobody (the
    default): nothing to switch, so its workers serve (setgroups() used to
    fail in every worker).  A reload adding a chroot, which only root may
    enter, fails in the reload's check and keeps the running configuration
    (it used to be accepted, and every new worker failed)."""
    files = [SMTPGATE] + list(PLUGINS.values())
    if os.geteuid() != 0 or not all(others_may_run(f) for f in files):
        return  # needs root to start it as nobody, and a tree nobody can run
    # nobody writes the debug output here; sticky, as the plugin loader
    # refuses a plugin_dir below a directory anyone may rename entries in
    os.chmod(ctx.dir, 0o1777)
    jail = ctx.path("jail")
    os.mkdir(jail)
    text, port, out = ctx.listener(workers=1, data_size_limit=1234)
    conf = ctx.config([text])
    d = ctx.daemon(conf, nosetuid=False, preexec_fn=as_nobody)
    (w,) = d.wait_workers(1)
    with Client(port) as c:
        eq(c.transaction("Subject: own user\r\n\r\nhi"), "250 OK", "message")
    text2, _, _ = ctx.listener(port=port, workers=1, chroot=jail)
    ctx.config([text2])
    d.signal(signal.SIGHUP)
    d.wait_log(r"call=chroot path=%s error=\"Operation not permitted\"" % re.escape(jail))
    d.wait_log(r"event=reload-failed")
    with Client(port) as c:
        eq(c.cmd("EHLO x").split("\n")[1], "250-SIZE 1234", "SIZE after the failed reload")
        eq(c.transaction("Subject: still\r\n\r\nhi", helo=None), "250 OK", "message")
    eq(d.wait_workers(1), [w], "the worker (not replaced)")


def test_huge_config_refused_before_parsing(ctx):
    """A line over 64 KiB (a 4 MB comment line: seconds in libconfig's
    scanner), a file over 16 MiB and an @include holding such a line are
    refused before libconfig reads them, at -t and at the start, with
    the file and line named."""
    pd = 'plugin_dir = "%s";\n' % ctx.plugin_dir
    body = "listeners = (\n  %s\n);\n" % ctx.listener()[0]
    huge_line = "# " + "x" * (4 * 1024 * 1024) + "\n"
    for test_mode in (True, False):
        refused(ctx, pd + huge_line + body, 2, r'error="line longer than 65536 bytes',
                name="long-line.conf", test_mode=test_mode)
        # The longest line allowed is read (and so refused for what it says).
        refused(ctx, pd + "#" + "y" * 65535 + "\nworkerz = 1;\n" + body, 3,
                r"workerz.*unknown setting", name="longest-line.conf", test_mode=test_mode)
        big = ctx.write("big.conf", pd + body)
        os.truncate(big, 16 * 1024 * 1024 + 1)  # sparse: nothing to write
        refused(ctx, open(big).read(), 0, r'error="16777217 bytes, larger than 16777216',
                name="big.conf", test_mode=test_mode)
        inc = ctx.write("included.conf", huge_line)
        conf = ctx.write("includes-long.conf", pd + '  @include "%s"\n' % inc + body)
        rc, so, se = ctx.run([SMTPGATE, "-n"] + (["-t"] if test_mode else []) + ["-f", conf])
        eq(rc, EX_CONFIG, "exit status with a long line included (stderr: %s)" % se)
        check(re.search(r'file=%s line=1 error="line longer than 65536 bytes'
                        % re.escape(inc), se), "the included file is not named: %r" % se)
