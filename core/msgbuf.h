/* msgbuf.h - a growing byte buffer (the message being received, the
   output of an in-memory connection). */
#ifndef SMTPGATE_MSGBUF_H
#define SMTPGATE_MSGBUF_H

#include <stddef.h>

struct msgbuf {
	char *data; /* NULL until something is appended */
	size_t len, cap;
};

/* Append; the bytes stay followed by a NUL (not counted in len), so text
   in a buffer can be read as a string. */
void msgbuf_append(struct msgbuf *b, const char *p, size_t len);
void msgbuf_reset(struct msgbuf *b);
void msgbuf_free(struct msgbuf *b);

#endif
