/*
 * conn.c - struct conn over a socket (conn_fd) and over memory (conn_mem).
 *
 * Every socket read and write has a deadline; waits are ppoll() calls with
 * the worker's wait mask, so SIGTERM can end an idle wait for a command but
 * never tears a write or a DATA read in half.  A connection whose waits no
 * signal may interrupt (no wait mask: the SMTP client's upstream) reads
 * with one blocking recv() bounded by SO_RCVTIMEO instead.  After
 * start_tls every byte goes through OpenSSL (tls.c), whose steps say what
 * they wait for; the waiting stays here, with the same deadlines, stress
 * cut and stop flag as in plaintext.  Never parses SMTP.
 */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "tls.h"

static int fd_wait(struct conn_fd *c, short events, long long start_ms, int timeout_ms,
		   int interruptible);
static int set_rcvtimeo(struct conn_fd *c, long long left_ms);
static ssize_t fd_read_blocking(struct conn_fd *c, void *buf, size_t len, long long deadline_ms);
static ssize_t fd_read(struct conn *base, void *buf, size_t len, long long start_ms, int timeout_ms,
		       int interruptible);
static int fd_write(struct conn *base, const void *buf, size_t len, int timeout_ms);
static ssize_t mem_read(struct conn *base, void *buf, size_t len, long long start_ms,
			int timeout_ms, int interruptible);
static int fd_pending(struct conn *base);
static int fd_sleep(struct conn *base, long long ms);
static int mem_sleep(struct conn *base, long long ms);
static int mem_write(struct conn *base, const void *buf, size_t len, int timeout_ms);
static int mem_pending(struct conn *base);
static int tls_wait(struct conn_fd *c, int step, long long start_ms, int timeout_ms,
		    int interruptible);
static ssize_t fd_tls_read(struct conn_fd *c, void *buf, size_t len, long long start_ms,
			   int timeout_ms, int interruptible);
static int fd_tls_write(struct conn_fd *c, const void *buf, size_t len, int timeout_ms);
static int fd_handshake(struct conn_fd *c, int wait_first, int timeout_ms, char *why,
			size_t why_size);
static int fd_start_tls(struct conn *base, struct tls_server *srv, int timeout_ms, char *why,
			size_t why_size);
static struct ssl_st *fd_tls(struct conn *base);
static int mem_start_tls(struct conn *base, struct tls_server *srv, int timeout_ms, char *why,
			 size_t why_size);
static struct ssl_st *mem_tls(struct conn *base);

static const struct conn_ops fd_ops = { fd_read,  fd_write,     fd_pending,
					 fd_sleep, fd_start_tls, fd_tls };
static const struct conn_ops mem_ops = { mem_read,  mem_write,     mem_pending,
					  mem_sleep, mem_start_tls, mem_tls };


void conn_fd_init(struct conn_fd *c, int fd, const sigset_t *wait_mask,
		  volatile sig_atomic_t *stop_flag)
{
	c->base.ops = &fd_ops;
	c->fd = fd;
	c->wait_mask = wait_mask;
	c->stop_flag = stop_flag;
	c->stress = NULL;
	c->stress_timeout_ms = 0;
	c->rcvtimeo_ms = 0;
	c->ssl = NULL;
}

void conn_fd_set_stress(struct conn_fd *c, const _Atomic int *stress, int stress_timeout_ms)
{
	c->stress = stress;
	c->stress_timeout_ms = stress_timeout_ms;
}

/* Wait until the socket is ready for `events`, at most timeout_ms from
   start_ms (less under stress, looked at again after every signal); 0,
   or an enum conn_status. */
static int fd_wait(struct conn_fd *c, short events, long long start_ms, int timeout_ms,
		   int interruptible)
{
	for (;;) {
		long long timeout = timeout_ms;
		if (c->stress && atomic_load(c->stress) && c->stress_timeout_ms < timeout)
			timeout = c->stress_timeout_ms;
		int w = conn_poll_until(c->fd, events, start_ms + timeout, c->wait_mask,
					interruptible ? c->stop_flag : NULL);
		/* A signal (the master's SIGUSR1: stress) may have shortened the
		   deadline: look again. */
		if (w != CONN_INTERRUPTED)
			return w;
	}
}

int conn_poll_until(int fd, short events, long long deadline_ms, const sigset_t *wait_mask,
		    volatile sig_atomic_t *stop_flag)
{
	long long left = deadline_ms - clock_ms();
	if (left <= 0)
		return CONN_TIMEOUT;
	struct pollfd pfd = { .fd = fd, .events = events };
	struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000L };
	int n = ppoll(&pfd, 1, &ts, wait_mask);
	if (n > 0)
		return 0;
	if (n == 0)
		return CONN_TIMEOUT;
	if (errno != EINTR)
		return CONN_ERROR;
	if (stop_flag && *stop_flag)
		return CONN_STOPPED;
	return CONN_INTERRUPTED;
}

