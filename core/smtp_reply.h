/* smtp_reply.h - reply objects: code, enhanced code, text, validation. */
#ifndef SMTPGATE_SMTP_REPLY_H
#define SMTPGATE_SMTP_REPLY_H

#include <stdarg.h>
#include <stddef.h>

#include "smtpgate/plugin.h"

#define SMTP_REPLY_TEXT_MAX_BYTES 480 /* a reply line stays within 512 */

/* The body of the plugin header's opaque struct smtpgate_reply. */
struct smtpgate_reply {
	int code;         /* 0: not set */
	char enhanced[16]; /* "" or "x.y.z" */
	char text[SMTP_REPLY_TEXT_MAX_BYTES];
};

void smtp_reply_clear(struct smtpgate_reply *r);
/* Set code, enhanced code and text; CR, LF and other control characters
   in the text become spaces.  An enhanced code that is not x.y.z with a
   class matching the code's first digit is dropped. */
void smtp_reply_vset(struct smtpgate_reply *r, int code, const char *enhanced,
		     const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
void smtp_reply_set(struct smtpgate_reply *r, int code, const char *enhanced,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Check a hook's answer: the verdict must be a known one and the reply
   code (when set) must be of the verdict's class; REJECT and TEMPFAIL need
   a reply.  0 if fine, -1 with a reason. */
int smtp_reply_check(enum smtpgate_verdict verdict, const struct smtpgate_reply *r,
		     const char **why_out);

/* "CODE[ ENH] TEXT\r\n" into buf; the length, or 0 if it did not fit. */
size_t smtp_reply_format(const struct smtpgate_reply *r, char *buf, size_t size);

/* A formatted reply line, "NNN text\r\n" or "NNN-text\r\n", in line[size]:
   without an enhanced status code it gets its code's default (RFC 3463,
   the codes Postfix gives the same replies); one with a code, of class
   1 or 3, or not a reply line stays as it is.  Returns the new length
   (the text is cut when it would not fit, the CR LF kept). */
size_t smtp_reply_line_enhance(char *line, size_t len, size_t size);

const char *smtpgate_verdict_name(enum smtpgate_verdict verdict);

#endif
