/*
 * smtp_client.c - the SMTP/LMTP client plugins relay with (proxy, mailman).
 *
 * Entry points: smtp_client_open(), smtp_client_command(), _send(),
 * _read_reply(), _data(), _close(); smtp_client_reply_read() is the reply
 * parser over a bare line reader (the fuzz target feeds it from memory).
 * Every failure - refused connection, timeout, a reply that is not SMTP, a
 * connection lost - becomes a reply with code 0 and a text saying what
 * happened, so a plugin maps it to a 4xx and never mistakes silence for
 * success.  Message text goes out with CR LF line ends and doubled leading
 * dots whatever the client sent (a bare CR or LF becomes CR LF): nothing
 * can reach the upstream as an end-of-data it was not meant to be.  A
 * message with a NUL byte is never sent (554).
 */
#include "smtp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "linebuf.h"
#include "log.h"
#include "tls.h"

#define CLIENT_REPLY_LINE_MAX_BYTES 2048
#define CLIENT_REPLY_MAX_LINES 100
#define CLIENT_OUT_BUF_BYTES 65536
#define CLIENT_LATE_REPLY_MS 1000 /* for a reply sent before the server closed */

struct smtp_client {
	struct conn_fd conn;
	struct linebuf lb;
	int fd;
	int usable;
	int lmtp;
	int reply_timeout_ms;
	int collect_extensions; /* store the lines of the next reply after its first */
	int unanswered;         /* commands sent whose replies are not read yet */
	int in_data;            /* a 354 was read and the end of data not yet sent */
	int line_start;         /* message text: the next byte starts a line */
	int cr_pending;         /* ... a CR came last; the next byte says if bare */
	enum { STREAM_OK = 0, STREAM_LOST, STREAM_NUL } stream_failed;
	char peer[300];
	const char *tls_protocol, *tls_cipher; /* after STARTTLS; NULL before */
	struct smtp_client_extensions extensions; /* of the EHLO/LHLO reply */
	char out[CLIENT_OUT_BUF_BYTES];
	size_t out_len;
};

