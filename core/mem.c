/*
 * mem.c - the allocation wrappers of the core: malloc, calloc, realloc and
 * strdup that return memory or end the process.
 *
 * Allocation failure inside a session ends the worker (the master starts
 * another): a recovery path that was never executed is worse than a clean
 * end.  Before the abort the failing call and its size are logged through
 * log_panic(), which allocates nothing.  Never returns NULL; never frees.
 */
#include "mem.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Memory of size bytes (one when 0, so NULL always means failure). */
void *mem_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		log_panic("reason=out-of-memory call=malloc bytes=%zu", size);
	return p;
}

/* count zeroed elements of size bytes; an overflowing product fails too. */
void *mem_calloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		log_panic("reason=out-of-memory call=calloc count=%zu size=%zu", count, size);
	return p;
}

/* p grown or shrunk to size bytes; on failure p is still valid, but the
   process ends anyway. */
void *mem_realloc(void *p, size_t size)
{
	void *n = realloc(p, size ? size : 1);
	if (!n)
		log_panic("reason=out-of-memory call=realloc bytes=%zu", size);
	return n;
}

/* A copy of the string s. */
char *mem_strdup(const char *s)
{
	size_t len = strlen(s);
	char *copy = malloc(len + 1);
	if (!copy)
		log_panic("reason=out-of-memory call=strdup bytes=%zu", len + 1);
	memcpy(copy, s, len + 1);
	return copy;
}
