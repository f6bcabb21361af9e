/*
 * tls_load.c - a small SMTP-over-TLS load client (OpenSSL) for bench/tls.sh.
 *
 * P processes, each running its sessions one after another against
 * 127.0.0.1:PORT: connect, greeting, EHLO, STARTTLS, handshake (or TLS
 * from the first byte with -i), EHLO, then M messages of L bytes (MAIL,
 * RCPT, DATA, the text, the dot), QUIT.  With -r each process offers the
 * session ticket its last session received, so every session after its
 * first can resume.  With -g, when the EHLO reply offers PIPELINING,
 * MAIL, RCPT and DATA go in one group (RFC 2920), as Postfix's smtp client
 * sends them: one round trip for the envelope instead of three.  The
 * parent adds up and prints one line:
 *
 *   sessions=N messages=N seconds=S sessions_per_sec=R messages_per_sec=R
 *   resumed=N failed=N
 *
 * usage: tls_load -p PORT [-P procs] [-n sessions per process]
 *                 [-m messages per session] [-l message bytes] [-r] [-i] [-g]
 *
 * Certificates are not checked (a benchmark, on loopback).  Every read
 * has a 30 s timeout; a session that fails counts as failed and the
 * process goes on with the next one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct options {
	int port, procs, sessions, messages, bytes, resume, implicit, group;
};

/* Replies read over TLS and not yet taken: a pipelined group's replies
   may come in one record. */
struct replies {
	char buf[4096];
	size_t used;
	int pipelining; /* the last EHLO reply offered PIPELINING */
};

struct totals {
	long sessions, messages, resumed, failed;
};

static SSL_SESSION *saved; /* this process's last ticket (-r) */

/* Keep the newest session (TLS 1.3 tickets arrive after the handshake). */
static int keep_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	SSL_SESSION_free(saved);
	saved = sess;
	return 1; /* we hold the reference now */
}

/* A plaintext reply: its code, or -1. */
static int plain_reply(int fd)
{
	char buf[4096];
	size_t used = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
		if (n <= 0)
			return -1;
		used += (size_t)n;
		buf[used] = '\0';
		/* The last line of a reply is "NNN " ... CR LF. */
		char *line = buf;
		for (char *nl; (nl = strstr(line, "\r\n")); line = nl + 2)
			if (nl - line >= 4 && line[3] == ' ')
				return atoi(line);
		if (used == sizeof(buf) - 1)
			return -1;
	}
}

/* The next reply over TLS: its code, or -1.  Bytes after it stay in r
   for the next call; an EHLO reply sets r->pipelining. */
static int tls_reply(SSL *ssl, struct replies *r)
{
	for (;;) {
		r->buf[r->used] = '\0';
		/* The last line of a reply is "NNN " ... CR LF. */
		for (char *line = r->buf, *nl; (nl = strstr(line, "\r\n")); line = nl + 2) {
			if (nl - line < 4 || line[3] != ' ')
				continue;
			int code = atoi(r->buf);
			*nl = '\0';
			if (code == 250)
				r->pipelining = strstr(r->buf, "250-PIPELINING") ||
						strstr(r->buf, "250 PIPELINING");
			r->used -= (size_t)(nl + 2 - r->buf);
			memmove(r->buf, nl + 2, r->used);
			return code;
		}
		if (r->used == sizeof(r->buf) - 1)
			return -1;
		int n = SSL_read(ssl, r->buf + r->used, (int)(sizeof(r->buf) - 1 - r->used));
		if (n <= 0)
			return -1;
		r->used += (size_t)n;
	}
}

static int tls_send(SSL *ssl, const char *p, size_t len)
{
	return SSL_write(ssl, p, (int)len) == (int)len ? 0 : -1;
}

/* A command over TLS and its reply's code (-1 on failure). */
static int tls_command(SSL *ssl, struct replies *r, const char *line)
{
	return tls_send(ssl, line, strlen(line)) < 0 ? -1 : tls_reply(ssl, r);
}

static int connect_loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 30, 0 };
	int one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Up to STARTTLS's 220 in plaintext (nothing with -i): 0 or -1. */
static int plain_part(int fd, const struct options *o)
{
	static const char ehlo[] = "EHLO load.bench.test\r\n", starttls[] = "STARTTLS\r\n";
	if (o->implicit)
		return 0;
	if (plain_reply(fd) != 220 || send(fd, ehlo, sizeof(ehlo) - 1, 0) < 0 ||
	    plain_reply(fd) != 250 || send(fd, starttls, sizeof(starttls) - 1, 0) < 0 ||
	    plain_reply(fd) != 220)
		return -1;
	return 0;
}

