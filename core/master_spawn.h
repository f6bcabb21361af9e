/* master_spawn.h - forking workers, reaping them, and the back-off after
   start-up failures. */
#ifndef SMTPGATE_MASTER_SPAWN_H
#define SMTPGATE_MASTER_SPAWN_H

#include <stddef.h>

struct master;
struct pool;

/* Fork one worker for the listener (index into the current config). */
void master_spawn(struct master *m, size_t listener);

/* Collect every child that ended: workers (logged, back-off kept) and a
   reload's check (its status stored in m->reload).  stopping: the master
   is shutting down, no worker's end counts as a failure. */
void master_spawn_reap(struct master *m, int stopping);

/* A worker started at started_ms got ready: if after the last start-up
   failure, start-up works again and the next failure starts at 1 s. */
void master_spawn_proved(struct pool *p, long long started_ms);

/* Send sig to every worker of a generation; and count the living. */
void master_spawn_signal_generation(struct master *m, unsigned int generation, int sig);
size_t master_spawn_live(const struct master *m);

#endif
