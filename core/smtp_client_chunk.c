/*
 * smtp_client_chunk.c - pure: message text as the octets of BDAT chunks
 * (RFC 3030), a piece at a time, for a message streamed to a server that
 * offers CHUNKING.
 *
 * LF, CR LF and a bare CR each become CR LF, as for DATA, so no bare CR
 * or LF reaches the upstream; but no dot is doubled: a chunk's size says
 * where it ends, and its octets are the message as it is.  It never does
 * I/O and never writes past the room it was promised.
 */
#include "smtp_client.h"

/* One piece: its octets into out (unless NULL: then only counted). */
size_t smtp_client_chunk_encode(int *cr_pending, const char *in, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = in[i];
		if (*cr_pending) { /* the CR before: with this LF or bare, one line end */
			*cr_pending = 0;
			if (out) {
				out[n] = '\r';
				out[n + 1] = '\n';
			}
			n += 2;
			if (ch == '\n')
				continue;
		}
		if (ch == '\r') {
			*cr_pending = 1; /* the next byte says if it is bare */
		} else if (ch == '\n') {
			if (out) {
				out[n] = '\r';
				out[n + 1] = '\n';
			}
			n += 2;
		} else {
			if (out)
				out[n] = ch;
			n++;
		}
	}
	return n;
}