/* Bound the next blocking recv() by at most left_ms.  The option is only
   set when the one in force would wait too long: a shorter one just ends
   the recv() early and the caller waits again, so in the steady state
   (the same timeout read after read) no syscall is spent on it. */
static int set_rcvtimeo(struct conn_fd *c, long long left_ms)
{
	if (c->rcvtimeo_ms > 0 && c->rcvtimeo_ms <= left_ms)
		return 0;
	struct timeval tv = { .tv_sec = (time_t)(left_ms / 1000),
			      .tv_usec = (suseconds_t)(left_ms % 1000) * 1000 };
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	c->rcvtimeo_ms = left_ms;
	return 0;
}

/* A read no signal may interrupt: one recv() that sleeps in the kernel
   instead of ppoll() + recv(), half the syscalls of a wait for an
   upstream's reply.  (The kernel rounds the timeout up, so it never ends a
   wait before the deadline.) */
static ssize_t fd_read_blocking(struct conn_fd *c, void *buf, size_t len, long long deadline_ms)
{
	for (;;) {
		long long left = deadline_ms - clock_ms();
		if (left <= 0)
			return CONN_TIMEOUT;
		if (set_rcvtimeo(c, left) < 0)
			return CONN_ERROR;
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n > 0)
			return n;
		if (n == 0)
			return CONN_EOF;
		/* EAGAIN: SO_RCVTIMEO ran out (the deadline decides); EINTR: a
		   stop/continue of the process. */
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return CONN_ERROR;
	}
}

static ssize_t fd_read(struct conn *base, void *buf, size_t len, long long start, int timeout_ms,
		       int interruptible)
{
	struct conn_fd *c = (struct conn_fd *)base;
	if (c->ssl)
		return fd_tls_read(c, buf, len, start, timeout_ms, interruptible);
	if (!c->wait_mask)
		return fd_read_blocking(c, buf, len, start + timeout_ms);
	for (;;) {
		int w = fd_wait(c, POLLIN, start, timeout_ms, interruptible);
		if (w < 0)
			return w;
		ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n == 0)
			return CONN_EOF;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return CONN_ERROR;
	}
}

