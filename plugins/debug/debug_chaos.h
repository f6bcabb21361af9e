/* debug_chaos.h - the debug plugin's fault injection (chaos_* settings). */
#ifndef SMTPGATE_DEBUG_CHAOS_H
#define SMTPGATE_DEBUG_CHAOS_H

#include <smtpgate/plugin.h>

/* The stages a fault can be injected at. */
enum debug_chaos_stage {
	DEBUG_CHAOS_CONNECT,
	DEBUG_CHAOS_MAIL,
	DEBUG_CHAOS_RCPT,
	DEBUG_CHAOS_DATA, /* the end of data: the final dot's answer */
	DEBUG_CHAOS_STAGES
};

/* One stage's rule: a reply code with its probability, or a delay. */
struct debug_chaos_rule {
	int code;           /* 400..599; 0: no reply injected */
	double probability; /* 0..1, of code */
	long delay_ms;      /* slept before the stage's answer; 0: none */
};

struct debug_chaos {
	const struct smtpgate_host *host;
	struct debug_chaos_rule rule[DEBUG_CHAOS_STAGES];
	unsigned short xsubi[3]; /* erand48's state: chaos_seed, or time and pid */
};

/* The settings' rows for the debug plugin's declared table. */
#define DEBUG_CHAOS_SETTINGS                                                         \
	{ "chaos_connect", SMTPGATE_SETTING_STRING, 0, 0, "(none)",                    \
	  "at connect: \"CODE PROBABILITY\" (\"421 0.1\") or \"delay SECONDS\"" },      \
	{ "chaos_mail", SMTPGATE_SETTING_STRING, 0, 0, "(none)",                       \
	  "at MAIL: \"CODE PROBABILITY\" or \"delay SECONDS\"" },                        \
	{ "chaos_rcpt", SMTPGATE_SETTING_STRING, 0, 0, "(none)",                       \
	  "at RCPT: \"CODE PROBABILITY\" or \"delay SECONDS\"" },                        \
	{ "chaos_data", SMTPGATE_SETTING_STRING, 0, 0, "(none)",                       \
	  "at the final dot: \"CODE PROBABILITY\" or \"delay SECONDS\"" },               \
	{ "chaos_seed", SMTPGATE_SETTING_INT, 0, 2147483647, "(time and pid)",        \
	  "seed of the draws, for a run that repeats" }

/* One rule's text: "CODE PROBABILITY" (CODE 400..599, PROBABILITY 0..1)
   or "delay SECONDS" (0..600, decimals allowed).  0, or -1 with *why. */
int debug_chaos_parse(const char *text, struct debug_chaos_rule *out, const char **why);
/* Read the chaos_* settings of the group.  0, or -1 after cfg_error. */
int debug_chaos_read(struct debug_chaos *c, const struct smtpgate_host *host,
		     const struct smtpgate_cfg *cfg);
/* The stage's rule: sleep its delay, then draw; a hit sets the reply and
   returns its verdict (TEMPFAIL for 4xx, REJECT for 5xx, DISCONNECT for
   421), logged; otherwise CONTINUE. */
enum smtpgate_verdict debug_chaos_at(struct debug_chaos *c, enum debug_chaos_stage stage,
				     const struct smtpgate_session *s,
				     struct smtpgate_reply *reply);

#endif
