/*
 * auth_dovecot.c - backend "dovecot": a client of Dovecot's auth-client
 * socket (its authentication protocol 1.x, what Postfix's
 * smtpd_sasl_type = dovecot speaks).  Lines of TAB-separated fields:
 *
 *   us:   VERSION 1 2, CPID <pid>
 *   it:   VERSION 1 x, MECH <name> ..., SPID, CUID, COOKIE, DONE
 *   us:   AUTH <id> PLAIN service=smtp nologin [secured] rip= lip= resp=<b64>
 *   it:   OK <id> user=<name> ... | FAIL <id> [temp] ... | CONT <id> ...
 *
 * The session runs the SASL dialogue with the client itself (PLAIN or
 * LOGIN alike) and asks Dovecot with PLAIN and the whole response, so
 * one round trip decides.  One connection per worker, kept across
 * sessions and made again when Dovecot closed it.  Anything but OK or a
 * plain FAIL (no answer in time, a refused connection, a line it should
 * not send) is AUTH_TEMPFAIL: never a 235 on doubt.
 *
 * It never logs; the response (a password) is wiped once sent, and a
 * reason it returns never holds one.
 */
#include "auth_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base64.h"
#include "clock.h"
#include "mem.h"

#define DOVECOT_LINE_MAX_BYTES 16384 /* Dovecot's AUTH_CLIENT_MAX_LINE_LENGTH */
#define DOVECOT_PLAIN_MAX_BYTES 13000 /* authzid, authcid, password: within 12288 base64 */

struct auth_dovecot {
	char *path;
	int fd;                   /* -1: not connected */
	unsigned long next_id;
	size_t len;               /* bytes in buf not yet taken as lines */
	char buf[DOVECOT_LINE_MAX_BYTES + 1];
};

static void disconnect(struct auth_dovecot *d);
static int read_line(struct auth_dovecot *d, long long deadline, char **line_out,
		     char *err, size_t err_size);
static int write_all(int fd, const char *p, size_t len);
static int handshake(struct auth_dovecot *d, long long deadline, char *err, size_t err_size);
static int connect_socket(struct auth_dovecot *d, long long deadline, char *err,
			  size_t err_size);
static int field(const char *line, const char *name, char *out, size_t out_size);
static int reply_of(const char *line, const char *word, unsigned long id);
static enum auth_result answer(struct auth_dovecot *d, const char *request, unsigned long id,
			       long long deadline, char *user_out, size_t user_size, char *why,
			       size_t why_size, int *lost_out);
static int request_line(struct auth_dovecot *d, const struct auth_request *r, unsigned long id,
			char *out, size_t out_size);

struct auth_dovecot *auth_dovecot_new(const char *socket_path)
{
	struct auth_dovecot *d = mem_calloc(1, sizeof(*d));
	d->path = mem_strdup(socket_path);
	d->fd = -1;
	d->next_id = 1;
	return d;
}

void auth_dovecot_free(struct auth_dovecot *d)
{
	if (!d)
		return;
	disconnect(d);
	free(d->path);
	free(d);
}

/* Forget the connection (and whatever it had sent). */
static void disconnect(struct auth_dovecot *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->len = 0;
}

/* The next LF-ended line, the LF removed (valid until the next read):
   0, or -1 with err (timeout, closed, error, too long). */
static int read_line(struct auth_dovecot *d, long long deadline, char **line_out,
		     char *err, size_t err_size)
{
	static char line[DOVECOT_LINE_MAX_BYTES + 1];
	for (;;) {
		char *lf = memchr(d->buf, '\n', d->len);
		if (lf) {
			size_t n = (size_t)(lf - d->buf);
			memcpy(line, d->buf, n);
			line[n] = '\0';
			memmove(d->buf, lf + 1, d->len - n - 1);
			d->len -= n + 1;
			*line_out = line;
			return 0;
		}
		if (d->len == DOVECOT_LINE_MAX_BYTES) {
			snprintf(err, err_size, "a line from Dovecot is too long");
			return -1;
		}
		long long left = deadline - clock_ms();
		struct pollfd p = { .fd = d->fd, .events = POLLIN };
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r == 0) {
			snprintf(err, err_size, "no answer from Dovecot in time");
			return -1;
		}
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t got = r < 0 ? -1 : recv(d->fd, d->buf + d->len, DOVECOT_LINE_MAX_BYTES - d->len, 0);
		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			snprintf(err, err_size, "%s", got == 0 ? "Dovecot closed the connection"
							       : strerror(errno));
			return -1;
		}
		d->len += (size_t)got;
	}
}

