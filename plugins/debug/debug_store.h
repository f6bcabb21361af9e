/* debug_store.h - bytes kept in order by the debug plugin: in memory up to
   DEBUG_MEMORY_MAX_BYTES, past that in an unnamed temporary file. */
#ifndef SMTPGATE_DEBUG_STORE_H
#define SMTPGATE_DEBUG_STORE_H

#include <stddef.h>

#include <smtpgate/plugin.h>

#define DEBUG_MEMORY_MAX_BYTES (1024 * 1024) /* then a temporary file */
#define DEBUG_COPY_BYTES 65536               /* read back from it at a time */

struct debug_store {
	const struct smtpgate_host *host; /* its log, before an out-of-memory abort */
	char *buf;
	size_t len, cap;
	int fd;  /* the temporary file (made at the first spill), or -1 */
	int err; /* errno of a failure to make or write it, or 0 */
};

/* Empty, no file yet. */
void debug_store_init(struct debug_store *b, const struct smtpgate_host *host);
/* len bytes after the others (a write error is kept for _each). */
void debug_store_put(struct debug_store *b, const char *p, size_t len);
/* Every byte in order through fn, at most DEBUG_COPY_BYTES at a time once
   spilled (all at once from memory): 0, or -1 with errno (a kept write
   error, a read error, or fn's -1). */
int debug_store_each(struct debug_store *b, int (*fn)(void *ctx, const char *p, size_t len),
		     void *ctx);
/* Emptied for the next message: the file closed, a big buffer freed. */
void debug_store_drop(struct debug_store *b);
/* Emptied and its memory freed. */
void debug_store_free(struct debug_store *b);
/* All of p to fd, through short writes and EINTR: 0, or -1 with errno. */
int debug_store_write_all(int fd, const char *p, size_t len);
/* size bytes of memory, or the worker ends (logged first). */
void *debug_store_alloc(const struct smtpgate_host *host, size_t size);

#endif
