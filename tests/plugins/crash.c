/*
 * crash.c - a plugin that crashes on purpose, for the tests of worker
 * isolation and of the master's back-off.  While the file named by
 * `crash = { init_trigger = "PATH"; }` exists, init crashes (the test makes
 * it after the start-up check passed, so every new worker dies at start).
 * A message that starts with "CRASH" kills the worker in on_message; one
 * that starts with "HANG" keeps on_message busy for `hang_sec` seconds
 * (default 60; signals do not cut it short), a handler that hangs; other
 * messages are accepted.
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <smtpgate/plugin.h>

static long long hang_sec = 60;

static int crash_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		      void **priv_out)
{
	const char *trigger = NULL;
	if (host->cfg_string(cfg, "init_trigger", &trigger) < 0)
		return -1;
	if (trigger && access(trigger, F_OK) == 0)
		raise(SIGSEGV);
	if (host->cfg_int(cfg, "hang_sec", &hang_sec) < 0)
		return -1;
	*priv_out = NULL;
	return 0;
}

static enum smtpgate_verdict crash_message(void *priv, const struct smtpgate_session *s,
					   const struct smtpgate_message *m,
					   struct smtpgate_reply *r)
{
	(void)priv; (void)s; (void)r;
	if (m->len >= 5 && memcmp(m->data, "CRASH", 5) == 0)
		raise(SIGSEGV);
	if (m->len >= 4 && memcmp(m->data, "HANG", 4) == 0) {
		struct timespec now, end;
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += hang_sec;
		do {
			struct timespec step = { 0, 50 * 1000000L };
			nanosleep(&step, NULL);  /* EINTR: just go round again */
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while (now.tv_sec < end.tv_sec ||
			 (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
	}
	return SMTPGATE_CONTINUE;
}

static const struct smtpgate_plugin plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "crash",
	.version = "test",
	.init = crash_init,
	.on_message = crash_message,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &plugin;
}
