/*
 * master_listen.c - the master's listening sockets: bind every address a
 * listener spec names, carry sockets over a reload when the new config
 * names the same address (its queued clients stay), and report how many
 * clients wait in a listener's accept queue (the pool's stress signal).
 *
 * UNIX-domain sockets are master_unix.c's.  It never accepts a connection
 * (workers do) and never closes a socket another listener of the new
 * config took over.
 */
#include "master_listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "config_error.h"
#include "log.h"
#include "master_unix.h"

#define MASTER_LISTEN_BACKLOG 1024

static int bind_listener(const struct config *cfg, const struct listener_config *l,
			 struct master_bound *b);
static int open_socket(const struct addrinfo *ai, int several);
static int take_old(struct master_bound *old, size_t nold, const char *address,
		    struct master_bound *out);
static void give_back(struct master_bound *old, size_t nold, struct master_bound *nb, size_t n);

/* Log a listener's address error as a config error, naming its line. */
static void listen_error(const struct config *cfg, const struct listener_config *l,
			 const char *why)
{
	char msg[CONFIG_ERROR_MAX_BYTES];
	config_error_format(msg, sizeof(msg), cfg->source, l->line, "address",
			    "\"%s\": %s", l->address, why);
	log_err("%s", msg);
}

/* One socket bound and listening on ai, or -1 with errno set. */
static int open_socket(const struct addrinfo *ai, int several)
{
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Replies are small and each is awaited: no Nagle delay.  Set once
	   here, every accepted connection inherits it. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ai->ai_family == AF_INET6 && several)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, MASTER_LISTEN_BACKLOG) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Bind every address the spec names.  A spec naming several addresses
   (a host name, or ":port") binds each, IPv6 ones v6-only so the IPv4
   ones can be bound too; a single [::] stays dual-stack.  0 or a
   sysexits status. */
static int bind_listener(const struct config *cfg, const struct listener_config *l,
			 struct master_bound *b)
{
	struct hostport hp;
	struct addrinfo *res, *ai;
	const char *why;
	memset(b, 0, sizeof(*b));
	snprintf(b->address, sizeof(b->address), "%s", l->address);
	if (l->unix_path)
		return master_unix_bind(cfg, l, b);
	if (addr_split(l->address, &hp, &why) < 0 || addr_resolve_listen(&hp, &res, &why) < 0) {
		listen_error(cfg, l, why);
		return EX_CONFIG;
	}
	int several = res->ai_next != NULL;
	for (ai = res; ai && b->nfds < MASTER_MAX_FDS_PER_LISTENER; ai = ai->ai_next) {
		int fd = open_socket(ai, several);
		if (fd < 0) {
			char host[64], why_buf[200];
			unsigned int port;
			int saved = errno;
			addr_to_text(ai->ai_addr, host, sizeof(host), &port);
			snprintf(why_buf, sizeof(why_buf), "cannot listen on %s port %u: %s", host, port,
				 strerror(saved));
			listen_error(cfg, l, why_buf);
			freeaddrinfo(res);
			master_listen_close(b);
			return EX_CONFIG;
		}
		b->fds[b->nfds++] = fd;
	}
	freeaddrinfo(res);
	return 0;
}

void master_listen_close(struct master_bound *b)
{
	for (size_t i = 0; i < b->nfds; i++)
		close(b->fds[i]);
	b->nfds = 0;
}

void master_listen_release(struct master_bound *b)
{
	if (b->unix_path[0])
		master_unix_release(b);
	else
		master_listen_close(b);
}

/* Move old's sockets for address into out; 1 if there were any. */
static int take_old(struct master_bound *old, size_t nold, const char *address,
		    struct master_bound *out)
{
	for (size_t j = 0; old && j < nold; j++)
		if (old[j].nfds && strcmp(old[j].address, address) == 0) {
			*out = old[j];
			old[j].nfds = 0; /* moved */
			return 1;
		}
	return 0;
}

/* Undo a failed bind_all: reused sockets go back to old, new ones close. */
static void give_back(struct master_bound *old, size_t nold, struct master_bound *nb, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		for (size_t j = 0; old && j < nold; j++)
			if (old[j].nfds == 0 && strcmp(old[j].address, nb[k].address) == 0) {
				old[j] = nb[k];
				nb[k].nfds = 0;
			}
		master_listen_release(&nb[k]);
	}
}

int master_listen_bind_all(const struct config *cfg, struct master_bound *old, size_t nold,
			   struct master_bound **out)
{
	struct master_bound *nb = calloc(cfg->listener_count, sizeof(*nb));
	if (!nb)
		abort();
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct listener_config *l = &cfg->listeners[i];
		int rc = take_old(old, nold, l->address, &nb[i]) ? 0 : bind_listener(cfg, l, &nb[i]);
		/* A kept UNIX socket takes the new config's owner and mode. */
		if (rc == 0 && l->unix_path && master_unix_set_owner(l) < 0)
			log_warn("listener=%s event=socket-mode path=%s error=%s", l->name,
				 log_quoted(l->unix_path), log_quoted(strerror(errno)));
		if (rc != 0) {
			give_back(old, nold, nb, i);
			free(nb);
			return rc;
		}
	}
	*out = nb;
	return 0;
}

/* Clients in a listener's accept queue: Linux reports the queue length of
   a listening socket in tcpi_unacked. */
unsigned int master_listen_queued(const struct master_bound *b)
{
	unsigned int n = 0;
	if (b->unix_path[0])
		return master_unix_queued(b);
	for (size_t i = 0; i < b->nfds; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		if (getsockopt(b->fds[i], IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			n += ti.tcpi_unacked;
	}
	return n;
}
