/*
 * test_esmtp.c - the pure parts of issue 18's ESMTP extensions, as
 * tables: BDAT's argument and the decoding of its chunks (fed whole, and
 * cut at every byte so a CR LF split between chunks is covered), the
 * enhanced status code each reply gets, the EHLO keywords a plugin may
 * add, and DSN's xtext and parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_bdat.h"
#include "smtp_enhanced.h"
#include "smtp_ext.h"
#include "unit.h"

struct bdat_arg_row {
	const char *name;
	const char *arg;
	int ok;
	unsigned long long size;
	int last;
};

static const struct bdat_arg_row bdat_arg_rows[] = {
	{ "size", "100", 1, 100, 0 },
	{ "zero LAST", "0 LAST", 1, 0, 1 },
	{ "last in lower case", "12 last", 1, 12, 1 },
	{ "18 digits", "999999999999999999", 1, 999999999999999999ULL, 0 },
	{ "19 digits", "9999999999999999999", 0, 0, 0 },
	{ "no size", NULL, 0, 0, 0 },
	{ "LAST without size", "LAST", 0, 0, 0 },
	{ "negative", "-1", 0, 0, 0 },
	{ "two spaces", "1  LAST", 0, 0, 0 },
	{ "other word", "1 FIRST", 0, 0, 0 },
	{ "trailing junk", "1 LASTX", 0, 0, 0 },
	{ "hex", "0x10", 0, 0, 0 },
};

static void test_bdat_arg(void)
{
	for (size_t i = 0; i < sizeof(bdat_arg_rows) / sizeof(bdat_arg_rows[0]); i++) {
		const struct bdat_arg_row *r = &bdat_arg_rows[i];
		unsigned long long size = 7;
		int last = 7;
		int rc = smtp_bdat_parse_arg(r->arg, &size, &last);
		UNIT_CHECK(r->name, (rc == 0) == r->ok);
		if (r->ok) {
			UNIT_CHECK(r->name, size == r->size);
			UNIT_CHECK(r->name, last == r->last);
		}
	}
}

struct bdat_row {
	const char *name;
	const char *input; /* all chunks' octets */
	size_t input_len;
	enum bare_lf_policy policy;
	const char *message; /* what the plugin gets */
	size_t message_len;
	unsigned long long size; /* as DATA counts */
	int bare_seen;
};

#define MSG(lit) (lit), (sizeof(lit) - 1)

static const struct bdat_row bdat_rows[] = {
	{ "two lines", UNIT_BYTES("a\r\nb\r\n"), BARE_LF_KEEP, MSG("a\nb"), 4, 0 },
	{ "empty", UNIT_BYTES(""), BARE_LF_KEEP, MSG(""), 0, 0 },
	{ "no final line end", UNIT_BYTES("a\r\nb"), BARE_LF_KEEP, MSG("a\nb"), 4, 0 },
	{ "dot lines are content", UNIT_BYTES(".\r\n..x\r\n.\r\n"), BARE_LF_KEEP,
	  MSG(".\n..x\n."), 9, 0 },
	{ "DATA's terminator is content", UNIT_BYTES("a\r\n.\r\nMAIL FROM:<x>\r\n"), BARE_LF_KEEP,
	  MSG("a\n.\nMAIL FROM:<x>"), 19, 0 },
	{ "empty line last", UNIT_BYTES("a\r\n\r\n"), BARE_LF_KEEP, MSG("a\n"), 3, 0 },
	{ "bare LF kept", UNIT_BYTES("a\nb\r\n"), BARE_LF_KEEP, MSG("a\nb"), 3, 1 },
	{ "bare CR kept", UNIT_BYTES("a\rb\r\n"), BARE_LF_KEEP, MSG("a\rb"), 3, 1 },
	{ "bare CR normalized", UNIT_BYTES("a\rb\r\n"), BARE_LF_NORMALIZE, MSG("a\nb"), 3, 1 },
	{ "bare CR flagged for reject", UNIT_BYTES("a\rb\r\n"), BARE_LF_REJECT, MSG("a\rb"), 3, 1 },
	{ "bare CR last kept", UNIT_BYTES("a\r"), BARE_LF_KEEP, MSG("a\r"), 2, 1 },
	{ "bare CR last normalized is the line end", UNIT_BYTES("a\r"), BARE_LF_NORMALIZE,
	  MSG("a"), 2, 1 },
	{ "CR CR LF", UNIT_BYTES("a\r\r\n"), BARE_LF_KEEP, MSG("a\r"), 2, 1 },
	{ "smuggling: LF . CR LF is content", UNIT_BYTES("a\n.\r\nb\r\n"), BARE_LF_NORMALIZE,
	  MSG("a\n.\nb"), 6, 1 },
	{ "NUL kept", UNIT_BYTES("\0\r\n"), BARE_LF_KEEP, MSG("\0"), 1, 0 },
};