/* Write the whole buffer (a UNIX socket takes our few lines at once). */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Both VERSION lines, then Dovecot's list up to DONE, which must offer
   PLAIN (the mechanism we ask with). */
static int handshake(struct auth_dovecot *d, long long deadline, char *err, size_t err_size)
{
	char hello[64];
	int n = snprintf(hello, sizeof(hello), "VERSION\t1\t2\nCPID\t%ld\n", (long)getpid());
	if (write_all(d->fd, hello, (size_t)n) < 0) {
		snprintf(err, err_size, "%s", strerror(errno));
		return -1;
	}
	int version_ok = 0, plain = 0;
	for (;;) {
		char *line;
		if (read_line(d, deadline, &line, err, err_size) < 0)
			return -1;
		if (strncmp(line, "VERSION\t", 8) == 0)
			version_ok = strncmp(line + 8, "1\t", 2) == 0;
		else if (strcmp(line, "MECH\tPLAIN") == 0 || strncmp(line, "MECH\tPLAIN\t", 11) == 0)
			plain = 1;
		else if (strcmp(line, "DONE") == 0)
			break;
	}
	if (!version_ok)
		snprintf(err, err_size, "Dovecot speaks another major version of its auth protocol");
	else if (!plain)
		snprintf(err, err_size, "Dovecot does not offer PLAIN: add it to auth_mechanisms");
	return version_ok && plain ? 0 : -1;
}

/* Connect to the socket and shake hands: 0, or -1 with err. */
static int connect_socket(struct auth_dovecot *d, long long deadline, char *err,
			  size_t err_size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(d->path) >= sizeof(sa.sun_path)) {
		snprintf(err, err_size, "the socket path is too long");
		return -1;
	}
	memcpy(sa.sun_path, d->path, strlen(d->path) + 1);
	d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->fd < 0 || connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, err_size, "connect to %s: %s", d->path, strerror(errno));
		disconnect(d);
		return -1;
	}
	if (handshake(d, deadline, err, err_size) < 0) {
		disconnect(d);
		return -1;
	}
	return 0;
}

int auth_dovecot_probe(struct auth_dovecot *d, int timeout_ms, char *err, size_t err_size)
{
	disconnect(d);
	int rc = connect_socket(d, clock_ms() + timeout_ms, err, err_size);
	disconnect(d);
	return rc;
}

/* The value of an optional name=value field of a reply line into out
   (cut to fit); 1 if present.  A bare name (a flag) gives "". */
static int field(const char *line, const char *name, char *out, size_t out_size)
{
	size_t nl = strlen(name);
	for (const char *f = strchr(line, '\t'); f; f = strchr(f + 1, '\t')) {
		const char *v = f + 1;
		if (strncmp(v, name, nl) != 0 || (v[nl] != '=' && v[nl] != '\t' && v[nl]))
			continue;
		size_t len = v[nl] == '=' ? strcspn(v + nl + 1, "\t") : 0;
		if (out_size)
			snprintf(out, out_size, "%.*s", (int)len, v + nl + 1);
		return 1;
	}
	return 0;
}

/* Is line Dovecot's reply word (OK, FAIL) to request id? */
static int reply_of(const char *line, const char *word, unsigned long id)
{
	char prefix[48];
	int n = snprintf(prefix, sizeof(prefix), "%s\t%lu", word, id);
	return strncmp(line, prefix, (size_t)n) == 0 && (line[n] == '\t' || line[n] == '\0');
}

/* Send one request and read its answer.  *lost_out: 1 when the
   connection failed (the caller may try once more on a fresh one). */
