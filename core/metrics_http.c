/*
 * metrics_http.c - the metrics child's HTTP server: GET /metrics answers
 * with the counters as Prometheus text, GET /healthz/<listener> with 200
 * while that listener has an idle worker and is not under stress (503
 * otherwise, 404 for a name no listener has had).  Any other path is a
 * 404, another method a 405, anything that is not an HTTP/1.x request a
 * 400, a request over METRICS_REQUEST_MAX_BYTES a 400, and one that has
 * not ended METRICS_REQUEST_TIMEOUT_MS after its accept is closed (a 408
 * first): a slow or huge client costs one of METRICS_CONNECTIONS_MAX
 * places for a bounded time, and never anything of SMTP's.
 *
 * Entry points: metrics_http_serve() (the child's loop, never returns)
 * and metrics_http_route() (pure, unit-tested).  It runs unprivileged,
 * never writes to shared memory, never echoes a byte of a request, and
 * never blocks on a client: reads are non-blocking under poll, and each
 * response's write has its own timeout.
 */
#include "metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "counters.h"
#include "log.h"
#include "metrics_text.h"

/* One client of the metrics listener. */
struct hconn {
	int fd;              /* -1: a free place */
	long long deadline_ms;
	size_t len;
	char buf[METRICS_REQUEST_MAX_BYTES];
};

static const char *find_end(const char *p, size_t len);
static int route_target(const char *t, size_t len, char *name_out, size_t name_size);
static void respond(int fd, int status, const char *type, const char *body, size_t len, int head);
static void close_client(struct hconn *c);
static void answer(struct hconn *c, const struct scoreboard *sb, struct metrics_text *text);
static void read_client(struct hconn *c, const struct scoreboard *sb, struct metrics_text *text);
static void accept_clients(int fd, struct hconn *conns);
static int poll_timeout(const struct hconn *conns, long long now);

/* The end of the headers (after the blank line), or NULL. */
static const char *find_end(const char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n')
			return p + i + 2;
		if (i + 3 < len && memcmp(p + i, "\r\n\r\n", 4) == 0)
			return p + i + 4;
	}
	return NULL;
}

/* A request target (its query dropped): /metrics, /healthz/<name>, else
   not found.  A name is 1 to name_size - 1 printable bytes, no '/'. */
static int route_target(const char *t, size_t len, char *name_out, size_t name_size)
{
	const char *q = memchr(t, '?', len);
	if (q)
		len = (size_t)(q - t);
	if (len == 8 && memcmp(t, "/metrics", 8) == 0)
		return METRICS_ROUTE_METRICS;
	static const char prefix[] = "/healthz/";
	size_t plen = sizeof(prefix) - 1;
	if (len <= plen || memcmp(t, prefix, plen) != 0 || len - plen >= name_size)
		return METRICS_ROUTE_NOT_FOUND;
	if (memchr(t + plen, '/', len - plen))
		return METRICS_ROUTE_NOT_FOUND;
	memcpy(name_out, t + plen, len - plen);
	name_out[len - plen] = '\0';
	return METRICS_ROUTE_HEALTHZ;
}

enum metrics_route metrics_http_route(const char *req, size_t len, char *name_out,
				      size_t name_size, int *head_out)
{
	*head_out = 0;
	if (!find_end(req, len))
		return METRICS_ROUTE_INCOMPLETE;
	const char *eol = memchr(req, '\n', len);
	size_t line = (size_t)(eol - req);
	if (line > 0 && req[line - 1] == '\r')
		line--;
	/* METHOD SP target SP HTTP/1.x, printable ASCII only. */
	for (size_t i = 0; i < line; i++) {
		unsigned char c = (unsigned char)req[i];
		if ((c < 0x21 && c != ' ') || c >= 0x7f)
			return METRICS_ROUTE_BAD_REQUEST;
	}
	const char *sp1 = memchr(req, ' ', line);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line - (size_t)(sp1 + 1 - req)) : NULL;
	if (!sp1 || !sp2 || sp1 == req || sp2 == sp1 + 1 || sp1[1] != '/')
		return METRICS_ROUTE_BAD_REQUEST;
	size_t vlen = line - (size_t)(sp2 + 1 - req);
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9')
		return METRICS_ROUTE_BAD_REQUEST;
	size_t mlen = (size_t)(sp1 - req);
	for (size_t i = 0; i < mlen; i++)
		if (req[i] < 'A' || req[i] > 'Z')
			return METRICS_ROUTE_BAD_REQUEST;
	if (mlen == 4 && memcmp(req, "HEAD", 4) == 0)
		*head_out = 1;
	else if (mlen != 3 || memcmp(req, "GET", 3) != 0)
		return METRICS_ROUTE_BAD_METHOD;
	return route_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), name_out, name_size);
}

/* Write one whole response, bounded in time; then FIN, discard what the
   client still sent (so a reset cannot destroy the response), close. */
static void respond(int fd, int status, const char *type, const char *body, size_t len, int head)
{
	static const struct { int code; const char *text; } reasons[] = {
		{ 200, "OK" }, { 400, "Bad Request" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 503, "Service Unavailable" },
	};
	const char *reason = "Error";
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			reason = reasons[i].text;
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		"Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status, reason, type, len,
		status == 405 ? "Allow: GET, HEAD\r\n" : "");
	struct timeval tv = { METRICS_REQUEST_TIMEOUT_MS / 1000, 0 };
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct part { const char *p; size_t n; } parts[2] = { { hdr, (size_t)n }, { body, head ? 0 : len } };
	/* The timeout bounds each send; the deadline, a client reading a
	   byte at a time. */
	long long deadline = clock_ms() + METRICS_REQUEST_TIMEOUT_MS;
	for (int k = 0; k < 2; k++)
		for (size_t off = 0; off < parts[k].n;) {
			ssize_t w = send(fd, parts[k].p + off, parts[k].n - off, MSG_NOSIGNAL);
			if (w <= 0 || clock_ms() > deadline)
				return; /* timed out or gone: the caller closes */
			off += (size_t)w;
		}
	char junk[4096];
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
}

