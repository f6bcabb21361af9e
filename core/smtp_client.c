/*
 * smtp_client.c - the SMTP/LMTP client plugins relay with (proxy, mailman).
 *
 * Entry points: smtp_client_open(), smtp_client_command(), _send(),
 * _read_reply(), _data(), _stream_*(), _close(); the reply parser is
 * smtp_client_reply.c's, the connect smtp_client_connect.c's.
 * Every failure - refused connection, timeout, a reply that is not SMTP, a
 * connection lost - becomes a reply with code 0 and a text saying what
 * happened, so a plugin maps it to a 4xx and never mistakes silence for
 * success.  Message text goes out with CR LF line ends and doubled leading
 * dots whatever the client sent (a bare CR or LF becomes CR LF): nothing
 * can reach the upstream as an end-of-data it was not meant to be.  A
 * message streamed to a server offering CHUNKING goes as BDAT chunks
 * instead (RFC 3030: no DATA round trip, no dots doubled), encoded into
 * a bounded buffer first so its size can lead it (small pieces gathered:
 * a short message is one BDAT LAST), at most CLIENT_CHUNKS_IN_FLIGHT
 * awaiting their replies; a refused chunk fails the message.  A message with a NUL
 * byte is never sent (554).
 */
#include "smtp_client_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conn.h"
#include "linebuf.h"
#include "log.h"
#include "tls.h"

static int out_append(struct smtp_client *c, const char *p, size_t len);
static int out_flush(struct smtp_client *c);
static int reply_after_lost_send(struct smtp_client *c, struct smtpgate_upstream_reply *r,
				 const char *why);
static size_t line_run(const char *p, const char *end);
static int write_text(struct smtp_client *c, const char *p, size_t len);
static int write_end(struct smtp_client *c);
static int write_message(struct smtp_client *c, const struct smtpgate_data_part *parts,
			 size_t nparts);
static int read_message_replies(struct smtp_client *c, struct smtpgate_upstream_reply *replies,
				size_t nreplies);
static int has_nul(const struct smtpgate_data_part *parts, size_t nparts);
static int chunk_reply(struct smtp_client *c);
static int chunk_send(struct smtp_client *c, const char *data, size_t n, int last);
static int chunks_write(struct smtp_client *c, const char *data, size_t len);
static void chunks_end(struct smtp_client *c);
static int read_reply(struct smtp_client *c, struct smtpgate_upstream_reply *r, int timeout_ms);

/* The connection is no longer usable; say why in the reply. */
void smtp_client_failure(struct smtp_client *c, struct smtpgate_upstream_reply *r,
			 const char *fmt, ...)
{
	char why[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c)
		c->usable = 0;
	r->code = 0;
	snprintf(r->text, sizeof(r->text), "%s%s%s", c ? c->peer : "", c ? ": " : "", why);
}

static int out_flush(struct smtp_client *c)
{
	if (c->out_len == 0)
		return 0;
	int rc = conn_write(&c->conn.base, c->out, c->out_len, c->reply_timeout_ms);
	c->out_len = 0;
	if (rc < 0)
		c->usable = 0;
	return rc;
}

int smtp_client_flush(struct smtp_client *c)
{
	return c->usable ? out_flush(c) : -1;
}

static int out_append(struct smtp_client *c, const char *p, size_t len)
{
	while (len > 0) {
		if (c->out_len == sizeof(c->out) && out_flush(c) < 0)
			return -1;
		size_t n = sizeof(c->out) - c->out_len;
		if (n > len)
			n = len;
		memcpy(c->out + c->out_len, p, n);
		c->out_len += n;
		p += n;
		len -= n;
	}
	return 0;
}

int smtp_client_read_reply(struct smtp_client *c, struct smtpgate_upstream_reply *r)
{
	if (!c->usable) {
		smtp_client_failure(c, r, "connection not usable");
		return 0;
	}
	if (out_flush(c) < 0)
		return reply_after_lost_send(c, r, "connection lost while sending");
	return read_reply(c, r, c->reply_timeout_ms);
}

/* A send failed: the server may have answered and closed first (552 for
   a message too big, 421, a refusal mid-pipeline).  Its refusal, when it
   is already there to read, is the truth to pass on; a connection that
   went without one is "lost". */
