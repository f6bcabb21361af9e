"""A plugin's declared settings (ABI 1.1): a misspelled name in its group
is refused at -t, at the start and at a reload (exit 78, file:line, the
closest declared name as a hint), types and ranges are the core's to
check, `-t -v` lists every bundled plugin's settings with the values in
effect, and a plugin that declares none is not checked (as in ABI 1.0)."""
import os
import re
import signal

from harness import EX_CONFIG, SMTPGATE, Client, check, eq


def line_of(path, needle):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if needle in line:
                return n
    raise AssertionError("%s not in %s" % (needle, path))


def one_error(se):
    errs = [x for x in se.splitlines() if " error: " in x]
    eq(len(errs), 1, "error lines: %r" % se)
    return errs[0]


def debug_with(ctx, group_text, port=None):
    text, port, out = ctx.listener(port=port, workers=1)
    text = re.sub(r'debug = \{ output = "[^"]*"; \};', "debug = {\n  %s\n};" % group_text, text)
    return text, port


def test_misspelled_setting_refused_with_hint(ctx):
    out = ctx.path("debug.txt")
    text, _ = debug_with(ctx, 'outptu = "%s";' % out)
    conf = ctx.config([text])
    want = "file=%s line=%d setting=debug.outptu " % (conf, line_of(conf, "outptu"))
    for argv in ([SMTPGATE, "-n", "-t", "-f", conf], [SMTPGATE, "-n", "-f", conf]):
        rc, so, se = ctx.run(argv)
        eq(rc, EX_CONFIG, "exit status of %s" % argv)
        err = one_error(se)
        check(want in err, "%r does not name %r" % (err, want))
        check('did you mean \\"output\\"?' in err, "no hint in %r" % err)
    check(not os.path.exists(out), "the plugin's init ran with a refused group")


def test_reload_with_misspelled_setting_keeps_running(ctx):
    out = ctx.path("debug.txt")
    text, port = debug_with(ctx, 'output = "%s";' % out)
    conf = ctx.config([text])
    d = ctx.daemon(conf)
    text2, _ = debug_with(ctx, 'output = "%s";\n  ouput_mode = "x";' % out, port=port)
    ctx.config([text2])
    d.signal(signal.SIGHUP)
    d.wait_log(r"setting=debug\.ouput_mode error=.*unknown setting")
    d.wait_log(r"event=reload-failed")
    with Client(port) as c:
        eq(c.transaction("Subject: after\r\n\r\nstill served"), "250 OK", "message")
    check("still served" in open(out).read(), "message not in the running config's output")


def test_types_and_ranges_checked_by_the_core(ctx):
    mdir = ctx.path("mail")
    cases = [
        ('handler = "maildir"; maildir = {\n path = "%s";\n received = "yes"; };' % mdir,
         "received", r'setting=maildir\.received error="expected true or false"'),
        ('handler = "proxy"; remote = "127.0.0.1:1"; proxy = {\n timeout = 0; };',
         "timeout", r'setting=proxy\.timeout error="0 is out of range: expected 1\.\.3600"'),
        ('handler = "mailman"; mailman = {\n domains = "lists.example.org"; };',
         "domains", r'setting=mailman\.domains error="expected a list of strings'),
        ('handler = "mailman"; mailman = {\n domains = [ "l.example.org" ];\n'
         ' mixed_recipient = "split"; };',
         "mixed_recipient", r'did you mean \\"mixed_recipients\\"\?'),
    ]
    for i, (body, name, pattern) in enumerate(cases):
        conf = ctx.write("t%d.conf" % i, 'plugin_dir = "%s";\nlisteners = ( {\n'
                         ' address = "127.0.0.1:1"; workers = 1;\n %s\n} );\n'
                         % (ctx.plugin_dir, body))
        rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", conf])
        eq(rc, EX_CONFIG, "exit status for %s (stderr %s)" % (name, se))
        err = one_error(se)
        check("file=%s line=%d " % (conf, line_of(conf, name)) in err, "file:line in %r" % err)
        check(re.search(pattern, err), "%r does not match %r" % (err, pattern))


def test_t_v_lists_settings_with_effective_values(ctx):
    mdir = ctx.path("mail")
    out = ctx.path("debug.txt")
    listeners = [
        '{ address = "127.0.0.1:1"; workers = 1; handler = "debug";'
        ' debug = { output = "%s"; }; }' % out,
        '{ address = "127.0.0.1:2"; workers = 1; handler = "proxy"; remote = "127.0.0.1:3";'
        ' proxy = { relay_networks = [ "10.0.0.0/8", "::1" ]; timeout = 60; }; }',
        '{ address = "127.0.0.1:4"; workers = 1; handler = "maildir";'
        ' maildir = { path = "%s"; line_ending = "crlf"; received = false; }; }' % mdir,
        '{ address = "127.0.0.1:5"; workers = 1; handler = "mailman"; remote = "127.0.0.1:3";'
        ' mailman = { domains = [ "lists.example.org" ]; mixed_recipients = "accept"; }; }',
    ]
    conf = ctx.config(listeners)
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-v", "-f", conf])
    eq(rc, 0, "-t -v exit status (stderr %s)" % se)
    for line in [
        '  debug.output = "%s"  # ' % out,
        '  proxy.relay_networks = [ "10.0.0.0/8", "::1" ]  # ',
        '  proxy.timeout = 60  # ',
        '  proxy.connect_timeout = 30  (default)  # ',
        '  maildir.path = "%s"  # ' % mdir,
        '  maildir.line_ending = "crlf"  # ',
        '  maildir.received = false  # ',
        '  maildir.return_path = true  (default)  # ',
        '  mailman.domains = [ "lists.example.org" ]  # ',
        '  mailman.mixed_recipients = "accept"  # ',
        '  mailman.lmtp = "127.0.0.1:8024"  (default)  # ',
        '  mailman.allow_untrusted_routing = false  (default)  # ',
    ]:
        check(any(x.startswith(line) for x in so.splitlines()),
              "no line starting %r in:\n%s" % (line, so))
    rc, so2, se = ctx.run([SMTPGATE, "-n", "-t", "-f", conf])
    eq(rc, 0, "-t exit status")
    check("maildir.path" not in so2, "-t without -v lists plugin settings")
    rc, _, se = ctx.run([SMTPGATE, "-n", "-v", "-f", conf])
    eq(rc, 64, "-v without -t (stderr %s)" % se)


def test_plugin_without_a_table_is_not_checked(ctx):
    conf = ctx.write("hooks.conf", 'plugin_dir = "%s";\nlisteners = ( { address = '
                     '"127.0.0.1:1"; workers = 1; handler = "hooks";\n'
                     ' hooks = { anything = 1; goes = "here"; }; } );\n' % ctx.plugin_dir)
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-v", "-f", conf])
    eq(rc, 0, "-t -v exit status (stderr %s)" % se)
    check("  hooks: the plugin declares no settings (its group is not checked)" in so,
          "no such line in:\n" + so)
