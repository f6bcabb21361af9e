/*
 * crash.c - a plugin that crashes on purpose, for the tests of worker
 * isolation and of the master's back-off.  While the file named by
 * `crash = { init_trigger = "PATH"; }` exists, init crashes (the test makes
 * it after the start-up check passed, so every new worker dies at start),
 * or, with `init_trigger_exits = true`, calls exit(0) as a careless plugin
 * might.
 * A message that starts with "CRASH" kills the worker in on_message; one
 * that starts with "HANG" keeps on_message busy for `hang_sec` seconds
 * (default 60; signals do not cut it short), a handler that hangs; other
 * messages are accepted.  `init_sleep_ms` makes init take that long (in
 * the start-up check and in every worker), a plugin slow to start.
 * `abort_after_ms` makes every worker abort that long after its init, with
 * or without a client: a plugin that fails on its own (a timer, a thread).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <smtpgate/plugin.h>

static long long hang_sec = 60;

static void crash_sleep(long long sec, long long ms);

/* Sleep sec seconds plus ms milliseconds; signals do not cut it short. */
static void crash_sleep(long long sec, long long ms)
{
	struct timespec now, end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += sec + ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	do {
		struct timespec step = { 0, 50 * 1000000L };
		nanosleep(&step, NULL);  /* EINTR: just go round again */
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec < end.tv_sec ||
		 (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
}

static int crash_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		      void **priv_out)
{
	const char *trigger = NULL;
	if (host->cfg_string(cfg, "init_trigger", &trigger) < 0)
		return -1;
	int exits = 0;
	if (host->cfg_bool(cfg, "init_trigger_exits", &exits) < 0)
		return -1;
	if (trigger && access(trigger, F_OK) == 0) {
		if (exits)
			exit(0);
		raise(SIGSEGV);
	}
	if (host->cfg_int(cfg, "hang_sec", &hang_sec) < 0)
		return -1;
	long long init_sleep_ms = 0;
	if (host->cfg_int(cfg, "init_sleep_ms", &init_sleep_ms) < 0)
		return -1;
	if (init_sleep_ms > 0)
		crash_sleep(0, init_sleep_ms);
	long long abort_after_ms = 0;
	if (host->cfg_int(cfg, "abort_after_ms", &abort_after_ms) < 0)
		return -1;
	if (abort_after_ms > 0) {
		/* SIGABRT: a sanitizer build leaves it alone, so the worker dies
		   of the signal itself. */
		struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGABRT };
		struct itimerspec when = { .it_value = { abort_after_ms / 1000,
							 (abort_after_ms % 1000) * 1000000L } };
		timer_t t;
		if (timer_create(CLOCK_MONOTONIC, &ev, &t) < 0 || timer_settime(t, 0, &when, NULL) < 0)
			return -1;
	}
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
	if (m->len >= 4 && memcmp(m->data, "HANG", 4) == 0)
		crash_sleep(hang_sec, 0);
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