static int reply_after_lost_send(struct smtp_client *c, struct smtpgate_upstream_reply *r,
				 const char *why)
{
	int code = read_reply(c, r, CLIENT_LATE_REPLY_MS);
	/* BDAT: the replies of chunks that got through come first. */
	while (code / 100 == 2 && c->chunks_in_flight > 0) {
		c->chunks_in_flight--;
		code = read_reply(c, r, CLIENT_LATE_REPLY_MS);
	}
	c->usable = 0;
	if (code / 100 == 4 || code / 100 == 5)
		return code;
	smtp_client_failure(c, r, "%s", why);
	return 0;
}

/* One reply, all its lines: its code, or 0 with r saying why. */
static int read_reply(struct smtp_client *c, struct smtpgate_upstream_reply *r, int timeout_ms)
{
	const char *why;
	int code = smtp_client_reply_read(&c->lb, timeout_ms, r,
					  c->collect_extensions ? &c->extensions : NULL, &why);
	if (code == 0) {
		smtp_client_failure(c, r, "%s", why);
		return 0;
	}
	if (c->unanswered > 0)
		c->unanswered--;
	if (code == 354)
		c->in_data = 1;
	return code;
}

int smtp_client_vsend(struct smtp_client *c, const char *fmt, va_list ap)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	if (!c->usable || n < 0 || (size_t)n >= sizeof(line) - 2 || memchr(line, '\r', (size_t)n) ||
	    memchr(line, '\n', (size_t)n))
		return -1;
	line[n++] = '\r';
	line[n++] = '\n';
	if (out_append(c, line, (size_t)n) < 0) {
		c->usable = 0;
		return -1;
	}
	c->unanswered++;
	return 0;
}

int smtp_client_vcommand(struct smtp_client *c, struct smtpgate_upstream_reply *r,
			 const char *fmt, va_list ap)
{
	if (smtp_client_vsend(c, fmt, ap) < 0) {
		smtp_client_failure(c, r, c->usable ? "command refused: too long or has CR/LF" : "connection lost");
		return 0;
	}
	return smtp_client_read_reply(c, r);
}

int smtp_client_command(struct smtp_client *c, struct smtpgate_upstream_reply *r,
			const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = smtp_client_vcommand(c, r, fmt, ap);
	va_end(ap);
	return rc;
}

/* EHLO (HELO when refused) or LHLO; remember the extensions. */
int smtp_client_introduce(struct smtp_client *c, const char *fqdn,
			  struct smtpgate_upstream_reply *r)
{
	c->collect_extensions = 1;
	int code = smtp_client_command(c, r, "%s %s", c->lmtp ? "LHLO" : "EHLO", fqdn);
	c->collect_extensions = 0;
	if (code >= 500 && !c->lmtp) {
		c->extensions.count = 0;
		code = smtp_client_command(c, r, "HELO %s", fqdn);
	}
	return code / 100 == 2 ? 0 : -1;
}

struct smtp_client *smtp_client_open(const char *hostport, int lmtp, const char *fqdn,
				     int connect_timeout_ms, int reply_timeout_ms,
				     struct smtpgate_upstream_reply *r)
{
	char why[300];
	int fd = smtp_client_connect(hostport, connect_timeout_ms, why, sizeof(why));
	if (fd < 0) {
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "%s: %s", hostport, why);
		return NULL;
	}
	struct smtp_client *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->fd = fd;
	c->usable = 1;
	c->lmtp = lmtp;
	c->reply_timeout_ms = reply_timeout_ms;
	snprintf(c->peer, sizeof(c->peer), "%s", hostport);
	conn_fd_init(&c->conn, fd, NULL, NULL);
	linebuf_init(&c->lb, &c->conn.base);

	if (smtp_client_read_reply(c, r) / 100 != 2 || smtp_client_introduce(c, fqdn, r) < 0) {
		smtp_client_close(c);
		return NULL;
	}
	return c;
}

/* The bytes of p..end before its first CR or LF.  One pass: a search for
   LF to the end per call would make a long line of bare CRs quadratic. */
