/* metrics_http.h - the metrics listener's HTTP side, run in its own
   unprivileged child of the master: GET /metrics and GET
   /healthz/<listener>, nothing else. */
#ifndef SMTPGATE_METRICS_HTTP_H
#define SMTPGATE_METRICS_HTTP_H

#include <stddef.h>

#include "scoreboard.h"

#define METRICS_REQUEST_MAX_BYTES 8192 /* request line and headers */
#define METRICS_REQUEST_TIMEOUT_MS 5000 /* from accept to the blank line */
#define METRICS_CONNECTIONS_MAX 16

/* What a request asks for. */
enum metrics_route {
	METRICS_ROUTE_INCOMPLETE, /* no blank line yet */
	METRICS_ROUTE_METRICS,    /* GET /metrics */
	METRICS_ROUTE_HEALTHZ,    /* GET /healthz/<name>: name in name_out */
	METRICS_ROUTE_NOT_FOUND,  /* any other path */
	METRICS_ROUTE_BAD_METHOD, /* a well-formed request that is not GET or HEAD */
	METRICS_ROUTE_BAD_REQUEST /* not an HTTP/1.x request line */
};

/* Route the len bytes received so far (pure: no NUL needed, none
   trusted).  *head_out is 1 for HEAD (headers without the body). */
enum metrics_route metrics_http_route(const char *req, size_t len, char *name_out,
				      size_t name_size, int *head_out);

/* Serve on the listening socket fd (non-blocking) until killed; reads
   the counters and sb.  Never returns. */
void metrics_http_serve(int fd, const struct scoreboard *sb) __attribute__((noreturn));

#endif
