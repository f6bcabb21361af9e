/* smtp_enhanced.h - RFC 2034/3463 enhanced status codes for replies that
   carry none. */
#ifndef SMTPGATE_SMTP_ENHANCED_H
#define SMTPGATE_SMTP_ENHANCED_H

#include <stddef.h>

/* The code a reply without one gets: verb is the command being answered
   (NULL for none), code the reply code.  Where Postfix sends a fixed code
   for a reply code (250 to MAIL 2.1.0, to RCPT 2.1.5; 500 5.5.2, 501 and
   504 and 555 5.5.4, 502 and 503 5.5.1, 552 5.3.4) that one, else the
   class's default "X.0.0". */
const char *smtp_enhanced_default(const char *verb, int code);

/* 1 if the reply line (with or without CR LF) already carries one after
   its code: "250 2.1.0 ..." or "250-2.1.0 ...". */
int smtp_enhanced_present(const char *line, size_t len);

/* The reply line line[0..len) with the code inserted after "NNN " or
   "NNN-", into out (size bytes); its length.  Lines that take none (354,
   334, lines that are not replies, lines that have one) are copied as
   they are; so is a line that would not fit. */
size_t smtp_enhanced_apply(const char *verb, const char *line, size_t len, char *out,
			   size_t size);

#endif
