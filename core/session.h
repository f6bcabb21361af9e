/* session.h - one client session: smtpd.SMTPChannel as a blocking loop. */
#ifndef SMTPGATE_SESSION_H
#define SMTPGATE_SESSION_H

#include <signal.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "tls.h"
#include "smtpgate/plugin.h"

struct scoreboard;

/* What a worker gives every session it runs. */
struct session_env {
	const struct listener_config *listener;
	const struct smtpgate_plugin *plugin;
	void *priv;
	const char *fqdn;
	volatile sig_atomic_t *stop_flag; /* set: finish the transaction, then 421 */
	struct tls_server *tls;  /* the listener's TLS context; NULL: tls.mode "off" */
	struct auth_backend *auth; /* auth.backend dovecot/file; NULL: none or plugin */
	struct scoreboard *sb;   /* the shared scoreboard (AUTH failures per client) */
};

/* The client as the session sees it.  Behind a balancer speaking the
   PROXY protocol, addr and port are the original client's and local_*
   the address it connected to, both from the header; via_* is then the
   balancer's connection, and proxy says how the header relayed it (v1,
   v2, or local/unknown: no client, addr is the balancer's). */
struct session_peer {
	char addr[64];
	unsigned int port;
	char local_addr[112];    /* an address, or a UNIX socket's path */
	unsigned int local_port;
	const char *proxy;       /* NULL: a direct connection */
	char via_addr[64];
	unsigned int via_port;
	long uid, pid;           /* on a UNIX socket (addr "unix"): the client
				    process's credentials (SO_PEERCRED); -1 on TCP */
};

/* How a session ended, for the worker's log and counters. */
enum session_end {
	SESSION_END_QUIT,
	SESSION_END_EOF,
	SESSION_END_TIMEOUT,
	SESSION_END_IO_ERROR,
	SESSION_END_STOPPED,
	SESSION_END_PLUGIN, /* a hook asked to disconnect */
	SESSION_END_LIMIT,  /* errors, session time, idle commands, pregreet */
	SESSION_END_TLS     /* the TLS handshake failed */
};

const char *session_end_name(enum session_end end);

/* Greet, serve commands until the client leaves (or times out), close
   nothing: the caller owns the connection. */
enum session_end session_run(const struct session_env *env, struct conn *conn,
			     const struct session_peer *peer, const char *sid);

#endif
