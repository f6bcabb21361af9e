/* master_unix.h - the master's UNIX-domain listening sockets: made,
   guarded against a second daemon, removed when the master lets go. */
#ifndef SMTPGATE_MASTER_UNIX_H
#define SMTPGATE_MASTER_UNIX_H

#include "config.h"
#include "master_listen.h"

/* Bind l->unix_path into b (socket_mode and owner set before it listens).
   A socket file nobody answers on is replaced; one that answers is
   another daemon's.  0, or a sysexits status after logging: EX_UNAVAILABLE
   for a live socket, EX_CONFIG (or EX_CANTCREAT) otherwise. */
int master_unix_bind(const struct config *cfg, const struct listener_config *l,
		     struct master_bound *b);

/* Give the socket file socket_user, socket_group and socket_mode (again,
   when a reload keeps the socket).  0, or -1 with errno. */
int master_unix_set_owner(const struct listener_config *l);

/* Clients waiting on b's socket: 1 when one is, else 0 (a UNIX socket
   has no TCP_INFO to count them). */
unsigned int master_unix_queued(const struct master_bound *b);

/* The master lets go of b: its socket file is removed (when it is still
   a socket), then the socket closed. */
void master_unix_release(struct master_bound *b);

#endif
