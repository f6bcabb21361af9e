/* smtp_parse.h - pure parsing of SMTP command lines, paths and parameters. */
#ifndef SMTPGATE_SMTP_PARSE_H
#define SMTPGATE_SMTP_PARSE_H

#include <stddef.h>

/* Any address that fits the longest command line (548 bytes after EHLO),
   as smtpd.py takes; RFC 5321's 256-octet path limit is not enforced. */
#define SMTP_ADDRESS_MAX_BYTES 600
/* A command's verb or argument: anything the longest line can carry (an
   unknown verb is echoed whole, as smtpd.py does). */
#define SMTP_VERB_MAX_BYTES 600
#define SMTP_ARG_MAX_BYTES 600
/* The argument of a command line as read: AUTH's may carry a 12288-octet
   initial response (RFC 4954 4); other verbs' lines stop at 548 bytes. */
#define SMTP_COMMAND_ARG_MAX_BYTES 12400
/* As many parameters as an argument can hold ("K K K ..."): no limit of
   our own, as smtpd.py had none. */
#define SMTP_PARAMS_MAX (SMTP_ARG_MAX_BYTES / 2)

enum smtp_parse_status {
	SMTP_PARSE_OK = 0,
	SMTP_PARSE_EMPTY,       /* "500 Error: bad syntax" in smtpd.py */
	SMTP_PARSE_BAD_BYTES,   /* NUL or invalid UTF-8: smtpd.py crashed */
};

/* A command line split as smtpd.py splits it: the verb is everything up to
   the first space, upper-cased; the argument is the rest, stripped, or
   absent (has_arg 0) when there is no space. */
struct smtp_command {
	char verb[SMTP_VERB_MAX_BYTES]; /* printable ASCII, '?' elsewhere, cut */
	int verb_truncated;
	int has_arg;
	char arg[SMTP_COMMAND_ARG_MAX_BYTES]; /* NUL-terminated: the line had no NUL */
};

int smtp_parse_command(const char *line, size_t len, struct smtp_command *out);

/* 1 if p[0..len) is valid UTF-8 (overlongs and surrogates refused). */
int utf8_valid(const char *p, size_t len);

/* MAIL FROM:/RCPT TO: argument -> address and parameter text.  keyword is
   "FROM:" or "TO:".  *address_out gets the path without brackets ("" for
   <>, when allow_null).  *params_out points into arg.  0, or -1 for a
   syntax error. */
int smtp_parse_path(const char *arg, const char *keyword, int allow_null,
		    char *address_out, size_t address_size, const char **params_out);

/* ESMTP parameters, as smtpd.py's _getparams(): split on spaces, upper-
   cased (but for the values of ENVID, ORCPT and AUTH), each KEY or KEY=VALUE with an alphanumeric KEY and a non-empty
   VALUE.  0, or -1 for a syntax error (or parameters longer than an
   argument can be). */
struct smtp_params {
	size_t count;
	char text[SMTP_ARG_MAX_BYTES];      /* the parameters, each NUL-terminated */
	const char *param[SMTP_PARAMS_MAX]; /* into text: "KEY=VALUE" or "KEY" */
	const char *value[SMTP_PARAMS_MAX]; /* into text, NULL for a bare KEY */
	size_t key_len[SMTP_PARAMS_MAX];
};

int smtp_parse_params(const char *params, struct smtp_params *out);
/* Index of KEY (case-sensitive, upper case), the last one as in a Python
   dict; -1 if absent. */
int smtp_params_find(const struct smtp_params *p, const char *key);

#endif
