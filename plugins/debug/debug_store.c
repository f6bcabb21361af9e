/*
 * debug_store.c - where the debug plugin keeps what it gathers for one
 * message (the framed text, or jsonl's body): in memory, grown by
 * doubling, up to DEBUG_MEMORY_MAX_BYTES; past that everything goes to an
 * unnamed temporary file ($TMPDIR or /tmp, O_TMPFILE), so a large message
 * never costs its size in memory, and is read back in DEBUG_COPY_BYTES
 * pieces.
 *
 * Entry points: debug_store_init(), _put(), _each(), _drop(), _free(),
 * _alloc(), _write_all().  It never gives its file a name (a worker that dies leaves
 * nothing behind), never holds more than DEBUG_MEMORY_MAX_BYTES of the
 * message in memory, and never loses a write error: _each() returns it.
 * Allocation failure ends the worker, as in the core.
 */
#include "debug_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void grow(struct debug_store *b, size_t need);
static void spill_out(struct debug_store *b);

void *debug_store_alloc(const struct smtpgate_host *host, size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p) {
		/* A plugin cannot reach the core's log_panic, only the host's log. */
		host->log(SMTPGATE_LOG_ERROR, NULL, "event=panic reason=out-of-memory call=malloc "
			  "bytes=%zu", size);
		abort();
	}
	return p;
}

int debug_store_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return errno = EIO, -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* b->buf holds at least need bytes (doubling from 8 KiB). */
static void grow(struct debug_store *b, size_t need)
{
	if (need <= b->cap)
		return;
	size_t c = b->cap ? b->cap : 8192;
	while (c < need)
		c *= 2;
	char *n = realloc(b->buf, c);
	if (!n) {
		b->host->log(SMTPGATE_LOG_ERROR, NULL, "event=panic reason=out-of-memory "
			     "call=realloc bytes=%zu", c);
		abort();
	}
	b->buf = n;
	b->cap = c;
}

/* What memory holds to the temporary file (made at the first spill):
   memory is then free for what comes next. */
static void spill_out(struct debug_store *b)
{
	if (b->fd < 0 && !b->err) {
		const char *dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
		b->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (b->fd < 0)
			b->err = errno;
	}
	if (b->fd >= 0 && !b->err && debug_store_write_all(b->fd, b->buf, b->len) < 0)
		b->err = errno;
	b->len = 0;
}

void debug_store_init(struct debug_store *b, const struct smtpgate_host *host)
{
	memset(b, 0, sizeof(*b));
	b->host = host;
	b->fd = -1;
}

void debug_store_put(struct debug_store *b, const char *p, size_t len)
{
	if (len == 0)
		return; /* p may be NULL then */
	if (b->len + len > DEBUG_MEMORY_MAX_BYTES) {
		spill_out(b);
		if (len > DEBUG_MEMORY_MAX_BYTES) { /* more than the buffer: straight on */
			if (b->fd >= 0 && !b->err && debug_store_write_all(b->fd, p, len) < 0)
				b->err = errno;
			return;
		}
	}
	grow(b, b->len + len);
	memcpy(b->buf + b->len, p, len);
	b->len += len;
}

int debug_store_each(struct debug_store *b, int (*fn)(void *ctx, const char *p, size_t len),
		     void *ctx)
{
	if (b->fd >= 0)
		spill_out(b);
	if (b->err)
		return errno = b->err, -1;
	if (b->fd < 0)
		return b->len ? fn(ctx, b->buf, b->len) : 0;
	if (lseek(b->fd, 0, SEEK_SET) < 0)
		return -1;
	grow(b, DEBUG_COPY_BYTES); /* empty now: the buffer reads the file back */
	for (;;) {
		ssize_t n = read(b->fd, b->buf, DEBUG_COPY_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		if (fn(ctx, b->buf, (size_t)n) < 0)
			return -1;
	}
}

void debug_store_drop(struct debug_store *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->err = 0;
	b->len = 0;
	if (b->cap > DEBUG_MEMORY_MAX_BYTES) {
		free(b->buf);
		b->buf = NULL;
		b->cap = 0;
	}
}

void debug_store_free(struct debug_store *b)
{
	debug_store_drop(b);
	free(b->buf);
	b->buf = NULL;
	b->cap = 0;
}
