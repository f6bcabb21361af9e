/* linebuf.h - bounded CRLF line reader over a struct conn. */
#ifndef SMTPGATE_LINEBUF_H
#define SMTPGATE_LINEBUF_H

#include <stddef.h>

#include "conn.h"
#include "smtp_data.h"

/* Larger than the longest command line (512 + 26 + 10 + CRLF) and the
   longest AUTH response (RFC 4954 4: 12288 + CRLF), so either always
   fits whole; DATA is read through it in pieces. */
#define LINEBUF_SIZE_BYTES 16384

enum linebuf_result {
	LINEBUF_LINE = 0,     /* a line (or a DATA piece) is ready */
	LINEBUF_TOO_LONG = 1, /* command line over its limit; skipped to its end */
	LINEBUF_BARE_LF = 2,  /* bare_lf "reject": a command line ended by a bare LF */
	LINEBUF_BARE_CR = 3   /* bare_lf "reject": a command line holding a bare CR */
	/* negative values: enum conn_status */
};

struct linebuf {
	struct conn *conn;
	enum bare_lf_policy bare_lf; /* what ends a command line */
	size_t start, end;
	char buf[LINEBUF_SIZE_BYTES];
};

/* A reader whose lines end at LF, a CR before it dropped (as bare_lf
   "normalize"): what an upstream's replies get. */
void linebuf_init(struct linebuf *lb, struct conn *conn);
/* What ends a command line from now on: with BARE_LF_KEEP only CR LF (as
   smtpd.py: a bare LF is part of the line); with BARE_LF_NORMALIZE an LF,
   a CR before it dropped (as Postfix); with BARE_LF_REJECT the same, but
   a line ended by a bare LF is LINEBUF_BARE_LF, not a line. */
void linebuf_set_bare_lf(struct linebuf *lb, enum bare_lf_policy policy);

/* One command line, without its line end.  *line_out points into the
   buffer and is valid until the next call; it is not NUL-terminated.  A
   line whose text is longer than max_bytes is never kept: its bytes are
   discarded up to and including its line end and the result is
   LINEBUF_TOO_LONG, so the stream stays in step with the client. */
int linebuf_read_command(struct linebuf *lb, size_t max_bytes, int timeout_ms,
			 int interruptible, const char **line_out, size_t *len_out);

/* The next piece of DATA: up to and including the next LF, or a full
   buffer's worth of a longer line.  Bytes are returned exactly as sent. */
int linebuf_read_data(struct linebuf *lb, int timeout_ms,
		      const char **piece_out, size_t *len_out);

/* The next at most max_bytes octets, exactly as sent (a BDAT chunk, RFC
   3030: counted, never parsed); at least one unless it fails. */
int linebuf_read_octets(struct linebuf *lb, size_t max_bytes, int timeout_ms,
			const char **piece_out, size_t *len_out);

/* Bytes received but not yet consumed (the client talked ahead). */
size_t linebuf_pending(const struct linebuf *lb);
/* Forget what was received but not consumed; how many bytes that was
   (STARTTLS: nothing sent in plaintext may count after the handshake). */
size_t linebuf_discard(struct linebuf *lb);
/* 1 if a whole command line is buffered: reading it will not block. */
int linebuf_has_line(const struct linebuf *lb);

#endif
