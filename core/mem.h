/* mem.h - allocation that cannot fail: on failure it logs the size
   (log_panic, "event=panic reason=out-of-memory") and aborts. */
#ifndef SMTPGATE_MEM_H
#define SMTPGATE_MEM_H

#include <stddef.h>

/* Never NULL, even for 0 bytes.  Free with free(3). */
void *mem_malloc(size_t size);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t size);
char *mem_strdup(const char *s);

#endif