static size_t line_run(const char *p, const char *end)
{
	const char *q = p;
	while (q < end && *q != '\n' && *q != '\r')
		q++;
	return (size_t)(q - p);
}

/* Message text out, piece after piece (the line state carried across
   pieces): LF, CR LF and a bare CR each become CR LF, and a leading dot is
   doubled (RFC 5321 2.3.8, 4.5.2): whatever the client's bare_lf mode
   kept, no bare CR or LF reaches the upstream, so no server that ends
   lines at one can see an end of data the client hid there. */
static int write_text(struct smtp_client *c, const char *p, size_t len)
{
	const char *end = p + len;
	while (p < end) {
		if (c->cr_pending && *p != '\n') { /* the CR before was bare */
			if (out_append(c, "\r\n", 2) < 0)
				return -1;
			c->line_start = 1;
		}
		c->cr_pending = 0;
		if (c->line_start && *p == '.' && out_append(c, ".", 1) < 0)
			return -1;
		size_t run = line_run(p, end);
		if (out_append(c, p, run) < 0)
			return -1;
		c->line_start = 0;
		p += run;
		if (p == end)
			break;
		if (*p == '\n') {
			if (out_append(c, "\r\n", 2) < 0)
				return -1;
			c->line_start = 1;
		} else {
			c->cr_pending = 1; /* CR LF or a bare CR: the next byte says */
		}
		p++;
	}
	return 0;
}

/* A bare CR last, the last line's end, then the end of data. */
static int write_end(struct smtp_client *c)
{
	if ((c->cr_pending && out_append(c, "\r\n", 2) < 0) || out_append(c, "\r\n.\r\n", 5) < 0)
		return -1;
	c->in_data = 0;
	return 0;
}

/* A whole message: its parts, then the end of data. */
static int write_message(struct smtp_client *c, const struct smtpgate_data_part *parts,
			 size_t nparts)
{
	c->line_start = 1;
	c->cr_pending = 0;
	for (size_t i = 0; i < nparts; i++)
		if (write_text(c, parts[i].data, parts[i].len) < 0)
			return -1;
	return write_end(c);
}

/* 1 if a part holds a NUL byte: RFC 5321 text has none, and only BDAT
   with BODY=BINARYMIME (RFC 3030) carries them, which this client does not
   speak, so such a message is never relayed. */
static int has_nul(const struct smtpgate_data_part *parts, size_t nparts)
{
	for (size_t i = 0; i < nparts; i++)
		if (memchr(parts[i].data, '\0', parts[i].len))
			return 1;
	return 0;
}

int smtp_client_message(struct smtp_client *c, const struct smtpgate_data_part *parts,
			size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies)
{
	if (nreplies == 0)
		return 0;
	if (!c->usable) {
		smtp_client_failure(c, &replies[0], "connection not usable");
	} else if (has_nul(parts, nparts)) {
		/* After the 354 nothing but the message may follow: closing the
		   connection (unusable now) aborts the upstream's transaction. */
		c->usable = 0;
		replies[0].code = 554;
		snprintf(replies[0].text, sizeof(replies[0].text),
			 "5.6.0 Error: the message has a NUL byte, which is not relayed");
	} else if (write_message(c, parts, nparts) < 0) {
		reply_after_lost_send(c, &replies[0], "connection lost while sending the message");
	}
	return read_message_replies(c, replies, nreplies);
}

/* After the end of data (or a failure before it): the replies, one per
   LMTP recipient; the ones after a failed read share its failure. */
static int read_message_replies(struct smtp_client *c, struct smtpgate_upstream_reply *replies,
				size_t nreplies)
{
	if (!c->usable) { /* no reply to read */
		for (size_t i = 1; i < nreplies; i++)
			replies[i] = replies[0];
		return 0;
	}
	c->unanswered += (int)nreplies; /* LMTP: one per recipient */
	size_t got = 0;
	while (got < nreplies && smtp_client_read_reply(c, &replies[got]) != 0)
		got++;
	for (size_t i = got + 1; i < nreplies; i++)
		replies[i] = replies[got];
	return (int)got;
}

