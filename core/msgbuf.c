/*
 * msgbuf.c - a growing byte buffer.  Allocation failure ends the process
 * (STYLE §5, through mem_realloc's logged panic): a worker that cannot hold
 * the message it is receiving has no recovery that was ever tested.
 * Never shrinks a buffer and never reads past len.
 */
#include "msgbuf.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* Append len bytes, growing by doubling. */
void msgbuf_append(struct msgbuf *b, const char *p, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		b->data = mem_realloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/* Empty the buffer, keeping its memory for the next message. */
void msgbuf_reset(struct msgbuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Give the memory back; the buffer is empty and usable again. */
void msgbuf_free(struct msgbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
