/* master_listen.h - the master's listening sockets, bound once and kept
   across reloads for every address a new config still names. */
#ifndef SMTPGATE_MASTER_LISTEN_H
#define SMTPGATE_MASTER_LISTEN_H

#include <stddef.h>

#include "config.h"

#define MASTER_MAX_FDS_PER_LISTENER 8

/* The sockets of one listener's address spec. */
struct master_bound {
	char address[256]; /* the spec, the key to reuse sockets on reload */
	int fds[MASTER_MAX_FDS_PER_LISTENER];
	size_t nfds;
	char unix_path[108]; /* a UNIX socket's file, removed by the master; "" */
};

/* Sockets for every listener of cfg in *out (cfg->listener_count of
   them), moving those of old (nold entries, may be NULL) whose address
   cfg still names.  0; or a sysexits status after logging (EX_CONFIG;
   EX_UNAVAILABLE: another daemon has a UNIX socket), with old as it was. */
int master_listen_bind_all(const struct config *cfg, struct master_bound *old, size_t nold,
			   struct master_bound **out);

/* Close one listener's sockets (a child closes the ones not its own). */
void master_listen_close(struct master_bound *b);
/* The master lets go of a listener's sockets: closed, and a UNIX socket's
   file removed. */
void master_listen_release(struct master_bound *b);

/* Clients waiting in the listener's accept queues. */
unsigned int master_listen_queued(const struct master_bound *b);

#endif
