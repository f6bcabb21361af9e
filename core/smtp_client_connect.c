/*
 * smtp_client_connect.c - the SMTP client's connection: a blocking TCP
 * socket to "host:port", the first of its addresses that answers within
 * the connect timeout.
 *
 * Only connect() is bounded by a non-blocking wait: the socket handed
 * back blocks, as struct conn_fd expects.  It never leaves a descriptor
 * open on failure, and says why in words fit for a log line.
 */
#include "smtp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"


/* A connected (blocking) socket to the first address that answers. */
int smtp_client_connect(const char *hostport, int timeout_ms, char *why, size_t why_size)
{
	struct hostport hp;
	const char *err;
	if (addr_split(hostport, &hp, &err) < 0) {
		snprintf(why, why_size, "bad upstream address \"%s\": %s", hostport, err);
		return -1;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *res;
	int rc = getaddrinfo(hp.host[0] ? hp.host : NULL, hp.port, &hints, &res);
	if (rc != 0) {
		snprintf(why, why_size, "cannot resolve \"%s\": %s", hp.host, gai_strerror(rc));
		return -1;
	}
	int fd = -1, saved = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* Commands are small and each waits for its answer: no Nagle delay. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int n;
			while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
				;
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			saved = n == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		} else {
			saved = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	/* Non-blocking only to bound connect(): struct conn_fd waits for
	   replies in a blocking recv() (one syscall per wait, not two). */
	int fl;
	if (fd >= 0 && ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		snprintf(why, why_size, "cannot connect: %s", strerror(saved));
	return fd;
}