static int fd_write(struct conn *base, const void *buf, size_t len, int timeout_ms)
{
	struct conn_fd *c = (struct conn_fd *)base;
	const char *p = buf;
	long long start = clock_ms();
	if (c->ssl)
		return fd_tls_write(c, buf, len, timeout_ms);
	while (len > 0) {
		/* MSG_NOSIGNAL: a client that hangs up early costs an EPIPE, not
		   the worker (Postfix sends QUIT and closes without waiting). */
		ssize_t n = send(c->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return CONN_ERROR;
		int w = fd_wait(c, POLLOUT, start, timeout_ms, 0);
		if (w < 0)
			return w;
	}
	return 0;
}

static int fd_pending(struct conn *base)
{
	struct conn_fd *c = (struct conn_fd *)base;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	if (c->ssl && tls_conn_pending(c->ssl))
		return 1;
	return poll(&pfd, 1, 0) > 0;
}

/* Wait for what a TLS step asked for (an enum tls_step < 0 that is a
   want): 0, or an enum conn_status (a failed step: CONN_EOF when the
   peer closed, CONN_ERROR otherwise). */
static int tls_wait(struct conn_fd *c, int step, long long start_ms, int timeout_ms,
		    int interruptible)
{
	if (step == TLS_WANT_READ)
		return fd_wait(c, POLLIN, start_ms, timeout_ms, interruptible);
	if (step == TLS_WANT_WRITE)
		return fd_wait(c, POLLOUT, start_ms, timeout_ms, interruptible);
	return step == TLS_CLOSED ? CONN_EOF : CONN_ERROR;
}

/* fd_read over TLS: OpenSSL's buffered bytes first; with none, a wait
   before the read, as in plaintext (after a reply the next command has
   seldom arrived yet: a read() first would mostly say EAGAIN). */
static ssize_t fd_tls_read(struct conn_fd *c, void *buf, size_t len, long long start_ms,
			   int timeout_ms, int interruptible)
{
	int step = tls_conn_pending(c->ssl) ? 0 : TLS_WANT_READ;
	for (;;) {
		int w = step ? tls_wait(c, step, start_ms, timeout_ms, interruptible) : 0;
		if (w < 0)
			return w;
		ssize_t n = tls_conn_read(c->ssl, buf, len);
		if (n > 0)
			return n;
		step = (int)n;
	}
}

/* fd_write over TLS: all len bytes, one deadline. */
static int fd_tls_write(struct conn_fd *c, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	long long start = clock_ms();
	while (len > 0) {
		ssize_t n = tls_conn_write(c->ssl, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		int w = tls_wait(c, (int)n, start, timeout_ms, 0);
		if (w < 0)
			return w == CONN_EOF ? CONN_ERROR : w;
	}
	return 0;
}

/* The handshake on c->ssl, step by step within timeout_ms; a stop ends
   it (a stopping worker does not wait for a slow client's handshake).
   wait_first: the peer speaks first (a server waits for the ClientHello
   instead of trying a read that would say EAGAIN). */
static int fd_handshake(struct conn_fd *c, int wait_first, int timeout_ms, char *why,
			size_t why_size)
{
	long long start = clock_ms();
	int step = wait_first ? TLS_WANT_READ : tls_conn_handshake(c->ssl);
	for (;; step = tls_conn_handshake(c->ssl)) {
		if (step == 0)
			return 0;
		int w = tls_wait(c, step, start, timeout_ms, 1);
		if (w == 0)
			continue;
		if (w == CONN_TIMEOUT)
			snprintf(why, why_size, "handshake timeout");
		else if (w == CONN_STOPPED)
			snprintf(why, why_size, "server shutting down");
		else
			tls_client_why(c->ssl, why, why_size);
		return w;
	}
}

/* The server's handshake (STARTTLS, implicit TLS). */
static int fd_start_tls(struct conn *base, struct tls_server *srv, int timeout_ms, char *why,
			size_t why_size)
{
	struct conn_fd *c = (struct conn_fd *)base;
	if (c->ssl || !(c->ssl = tls_conn_new(srv, c->fd))) {
		snprintf(why, why_size, "%s", c->ssl ? "TLS already active" : "cannot set up TLS");
		return CONN_ERROR;
	}
	return fd_handshake(c, 1, timeout_ms, why, why_size);
}

int conn_fd_start_tls_client(struct conn_fd *c, struct ssl_st *ssl, int timeout_ms, char *why,
			     size_t why_size)
{
	if (c->ssl) {
		tls_conn_free(ssl);
		snprintf(why, why_size, "TLS already active");
		return CONN_ERROR;
	}
	c->ssl = ssl;
	return fd_handshake(c, 0, timeout_ms, why, why_size);
}

static struct ssl_st *fd_tls(struct conn *base)
{
	return ((struct conn_fd *)base)->ssl;
}

void conn_fd_end_tls(struct conn_fd *c)
{
	tls_conn_free(c->ssl);
	c->ssl = NULL;
}

/* A pause (error_sleep, greet_pause) that a stop or stress ends:
   ppoll() with no descriptor lets the wait mask's signals in, as every
   other wait does, and the master's SIGUSR1 at stress-on is one of them.
   Under stress a pause holds a worker the queued clients need: it ends at
   once, begun or not. */
static int fd_sleep(struct conn *base, long long ms)
{
	struct conn_fd *c = (struct conn_fd *)base;
	long long end = clock_ms() + ms;
	for (;;) {
		if (c->stress && atomic_load(c->stress))
			return CONN_TIMEOUT;
		long long left = end - clock_ms();
		if (left <= 0)
			return 0;
		struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000L };
		if (ppoll(NULL, 0, &ts, c->wait_mask) < 0 && errno == EINTR && c->stop_flag &&
		    *c->stop_flag)
			return CONN_STOPPED;
	}
}

void conn_mem_init(struct conn_mem *c, const char *input, size_t len, size_t chunk)
{
	memset(c, 0, sizeof(*c));
	c->base.ops = &mem_ops;
	c->input = input;
	c->input_len = len;
	c->chunk = chunk;
}

void conn_mem_free(struct conn_mem *c)
{
	msgbuf_free(&c->output);
}

static ssize_t mem_read(struct conn *base, void *buf, size_t len, long long start_ms,
			int timeout_ms, int interruptible)
{
	struct conn_mem *c = (struct conn_mem *)base;
	(void)start_ms;
	(void)timeout_ms;
	(void)interruptible;
	size_t left = c->input_len - c->input_pos;
	if (left == 0)
		return c->eof_is_timeout ? CONN_TIMEOUT : CONN_EOF;
	if (len > left)
		len = left;
	if (c->chunk && len > c->chunk)
		len = c->chunk;
	memcpy(buf, c->input + c->input_pos, len);
	c->input_pos += len;
	return (ssize_t)len;
}

static int mem_write(struct conn *base, const void *buf, size_t len, int timeout_ms)
{
	struct conn_mem *c = (struct conn_mem *)base;
	(void)timeout_ms;
	msgbuf_append(&c->output, buf, len);
	return 0;
}

static int mem_sleep(struct conn *base, long long ms)
{
	(void)base;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

/* Memory has no TLS: a session that asks for it ends. */
static int mem_start_tls(struct conn *base, struct tls_server *srv, int timeout_ms, char *why,
			 size_t why_size)
{
	(void)base;
	(void)srv;
	(void)timeout_ms;
	snprintf(why, why_size, "no TLS on this connection");
	return CONN_ERROR;
}

static struct ssl_st *mem_tls(struct conn *base)
{
	(void)base;
	return NULL;
}

static int mem_pending(struct conn *base)
{
	struct conn_mem *c = (struct conn_mem *)base;
	return c->input_pos < c->input_len;
}
