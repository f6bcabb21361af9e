/*
 * proxy_accept.c - the PROXY protocol step of a connection accepted on a
 * listener with proxy_protocol, before any SMTP: the connecting address
 * must be in proxy_trusted, its header must come whole within
 * proxy_timeout, and then the session's peer is the original client with
 * the balancer as via.
 *
 * Entry points: proxy_accept_header() for the worker, proxy_accept_read()
 * (the socket side alone).  The header is read by peeking and then
 * consuming only bytes the parser (proxy_proto.c) says are the header's,
 * so what the client sent after it - in the same segment or not - stays
 * in the socket for the session (or a TLS handshake).  It never writes to
 * the connection (a refused one is closed unanswered), never consumes a
 * byte past the header, and never parses SMTP.
 */
#include "proxy_accept.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "clock.h"
#include "conn.h"
#include "counters.h"
#include "log.h"

static const char *read_status_name(int rc);
static void use_header(const struct proxy_header *h, struct session_peer *peer);

int proxy_accept_read(int fd, unsigned int allow, int timeout_ms, const sigset_t *wait_mask,
		      volatile sig_atomic_t *stop_flag, struct proxy_header *out)
{
	unsigned char buf[PROXY_MAX_BYTES];
	size_t have = 0; /* consumed: all of it the header's */
	long long deadline = clock_ms() + timeout_ms;
	for (;;) {
		int w;
		while ((w = conn_poll_until(fd, POLLIN, deadline, wait_mask, stop_flag)) ==
		       CONN_INTERRUPTED)
			;
		if (w < 0)
			return w;
		ssize_t n = recv(fd, buf + have, sizeof(buf) - have, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			return CONN_EOF;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			return CONN_ERROR;
		}
		int rc = proxy_proto_parse(buf, have + (size_t)n, allow, out);
		/* Need more: every byte peeked is the header's (and there is
		   room for more: the parser says so below PROXY_MAX_BYTES). */
		size_t take = rc == PROXY_PROTO_DONE ? out->len - have
			    : rc == PROXY_PROTO_NEED_MORE ? (size_t)n : 0;
		if (take > 0 && recv(fd, buf + have, take, MSG_DONTWAIT) != (ssize_t)take)
			return CONN_ERROR; /* the bytes just peeked are gone: no one else reads */
		have += take;
		if (rc != PROXY_PROTO_NEED_MORE)
			return rc;
	}
}

/* A read's failure for the log: the connection's or the header's. */
static const char *read_status_name(int rc)
{
	switch (rc) {
	case CONN_EOF: return "eof";
	case CONN_TIMEOUT: return "timeout";
	case CONN_ERROR: return "io-error";
	case CONN_STOPPED: return "stopped";
	default: return proxy_proto_status_name(rc);
	}
}

/* The session's peer from a good header: the client it names (LOCAL and
   UNKNOWN name none: the balancer stays the peer), the balancer as via. */
static void use_header(const struct proxy_header *h, struct session_peer *peer)
{
	snprintf(peer->via_addr, sizeof(peer->via_addr), "%s", peer->addr);
	peer->via_port = peer->port;
	peer->proxy = proxy_proto_kind_name(h);
	if (h->kind != PROXY_KIND_PROXY)
		return;
	snprintf(peer->addr, sizeof(peer->addr), "%s", h->src_addr);
	peer->port = h->src_port;
	snprintf(peer->local_addr, sizeof(peer->local_addr), "%s", h->dst_addr);
	peer->local_port = h->dst_port;
}

int proxy_accept_header(const struct listener_config *l, int fd, const sigset_t *wait_mask,
			volatile sig_atomic_t *stop_flag, const char *sid,
			struct session_peer *peer)
{
	const struct config_nets *trusted = &l->proxy_trusted;
	struct proxy_header h;
	if (l->proxy_protocol == PROXY_PROTO_OFF)
		return 0;
	if (!addr_net_list_contains(trusted->nets, trusted->count, peer->addr)) {
		log_info("sid=%s listener=%s event=proxy-refused reason=untrusted client=%s port=%u",
			 sid, l->name, peer->addr, peer->port);
		counters_proxy_error("untrusted");
		return -1;
	}
	int rc = proxy_accept_read(fd, (unsigned int)l->proxy_protocol,
				   l->proxy_timeout_sec * 1000, wait_mask, stop_flag, &h);
	if (rc != PROXY_PROTO_DONE) {
		log_info("sid=%s listener=%s event=proxy-refused reason=%s client=%s port=%u", sid,
			 l->name, read_status_name(rc), peer->addr, peer->port);
		counters_proxy_error(read_status_name(rc));
		return -1;
	}
	use_header(&h, peer);
	return 0;
}
