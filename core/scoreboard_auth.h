/* scoreboard_auth.h - AUTH failures per client address, counted across
   all workers in the shared scoreboard (auth.client_failure_limit). */
#ifndef SMTPGATE_SCOREBOARD_AUTH_H
#define SMTPGATE_SCOREBOARD_AUTH_H

#include <pthread.h>

#define SCOREBOARD_AUTH_ENTRIES 1024
#define SCOREBOARD_AUTH_KEY_MAX_BYTES 64

/* One client address on one listener: failures since window_start_ms,
   and attempts being checked now (counted against the limit too, so
   that clients racing in parallel cannot get more tries than it). */
struct scoreboard_auth_entry {
	char listener[SCOREBOARD_AUTH_KEY_MAX_BYTES];
	char client[SCOREBOARD_AUTH_KEY_MAX_BYTES];
	long long window_start_ms; /* CLOCK_MONOTONIC; 0: a free entry */
	int failures;
	int pending;
};

struct scoreboard_auth {
	pthread_mutex_t lock; /* process-shared and robust: a worker may die holding it */
	struct scoreboard_auth_entry entries[SCOREBOARD_AUTH_ENTRIES];
};

/* Master, once, in the fresh shared mapping: 0 or -1. */
int scoreboard_auth_init(struct scoreboard_auth *t);

/* Before an attempt: 1 and the attempt counted as pending, or 0 when the
   client has limit failures (pending attempts included) in the window
   of window_ms; *failures_out the count then. */
int scoreboard_auth_begin(struct scoreboard_auth *t, const char *listener, const char *client,
			  int limit, long long window_ms, long long now_ms, int *failures_out);
/* After it: no longer pending; a failure is counted in the window. */
void scoreboard_auth_end(struct scoreboard_auth *t, const char *listener, const char *client,
			 int failed, long long window_ms, long long now_ms);

#endif
