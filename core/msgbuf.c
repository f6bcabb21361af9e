/*
 * msgbuf.c - a growing byte buffer.  Allocation failure ends the process
 * (STYLE §5): a worker that cannot hold the message it is receiving has
 * no recovery that was ever tested.
 */
#include "msgbuf.h"

#include <stdlib.h>
#include <string.h>

void msgbuf_append(struct msgbuf *b, const char *p, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *n = realloc(b->data, cap);
		if (!n)
			abort();
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void msgbuf_reset(struct msgbuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void msgbuf_free(struct msgbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
