/*
 * test_smtp_reply.c - reply objects: setting with text sanitizing (CR, LF
 * and other control bytes become spaces, so a plugin can never inject a
 * second reply line), enhanced status code validation, wire formatting,
 * and the verdict/code check that turns a plugin's inconsistent answer
 * into the core's 451.
 */
#include <stdio.h>
#include <string.h>

#include "smtp_reply.h"
#include "unit.h"

static const struct {
	const char *name;
	int code;
	const char *enhanced;
	const char *text;
	const char *exp_enhanced;
	const char *exp_text;
	const char *exp_wire;
} set_rows[] = {
	{ "plain", 250, NULL, "OK", "", "OK", "250 OK\r\n" },
	{ "enhanced", 550, "5.1.1", "No such user", "5.1.1", "No such user",
	  "550 5.1.1 No such user\r\n" },
	{ "enhanced 2xx", 250, "2.0.0", "Ok", "2.0.0", "Ok", "250 2.0.0 Ok\r\n" },
	{ "enhanced 4xx", 451, "4.3.0", "later", "4.3.0", "later", "451 4.3.0 later\r\n" },
	{ "three-digit parts", 550, "5.999.999", "x", "5.999.999", "x", "550 5.999.999 x\r\n" },
	{ "class mismatch dropped", 550, "4.1.1", "x", "", "x", "550 x\r\n" },
	{ "2xx with 5.x.x dropped", 250, "5.0.0", "x", "", "x", "250 x\r\n" },
	{ "two parts dropped", 550, "5.1", "x", "", "x", "550 x\r\n" },
	{ "four parts dropped", 550, "5.1.1.1", "x", "", "x", "550 x\r\n" },
	{ "four-digit part dropped", 550, "5.1000.1", "x", "", "x", "550 x\r\n" },
	{ "empty part dropped", 550, "5..1", "x", "", "x", "550 x\r\n" },
	{ "letters dropped", 550, "5.1.x", "x", "", "x", "550 x\r\n" },
	{ "trailing space dropped", 550, "5.1.1 ", "x", "", "x", "550 x\r\n" },
	{ "empty enhanced", 550, "", "x", "", "x", "550 x\r\n" },
	{ "too long enhanced dropped", 550, "5.1.1111111111111", "x", "", "x", "550 x\r\n" },
	{ "CR LF injection", 550, NULL, "bad\r\n250 OK", "", "bad  250 OK", "550 bad  250 OK\r\n" },
	{ "bare LF", 550, NULL, "a\nb", "", "a b", "550 a b\r\n" },
	{ "tab and DEL", 250, NULL, "a\tb\177c", "", "a b c", "250 a b c\r\n" },
	{ "UTF-8 kept", 250, NULL, "ok \xc3\xa9", "", "ok \xc3\xa9", "250 ok \xc3\xa9\r\n" },
	{ "empty text", 250, NULL, "", "", "", "250 \r\n" },
};

static void test_reply_set(void)
{
	for (size_t i = 0; i < sizeof(set_rows) / sizeof(set_rows[0]); i++) {
		const char *row = set_rows[i].name;
		struct smtpgate_reply r;
		char wire[600];
		smtp_reply_clear(&r);
		smtp_reply_set(&r, set_rows[i].code, set_rows[i].enhanced, "%s", set_rows[i].text);
		UNIT_CHECK(row, r.code == set_rows[i].code);
		UNIT_CHECK_STR(row, r.enhanced, set_rows[i].exp_enhanced);
		UNIT_CHECK_STR(row, r.text, set_rows[i].exp_text);
		size_t n = smtp_reply_format(&r, wire, sizeof(wire));
		UNIT_CHECK_BYTES(row, wire, n, set_rows[i].exp_wire, strlen(set_rows[i].exp_wire));
	}
}

static void test_reply_format_args(void)
{
	struct smtpgate_reply r;
	smtp_reply_set(&r, 552, "5.3.4", "size %d over %s", 10, "limit");
	UNIT_CHECK_STR("printf-like", r.text, "size 10 over limit");
	/* A formatted argument is sanitized as well. */
	smtp_reply_set(&r, 550, NULL, "user %s", "x\r\nRSET");
	UNIT_CHECK_STR("argument sanitized", r.text, "user x  RSET");
}