static void failure(struct smtp_client *c, struct smtpgate_upstream_reply *r,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int connect_with_timeout(const char *hostport, int timeout_ms, char *why, size_t why_size);
static int out_append(struct smtp_client *c, const char *p, size_t len);
static int out_flush(struct smtp_client *c);
static int introduce(struct smtp_client *c, const char *fqdn, struct smtpgate_upstream_reply *r);
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
static int read_reply(struct smtp_client *c, struct smtpgate_upstream_reply *r, int timeout_ms);
static int is_reply_line(const char *line, size_t len);

/* The connection is no longer usable; say why in the reply. */
static void failure(struct smtp_client *c, struct smtpgate_upstream_reply *r,
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

/* A connected (blocking) socket to the first address that answers. */
static int connect_with_timeout(const char *hostport, int timeout_ms, char *why, size_t why_size)
{
	struct hostport hp;
	const char *err;
	if (addr_split(hostport, &hp, &err) < 0) {
		snprintf(why, why_size, "bad upstream address \"%s\": %s", hostport, err);
		return -1;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *res;
	int rc = getaddrinfo(hp.host[0] ? hp.host : NULL, hp.port, &hints, &res);
	if (rc != 0) {
		snprintf(why, why_size, "cannot resolve \"%s\": %s", hp.host, gai_strerror(rc));
		return -1;
	}
	int fd = -1, saved = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* Commands are small and each waits for its answer: no Nagle delay. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int n;
			while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
				;
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			saved = n == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		} else {
			saved = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	/* Non-blocking only to bound connect(): struct conn_fd waits for
	   replies in a blocking recv() (one syscall per wait, not two). */
	int fl;
	if (fd >= 0 && ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		snprintf(why, why_size, "cannot connect: %s", strerror(saved));
	return fd;
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
		failure(c, r, "connection not usable");
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
	c->usable = 0;
	if (code / 100 == 4 || code / 100 == 5)
		return code;
	failure(c, r, "%s", why);
	return 0;
}

/* One reply, all its lines: its code, or 0 with r saying why. */
static int read_reply(struct smtp_client *c, struct smtpgate_upstream_reply *r, int timeout_ms)
{
	const char *why;
	int code = smtp_client_reply_read(&c->lb, timeout_ms, r,
					  c->collect_extensions ? &c->extensions : NULL, &why);
	if (code == 0) {
		failure(c, r, "%s", why);
		return 0;
	}
	if (c->unanswered > 0)
		c->unanswered--;
	if (code == 354)
		c->in_data = 1;
	return code;
}

/* True if a line of len bytes starts as an SMTP reply line must: three
   digits (2xx to 5xx), then the end, a space (last line) or '-'. */
static int is_reply_line(const char *line, size_t len)
{
	return len >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
	       line[2] >= '0' && line[2] <= '9' && (len == 3 || line[3] == ' ' || line[3] == '-');
}

/* The reply loop without the socket: lines from lb until the last one. */
int smtp_client_reply_read(struct linebuf *lb, int timeout_ms, struct smtpgate_upstream_reply *r,
			   struct smtp_client_extensions *ext, const char **why_out)
{
	size_t used = 0;
	r->code = 0;
	r->text[0] = '\0';
	for (int lines = 0; lines < CLIENT_REPLY_MAX_LINES; lines++) {
		const char *line;
		size_t len;
		int rc = linebuf_read_command(lb, CLIENT_REPLY_LINE_MAX_BYTES, timeout_ms, 0, &line, &len);
		if (rc == CONN_TIMEOUT) {
			*why_out = "timeout waiting for a reply";
			return 0;
		}
		if (rc < 0) {
			*why_out = "connection closed";
			return 0;
		}
		if (rc == LINEBUF_TOO_LONG || !is_reply_line(line, len)) {
			*why_out = "not an SMTP reply";
			return 0;
		}
		int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (lines > 0 && code != r->code) {
			*why_out = "reply lines with different codes";
			return 0;
		}
		r->code = code;
		if (ext && lines > 0 && len > 4 && ext->count < SMTP_CLIENT_EXTENSIONS_MAX) {
			size_t n = len - 4 < sizeof(ext->line[0]) - 1 ? len - 4 : sizeof(ext->line[0]) - 1;
			memcpy(ext->line[ext->count], line + 4, n);
			ext->line[ext->count++][n] = '\0';
		}
		if (len > 4) {
			int n = snprintf(r->text + used, sizeof(r->text) - used, "%s%.*s", used ? " " : "",
					 (int)(len - 4), line + 4);
			used = n < 0 ? used : used + (size_t)n >= sizeof(r->text) ? sizeof(r->text) - 1
										  : used + (size_t)n;
		}
		if (len == 3 || line[3] == ' ')
			return code;
	}
	*why_out = "reply too long";
	return 0;
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
		failure(c, r, c->usable ? "command refused: too long or has CR/LF" : "connection lost");
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
static int introduce(struct smtp_client *c, const char *fqdn, struct smtpgate_upstream_reply *r)
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
	int fd = connect_with_timeout(hostport, connect_timeout_ms, why, sizeof(why));
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

	if (smtp_client_read_reply(c, r) / 100 != 2 || introduce(c, fqdn, r) < 0) {
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
		failure(c, &replies[0], "connection not usable");
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
	if (c->stream_failed == STREAM_NUL) {
		replies[0].code = 554;
		snprintf(replies[0].text, sizeof(replies[0].text),
			 "5.6.0 Error: the message has a NUL byte, which is not relayed");
	} else if (c->stream_failed == STREAM_LOST) {
		/* The server may have refused and closed first (552): its reply. */
		reply_after_lost_send(c, &replies[0], "connection lost while sending the message");
	} else if (!c->usable || !c->in_data) {
		/* No 354 before: an end of data would be a command to it. */
		failure(c, &replies[0], c->usable ? "no message in progress" : "connection not usable");
	} else if (write_end(c) < 0) {
		reply_after_lost_send(c, &replies[0], "connection lost while sending the message");
	}
	c->stream_failed = STREAM_OK;
	return read_message_replies(c, replies, nreplies);
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
			failure(c, &replies[0], "unexpected reply %d to DATA", code);
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

int smtp_client_starttls(struct smtp_client *c, const char *fqdn, const char *name, int verify,
			 const char *ca_file, struct smtpgate_upstream_reply *r)
{
	char why[256];
	if (smtp_client_command(c, r, "STARTTLS") != 220)
		return -1;
	/* Bytes after the 220 came before TLS: read as replies later, they
	   would be a plaintext injection (CVE-2011-0411, seen from here). */
	if (linebuf_discard(&c->lb) > 0) {
		failure(c, r, "plaintext after the 220 to STARTTLS");
		return -1;
	}
	struct ssl_st *ssl = tls_client_conn_new(c->fd, name, verify, ca_file, why, sizeof(why));
	if (!ssl) {
		failure(c, r, "%s", why);
		return -1;
	}
	if (conn_fd_start_tls_client(&c->conn, ssl, c->reply_timeout_ms, why, sizeof(why)) < 0) {
		failure(c, r, "TLS handshake failed: %s", why);
		return -1;
	}
	struct tls_info info;
	tls_conn_info(ssl, &info);
	c->tls_protocol = info.protocol;
	c->tls_cipher = info.cipher;
	c->extensions.count = 0; /* RFC 3207 4.2: what the server said before is void */
	if (introduce(c, fqdn, r) < 0) {
		c->usable = 0;
		return -1;
	}
	return 0;
}

const char *smtp_client_tls(const struct smtp_client *c, const char **cipher_out)
{
	*cipher_out = c->tls_cipher;
	return c->tls_protocol;
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