/* Feed input in chunks of at most cut bytes (0: whole); the message. */
static char *decode(const struct bdat_row *r, size_t cut, size_t *len_out,
		    struct smtp_bdat *d)
{
	char *msg = malloc(r->input_len + 2);
	size_t n = 0;
	smtp_bdat_begin(d, r->policy);
	for (size_t at = 0; at < r->input_len;) {
		size_t len = cut && r->input_len - at > cut ? cut : r->input_len - at;
		n += smtp_bdat_decode(d, r->input + at, len, msg + n);
		at += len;
	}
	n += smtp_bdat_finish(d, msg + n);
	*len_out = n;
	return msg;
}

static void test_bdat_decode(void)
{
	for (size_t i = 0; i < sizeof(bdat_rows) / sizeof(bdat_rows[0]); i++) {
		const struct bdat_row *r = &bdat_rows[i];
		for (size_t cut = 0; cut <= 3; cut++) {
			char name[160];
			struct smtp_bdat d;
			size_t len;
			snprintf(name, sizeof(name), "%s [chunks of %zu]", r->name, cut);
			char *msg = decode(r, cut, &len, &d);
			UNIT_CHECK_BYTES(name, msg, len, r->message, r->message_len);
			UNIT_CHECK(name, smtp_bdat_size(&d) == r->size);
			UNIT_CHECK(name, d.bare_seen == r->bare_seen);
			UNIT_CHECK(name, d.octets == r->input_len);
			free(msg);
		}
	}
}

struct enhanced_row {
	const char *name;
	const char *verb;
	const char *line;
	const char *want;
};

static const struct enhanced_row enhanced_rows[] = {
	{ "MAIL's 250", "MAIL", "250 OK\r\n", "250 2.1.0 OK\r\n" },
	{ "RCPT's 250", "RCPT", "250 OK\r\n", "250 2.1.5 OK\r\n" },
	{ "DATA's 250", "DATA", "250 OK\r\n", "250 2.0.0 OK\r\n" },
	{ "QUIT", "QUIT", "221 Bye\r\n", "221 2.0.0 Bye\r\n" },
	{ "unknown command", NULL, "500 Error: command \"X\" not recognized\r\n",
	  "500 5.5.2 Error: command \"X\" not recognized\r\n" },
	{ "syntax", "MAIL", "501 Syntax: MAIL FROM: <address>\r\n",
	  "501 5.5.4 Syntax: MAIL FROM: <address>\r\n" },
	{ "bad sequence", "RCPT", "503 Error: need MAIL command\r\n",
	  "503 5.5.1 Error: need MAIL command\r\n" },
	{ "EXPN", "EXPN", "502 EXPN not implemented\r\n", "502 5.5.1 EXPN not implemented\r\n" },
	{ "size", "MAIL", "552 Error: message size exceeds fixed maximum message size\r\n",
	  "552 5.3.4 Error: message size exceeds fixed maximum message size\r\n" },
	{ "parameters", "MAIL", "555 MAIL FROM parameters not recognized or not implemented\r\n",
	  "555 5.5.4 MAIL FROM parameters not recognized or not implemented\r\n" },
	{ "plugin's 550: class default", "RCPT", "550 No such user\r\n",
	  "550 5.0.0 No such user\r\n" },
	{ "plugin's 451: class default", "DATA", "451 Try later\r\n", "451 4.0.0 Try later\r\n" },
	{ "has one already", "RCPT", "452 4.5.3 Error: too many recipients\r\n",
	  "452 4.5.3 Error: too many recipients\r\n" },
	{ "354 takes none", "DATA", "354 End data with <CR><LF>.<CR><LF>\r\n",
	  "354 End data with <CR><LF>.<CR><LF>\r\n" },
	{ "334 takes none", "AUTH", "334 VXNlcm5hbWU6\r\n", "334 VXNlcm5hbWU6\r\n" },
	{ "continued line", "HELP", "250-first\r\n", "250-2.0.0 first\r\n" },
	{ "code only", "NOOP", "250\r\n", "250 2.0.0\r\n" },
	{ "a number is no code", "VRFY", "252 2.5 apples\r\n", "252 2.0.0 2.5 apples\r\n" },
	{ "not a reply", NULL, "hello\r\n", "hello\r\n" },
};