/* The envelope of one message: 0 when DATA got its 354, else -1. */
static int envelope(SSL *ssl, struct replies *r, const struct options *o)
{
	static const char mail[] = "MAIL FROM:<sender@bench.test>\r\n",
			  rcpt[] = "RCPT TO:<rcpt@bench.test>\r\n", data[] = "DATA\r\n";
	if (o->group && r->pipelining) {
		static const char all[] = "MAIL FROM:<sender@bench.test>\r\n"
					  "RCPT TO:<rcpt@bench.test>\r\nDATA\r\n";
		return tls_send(ssl, all, sizeof(all) - 1) == 0 && tls_reply(ssl, r) == 250 &&
		       tls_reply(ssl, r) == 250 && tls_reply(ssl, r) == 354 ? 0 : -1;
	}
	return tls_command(ssl, r, mail) == 250 && tls_command(ssl, r, rcpt) == 250 &&
	       tls_command(ssl, r, data) == 354 ? 0 : -1;
}

/* The messages of one session over TLS: how many got 250. */
static int messages(SSL *ssl, struct replies *r, const struct options *o, const char *body)
{
	int ok = 0;
	for (int i = 0; i < o->messages; i++) {
		if (envelope(ssl, r, o) < 0 || tls_send(ssl, body, strlen(body)) < 0 ||
		    tls_reply(ssl, r) != 250)
			return -1;
		ok++;
	}
	return ok;
}

/* One session; adds to t. */
static void session(SSL_CTX *ctx, const struct options *o, const char *body, struct totals *t)
{
	int fd = connect_loopback(o->port);
	SSL *ssl = NULL;
	struct replies r = { .used = 0 };
	int n = -1;
	if (fd >= 0 && plain_part(fd, o) == 0 && (ssl = SSL_new(ctx)) && SSL_set_fd(ssl, fd) == 1) {
		if (o->resume && saved)
			SSL_set_session(ssl, saved);
		if (SSL_connect(ssl) == 1 && (!o->implicit || tls_reply(ssl, &r) == 220) &&
		    tls_command(ssl, &r, "EHLO load.bench.test\r\n") == 250 &&
		    (n = messages(ssl, &r, o, body)) >= 0 && tls_command(ssl, &r, "QUIT\r\n") != 221)
			n = -1;
		if (n >= 0 && SSL_session_reused(ssl))
			t->resumed++;
	}
	if (n < 0) {
		t->failed++;
		ERR_clear_error();
	} else {
		t->sessions++;
		t->messages += n;
	}
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
}

/* A message of about bytes bytes, dot-free, ending with the dot line. */
static char *make_body(int bytes)
{
	char *b = malloc((size_t)bytes + 128);
	if (!b)
		abort();
	int n = snprintf(b, 128, "Subject: tls load\r\n\r\n");
	while (n < bytes) {
		memcpy(b + n, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
		       72);
		n += 72;
	}
	memcpy(b + n, ".\r\n", 4);
	return b;
}

/* One process's share; its totals written to fd. */
static void worker(const struct options *o, int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		_exit(1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Whole records per read(), not a header and then a body: the two
	   processes share the CPUs with the server, and a client's wasted
	   syscalls would be counted against the server. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, keep_session);
	char *body = make_body(o->bytes);
	struct totals t = { 0 };
	for (int i = 0; i < o->sessions; i++)
		session(ctx, o, body, &t);
	if (write(fd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(1);
	_exit(0);
}

static int parse(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .procs = 4, .sessions = 100, .messages = 1, .bytes = 1024 };
	for (int c; (c = getopt(argc, argv, "p:P:n:m:l:rig")) != -1;) {
		switch (c) {
		case 'p': o->port = atoi(optarg); break;
		case 'P': o->procs = atoi(optarg); break;
		case 'n': o->sessions = atoi(optarg); break;
		case 'm': o->messages = atoi(optarg); break;
		case 'l': o->bytes = atoi(optarg); break;
		case 'r': o->resume = 1; break;
		case 'i': o->implicit = 1; break;
		case 'g': o->group = 1; break;
		default: return -1;
		}
	}
	return o->port > 0 && o->procs > 0 && o->sessions > 0 && o->messages >= 0 &&
	       o->bytes > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct options o;
	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: tls_load -p PORT [-P procs] [-n sessions] [-m messages] "
			"[-l bytes] [-r] [-i] [-g]\n");
		return 2;
	}
	int pipes[2];
	if (pipe(pipes) < 0)
		return 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < o.procs; i++)
		if (fork() == 0) {
			close(pipes[0]);
			worker(&o, pipes[1]);
		}
	close(pipes[1]);
	struct totals sum = { 0 }, t;
	int got = 0;
	while (read(pipes[0], &t, sizeof(t)) == (ssize_t)sizeof(t)) {
		sum.sessions += t.sessions;
		sum.messages += t.messages;
		sum.resumed += t.resumed;
		sum.failed += t.failed;
		got++;
	}
	while (wait(NULL) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sessions=%ld messages=%ld seconds=%.2f sessions_per_sec=%.1f "
	       "messages_per_sec=%.1f resumed=%ld failed=%ld\n", sum.sessions, sum.messages, secs,
	       (double)sum.sessions / secs, (double)sum.messages / secs, sum.resumed, sum.failed);
	return got == o.procs && sum.failed == 0 ? 0 : 1;
}
