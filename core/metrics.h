/* metrics.h - the master's side of the optional metrics listener: the
   counters' memory, the socket, and the unprivileged child that serves
   HTTP on it (metrics_http.c), respawned if it dies. */
#ifndef SMTPGATE_METRICS_H
#define SMTPGATE_METRICS_H

#include <sys/types.h>

struct config;
struct master;

/* With the `metrics` setting: the counters and the bound socket, before
   any worker is forked.  0 (also without the setting), or -1 after
   logging why (the start then fails: EX_CONFIG). */
int metrics_setup(const struct config *cfg);

/* The master's loop: fork the HTTP child when there is none (at most one
   fork a second). */
void metrics_tick(struct master *m);

/* 1 when pid was the HTTP child (it is respawned at a later tick). */
int metrics_reaped(pid_t pid, int status);

/* At the stop: end the HTTP child and wait for it. */
void metrics_stop(void);

/* In a forked worker: the metrics socket is none of its business. */
void metrics_close_in_child(void);

#endif
