/*
 * conn.h - the byte stream under a session: a socket, or memory in tests.
 *
 * The channel reads and writes only through this interface, so TLS slides
 * in under it mid-session (STARTTLS, start_tls) and the channel can be
 * driven without a socket in unit tests and fuzzing.
 */
#ifndef SMTPGATE_CONN_H
#define SMTPGATE_CONN_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "clock.h"
#include "msgbuf.h"

/* Negative results of conn_read()/conn_write(). */
enum conn_status {
	CONN_EOF = -1,      /* the peer closed its side */
	CONN_TIMEOUT = -2,  /* no progress before the deadline */
	CONN_ERROR = -3,    /* reset, EPIPE, ...; errno is kept */
	CONN_STOPPED = -4,  /* an interruptible wait saw the stop flag */
	CONN_INTERRUPTED = -5 /* conn_poll_until() only: a signal, nothing else */
};

struct conn;
struct tls_server;
struct ssl_st;

struct conn_ops {
	/* Up to len bytes; > 0 bytes read, or an enum conn_status.  The wait
	   ends timeout_ms after start_ms (clock.h's clock), which may lie in
	   the past: a line read in many pieces has one deadline. */
	ssize_t (*read)(struct conn *c, void *buf, size_t len, long long start_ms, int timeout_ms,
			int interruptible);
	/* All len bytes; 0, or an enum conn_status. */
	int (*write)(struct conn *c, const void *buf, size_t len, int timeout_ms);
	/* 1 if input (or EOF) is waiting now, 0 if not; never waits or reads. */
	int (*pending)(struct conn *c);
	/* Sleep ms without reading or writing; 0, or CONN_STOPPED when a stop
	   cut it short, CONN_TIMEOUT when stress did (a socket's sleep ends at
	   once while its listener is under stress). */
	int (*sleep)(struct conn *c, long long ms);
	/* The server's TLS handshake over this connection, bounded by
	   timeout_ms: 0, after which reads and writes go through TLS; or an
	   enum conn_status with the reason in why (nothing more may be
	   written in plaintext then). */
	int (*start_tls)(struct conn *c, struct tls_server *srv, int timeout_ms, char *why,
			 size_t why_size);
	/* The connection's TLS state (tls.c reads what was agreed from it),
	   or NULL without TLS. */
	struct ssl_st *(*tls)(struct conn *c);
};

struct conn {
	const struct conn_ops *ops;
};

/* A connected socket, in blocking mode (non-blocking sends and polls use
   MSG_DONTWAIT).  Waits happen in ppoll() with wait_mask, so the signals
   it leaves unblocked interrupt them; an interrupted interruptible read
   returns CONN_STOPPED when *stop_flag is set and waits on otherwise.
   While *stress is set every wait is cut to stress_timeout_ms; a wait in
   progress sees a change when a signal interrupts it.  Without a
   wait_mask no signal is let in anyway, and reads block in recv()
   (SO_RCVTIMEO bounds them), one syscall per wait instead of two. */
struct conn_fd {
	struct conn base;
	int fd;
	const sigset_t *wait_mask;
	volatile sig_atomic_t *stop_flag;
	const _Atomic int *stress;
	int stress_timeout_ms;
	long long rcvtimeo_ms; /* SO_RCVTIMEO in force; 0: none (never times out) */
	struct ssl_st *ssl;    /* after start_tls: every byte goes through it */
};

/* One ppoll() of fd for events until deadline_ms (clock_ms()), with
   wait_mask as the signal mask: 0 when ready, CONN_TIMEOUT, CONN_ERROR,
   CONN_STOPPED when a signal came and *stop_flag is set (stop_flag may be
   NULL), CONN_INTERRUPTED for any other signal (the caller loops). */
int conn_poll_until(int fd, short events, long long deadline_ms, const sigset_t *wait_mask,
		    volatile sig_atomic_t *stop_flag);
void conn_fd_init(struct conn_fd *c, int fd, const sigset_t *wait_mask,
		  volatile sig_atomic_t *stop_flag);
void conn_fd_set_stress(struct conn_fd *c, const _Atomic int *stress, int stress_timeout_ms);
/* The client's side of a handshake (STARTTLS to an upstream) with ssl
   from tls_client_conn_new(), which c owns from now on: 0, or an enum
   conn_status with the reason in why. */
int conn_fd_start_tls_client(struct conn_fd *c, struct ssl_st *ssl, int timeout_ms, char *why,
			     size_t why_size);
/* TLS over: close_notify sent when it can be at once, OpenSSL's state
   freed (the caller then closes the socket). */
void conn_fd_end_tls(struct conn_fd *c);

/* Memory: reads come from `input` in pieces of at most `chunk` bytes (0 =
   as much as asked), then EOF (or TIMEOUT when eof_is_timeout); writes are
   appended to a growing output buffer. */
struct conn_mem {
	struct conn base;
	const char *input;
	size_t input_len, input_pos, chunk;
	int eof_is_timeout;
	struct msgbuf output; /* everything written */
};

void conn_mem_init(struct conn_mem *c, const char *input, size_t len, size_t chunk);
void conn_mem_free(struct conn_mem *c);

static inline ssize_t conn_read(struct conn *c, void *buf, size_t len, int timeout_ms,
				int interruptible)
{
	return c->ops->read(c, buf, len, clock_ms(), timeout_ms, interruptible);
}

/* The same, with the wait counted from start_ms: timeout_ms (or the stress
   timeout) after it, however many reads came since. */
static inline ssize_t conn_read_since(struct conn *c, void *buf, size_t len, long long start_ms,
				      int timeout_ms, int interruptible)
{
	return c->ops->read(c, buf, len, start_ms, timeout_ms, interruptible);
}

static inline int conn_write(struct conn *c, const void *buf, size_t len, int timeout_ms)
{
	return c->ops->write(c, buf, len, timeout_ms);
}

static inline int conn_input_pending(struct conn *c)
{
	return c->ops->pending(c);
}

static inline int conn_sleep(struct conn *c, long long ms)
{
	return c->ops->sleep(c, ms);
}

static inline int conn_start_tls(struct conn *c, struct tls_server *srv, int timeout_ms,
				 char *why, size_t why_size)
{
	return c->ops->start_tls(c, srv, timeout_ms, why, why_size);
}

static inline struct ssl_st *conn_tls(struct conn *c)
{
	return c->ops->tls(c);
}


#endif