static void test_enhanced(void)
{
	for (size_t i = 0; i < sizeof(enhanced_rows) / sizeof(enhanced_rows[0]); i++) {
		const struct enhanced_row *r = &enhanced_rows[i];
		char out[600];
		size_t len = smtp_enhanced_apply(r->verb, r->line, strlen(r->line), out, sizeof(out));
		UNIT_CHECK_BYTES(r->name, out, len, r->want, strlen(r->want));
	}
}

struct keyword_row {
	const char *name;
	const char *text;
	int ok;
};

static const struct keyword_row keyword_rows[] = {
	{ "plain", "XCLIENT", 1 },
	{ "with parameters", "XCLIENT NAME ADDR PORT", 1 },
	{ "digit first", "8BITX", 1 },
	{ "hyphen", "X-FOO", 1 },
	{ "DSN (the relay's declaration)", "DSN", 1 },
	{ "core's SIZE", "SIZE 100", 0 },
	{ "core's, other case", "pipelining", 0 },
	{ "core's CHUNKING", "CHUNKING", 0 },
	{ "core's AUTH", "AUTH PLAIN", 0 },
	{ "empty", "", 0 },
	{ "hyphen first", "-X", 0 },
	{ "underscore", "X_FOO", 0 },
	{ "two spaces", "XFOO  A", 0 },
	{ "trailing space", "XFOO ", 0 },
	{ "control byte", "XFOO A\tB", 0 },
	{ "CR LF", "XFOO\r\n250 X", 0 },
};

static void test_keywords(void)
{
	for (size_t i = 0; i < sizeof(keyword_rows) / sizeof(keyword_rows[0]); i++) {
		const struct keyword_row *r = &keyword_rows[i];
		const char *why = NULL;
		int rc = smtp_ext_keyword_check(r->text, &why);
		UNIT_CHECK(r->name, (rc == 0) == r->ok);
		UNIT_CHECK(r->name, r->ok || why != NULL);
	}
}

struct dsn_row {
	const char *name;
	const char *key;
	const char *value;
	int ok;
};

static const struct dsn_row dsn_rows[] = {
	{ "RET FULL", "RET", "FULL", 1 },
	{ "RET HDRS", "RET", "HDRS", 1 },
	{ "RET other", "RET", "BODY", 0 },
	{ "RET without value", "RET", NULL, 0 },
	{ "ENVID", "ENVID", "QQ314159", 1 },
	{ "ENVID hexchar", "ENVID", "A+2BB", 1 },
	{ "ENVID lower hexchar", "ENVID", "A+2b", 0 },
	{ "ENVID cut hexchar", "ENVID", "A+2", 0 },
	{ "ENVID with '='", "ENVID", "A=B", 0 },
	{ "ENVID too long", "ENVID",
	  "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	  "XXXXXXXXXXXXX", 0 },
	{ "NOTIFY NEVER", "NOTIFY", "NEVER", 1 },
	{ "NOTIFY list", "NOTIFY", "SUCCESS,FAILURE,DELAY", 1 },
	{ "NOTIFY NEVER with others", "NOTIFY", "NEVER,SUCCESS", 0 },
	{ "NOTIFY twice", "NOTIFY", "DELAY,DELAY", 0 },
	{ "NOTIFY empty item", "NOTIFY", "SUCCESS,", 0 },
	{ "ORCPT", "ORCPT", "RFC822;USER@EXAMPLE.ORG", 1 },
	{ "ORCPT xtext", "ORCPT", "RFC822;A+2BB@EXAMPLE.ORG", 1 },
	{ "ORCPT without type", "ORCPT", ";USER@EXAMPLE.ORG", 0 },
	{ "ORCPT without address", "ORCPT", "RFC822;", 0 },
	{ "ORCPT without ';'", "ORCPT", "USER@EXAMPLE.ORG", 0 },
	{ "unknown key", "BY", "100;R", 0 },
};

static void test_dsn(void)
{
	for (size_t i = 0; i < sizeof(dsn_rows) / sizeof(dsn_rows[0]); i++) {
		const struct dsn_row *r = &dsn_rows[i];
		UNIT_CHECK(r->name, (smtp_ext_dsn_param_check(r->key, r->value) == 0) == r->ok);
	}
}

int test_esmtp_register(void)
{
	CU_pSuite s = CU_add_suite("esmtp", NULL, NULL);
	if (!s || !CU_add_test(s, "BDAT argument", test_bdat_arg) ||
	    !CU_add_test(s, "BDAT chunks decoded", test_bdat_decode) ||
	    !CU_add_test(s, "enhanced status codes", test_enhanced) ||
	    !CU_add_test(s, "plugin EHLO keywords", test_keywords) ||
	    !CU_add_test(s, "DSN parameters", test_dsn))
		return -1;
	return 0;
}
