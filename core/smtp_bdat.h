/* smtp_bdat.h - BDAT chunks (RFC 3030) into the message as DATA gives it. */
#ifndef SMTPGATE_SMTP_BDAT_H
#define SMTPGATE_SMTP_BDAT_H

#include <stddef.h>

#include "smtp_data.h"

/* The longest chunk size taken ("BDAT 999999999999999999"). */
#define SMTP_BDAT_SIZE_MAX_DIGITS 18

/* The decoder of one message's chunks.  held is a byte whose meaning the
   next byte decides: a CR (CR LF, or a bare CR) or a line end (the last
   one of the message is dropped, as DATA drops the one before its dot). */
struct smtp_bdat {
	enum bare_lf_policy policy;
	char held;                 /* 0, '\r' or '\n' */
	int bare_seen;             /* a bare CR or a bare LF */
	unsigned long long octets; /* chunk octets so far, as sent */
	char tail[2];              /* the last two octets so far */
};

void smtp_bdat_begin(struct smtp_bdat *d, enum bare_lf_policy policy);
/* Decode len octets of a chunk into out (room for len + 1 bytes): CR LF
   becomes LF; a bare LF is a line end; a bare CR stays CR, or becomes a
   line end with normalize; both set bare_seen.  No dot is removed.  The
   decoded length. */
size_t smtp_bdat_decode(struct smtp_bdat *d, const char *in, size_t len, char *out);
/* After the LAST chunk: what is still held, into out (room for 1 byte):
   a bare CR kept as such, nothing for the final line end.  The length. */
size_t smtp_bdat_finish(struct smtp_bdat *d, char *out);
/* The message size as DATA counts it: the octets without a final CR LF. */
unsigned long long smtp_bdat_size(const struct smtp_bdat *d);

/* "n" or "n LAST" (LAST in any case, one space): 0 with the size and
   the flag, -1 for anything else. */
int smtp_bdat_parse_arg(const char *arg, unsigned long long *size_out, int *last_out);

#endif
