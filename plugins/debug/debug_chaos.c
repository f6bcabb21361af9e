/*
 * debug_chaos.c - fault injection for the debug plugin used as a test
 * double: per stage (connect, MAIL, RCPT, the final dot) a reply code
 * given with a probability, or a delay before the answer, so that an
 * application's retry and timeout handling can be tried against a real
 * SMTP server.  Draws come from erand48 seeded by chaos_seed (a run that
 * repeats) or by the time and the pid.
 *
 * It only answers through the verdict and host->reply(): it never writes
 * to the client or records a message, and it never injects a 2xx (a
 * message the plugin did not take must not look accepted).
 */
#include "debug_chaos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEBUG_CHAOS_DELAY_MAX_SEC 600

static const char *const stage_setting[DEBUG_CHAOS_STAGES] = {
	"chaos_connect", "chaos_mail", "chaos_rcpt", "chaos_data"
};

static const char *stage_name(enum debug_chaos_stage stage);
static void sleep_ms(long ms);

/* The stage in the log line. */
static const char *stage_name(enum debug_chaos_stage stage)
{
	static const char *const names[DEBUG_CHAOS_STAGES] = { "connect", "mail", "rcpt", "data" };
	return (unsigned int)stage < DEBUG_CHAOS_STAGES ? names[stage] : "?";
}

int debug_chaos_parse(const char *text, struct debug_chaos_rule *out, const char **why)
{
	char *end;
	memset(out, 0, sizeof(*out));
	if (strncmp(text, "delay ", 6) == 0) {
		errno = 0;
		double sec = strtod(text + 6, &end);
		if (end == text + 6 || *end || errno || !(sec >= 0 && sec <= DEBUG_CHAOS_DELAY_MAX_SEC)) {
			*why = "expected \"delay SECONDS\" with 0..600 seconds";
			return -1;
		}
		out->delay_ms = (long)(sec * 1000 + 0.5);
		return 0;
	}
	long code = strtol(text, &end, 10);
	if (end == text || *end != ' ' || code < 400 || code > 599) {
		*why = "expected \"CODE PROBABILITY\" with a code 400..599, or \"delay SECONDS\"";
		return -1;
	}
	const char *p = end + 1;
	errno = 0;
	double prob = strtod(p, &end);
	if (end == p || *end || errno || !(prob >= 0 && prob <= 1)) {
		*why = "the probability must be a number from 0 to 1";
		return -1;
	}
	out->code = (int)code;
	out->probability = prob;
	return 0;
}

int debug_chaos_read(struct debug_chaos *c, const struct smtpgate_host *host,
		     const struct smtpgate_cfg *cfg)
{
	long long seed = -1;
	memset(c, 0, sizeof(*c));
	c->host = host;
	for (int i = 0; i < DEBUG_CHAOS_STAGES; i++) {
		const char *text = NULL, *why;
		if (host->cfg_string(cfg, stage_setting[i], &text) < 0)
			return -1;
		if (text && debug_chaos_parse(text, &c->rule[i], &why) < 0) {
			host->cfg_error(cfg, stage_setting[i], "\"%s\": %s", text, why);
			return -1;
		}
	}
	if (host->cfg_int(cfg, "chaos_seed", &seed) < 0)
		return -1;
	if (seed < 0)
		seed = (long long)time(NULL) ^ ((long long)getpid() << 16);
	c->xsubi[0] = 0x330e;
	c->xsubi[1] = (unsigned short)seed;
	c->xsubi[2] = (unsigned short)(seed >> 16);
	return 0;
}

/* Sleep the whole delay, signals or not. */
static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

enum smtpgate_verdict debug_chaos_at(struct debug_chaos *c, enum debug_chaos_stage stage,
				     const struct smtpgate_session *s,
				     struct smtpgate_reply *reply)
{
	const struct debug_chaos_rule *r = &c->rule[stage];
	if (r->delay_ms > 0) {
		c->host->log(SMTPGATE_LOG_INFO, s, "chaos stage=%s delay_ms=%ld", stage_name(stage),
			     r->delay_ms);
		sleep_ms(r->delay_ms);
	}
	/* A probability of 1 always hits, 0 never: erand48 is in [0, 1). */
	if (!r->code || !(erand48(c->xsubi) < r->probability))
		return SMTPGATE_CONTINUE;
	c->host->log(SMTPGATE_LOG_INFO, s, "chaos stage=%s code=%d", stage_name(stage), r->code);
	c->host->reply(reply, r->code, r->code / 100 == 4 ? "4.3.0" : "5.3.0",
		       "Error: injected by the debug plugin (%s)", stage_setting[stage]);
	if (r->code == 421)
		return SMTPGATE_DISCONNECT;
	return r->code / 100 == 4 ? SMTPGATE_TEMPFAIL : SMTPGATE_REJECT;
}