int smtp_client_stream_begin(struct smtp_client *c)
{
	if (!c->usable || !c->in_data)
		return -1;
	c->line_start = 1;
	c->cr_pending = 0;
	c->stream_failed = STREAM_OK;
	return 0;
}

int smtp_client_stream_write(struct smtp_client *c, const char *data, size_t len)
{
	if (c->stream_failed || !c->usable)
		return -1;
	if (memchr(data, '\0', len)) {
		/* Part of the message is out: only closing the connection
		   (unusable now) aborts the upstream's transaction. */
		c->usable = 0;
		c->stream_failed = STREAM_NUL;
		return -1;
	}
	if (c->chunking)
		return chunks_write(c, data, len);
	if (write_text(c, data, len) < 0) {
		c->stream_failed = STREAM_LOST;
		return -1;
	}
	return 0;
}

int smtp_client_stream_end(struct smtp_client *c, struct smtpgate_upstream_reply *replies,
			   size_t nreplies)
{
	if (nreplies == 0)
		return 0;
	if (c->chunking && c->stream_failed == STREAM_OK && c->usable)
		chunks_end(c);
	if (c->stream_failed == STREAM_NUL) {
		replies[0].code = 554;
		snprintf(replies[0].text, sizeof(replies[0].text),
			 "5.6.0 Error: the message has a NUL byte, which is not relayed");
	} else if (c->stream_failed == STREAM_REFUSED) {
		replies[0] = c->chunk_refusal; /* a chunk refused, or its reply lost */
	} else if (c->stream_failed == STREAM_LOST) {
		/* The server may have refused and closed first (552): its reply. */
		reply_after_lost_send(c, &replies[0], "connection lost while sending the message");
	} else if (!c->usable || (!c->in_data && !c->chunking)) {
		/* No 354 before: an end of data would be a command to it. */
		smtp_client_failure(c, &replies[0], c->usable ? "no message in progress" : "connection not usable");
	} else if (!c->chunking && write_end(c) < 0) {
		reply_after_lost_send(c, &replies[0], "connection lost while sending the message");
	}
	c->stream_failed = STREAM_OK;
	c->chunking = 0;
	c->chunks_in_flight = 0;
	return read_message_replies(c, replies, nreplies);
}

int smtp_client_stream_begin_chunks(struct smtp_client *c)
{
	if (!c->usable || c->in_data || !smtp_client_extension(c, "CHUNKING", NULL))
		return -1;
	c->chunking = 1;
	c->chunk_window = smtp_client_extension(c, "PIPELINING", NULL) ? CLIENT_CHUNKS_IN_FLIGHT : 1;
	c->chunks_in_flight = 0;
	c->chunk_len = 0;
	c->cr_pending = 0;
	c->stream_failed = STREAM_OK;
	return 0;
}

/* The oldest chunk's reply: 0 for a 2xx; else -1, the message failed with
   the refusal (or why there was none) kept for the end, and the
   connection, out of step now, not to be used again. */
static int chunk_reply(struct smtp_client *c)
{
	struct smtpgate_upstream_reply r;
	int code = out_flush(c) < 0
			   ? reply_after_lost_send(c, &r, "connection lost while sending the message")
			   : read_reply(c, &r, c->reply_timeout_ms);
	if (c->chunks_in_flight > 0)
		c->chunks_in_flight--;
	if (code / 100 == 2)
		return 0;
	if (code != 0 && code / 100 != 4 && code / 100 != 5) {
		r.code = 0;
		snprintf(r.text, sizeof(r.text), "%s: unexpected reply %d to BDAT", c->peer, code);
	}
	c->chunk_refusal = r;
	c->stream_failed = STREAM_REFUSED;
	c->usable = 0;
	return -1;
}

/* "BDAT n" (LAST at the end) and its n octets; when the window is full,
   the oldest chunk's reply is read first (RFC 3030 4.2: no chunk after a
   refused one). */
