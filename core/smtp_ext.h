/* smtp_ext.h - the ESMTP extensions a listener may offer beyond smtpd.py's
   set, plugin EHLO keywords, and RFC 3461's xtext. */
#ifndef SMTPGATE_SMTP_EXT_H
#define SMTPGATE_SMTP_EXT_H

#include <stddef.h>

/* The `extensions` a listener may list, one bit each, in the order of
   smtp_ext_names. */
enum smtp_ext {
	SMTP_EXT_PIPELINING = 1u << 0,          /* RFC 2920 */
	SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 1, /* RFC 2034 */
	SMTP_EXT_CHUNKING = 1u << 2,            /* RFC 3030, BDAT */
	SMTP_EXT_DSN = 1u << 3                  /* RFC 3461 */
};

/* A listener in a config file without `extensions`. */
#define SMTP_EXT_CONFIG_DEFAULT \
	(SMTP_EXT_PIPELINING | SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_CHUNKING)

/* The names, bit i at index i, NULL-ended (the config's choices). */
extern const char *const smtp_ext_names[];

/* Is text an EHLO line a plugin may add: an esmtp-keyword (RFC 5321
   4.1.1.1: a letter or digit, then letters, digits and '-'), optionally
   a space and parameters of printable ASCII separated by single spaces,
   at most 200 bytes, and no keyword the core offers itself (DSN is the
   exception: see plugin.h)?  0, or -1 with *why_out saying what is wrong. */
int smtp_ext_keyword_check(const char *text, const char **why_out);
/* The keyword of an EHLO line: its length up to a space or the end. */
size_t smtp_ext_keyword_len(const char *text);

/* Is p[0..len) xtext (RFC 3461 4): "+" and two upper-case hex digits, or
   any printable ASCII but "+" and "=", at least one byte? */
int smtp_ext_xtext_valid(const char *p, size_t len);

/* RFC 3461's parameters: 0 when value (what follows "KEY=") is valid for
   key, -1 otherwise.  RET=FULL|HDRS, ENVID=xtext (at most 100 bytes),
   NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY, ORCPT=addr-type;xtext
   (at most 500 bytes). */
int smtp_ext_dsn_param_check(const char *key, const char *value);

#endif
