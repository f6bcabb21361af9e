/* counters.h - the metrics' counters, in shared memory next to the
   scoreboard: one block per worker slot (the worker is its only writer),
   one per listener for what the master counts and for the counts of
   workers that have exited, read and summed by the metrics child. */
#ifndef SMTPGATE_COUNTERS_H
#define SMTPGATE_COUNTERS_H

#include <stddef.h>

#include "scoreboard.h"

#define COUNTERS_LISTENERS_MAX 256 /* names ever seen, reloads included */
#define COUNTERS_END_MAX 16        /* room for enum session_end values */
#define COUNTERS_HOOK_BUCKETS 12   /* finite buckets; +Inf is the count */

/* The command verbs counted by name; any other is "other". */
enum counters_verb {
	CV_HELO, CV_EHLO, CV_LHLO, CV_MAIL, CV_RCPT, CV_DATA, CV_BDAT, CV_RSET, CV_NOOP,
	CV_QUIT, CV_VRFY, CV_EXPN, CV_HELP, CV_STARTTLS, CV_AUTH, CV_OTHER, CV_COUNT
};

/* A message's outcome: the words of the message log line's result=. */
enum counters_result { CR_ACCEPTED, CR_REFUSED, CR_TEMPFAILED, CR_SIZE_LIMITED, CR_COUNT };

/* The limits whose hits are counted, named as the settings. */
enum counters_limit {
	CL_MAX_IDLE_COMMANDS, CL_HARD_ERROR_LIMIT, CL_SOFT_ERROR_LIMIT, CL_MAX_SESSION_TIME,
	CL_MAX_SESSIONS_PER_CLIENT, CL_MAX_RECIPIENTS, CL_PREGREET, CL_DATA_SIZE_LIMIT, CL_COUNT
};

/* TLS handshakes: those that worked by protocol, and the failures. */
enum counters_tls { CT_TLSV1, CT_TLSV1_1, CT_TLSV1_2, CT_TLSV1_3, CT_OTHER, CT_FAILED, CT_COUNT };

/* Why a PROXY protocol header was refused. */
enum counters_proxy { CP_UNTRUSTED, CP_TIMEOUT, CP_EOF, CP_MALFORMED, CP_OTHER, CP_COUNT };

/* The plugin hooks timed (in the order of enum session_hook). */
enum counters_hook {
	CH_CONNECT, CH_HELO, CH_MAIL, CH_RCPT, CH_DATA, CH_MESSAGE, CH_COMMAND, CH_COUNT
};

/* One set of counts.  Every member is an unsigned long long, so a set is
   summed and folded as an array of them. */
struct counter_set {
	unsigned long long sessions_started;
	unsigned long long sessions_ended[COUNTERS_END_MAX];
	unsigned long long commands[CV_COUNT][4]; /* reply classes 2, 3, 4, 5 */
	unsigned long long messages[CR_COUNT];
	unsigned long long message_bytes[CR_COUNT];
	unsigned long long recipients[CR_COUNT];
	unsigned long long limits[CL_COUNT];
	unsigned long long tls[CT_COUNT];
	unsigned long long proxy_errors[CP_COUNT];
	unsigned long long hook_buckets[CH_COUNT][COUNTERS_HOOK_BUCKETS]; /* not cumulative */
	unsigned long long hook_count[CH_COUNT];
	unsigned long long hook_sum_us[CH_COUNT];
};

/* Upper bounds of the hook duration buckets, in microseconds. */
extern const unsigned long long counters_hook_bounds_us[COUNTERS_HOOK_BUCKETS];

const char *counters_verb_name(enum counters_verb v);
const char *counters_result_name(enum counters_result r);
const char *counters_limit_name(enum counters_limit l);
const char *counters_tls_name(enum counters_tls t);
const char *counters_proxy_name(enum counters_proxy p);
const char *counters_hook_name(enum counters_hook h);

/* One listener as a scrape sees it. */
struct counters_view {
	char name[SCOREBOARD_LISTENER_MAX_BYTES];
	struct counter_set c;          /* live workers' counts plus exited ones' */
	unsigned long long forks, retirements, backoffs;
	int stress;
	double stress_seconds;         /* all told, the current spell included */
	unsigned int workers[4];       /* by enum worker_state (FREE unused) */
};

/* Master, before anything is forked: the shared mapping (every process
   forked afterwards sees it).  0, or -1 when it cannot be mapped.  Until
   it is made every bump below does nothing: no metrics, no cost. */
int counters_create(void);
void counters_destroy(void);
int counters_enabled(void);

/* Master: slot i is about to get a worker of listener (its counts are
   zero: the last worker's were folded in at its reap). */
void counters_slot_claim(size_t i, const char *listener);
/* Master: the worker of slot i was reaped: add its counts to its
   listener's total of exited workers, and zero the slot. */
void counters_slot_fold(size_t i);
/* Master: pool events and the stress flag of a listener. */
enum counters_pool { CPOOL_FORK, CPOOL_RETIRE, CPOOL_BACKOFF };
void counters_pool_event(const char *listener, enum counters_pool ev);
void counters_stress(const char *listener, int on);

/* Worker (in the forked child): count into slot i from now on. */
void counters_use_slot(size_t i);
void counters_session_start(void);
void counters_session_end(int end);               /* an enum session_end */
void counters_command_begin(const char *line, size_t len);
void counters_command_reply(int code_first_digit);  /* '2' ... '5' */
void counters_message(enum counters_result r, unsigned long long bytes, size_t rcpts);
/* A message's outcome from its reply's code (and whether it was over
   data_size_limit). */
enum counters_result counters_result_of(int code, int size_limited);
void counters_limit(enum counters_limit l);
void counters_tls(const char *protocol);          /* NULL: the handshake failed */
void counters_proxy_error(const char *reason);    /* proxy_accept.c's reason= */
long long counters_hook_begin(void);              /* microseconds, for _end */
void counters_hook_end(int hook, long long began_us); /* an enum session_hook */

/* Metrics child: every listener's counts now, with its workers by state
   from sb and "now" for the stress seconds; how many views were filled
   (at most max).  Never waits for the master. */
size_t counters_snapshot(const struct scoreboard *sb, struct counters_view *out, size_t max);

/* Metrics child: is a worker of the listener ready (idle), and is the
   listener under stress?  -1 when no listener has that name. */
int counters_listener_ready(const struct scoreboard *sb, const char *listener, int *stress_out);

#endif