static void close_client(struct hconn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* A whole request (or one too large): its response, then the close. */
static void answer(struct hconn *c, const struct scoreboard *sb, struct metrics_text *text)
{
	static const char plain[] = "text/plain; charset=utf-8";
	char name[SCOREBOARD_LISTENER_MAX_BYTES];
	int head, stress = 0;
	enum metrics_route r = metrics_http_route(c->buf, c->len, name, sizeof(name), &head);
	if (r == METRICS_ROUTE_INCOMPLETE) { /* the buffer is full: too large */
		respond(c->fd, 400, plain, "request too large\n", 18, 0);
	} else if (r == METRICS_ROUTE_METRICS) {
		static struct counters_view views[COUNTERS_LISTENERS_MAX];
		size_t n = counters_snapshot(sb, views, COUNTERS_LISTENERS_MAX);
		metrics_text_render(text, views, n);
		respond(c->fd, 200, METRICS_TEXT_CONTENT_TYPE, text->p, text->len, head);
	} else if (r == METRICS_ROUTE_HEALTHZ) {
		int ready = counters_listener_ready(sb, name, &stress);
		if (ready < 0)
			respond(c->fd, 404, plain, "no such listener\n", 17, head);
		else if (stress)
			respond(c->fd, 503, plain, "stress\n", 7, head);
		else if (!ready)
			respond(c->fd, 503, plain, "no worker ready\n", 16, head);
		else
			respond(c->fd, 200, plain, "ready\n", 6, head);
	} else if (r == METRICS_ROUTE_NOT_FOUND) {
		respond(c->fd, 404, plain, "not found\n", 10, head);
	} else if (r == METRICS_ROUTE_BAD_METHOD) {
		respond(c->fd, 405, plain, "method not allowed\n", 19, 0);
	} else {
		respond(c->fd, 400, plain, "bad request\n", 12, 0);
	}
	close_client(c);
}

/* Take what a client sent; answer once the request is whole or the
   buffer full; close at its end of file or error. */
static void read_client(struct hconn *c, const struct scoreboard *sb, struct metrics_text *text)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		close_client(c);
		return;
	}
	/* Only the new bytes (and the 3 before them) can complete the blank
	   line: a client sending a byte at a time costs no rescans. */
	size_t from = c->len > 3 ? c->len - 3 : 0;
	c->len += (size_t)n;
	if (c->len == sizeof(c->buf) || find_end(c->buf + from, c->len - from))
		answer(c, sb, text);
}

/* Accept while there are clients waiting and free places. */
static void accept_clients(int fd, struct hconn *conns)
{
	for (size_t i = 0; i < METRICS_CONNECTIONS_MAX; i++) {
		if (conns[i].fd >= 0)
			continue;
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		conns[i].fd = c;
		conns[i].len = 0;
		conns[i].deadline_ms = clock_ms() + METRICS_REQUEST_TIMEOUT_MS;
	}
}

/* Until the earliest client deadline; forever without clients. */
static int poll_timeout(const struct hconn *conns, long long now)
{
	long long t = -1;
	for (size_t i = 0; i < METRICS_CONNECTIONS_MAX; i++)
		if (conns[i].fd >= 0 && (t < 0 || conns[i].deadline_ms - now < t))
			t = conns[i].deadline_ms - now > 0 ? conns[i].deadline_ms - now : 0;
	return (int)t;
}

void metrics_http_serve(int fd, const struct scoreboard *sb)
{
	static struct hconn conns[METRICS_CONNECTIONS_MAX];
	struct metrics_text text = { 0 };
	for (size_t i = 0; i < METRICS_CONNECTIONS_MAX; i++)
		conns[i].fd = -1;
	for (;;) {
		struct pollfd pfd[METRICS_CONNECTIONS_MAX + 1];
		size_t idx[METRICS_CONNECTIONS_MAX + 1], np = 0, open = 0;
		for (size_t i = 0; i < METRICS_CONNECTIONS_MAX; i++)
			if (conns[i].fd >= 0) {
				pfd[np] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
				idx[np++] = i;
				open++;
			}
		/* With every place taken the backlog waits (kernel-bounded). */
		if (open < METRICS_CONNECTIONS_MAX)
			pfd[np++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		int rc = poll(pfd, np, poll_timeout(conns, clock_ms()));
		if (rc < 0 && errno != EINTR)
			log_fatal(1, "event=metrics-failed call=poll error=%s", log_quoted(strerror(errno)));
		for (size_t k = 0; rc > 0 && k < open; k++)
			if (pfd[k].revents)
				read_client(&conns[idx[k]], sb, &text);
		if (rc > 0 && open < METRICS_CONNECTIONS_MAX && pfd[np - 1].revents)
			accept_clients(fd, conns);
		long long now = clock_ms();
		for (size_t i = 0; i < METRICS_CONNECTIONS_MAX; i++)
			if (conns[i].fd >= 0 && now >= conns[i].deadline_ms) {
				respond(conns[i].fd, 408, "text/plain; charset=utf-8", "timeout\n", 8, 0);
				close_client(&conns[i]);
			}
	}
}
