/*
 * scoreboard_auth.c - the AUTH failure table: per listener and client
 * address, the failures within auth.client_failure_window, shared by
 * every worker (the mapping is the scoreboard's, made before the first
 * fork).  Unlike the worker slots, several workers write one entry, so
 * it is under one process-shared robust mutex, held for a table walk and
 * never across I/O.  A window is fixed: it starts at the first failure
 * (or attempt) and its count is forgotten when it is over.  When the
 * table is full, the entry whose window is oldest is reused.  It never
 * stores a user name or anything else a client typed but its address.
 */
#include "scoreboard_auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void lock(struct scoreboard_auth *t);
static struct scoreboard_auth_entry *find(struct scoreboard_auth *t, const char *listener,
					  const char *client, long long window_ms,
					  long long now_ms, int create);

int scoreboard_auth_init(struct scoreboard_auth *t)
{
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0)
		return -1;
	int rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
		 pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) ||
		 pthread_mutex_init(&t->lock, &a);
	pthread_mutexattr_destroy(&a);
	return rc ? -1 : 0;
}

/* Take the lock; a holder that died left the counts whole (each update
   is a store or two), so the table is marked consistent and used on. */
static void lock(struct scoreboard_auth *t)
{
	if (pthread_mutex_lock(&t->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&t->lock);
}

/* The entry of (listener, client), its window restarted when over;
   create: a new one if none (reusing the oldest), else NULL. */
static struct scoreboard_auth_entry *find(struct scoreboard_auth *t, const char *listener,
					  const char *client, long long window_ms,
					  long long now_ms, int create)
{
	struct scoreboard_auth_entry *e = NULL, *oldest = &t->entries[0];
	for (size_t i = 0; i < SCOREBOARD_AUTH_ENTRIES && !e; i++) {
		struct scoreboard_auth_entry *c = &t->entries[i];
		if (c->window_start_ms && strcmp(c->client, client) == 0 &&
		    strcmp(c->listener, listener) == 0)
			e = c;
		else if (c->window_start_ms < oldest->window_start_ms)
			oldest = c;
	}
	if (!e && !create)
		return NULL;
	if (!e) {
		e = oldest;
		snprintf(e->listener, sizeof(e->listener), "%s", listener);
		snprintf(e->client, sizeof(e->client), "%s", client);
		e->window_start_ms = 0;
	}
	if (e->window_start_ms == 0 || now_ms - e->window_start_ms >= window_ms) {
		e->window_start_ms = now_ms > 0 ? now_ms : 1;
		e->failures = 0;
		e->pending = 0; /* an attempt older than the window is forgotten */
	}
	return e;
}

int scoreboard_auth_begin(struct scoreboard_auth *t, const char *listener, const char *client,
			  int limit, long long window_ms, long long now_ms, int *failures_out)
{
	lock(t);
	struct scoreboard_auth_entry *e = find(t, listener, client, window_ms, now_ms, 1);
	int ok = e->failures + e->pending < limit;
	e->pending += ok;
	*failures_out = e->failures;
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void scoreboard_auth_end(struct scoreboard_auth *t, const char *listener, const char *client,
			 int failed, long long window_ms, long long now_ms)
{
	lock(t);
	struct scoreboard_auth_entry *e = find(t, listener, client, window_ms, now_ms, failed);
	if (e) {
		if (e->pending > 0)
			e->pending--;
		e->failures += failed != 0;
	}
	pthread_mutex_unlock(&t->lock);
}
