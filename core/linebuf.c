/*
 * linebuf.c - the session's only input buffer: command lines with a hard
 * length limit, and DATA in pieces.
 *
 * Entry points: linebuf_read_command(), linebuf_read_data().  Memory use is
 * the fixed buffer in struct linebuf whatever the client sends: an overlong
 * command line is skipped, never accumulated (smtpd.py kept reading it into
 * memory).  What ends a command line (bare_lf: CR LF only, or any LF) is
 * decided here and nowhere else.  Never writes to the client.
 */
#include "linebuf.h"

#include <string.h>

static int line_end(const struct linebuf *lb, size_t *len_out, size_t *next_out, int *bare_out);
static int fill(struct linebuf *lb, long long start_ms, int timeout_ms, int interruptible);
static int skip_line(struct linebuf *lb, long long start_ms, int timeout_ms, int interruptible);

void linebuf_init(struct linebuf *lb, struct conn *conn)
{
	lb->conn = conn;
	lb->bare_lf = BARE_LF_NORMALIZE;
	lb->start = lb->end = 0;
}

void linebuf_set_bare_lf(struct linebuf *lb, enum bare_lf_policy policy)
{
	lb->bare_lf = policy;
}

size_t linebuf_pending(const struct linebuf *lb)
{
	return lb->end - lb->start;
}

size_t linebuf_discard(struct linebuf *lb)
{
	size_t n = lb->end - lb->start;
	lb->start = lb->end = 0;
	return n;
}

int linebuf_has_line(const struct linebuf *lb)
{
	size_t len, next;
	int bare;
	return line_end(lb, &len, &next, &bare);
}

/* Find the end of the command line that starts at lb->start: 1 with the
   length of its text (*len_out), of text and line end (*next_out), and
   whether a bare LF ended it; 0 when no line end is buffered yet.  With
   BARE_LF_KEEP only CR LF ends a line (smtpd.py's terminator); an LF
   without CR before it is part of the text. */
static int line_end(const struct linebuf *lb, size_t *len_out, size_t *next_out, int *bare_out)
{
	const char *line = lb->buf + lb->start;
	size_t avail = lb->end - lb->start, from = 0;
	for (;;) {
		const char *lf = memchr(line + from, '\n', avail - from);
		if (!lf)
			return 0;
		size_t at = (size_t)(lf - line);
		int cr = at > 0 && line[at - 1] == '\r';
		if (cr || lb->bare_lf != BARE_LF_KEEP) {
			*len_out = cr ? at - 1 : at;
			*next_out = at + 1;
			*bare_out = !cr;
			return 1;
		}
		from = at + 1;
	}
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

/* Drop everything up to and including the line's end, reading as needed.
   A CR at the end of what is buffered is kept: it may begin the CR LF. */
static int skip_line(struct linebuf *lb, long long start_ms, int timeout_ms, int interruptible)
{
	for (;;) {
		size_t len, next;
		int bare;
		if (line_end(lb, &len, &next, &bare)) {
			lb->start += next;
			return 0;
		}
		lb->start = lb->end > lb->start && lb->buf[lb->end - 1] == '\r' ? lb->end - 1 : lb->end;
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
		size_t avail = lb->end - lb->start, len, next;
		int bare;
		if (line_end(lb, &len, &next, &bare)) {
			const char *line = lb->buf + lb->start;
			lb->start += next;
			if (len > max_bytes)
				return LINEBUF_TOO_LONG;
			if (bare && lb->bare_lf == BARE_LF_REJECT)
				return LINEBUF_BARE_LF;
			/* A CR inside the line ends nothing, but "reject" refuses
			   it as it refuses a bare CR in DATA (issue 14). */
			if (lb->bare_lf == BARE_LF_REJECT && memchr(line, '\r', len))
				return LINEBUF_BARE_CR;
			*line_out = line;
			*len_out = len;
			return LINEBUF_LINE;
		}
		/* No line end yet: once more than the limit plus CR is buffered,
		   the line is too long whatever follows; stop keeping it. */
		if (avail > max_bytes + 1 || avail == sizeof(lb->buf)) {
			int r = skip_line(lb, start, timeout_ms, interruptible);
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

int linebuf_read_octets(struct linebuf *lb, size_t max_bytes, int timeout_ms,
			const char **piece_out, size_t *len_out)
{
	long long start = clock_ms();
	while (lb->end == lb->start) {
		int r = fill(lb, start, timeout_ms, 0);
		if (r < 0)
			return r;
	}
	size_t avail = lb->end - lb->start;
	size_t len = avail < max_bytes ? avail : max_bytes;
	*piece_out = lb->buf + lb->start;
	*len_out = len;
	lb->start += len;
	return LINEBUF_LINE;
}
