/* smtp_body.h - a message body cut into bounded pieces as it arrives:
   the header block held back when asked, UTF-8 checked across pieces. */
#ifndef SMTPGATE_SMTP_BODY_H
#define SMTPGATE_SMTP_BODY_H

#include <stddef.h>

#include "msgbuf.h"
#include "smtp_data.h"

#define SMTP_BODY_PIECE_MAX_BYTES (64 * 1024)  /* plugin.h: on_body's pieces */
#define SMTP_BODY_HEADER_MAX_BYTES (1024 * 1024) /* SMTPGATE_STREAM_WHOLE_HEADER */

/* What smtp_body_feed() and smtp_body_end() return besides 0 and a sink's
   own nonzero answer. */
#define SMTP_BODY_BAD_UTF8 -2        /* decode_data and not UTF-8 */
#define SMTP_BODY_HEADER_TOO_BIG -3  /* the header block passed its limit */

/* UTF-8 checked piece by piece: a sequence cut between two pieces is
   carried over and checked whole. */
struct utf8_stream {
	unsigned char carry[4];
	size_t carry_len;
	int bad;
};

/* Feed the next bytes: 0 while what came is valid so far, -1 once not. */
int utf8_stream_feed(struct utf8_stream *u, const char *p, size_t len);
/* At the end: 0 if the whole was valid UTF-8 (nothing left incomplete). */
int utf8_stream_end(const struct utf8_stream *u);

/* Where the sink sends a piece: 0, or nonzero to stop (returned as is). */
typedef int (*smtp_body_sink)(void *arg, const char *p, size_t len);

struct smtp_body {
	int whole_header;            /* hold the header block for the first piece */
	int check_utf8;              /* decode_data: the body must be UTF-8 */
	struct utf8_stream utf8;
	struct msgbuf *hold;         /* the header block while it is held */
	int header_done;             /* the header block went out (or none held) */
	size_t scan;                 /* where the search for its end resumes */
	unsigned long long total;    /* bytes given to the sink */
};

void smtp_body_begin(struct smtp_body *b, int whole_header, int check_utf8,
		     struct msgbuf *hold);
/* Decoded bytes: checked, then to the sink in pieces of at most
   SMTP_BODY_PIECE_MAX_BYTES (the header block, held, comes first whole). */
int smtp_body_feed(struct smtp_body *b, const char *p, size_t len, smtp_body_sink sink,
		   void *arg);
/* The end of the message: what is held goes out, the UTF-8 check ends. */
int smtp_body_end(struct smtp_body *b, smtp_body_sink sink, void *arg);

/* DATA's decoder (smtp_data.c) writes into out: how many of its bytes
   can no longer change - all but the last one, which a CR LF split across
   two reads or the terminator may still take back; all of them at the
   end (end set).  smtp_body_consume() then drops the first n. */
size_t smtp_body_settled(const struct msgbuf *out, int end);
void smtp_body_consume(struct msgbuf *out, size_t n);

#endif