static enum auth_result answer(struct auth_dovecot *d, const char *request, unsigned long id,
			       long long deadline, char *user_out, size_t user_size, char *why,
			       size_t why_size, int *lost_out)
{
	*lost_out = 0;
	if (write_all(d->fd, request, strlen(request)) < 0) {
		snprintf(why, why_size, "write to Dovecot: %s", strerror(errno));
		*lost_out = 1;
		return AUTH_TEMPFAIL;
	}
	for (;;) {
		char *line, code[32] = "", user[AUTH_USER_MAX_BYTES] = "";
		if (read_line(d, deadline, &line, why, why_size) < 0) {
			*lost_out = 1;
			return AUTH_TEMPFAIL;
		}
		if (reply_of(line, "OK", id)) {
			if (field(line, "user", user, sizeof(user)) && user[0])
				snprintf(user_out, user_size, "%s", user);
			return AUTH_OK;
		}
		if (reply_of(line, "FAIL", id)) {
			field(line, "code", code, sizeof(code));
			if (field(line, "temp", NULL, 0) || strcmp(code, "temp_fail") == 0) {
				snprintf(why, why_size, "Dovecot: temporary failure");
				return AUTH_TEMPFAIL;
			}
			snprintf(why, why_size, "Dovecot: credentials refused");
			return AUTH_FAIL;
		}
		if (reply_of(line, "CONT", id)) {
			snprintf(why, why_size, "Dovecot asked for more than PLAIN's one response");
			return AUTH_TEMPFAIL;
		}
		/* Other lines (an earlier request's late answer) are not ours. */
	}
}

/* The request line for r, its resp= the PLAIN message; -1 if too long. */
static int request_line(struct auth_dovecot *d, const struct auth_request *r, unsigned long id,
			char *out, size_t out_size)
{
	static unsigned char plain[DOVECOT_PLAIN_MAX_BYTES];
	static char resp[BASE64_ENCODED_MAX(DOVECOT_PLAIN_MAX_BYTES)];
	size_t zl = strlen(r->authzid), cl = strlen(r->authcid), pl = strlen(r->password);
	(void)d;
	if (zl + cl + pl + 2 > sizeof(plain))
		return -1;
	memcpy(plain, r->authzid, zl);
	plain[zl] = '\0';
	memcpy(plain + zl + 1, r->authcid, cl);
	plain[zl + 1 + cl] = '\0';
	memcpy(plain + zl + cl + 2, r->password, pl);
	base64_encode(plain, zl + cl + pl + 2, resp, sizeof(resp));
	auth_util_wipe(plain, zl + cl + pl + 2);
	/* The addresses are the session's own text (inet_ntop's), never
	   holding a TAB or LF. */
	int n = snprintf(out, out_size, "AUTH\t%lu\tPLAIN\tservice=smtp\tnologin%s\trip=%s\tlip=%s"
			 "\tresp=%s\n", id, r->secured ? "\tsecured" : "", r->client_addr,
			 r->local_addr, resp);
	auth_util_wipe(resp, strlen(resp));
	return n > 0 && (size_t)n < out_size ? 0 : -1;
}

enum auth_result auth_dovecot_verify(struct auth_dovecot *d, const struct auth_request *r,
				     int timeout_ms, char *user_out, size_t user_size,
				     char *why_out, size_t why_size)
{
	static char request[DOVECOT_LINE_MAX_BYTES + 512];
	long long deadline = clock_ms() + timeout_ms;
	enum auth_result res = AUTH_TEMPFAIL;
	unsigned long id = d->next_id++;
	if (request_line(d, r, id, request, sizeof(request)) < 0) {
		snprintf(why_out, why_size, "credentials too long for Dovecot");
		return AUTH_FAIL;
	}
	snprintf(user_out, user_size, "%s", r->authzid[0] ? r->authzid : r->authcid);
	/* A kept connection Dovecot has closed since (a restart) fails at
	   once: one more try on a fresh one. */
	for (int tries = 0; tries < 2; tries++) {
		int fresh = d->fd < 0, lost;
		if (fresh && connect_socket(d, deadline, why_out, why_size) < 0)
			break;
		res = answer(d, request, id, deadline, user_out, user_size, why_out, why_size, &lost);
		if (lost)
			disconnect(d);
		if (!lost || fresh)
			break;
	}
	auth_util_wipe(request, strlen(request));
	return res;
}
