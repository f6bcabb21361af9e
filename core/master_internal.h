/* master_internal.h - the master's state, shared by master.c and the
   master_*.c modules that each do one of its jobs.  Not for anyone else:
   workers see only the scoreboard. */
#ifndef SMTPGATE_MASTER_INTERNAL_H
#define SMTPGATE_MASTER_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "master.h"
#include "master_listen.h"
#include "scoreboard.h"

struct tls_server;

/* A listener's pool: its back-off and stress state. */
struct pool {
	int start_failures;     /* consecutive workers that died before ready */
	long long failed_ms;    /* when the last of them was reaped */
	long long next_spawn_ms;
	long long next_retire_ms;
	int stress;             /* all max_workers busy and clients waiting */
};

/* The master's own record of a worker; slot i is scoreboard slot i. */
struct worker_slot {
	pid_t pid;              /* 0: free */
	unsigned int generation;
	size_t listener;
	long long started_ms;
	int retiring;           /* sent SIGHUP to shrink the pool */
	char name[SCOREBOARD_LISTENER_MAX_BYTES]; /* config.c checks that names fit */
};

/* A reload's check, running in a child while the master goes on. */
struct master_reload {
	pid_t pid;              /* 0: no reload under way */
	int done;               /* reaped: status holds its end */
	int status;
};

struct master {
	const struct master_options *opts;
	struct config *cfg;
	struct master_bound *bound; /* one per cfg->listeners entry */
	struct pool *pools;
	struct worker_slot *slots; /* SCOREBOARD_SLOTS of them */
	size_t nslots;             /* slots at and above this were never used */
	struct scoreboard *sb;
	int wake_pipe[2];          /* workers write, the master's loop reads */
	unsigned int generation;
	uid_t uid;
	gid_t gid;
	struct master_reload reload;
	struct tls_server **tls;   /* per cfg->listeners entry: its contexts, or NULL */
};

#endif
