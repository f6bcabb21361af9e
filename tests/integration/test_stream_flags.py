"""The loader's check of a 1.1 descriptor's stream_flags: bits this
smtpgate does not know, or flags with no body hook to apply them to, keep
the plugin from loading, with its name and the value in the error, at -t,
at the start and at a reload (which keeps the running configuration).  The
stream test plugin takes its flags from its environment for this."""
import os
import signal

from harness import EX_CONFIG, SMTPGATE, Client, check, eq

UNKNOWN = 'plugin \\"stream\\": stream_flags 0x6 has bits this smtpgate does not know (0x6;'
NO_BODY = 'plugin \\"stream\\": stream_flags 0x1 set without a body hook (on_body)'
CASES = [({"SMTPGATE_TEST_STREAM_FLAGS": "0x6"}, UNKNOWN),
         ({"SMTPGATE_TEST_STREAM_NO_BODY": "1"}, NO_BODY)]


def stream_listener(ctx, port=None):
    extra = 'stream = { output = "%s"; };' % ctx.path("stream.rec")
    text, port, _ = ctx.listener(port=port, handler="stream", extra=extra)
    return text, port


def test_bad_stream_flags_refused_at_check_and_start(ctx):
    conf = ctx.config([stream_listener(ctx)[0]])
    rc, so, se = ctx.run([SMTPGATE, "-n", "-t", "-f", conf])
    eq((rc, se), (0, ""), "the stream plugin as built")
    for env, want in CASES:
        for argv in ([SMTPGATE, "-n", "-t", "-f", conf], [SMTPGATE, "-n", "-f", conf]):
            rc, so, se = ctx.run(argv, env=dict(os.environ, **env))
            eq(rc, EX_CONFIG, "exit status of %s with %s" % (argv[-3:], env))
            check(want in se, "%s: %r not in %r" % (env, want, se))


def test_bad_stream_flags_refused_at_reload(ctx):
    """Debug first; the reload to the stream plugin is refused and debug
    keeps serving."""
    text, port, out = ctx.listener(workers=1)
    conf = ctx.config([text])
    env = dict(os.environ, SMTPGATE_TEST_STREAM_FLAGS="0x6")
    d = ctx.daemon(conf, env=env)
    ctx.config([stream_listener(ctx, port=port)[0]])
    d.signal(signal.SIGHUP)
    d.wait_log(r"stream_flags 0x6 has bits this smtpgate does not know")
    d.wait_log(r"event=reload-failed")
    with Client(port) as c:
        eq(c.transaction("Subject: after\r\n\r\nstill debug"), "250 OK", "message")
    check("still debug" in open(out).read(), "message not in the running config's output")
