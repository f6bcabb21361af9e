/* proxy_accept.h - the PROXY protocol step between a worker's accept()
   and the session: trust, the header, the original client. */
#ifndef SMTPGATE_PROXY_ACCEPT_H
#define SMTPGATE_PROXY_ACCEPT_H

#include <signal.h>

#include "config.h"
#include "proxy_proto.h"
#include "session.h"

/*
 * Read one header from the connected socket fd, taking the versions in
 * allow, within timeout_ms: exactly its bytes are consumed, whatever
 * follows stays in the socket.  Waits are ppoll() calls with wait_mask
 * (NULL: the current mask); one interrupted while *stop_flag is set ends
 * the read.  PROXY_PROTO_DONE with *out filled, another enum
 * proxy_proto_status (a malformed header), or a negative enum
 * conn_status: CONN_EOF, CONN_TIMEOUT, CONN_ERROR, CONN_STOPPED.
 */
int proxy_accept_read(int fd, unsigned int allow, int timeout_ms, const sigset_t *wait_mask,
		      volatile sig_atomic_t *stop_flag, struct proxy_header *out);

/*
 * The PROXY step of a connection accepted on listener l (peer filled from
 * accept() and getsockname()): nothing when l's proxy_protocol is off.
 * Otherwise the peer must be in proxy_trusted and send a good header;
 * then *peer is the original client's (via_*: the balancer's) and 0 is
 * returned.  -1: the connection is to be closed without a word (logged
 * with the reason, the session id sid and the peer).
 */
int proxy_accept_header(const struct listener_config *l, int fd, const sigset_t *wait_mask,
			volatile sig_atomic_t *stop_flag, const char *sid,
			struct session_peer *peer);

#endif
