/* scoreboard.h - what each worker is doing, in memory the master shares
   with its workers: the master sizes each pool and detects overload from
   it, workers count the sessions of a client IP in it. */
#ifndef SMTPGATE_SCOREBOARD_H
#define SMTPGATE_SCOREBOARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "scoreboard_auth.h"

/* Room for every worker of every listener, old generations included
   (their workers finish their sessions after a reload). */
#define SCOREBOARD_SLOTS 4096
#define SCOREBOARD_LISTENER_MAX_BYTES 64
#define SCOREBOARD_CLIENT_MAX_BYTES 64

enum worker_state {
	WORKER_FREE = 0, /* no worker in this slot */
	WORKER_STARTING, /* forked, loading its plugin */
	WORKER_IDLE,     /* waiting for a client */
	WORKER_BUSY      /* in a session */
};

const char *worker_state_name(enum worker_state state);

/* One worker.  The master writes listener, generation and stress; the
   worker writes state, idle_since_ms and client.  Nothing here is trusted
   by the master beyond counting, and telling a worker that died still
   starting (a start-up failure, which delays the next spawn) from one
   that had been ready: a worker's pid and fate are kept in the master's
   own memory. */
struct scoreboard_slot {
	_Atomic int state;                  /* enum worker_state */
	_Atomic int stress;                 /* 1: use the listener's stress timeouts */
	_Atomic long long idle_since_ms;    /* CLOCK_MONOTONIC, when it became idle */
	unsigned int generation;
	char listener[SCOREBOARD_LISTENER_MAX_BYTES]; /* the listener's name */
	char client[SCOREBOARD_CLIENT_MAX_BYTES];     /* the peer's IP while busy */
};

struct scoreboard {
	_Atomic size_t used; /* slots at and above this were never claimed */
	struct scoreboard_slot slots[SCOREBOARD_SLOTS];
	struct scoreboard_auth auth; /* AUTH failures per client (scoreboard_auth.c) */
};

/* A shared anonymous mapping, inherited by every fork; NULL on failure. */
struct scoreboard *scoreboard_create(void);
void scoreboard_destroy(struct scoreboard *sb);

/* Master: prepare slot i for a worker about to be forked. */
void scoreboard_slot_claim(struct scoreboard *sb, size_t i, const char *listener,
			   unsigned int generation, int stress);
void scoreboard_slot_release(struct scoreboard *sb, size_t i);

/* Worker: report its state. */
void scoreboard_set_idle(struct scoreboard_slot *slot, long long now_ms);
void scoreboard_set_busy(struct scoreboard_slot *slot, const char *client);

/* Sessions now open from client on listener, in any generation, the
   caller's own included (it must be busy already).  Every worker stores
   its state before it counts, so two clients arriving together are both
   counted by at least one of them: the limit can refuse one too many at
   that instant, never admit one too many. */
size_t scoreboard_client_sessions(const struct scoreboard *sb, const char *listener,
				  const char *client);

/* Workers of a listener's generation: all of them, and those idle or
   still starting. */
void scoreboard_pool(const struct scoreboard *sb, const char *listener, unsigned int generation,
		     size_t *total_out, size_t *idle_out);

#endif
