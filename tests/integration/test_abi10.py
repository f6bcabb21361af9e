"""A plugin built against the released ABI 1.0 header (the fixture
tests/plugins/abi10, its descriptor ending where an inaccessible page
begins) loads under this core, runs every hook it has, delivers, and its
group is not checked (1.0 declares no settings); a core that read past
the shorter descriptor would crash the check and the workers."""
import re

from harness import SMTPGATE, Client, check, eq, read_file


def abi10_listener(ctx, out, extra=""):
    return ('{ address = "127.0.0.1:%d"; workers = 1; handler = "abi10"; '
            'abi10 = { output = "%s";%s }; }' % (ctx.port, out, extra))


def test_abi10_plugin_loads_and_delivers(ctx):
    from harness import free_port
    ctx.port = free_port()
    out = ctx.path("abi10.txt")
    # `unknown` is not refused: a 1.0 plugin declares no settings table.
    conf = ctx.config([abi10_listener(ctx, out, ' unknown = 1;')])
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-v", "-f", conf])
    eq(rc, 0, "-t -v exit status (stderr %s)" % se)
    check(re.search(r"handler abi10 plugin \S+abi10\.so version 1\.0-fixture", so),
          "no listener line for the 1.0 plugin in:\n" + so)
    check("abi10: the plugin declares no settings" in so, "-t -v:\n" + so)
    d = ctx.daemon(conf)
    with Client(ctx.port) as c:
        eq(c.cmd("XOLD hello"), "250 old hello", "the 1.0 plugin's command")
        eq(c.cmd("EHLO client.example.org")[:3], "250", "EHLO")
        eq(c.cmd("MAIL FROM:<a@example.org>")[:3], "250", "MAIL")
        eq(c.cmd("RCPT TO:<nobody@example.org>"), "550 5.1.1 no such user", "on_rcpt refusal")
        eq(c.cmd("RCPT TO:<b@example.org>")[:3], "250", "RCPT")
        eq(c.cmd("RSET")[:3], "250", "RSET")
        r = c.transaction("Subject: old\r\n\r\nfrom a 1.0 plugin", helo=None)
        eq(r, "250 2.0.0 Ok: kept by a 1.0 plugin", "final dot")
        eq(c.cmd("QUIT")[:3], "221", "QUIT")
    d.wait_log(r"abi10 hook=on_disconnect")
    eq(read_file(out), b"From a@example.org to 1 recipient(s)\nSubject: old\n\nfrom a 1.0 "
       b"plugin\n.\n", "delivered")
    log = d.log()
    hooks = re.findall(r'msg="abi10 hook=(\w+)', log)
    eq(hooks, ["on_connect", "on_rcpt", "on_rcpt", "on_reset", "on_rcpt", "on_message",
               "on_disconnect"], "the hooks run, in order")
    check(re.search(r'plugin=abi10 msg="abi10 init host_abi=1\.1"', log),
          "the host's ABI as the plugin saw it")
    check(re.search(r"event=message plugin=abi10 .* result=accepted code=250 enhanced=2\.0\.0",
                    log), "no message line")
    check("signal" not in log and "crash" not in log, "a worker crashed:\n" + log)
    # plugin= is the descriptor's name everywhere; the file only at start.
    eq(set(re.findall(r" plugin=(\S+)", log)), {"abi10"}, "plugin= values")
    eq([x for x in log.splitlines() if "abi10.so" in x and "plugin_file=" not in x], [],
       "lines naming the plugin's file besides the start-up line")
    check(re.search(r"event=ready .*handler=abi10 plugin_file=\S+/abi10\.so ", log),
          "the start-up line names the file")
