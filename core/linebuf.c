/*
 * linebuf.c - the session's only input buffer: command lines with a hard
 * length limit, and DATA in pieces.
 *
 * Entry points: linebuf_read_command(), linebuf_read_data().  Memory use is
 * the fixed buffer in struct linebuf whatever the client sends: an overlong
 * command line is skipped, never accumulated (smtpd.py kept reading it into
 * memory).  Never writes to the client.
 */
#include "linebuf.h"

#include <string.h>

static int fill(struct linebuf *lb, long long start_ms, int timeout_ms, int interruptible);
static int skip_to_lf(struct linebuf *lb, long long start_ms, int timeout_ms, int interruptible);

void linebuf_init(struct linebuf *lb, struct conn *conn)
{
	lb->conn = conn;
	lb->start = lb->end = 0;
}

size_t linebuf_pending(const struct linebuf *lb)
{
	return lb->end - lb->start;
}

int linebuf_has_line(const struct linebuf *lb)
{
	return memchr(lb->buf + lb->start, '\n', lb->end - lb->start) != NULL;
}

/* Move unread bytes to the front and read more after them, waiting at
   most until timeout_ms after start_ms: the time a whole line (or DATA
   piece) may take, however its bytes trickle in. */
static int fill(struct linebuf *lb, long long start_ms, int timeout_ms, int interruptible)
{
	if (lb->start > 0) {
		memmove(lb->buf, lb->buf + lb->start, lb->end - lb->start);
		lb->end -= lb->start;
		lb->start = 0;
	}
	if (lb->end == sizeof(lb->buf))
		return 0;
	ssize_t n = conn_read_since(lb->conn, lb->buf + lb->end, sizeof(lb->buf) - lb->end, start_ms,
				    timeout_ms, interruptible);
	if (n < 0)
		return (int)n;
	lb->end += (size_t)n;
	return 0;
}

/* Drop everything up to and including the next LF, reading as needed. */
static int skip_to_lf(struct linebuf *lb, long long start_ms, int timeout_ms, int interruptible)
{
	for (;;) {
		char *lf = memchr(lb->buf + lb->start, '\n', lb->end - lb->start);
		if (lf) {
			lb->start = (size_t)(lf - lb->buf) + 1;
			return 0;
		}
		lb->start = lb->end = 0;
		int r = fill(lb, start_ms, timeout_ms, interruptible);
		if (r < 0)
			return r;
	}
}

int linebuf_read_command(struct linebuf *lb, size_t max_bytes, int timeout_ms,
			 int interruptible, const char **line_out, size_t *len_out)
{
	long long start = clock_ms();
	for (;;) {
		size_t avail = lb->end - lb->start;
		char *line = lb->buf + lb->start;
		char *lf = memchr(line, '\n', avail);
		if (lf) {
			size_t len = (size_t)(lf - line);
			lb->start += len + 1;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			if (len > max_bytes)
				return LINEBUF_TOO_LONG;
			*line_out = line;
			*len_out = len;
			return LINEBUF_LINE;
		}
		/* No LF yet: once more than the limit plus CR is buffered, the
		   line is too long whatever follows; stop keeping it. */
		if (avail > max_bytes + 1 || avail == sizeof(lb->buf)) {
			int r = skip_to_lf(lb, start, timeout_ms, interruptible);
			return r < 0 ? r : LINEBUF_TOO_LONG;
		}
		int r = fill(lb, start, timeout_ms, interruptible);
		if (r < 0)
			return r;
	}
}

int linebuf_read_data(struct linebuf *lb, int timeout_ms,
		      const char **piece_out, size_t *len_out)
{
	long long start = clock_ms();
	for (;;) {
		size_t avail = lb->end - lb->start;
		char *piece = lb->buf + lb->start;
		char *lf = memchr(piece, '\n', avail);
		if (lf || avail == sizeof(lb->buf)) {
			size_t len = lf ? (size_t)(lf - piece) + 1 : avail;
			lb->start += len;
			*piece_out = piece;
			*len_out = len;
			return LINEBUF_LINE;
		}
		int r = fill(lb, start, timeout_ms, 0);
		if (r < 0)
			return r;
	}
}