static int chunk_send(struct smtp_client *c, const char *data, size_t n, int last)
{
	char line[64];
	if (c->chunks_in_flight >= c->chunk_window && chunk_reply(c) < 0)
		return -1;
	int k = snprintf(line, sizeof(line), "BDAT %zu%s\r\n", n, last ? " LAST" : "");
	if (out_append(c, line, (size_t)k) < 0 || out_append(c, data, n) < 0) {
		c->stream_failed = STREAM_LOST;
		return -1;
	}
	if (!last) { /* LAST's replies are read_message_replies()' */
		c->chunks_in_flight++;
		c->unanswered++;
	}
	return 0;
}

/* A piece into the chunk being gathered, encoded as it goes in (a slice
   of len bytes needs at most 2 * len + 2); a full chunk goes out. */
static int chunks_write(struct smtp_client *c, const char *data, size_t len)
{
	while (len > 0) {
		size_t room = sizeof(c->chunk) - c->chunk_len;
		if (room < 4) {
			if (chunk_send(c, c->chunk, c->chunk_len, 0) < 0)
				return -1;
			c->chunk_len = 0;
			continue;
		}
		size_t take = len < (room - 2) / 2 ? len : (room - 2) / 2;
		c->chunk_len += smtp_client_chunk_encode(&c->cr_pending, data, take,
							 c->chunk + c->chunk_len);
		data += take;
		len -= take;
	}
	return 0;
}

/* BDAT m LAST: what is gathered, a bare CR's line end and the last
   line's end (the text has none, as for DATA); then the replies of the
   chunks still in flight: all 2xx, or the message failed (stream_failed
   says how). */
static void chunks_end(struct smtp_client *c)
{
	if (sizeof(c->chunk) - c->chunk_len < 4) {
		if (chunk_send(c, c->chunk, c->chunk_len, 0) < 0)
			return;
		c->chunk_len = 0;
	}
	if (c->cr_pending) {
		memcpy(c->chunk + c->chunk_len, "\r\n", 2);
		c->chunk_len += 2;
		c->cr_pending = 0;
	}
	memcpy(c->chunk + c->chunk_len, "\r\n", 2);
	c->chunk_len += 2;
	if (chunk_send(c, c->chunk, c->chunk_len, 1) < 0)
		return;
	while (c->chunks_in_flight > 0 && chunk_reply(c) == 0)
		;
}

int smtp_client_data(struct smtp_client *c, const struct smtpgate_data_part *parts,
		     size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies)
{
	if (nreplies == 0)
		return 0;
	int code = smtp_client_command(c, &replies[0], "DATA");
	if (code != 354) {
		/* A 2xx or 3xx other than 354 leaves us out of step with it. */
		if (code / 100 == 2 || code / 100 == 3)
			smtp_client_failure(c, &replies[0], "unexpected reply %d to DATA", code);
		return 0;
	}
	return smtp_client_message(c, parts, nparts, replies, nreplies);
}

int smtp_client_extension(const struct smtp_client *c, const char *keyword, const char **param_out)
{
	return smtp_client_extensions_find(&c->extensions, keyword, param_out);
}

/* The keyword lookup of smtp_client_extension(), over a bare list. */
int smtp_client_extensions_find(const struct smtp_client_extensions *ext, const char *keyword,
				const char **param_out)
{
	size_t klen = strlen(keyword);
	for (size_t i = 0; i < ext->count; i++) {
		const char *e = ext->line[i];
		if (strncasecmp(e, keyword, klen) == 0 && (e[klen] == '\0' || e[klen] == ' ')) {
			if (param_out)
				*param_out = e[klen] ? e + klen + 1 : "";
			return 1;
		}
	}
	return 0;
}

int smtp_client_usable(const struct smtp_client *c)
{
	return c && c->usable;
}

/* QUIT only where the server expects a command: inside a message it would
   be message text, and after commands still unanswered we are out of step.
   A close without QUIT aborts the server's transaction just as well. */
void smtp_client_close(struct smtp_client *c)
{
	if (!c)
		return;
	if (c->usable && !c->in_data && c->unanswered == 0) {
		struct smtpgate_upstream_reply r;
		int saved = c->reply_timeout_ms;
		c->reply_timeout_ms = saved < 5000 ? saved : 5000; /* QUIT is a courtesy */
		smtp_client_command(c, &r, "QUIT");
	}
	conn_fd_end_tls(&c->conn);
	close(c->fd);
	free(c);
}
