/*
 * mailman_spool.c - the mailman handler's copy of a message for its lists.
 *
 * Mailman gets the message once per list, in its own LMTP transaction,
 * after the final dot; the message arrives piece by piece before that.
 * The pieces are kept in memory up to MAILMAN_SPOOL_MEMORY_MAX_BYTES,
 * beyond that in an unnamed temporary file (O_TMPFILE in $TMPDIR or /tmp,
 * as the debug handler spills), and read back in pieces for each list, so
 * a large message never costs its size in memory.  The file has no name
 * at any time: a worker killed mid-message leaves nothing behind.
 *
 * It never holds more than MAILMAN_SPOOL_MEMORY_MAX_BYTES, never gives a
 * part of the message twice or out of order, and never hides a failure:
 * the first one is kept (sp->error, sp->failed) for the client's 4xx.
 */
#include "mailman.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int spool_fail(struct mailman_spool *sp, const char *what, int error);
static int spool_write_all(struct mailman_spool *sp, const char *p, size_t len);
static int spool_grow(struct mailman_spool *sp, size_t need);

void mailman_spool_init(struct mailman_spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
}

const char *mailman_spool_dir(void)
{
	const char *dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/tmp";
}

/* The first failure is the one reported. */
static int spool_fail(struct mailman_spool *sp, const char *what, int error)
{
	if (!sp->error) {
		sp->error = error ? error : EIO;
		sp->failed = what;
	}
	return -1;
}

static int spool_write_all(struct mailman_spool *sp, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(sp->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return spool_fail(sp, "written", n < 0 ? errno : ENOSPC);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The buffer holds at least need bytes (doubling from 8 KiB). */
static int spool_grow(struct mailman_spool *sp, size_t need)
{
	if (need <= sp->cap)
		return 0;
	size_t c = sp->cap ? sp->cap : 8192;
	while (c < need)
		c *= 2;
	char *n = realloc(sp->buf, c);
	if (!n)
		return spool_fail(sp, "allocated", ENOMEM);
	sp->buf = n;
	sp->cap = c;
	return 0;
}

int mailman_spool_write(struct mailman_spool *sp, const char *data, size_t len)
{
	if (sp->error)
		return -1;
	if (sp->fd < 0 && sp->len + len <= MAILMAN_SPOOL_MEMORY_MAX_BYTES) {
		if (spool_grow(sp, sp->len + len) < 0)
			return -1;
		memcpy(sp->buf + sp->len, data, len);
		sp->len += len;
		return 0;
	}
	if (sp->fd < 0) {
		/* Past the memory bound: what is in memory goes first. */
		sp->fd = open(mailman_spool_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (sp->fd < 0)
			return spool_fail(sp, "opened", errno);
		if (spool_write_all(sp, sp->buf, sp->len) < 0)
			return -1;
		sp->len = 0;
	}
	return spool_write_all(sp, data, len);
}

int mailman_spool_send(struct mailman_spool *sp, const struct smtpgate_host *host,
		       struct smtpgate_client *c)
{
	if (sp->error)
		return -1;
	if (sp->fd < 0)
		return sp->len ? host->client_stream_write(c, sp->buf, sp->len) : 0;
	if (spool_grow(sp, MAILMAN_SPOOL_PIECE_BYTES) < 0)
		return -1;
	for (off_t at = 0;;) {
		ssize_t n = pread(sp->fd, sp->buf, MAILMAN_SPOOL_PIECE_BYTES, at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return spool_fail(sp, "read", errno);
		if (n == 0)
			return 0;
		if (host->client_stream_write(c, sp->buf, (size_t)n) < 0)
			return -1;
		at += n;
	}
}

void mailman_spool_drop(struct mailman_spool *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->buf);
	mailman_spool_init(sp);
}
