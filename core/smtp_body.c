/*
 * smtp_body.c - a message body as a plugin's on_body hook gets it: the
 * decoded bytes (smtpd.py's `data`, de-transparent, LF line ends) cut into
 * pieces of at most 64 KiB as they arrive, the header block held back and
 * handed first when the plugin asks for it whole, and decode_data's UTF-8
 * check carried across the pieces (a character cut between two reads is
 * checked whole).
 *
 * Pure: no I/O, no session.  Entry points: smtp_body_begin(), _feed(),
 * _end(), and smtp_body_settled()/_consume() for the decoder's buffer of
 * DATA (smtp_data.c) in front of it.  It never holds more than the header block (at most
 * SMTP_BODY_HEADER_MAX_BYTES) and one read of the client's: the body
 * itself is never kept, that is the point of it.
 */
#include "smtp_body.h"

#include <string.h>

#include "smtp_parse.h"

static size_t seq_len(unsigned char lead);
static size_t incomplete_tail(const unsigned char *p, size_t len);
static int emit(struct smtp_body *b, const char *p, size_t len, smtp_body_sink sink, void *arg);
static size_t header_end(struct smtp_body *b);
static int feed_header(struct smtp_body *b, const char **p, size_t *len, smtp_body_sink sink,
		       void *arg);

/* The length a UTF-8 lead byte announces; 1 for anything else (ASCII,
   or a byte utf8_valid() will refuse on its own). */
static size_t seq_len(unsigned char lead)
{
	if ((lead & 0xe0) == 0xc0)
		return 2;
	if ((lead & 0xf0) == 0xe0)
		return 3;
	if ((lead & 0xf8) == 0xf0)
		return 4;
	return 1;
}

/* How many bytes at the end of p begin a sequence that needs more bytes
   than p has: those wait for the next piece. */
static size_t incomplete_tail(const unsigned char *p, size_t len)
{
	for (size_t k = 1; k <= 3 && k <= len; k++) {
		unsigned char c = p[len - k];
		if ((c & 0xc0) == 0x80)
			continue; /* a continuation byte: look further back */
		return seq_len(c) > k ? k : 0;
	}
	return 0;
}

int utf8_stream_feed(struct utf8_stream *u, const char *p, size_t len)
{
	if (u->bad)
		return -1;
	if (u->carry_len) {
		size_t need = seq_len(u->carry[0]), take = need - u->carry_len;
		if (take > len)
			take = len;
		memcpy(u->carry + u->carry_len, p, take);
		u->carry_len += take;
		p += take;
		len -= take;
		if (u->carry_len < need)
			return 0;
		u->carry_len = 0;
		if (!utf8_valid((const char *)u->carry, need))
			return u->bad = 1, -1;
	}
	size_t tail = incomplete_tail((const unsigned char *)p, len);
	if (!utf8_valid(p, len - tail))
		return u->bad = 1, -1;
	memcpy(u->carry, p + len - tail, tail);
	u->carry_len = tail;
	return 0;
}

int utf8_stream_end(const struct utf8_stream *u)
{
	return u->bad || u->carry_len ? -1 : 0;
}

void smtp_body_begin(struct smtp_body *b, int whole_header, int check_utf8,
		     struct msgbuf *hold)
{
	memset(b, 0, sizeof(*b));
	b->whole_header = whole_header;
	b->check_utf8 = check_utf8;
	b->hold = hold;
	b->header_done = !whole_header;
	msgbuf_reset(hold);
}

/* To the sink in pieces of at most SMTP_BODY_PIECE_MAX_BYTES. */
static int emit(struct smtp_body *b, const char *p, size_t len, smtp_body_sink sink, void *arg)
{
	while (len > 0) {
		size_t n = len < SMTP_BODY_PIECE_MAX_BYTES ? len : SMTP_BODY_PIECE_MAX_BYTES;
		int rc = sink(arg, p, n);
		if (rc)
			return rc;
		b->total += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* The held header block's length with its empty line, once it is there
   (an empty first line is an empty header block); 0 while not. */
static size_t header_end(struct smtp_body *b)
{
	const char *h = b->hold->data;
	size_t len = b->hold->len;
	if (len > 0 && h[0] == '\n')
		return 1;
	size_t i = b->scan > 0 ? b->scan : 1;
	for (const char *lf; i < len && (lf = memchr(h + i, '\n', len - i)); i = (size_t)(lf - h) + 1)
		if (lf[-1] == '\n')
			return (size_t)(lf - h) + 1;
	b->scan = len;
	return 0;
}

/* Hold bytes until the header block is whole, then send it as one piece
   and what came after it; *p and *len are what is left for the body. */
static int feed_header(struct smtp_body *b, const char **p, size_t *len, smtp_body_sink sink,
		       void *arg)
{
	size_t room = SMTP_BODY_HEADER_MAX_BYTES - b->hold->len;
	size_t take = *len < room ? *len : room;
	msgbuf_append(b->hold, *p, take);
	*p += take;
	*len -= take;
	size_t end = header_end(b);
	if (!end)
		return *len > 0 ? SMTP_BODY_HEADER_TOO_BIG : 0;
	b->header_done = 1;
	int rc = sink(arg, b->hold->data, end);
	if (rc)
		return rc;
	b->total += end;
	rc = emit(b, b->hold->data + end, b->hold->len - end, sink, arg);
	msgbuf_reset(b->hold);
	return rc;
}

int smtp_body_feed(struct smtp_body *b, const char *p, size_t len, smtp_body_sink sink,
		   void *arg)
{
	if (len == 0)
		return 0;
	if (b->check_utf8 && utf8_stream_feed(&b->utf8, p, len) < 0)
		return SMTP_BODY_BAD_UTF8;
	if (!b->header_done) {
		int rc = feed_header(b, &p, &len, sink, arg);
		if (rc || !b->header_done)
			return rc;
	}
	return emit(b, p, len, sink, arg);
}

int smtp_body_end(struct smtp_body *b, smtp_body_sink sink, void *arg)
{
	if (b->check_utf8 && utf8_stream_end(&b->utf8) < 0)
		return SMTP_BODY_BAD_UTF8;
	if (b->header_done || b->hold->len == 0) {
		b->header_done = 1;
		return 0;
	}
	/* No empty line: the whole message was its header block. */
	b->header_done = 1;
	int rc = sink(arg, b->hold->data, b->hold->len);
	if (!rc)
		b->total += b->hold->len;
	msgbuf_reset(b->hold);
	return rc;
}

size_t smtp_body_settled(const struct msgbuf *out, int end)
{
	if (end)
		return out->len;
	return out->len ? out->len - 1 : 0;
}

void smtp_body_consume(struct msgbuf *out, size_t n)
{
	if (n == 0)
		return;
	memmove(out->data, out->data + n, out->len - n);
	out->len -= n;
}