/* Text is cut to fit: a reply line stays within 512 bytes. */
static void test_reply_long_text(void)
{
	char text[1000];
	memset(text, 'y', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	struct smtpgate_reply r;
	smtp_reply_set(&r, 550, "5.7.1", "%s", text);
	UNIT_CHECK("cut", strlen(r.text) == SMTP_REPLY_TEXT_MAX_BYTES - 1);
	char wire[600];
	size_t n = smtp_reply_format(&r, wire, sizeof(wire));
	UNIT_CHECK("fits a line", n > 0 && n <= 512);
	UNIT_CHECK("ends with CR LF", n >= 2 && memcmp(wire + n - 2, "\r\n", 2) == 0);
	UNIT_CHECK("one line", memchr(wire, '\n', n) == wire + n - 1);
}

static void test_reply_format_small_buffer(void)
{
	struct smtpgate_reply r;
	char buf[16];
	smtp_reply_set(&r, 250, NULL, "OK");
	UNIT_CHECK("exact fit", smtp_reply_format(&r, buf, 9) == 8);
	UNIT_CHECK("one byte short", smtp_reply_format(&r, buf, 8) == 0);
	smtp_reply_set(&r, 550, "5.1.1", "No such user");
	UNIT_CHECK("too small", smtp_reply_format(&r, buf, sizeof(buf)) == 0);
}

static void test_reply_clear(void)
{
	struct smtpgate_reply r;
	smtp_reply_set(&r, 550, "5.1.1", "x");
	smtp_reply_clear(&r);
	UNIT_CHECK("code", r.code == 0);
	UNIT_CHECK("enhanced", r.enhanced[0] == '\0');
	UNIT_CHECK("text", r.text[0] == '\0');
}

/* What a hook may answer: the reply's class must match the verdict. */
static const struct {
	const char *name;
	int verdict;
	int code;
	int rc;
} check_rows[] = {
	{ "CONTINUE without reply", SMTPGATE_CONTINUE, 0, 0 },
	{ "CONTINUE with 250", SMTPGATE_CONTINUE, 250, 0 },
	{ "CONTINUE with 550", SMTPGATE_CONTINUE, 550, -1 },
	{ "CONTINUE with 451", SMTPGATE_CONTINUE, 451, -1 },
	{ "ACCEPT without reply", SMTPGATE_ACCEPT, 0, 0 },
	{ "ACCEPT with 250", SMTPGATE_ACCEPT, 250, 0 },
	{ "ACCEPT with 251", SMTPGATE_ACCEPT, 251, 0 },
	{ "ACCEPT with 550", SMTPGATE_ACCEPT, 550, -1 },
	{ "ACCEPT with 451", SMTPGATE_ACCEPT, 451, -1 },
	{ "ACCEPT with 354", SMTPGATE_ACCEPT, 354, -1 },
	{ "REJECT without reply", SMTPGATE_REJECT, 0, -1 },
	{ "REJECT with 550", SMTPGATE_REJECT, 550, 0 },
	{ "REJECT with 599", SMTPGATE_REJECT, 599, 0 },
	{ "REJECT with 451", SMTPGATE_REJECT, 451, -1 },
	{ "REJECT with 250", SMTPGATE_REJECT, 250, -1 },
	{ "REJECT with 600", SMTPGATE_REJECT, 600, -1 },
	{ "TEMPFAIL without reply", SMTPGATE_TEMPFAIL, 0, -1 },
	{ "TEMPFAIL with 451", SMTPGATE_TEMPFAIL, 451, 0 },
	{ "TEMPFAIL with 550", SMTPGATE_TEMPFAIL, 550, -1 },
	{ "TEMPFAIL with 250", SMTPGATE_TEMPFAIL, 250, -1 },
	{ "DISCONNECT without reply", SMTPGATE_DISCONNECT, 0, 0 },
	{ "DISCONNECT with 421", SMTPGATE_DISCONNECT, 421, 0 },
	{ "DISCONNECT with 554", SMTPGATE_DISCONNECT, 554, 0 },
	{ "DISCONNECT with 700", SMTPGATE_DISCONNECT, 700, -1 },
	{ "DISCONNECT with 221", SMTPGATE_DISCONNECT, 221, 0 },
	{ "DISCONNECT with 250", SMTPGATE_DISCONNECT, 250, -1 },
	{ "DISCONNECT with 354", SMTPGATE_DISCONNECT, 354, -1 },
	{ "code 199", SMTPGATE_ACCEPT, 199, -1 },
	{ "code 100", SMTPGATE_CONTINUE, 100, -1 },
	{ "negative code", SMTPGATE_REJECT, -550, -1 },
	{ "unknown verdict", 99, 0, -1 },
	{ "unknown verdict with 250", 99, 250, -1 },
};

static void test_reply_check(void)
{
	for (size_t i = 0; i < sizeof(check_rows) / sizeof(check_rows[0]); i++) {
		const char *row = check_rows[i].name;
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		if (check_rows[i].code)
			r.code = check_rows[i].code;
		const char *why = NULL;
		int rc = smtp_reply_check((enum smtpgate_verdict)check_rows[i].verdict, &r, &why);
		UNIT_CHECK(row, rc == check_rows[i].rc);
		if (rc < 0)
			UNIT_CHECK(row, why != NULL && why[0] != '\0');
	}
}

static void test_verdict_names(void)
{
	static const struct { int verdict; const char *name; } rows[] = {
		{ SMTPGATE_CONTINUE, "continue" }, { SMTPGATE_ACCEPT, "accept" },
		{ SMTPGATE_REJECT, "reject" }, { SMTPGATE_TEMPFAIL, "tempfail" },
		{ SMTPGATE_DISCONNECT, "disconnect" }, { 42, "?" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		UNIT_CHECK_STR(rows[i].name,
			       smtpgate_verdict_name((enum smtpgate_verdict)rows[i].verdict),
			       rows[i].name);
}

/* ENHANCEDSTATUSCODES in effect (LMTP after LHLO): a reply line without
   a code gets its code's default; others stay byte for byte. */
static const struct {
	const char *name;
	const char *in;
	size_t size; /* the line's buffer; 0: room enough */
	const char *out;
} enhance_rows[] = {
	{ "250 gets 2.0.0", "250 OK\r\n", 0, "250 2.0.0 OK\r\n" },
	{ "221", "221 Bye\r\n", 0, "221 2.0.0 Bye\r\n" },
	{ "500 gets 5.5.2", "500 Error: bad syntax\r\n", 0, "500 5.5.2 Error: bad syntax\r\n" },
	{ "501 gets 5.5.4", "501 Syntax: NOOP\r\n", 0, "501 5.5.4 Syntax: NOOP\r\n" },
	{ "503 gets 5.5.1", "503 Error: need MAIL command\r\n", 0,
	  "503 5.5.1 Error: need MAIL command\r\n" },
	{ "552 gets 5.3.4", "552 Error: Too much mail data\r\n", 0,
	  "552 5.3.4 Error: Too much mail data\r\n" },
	{ "451", "451 later\r\n", 0, "451 4.3.0 later\r\n" },
	{ "unknown 4xx", "432 x\r\n", 0, "432 4.0.0 x\r\n" },
	{ "unknown 5xx", "571 x\r\n", 0, "571 5.0.0 x\r\n" },
	{ "continuation line", "250-SIZE 10\r\n", 0, "250-2.0.0 SIZE 10\r\n" },
	{ "has a code", "550 5.1.1 unknown\r\n", 0, "550 5.1.1 unknown\r\n" },
	{ "has a long code", "550 5.999.999 x\r\n", 0, "550 5.999.999 x\r\n" },
	{ "code without text", "250 2.0.0\r\n", 0, "250 2.0.0\r\n" },
	{ "other class's code", "550 4.1.1 x\r\n", 0, "550 5.0.0 4.1.1 x\r\n" },
	{ "looks like a code", "250 2.0 x\r\n", 0, "250 2.0.0 2.0 x\r\n" },
	{ "version number", "250 2.10.3beta\r\n", 0, "250 2.0.0 2.10.3beta\r\n" },
	{ "354 stays", "354 End data with <CR><LF>.<CR><LF>\r\n", 0,
	  "354 End data with <CR><LF>.<CR><LF>\r\n" },
	{ "334 stays", "334 VXNlcm5hbWU6\r\n", 0, "334 VXNlcm5hbWU6\r\n" },
	{ "not a reply", "hello\r\n", 0, "hello\r\n" },
	{ "no CR LF", "250 OK", 0, "250 OK" },
	{ "empty text", "250 \r\n", 0, "250 2.0.0 \r\n" },
	{ "text cut to fit", "250 abcdef\r\n", 16, "250 2.0.0 abcd\r\n" },
	{ "no room at all", "250 abcdef\r\n", 12, "250 abcdef\r\n" },
};

static void test_reply_line_enhance(void)
{
	for (size_t i = 0; i < sizeof(enhance_rows) / sizeof(enhance_rows[0]); i++) {
		char line[600];
		size_t len = strlen(enhance_rows[i].in);
		size_t size = enhance_rows[i].size ? enhance_rows[i].size : sizeof(line);
		memcpy(line, enhance_rows[i].in, len);
		len = smtp_reply_line_enhance(line, len, size);
		UNIT_CHECK(enhance_rows[i].name, len <= size);
		UNIT_CHECK_BYTES(enhance_rows[i].name, line, len, enhance_rows[i].out,
				 strlen(enhance_rows[i].out));
	}
}

int test_smtp_reply_register(void)
{
	CU_pSuite s = CU_add_suite("smtp_reply", NULL, NULL);
	if (!s || !CU_add_test(s, "smtp_reply_set table", test_reply_set) ||
	    !CU_add_test(s, "printf arguments sanitized", test_reply_format_args) ||
	    !CU_add_test(s, "long text cut to one line", test_reply_long_text) ||
	    !CU_add_test(s, "smtp_reply_format small buffer", test_reply_format_small_buffer) ||
	    !CU_add_test(s, "smtp_reply_clear", test_reply_clear) ||
	    !CU_add_test(s, "smtp_reply_check table", test_reply_check) ||
	    !CU_add_test(s, "verdict names", test_verdict_names) ||
	    !CU_add_test(s, "smtp_reply_line_enhance table", test_reply_line_enhance))
		return -1;
	return 0;
}
