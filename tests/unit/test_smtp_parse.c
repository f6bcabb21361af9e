/*
 * test_smtp_parse.c - the pure parsers: command lines, MAIL/RCPT paths,
 * ESMTP parameters and the UTF-8 check, as tables of hostile and valid
 * inputs.  Expected values follow smtpd.py (its test_smtpd.py rows) and,
 * where smtpd.py crashed, the rules in core/smtp_parse.h.
 */
#include <stdio.h>
#include <string.h>

#include "smtp_parse.h"
#include "unit.h"

/* --- smtp_parse_command ------------------------------------------------ */

static const struct {
	const char *name;
	const char *line;
	size_t len;
	int rc;
	const char *verb;
	int has_arg;
	const char *arg;
	int verb_truncated;
} command_rows[] = {
	{ "helo", UNIT_BYTES("HELO example"), SMTP_PARSE_OK, "HELO", 1, "example", 0 },
	{ "lower-case verb", UNIT_BYTES("ehlo example"), SMTP_PARSE_OK, "EHLO", 1, "example", 0 },
	{ "mixed-case verb", UNIT_BYTES("MaIl FROM:<a@b>"), SMTP_PARSE_OK, "MAIL", 1, "FROM:<a@b>", 0 },
	{ "no argument", UNIT_BYTES("NOOP"), SMTP_PARSE_OK, "NOOP", 0, "", 0 },
	{ "space, empty argument", UNIT_BYTES("NOOP "), SMTP_PARSE_OK, "NOOP", 1, "", 0 },
	{ "argument stripped", UNIT_BYTES("MAIL   FROM:<a@b>  \t"), SMTP_PARSE_OK, "MAIL", 1,
	  "FROM:<a@b>", 0 },
	{ "inner spaces kept", UNIT_BYTES("QUIT bye  bye"), SMTP_PARSE_OK, "QUIT", 1, "bye  bye", 0 },
	{ "only a space", UNIT_BYTES(" "), SMTP_PARSE_OK, "", 1, "", 0 },
	{ "tab is not the separator", UNIT_BYTES("HELO\texample"), SMTP_PARSE_OK, "HELO?EXAMPLE", 0,
	  "", 0 },
	{ "control byte in verb", UNIT_BYTES("HE\001LO x"), SMTP_PARSE_OK, "HE?LO", 1, "x", 0 },
	{ "UTF-8 in verb", UNIT_BYTES("H\xc3\xa9LO x"), SMTP_PARSE_OK, "H??LO", 1, "x", 0 },
	{ "UTF-8 in argument", UNIT_BYTES("HELO \xc3\xa9x"), SMTP_PARSE_OK, "HELO", 1, "\xc3\xa9x", 0 },
	{ "verb of 40 bytes", UNIT_BYTES("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAa x"), SMTP_PARSE_OK,
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1, "x", 0 },
	{ "empty line", UNIT_BYTES(""), SMTP_PARSE_EMPTY, "", 0, "", 0 },
	{ "NUL in verb", UNIT_BYTES("HE\0LO x"), SMTP_PARSE_BAD_BYTES, "", 0, "", 0 },
	{ "NUL in argument", UNIT_BYTES("HELO ex\0ample"), SMTP_PARSE_BAD_BYTES, "", 0, "", 0 },
	{ "NUL alone", UNIT_BYTES("\0"), SMTP_PARSE_BAD_BYTES, "", 0, "", 0 },
	{ "invalid UTF-8", UNIT_BYTES("HELO \xff"), SMTP_PARSE_BAD_BYTES, "", 0, "", 0 },
	{ "overlong UTF-8", UNIT_BYTES("HELO \xc0\xaf"), SMTP_PARSE_BAD_BYTES, "", 0, "", 0 },
	{ "truncated UTF-8", UNIT_BYTES("HELO \xc3"), SMTP_PARSE_BAD_BYTES, "", 0, "", 0 },
};

static void test_parse_command(void)
{
	for (size_t i = 0; i < sizeof(command_rows) / sizeof(command_rows[0]); i++) {
		const char *row = command_rows[i].name;
		struct smtp_command cmd;
		int rc = smtp_parse_command(command_rows[i].line, command_rows[i].len, &cmd);
		UNIT_CHECK(row, rc == command_rows[i].rc);
		if (rc != SMTP_PARSE_OK || command_rows[i].rc != SMTP_PARSE_OK)
			continue;
		UNIT_CHECK_STR(row, cmd.verb, command_rows[i].verb);
		UNIT_CHECK(row, cmd.has_arg == command_rows[i].has_arg);
		UNIT_CHECK(row, cmd.verb_truncated == command_rows[i].verb_truncated);
		if (command_rows[i].has_arg)
			UNIT_CHECK_STR(row, cmd.arg, command_rows[i].arg);
	}
}

/* The longest line the channel accepts (548 bytes) keeps its argument. */
static void test_parse_command_long_arg(void)
{
	char line[549];
	memcpy(line, "MAIL ", 5);
	memset(line + 5, 'a', sizeof(line) - 5);
	struct smtp_command cmd;
	UNIT_CHECK("548-byte MAIL", smtp_parse_command(line, 548, &cmd) == SMTP_PARSE_OK);
	UNIT_CHECK("548-byte MAIL", strlen(cmd.arg) == 543);
	/* Longer than the arg field (never reaches the parser in the channel):
	   cut, never overflowed. */
	char big[SMTP_COMMAND_ARG_MAX_BYTES + 100];
	memcpy(big, "MAIL ", 5);
	memset(big + 5, 'b', sizeof(big) - 5);
	UNIT_CHECK("over-long line", smtp_parse_command(big, sizeof(big), &cmd) == SMTP_PARSE_OK);
	UNIT_CHECK("over-long line", strlen(cmd.arg) == sizeof(cmd.arg) - 1);
	/* A verb as long as the longest line is whole; a longer one is cut. */
	memset(line, 'v', sizeof(line));
	UNIT_CHECK("548-byte verb", smtp_parse_command(line, 548, &cmd) == SMTP_PARSE_OK);
	UNIT_CHECK("548-byte verb", strlen(cmd.verb) == 548 && !cmd.verb_truncated);
	memset(big, 'w', sizeof(big));
	UNIT_CHECK("over-long verb", smtp_parse_command(big, sizeof(big), &cmd) == SMTP_PARSE_OK);
	UNIT_CHECK("over-long verb", strlen(cmd.verb) == sizeof(cmd.verb) - 1 && cmd.verb_truncated);
}

/* --- smtp_parse_path --------------------------------------------------- */

static const struct {
	const char *name;
	const char *arg;
	const char *keyword;
	int allow_null;
	int rc;
	const char *address;
	const char *params;
} path_rows[] = {
	{ "angle brackets", "FROM:<eggs@example>", "FROM:", 1, 0, "eggs@example", "" },
	{ "lower-case keyword", "from:<eggs@example>", "FROM:", 1, 0, "eggs@example", "" },
	{ "spaces after colon", "from:   <foo@example.com>", "FROM:", 1, 0, "foo@example.com", "" },
	{ "no brackets", "From:eggs@example", "FROM:", 1, 0, "eggs@example", "" },
	{ "no brackets, space", "From: eggs@example", "FROM:", 1, 0, "eggs@example", "" },
	{ "RCPT", "To:spam@example", "TO:", 0, 0, "spam@example", "" },
	{ "null path", "FROM:<>", "FROM:", 1, 0, "", "" },
	{ "null path with params", "FROM:<> SIZE=10", "FROM:", 1, 0, "", "SIZE=10" },
	{ "null path refused", "TO:<>", "TO:", 0, -1, NULL, NULL },
	{ "params", "FROM:<a@b> SIZE=10 BODY=8BITMIME", "FROM:", 1, 0, "a@b",
	  "SIZE=10 BODY=8BITMIME" },
	{ "params after tab", "FROM:<a@b>\tSIZE=1", "FROM:", 1, 0, "a@b", "SIZE=1" },
	{ "params without brackets", "FROM:a@b SIZE=1", "FROM:", 1, 0, "a@b", "SIZE=1" },
	{ "quoted local part", "FROM: <\"Fred Blogs\"@example.com>", "FROM:", 1, 0,
	  "\"Fred Blogs\"@example.com", "" },
	{ "quoted local part, no brackets", "FROM: \"Fred Blogs\"@example.com", "FROM:", 1, 0,
	  "\"Fred Blogs\"@example.com", "" },
	{ "quoted local part, no brackets, params", "FROM: \"Fred Blogs\"@example.com SIZE=1000",
	  "FROM:", 1, 0, "\"Fred Blogs\"@example.com", "SIZE=1000" },
	{ "quoted '>' inside", "FROM:<\"a>b\"@c>", "FROM:", 1, 0, "\"a>b\"@c", "" },
	{ "escaped quote", "FROM:<\"a\\\"b\"@c>", "FROM:", 1, 0, "\"a\\\"b\"@c", "" },
	{ "unterminated quote", "FROM:<\"ab@c>", "FROM:", 1, -1, NULL, NULL },
	{ "unterminated quote, no brackets", "FROM:\"ab@c", "FROM:", 1, -1, NULL, NULL },
	{ "control byte in quotes", "FROM:<\"a\001b\"@c>", "FROM:", 1, -1, NULL, NULL },
	{ "source route", "TO:<@a,@b:c@d>", "TO:", 0, 0, "c@d", "" },
	{ "source route, one hop", "TO:<@relay.example:user@example.com>", "TO:", 0, 0,
	  "user@example.com", "" },
	{ "source route without colon", "TO:<@a,@b>", "TO:", 0, -1, NULL, NULL },
	{ "source route to nothing", "TO:<@a:>", "TO:", 0, -1, NULL, NULL },
	{ "postmaster, no domain", "TO:<postmaster>", "TO:", 0, 0, "postmaster", "" },
	{ "address literal", "TO:<a@[127.0.0.1]>", "TO:", 0, 0, "a@[127.0.0.1]", "" },
	{ "IPv6 literal", "TO:<a@[IPv6:::1]>", "TO:", 0, 0, "a@[IPv6:::1]", "" },
	{ "empty literal", "TO:<a@[]>", "TO:", 0, -1, NULL, NULL },
	{ "literal with space", "TO:<a@[1 2]>", "TO:", 0, -1, NULL, NULL },
	{ "literal with '>', no brackets", "TO:x@[a>b]", "TO:", 0, -1, NULL, NULL },
	{ "literal with '<', no brackets", "TO:x@[a<b]", "TO:", 0, -1, NULL, NULL },
	{ "literal with a quote, no brackets", "TO:x@[a\"b]", "TO:", 0, -1, NULL, NULL },
	{ "UTF-8 mailbox", "TO:<sp\xc3\xa4m@exampl\xc3\xa9>", "TO:", 0, 0,
	  "sp\xc3\xa4m@exampl\xc3\xa9", "" },
	{ "missing >", "FROM:<a@b", "FROM:", 1, -1, NULL, NULL },
	{ "missing > with params", "FROM:<a@b SIZE=1", "FROM:", 1, -1, NULL, NULL },
	{ "junk after >", "FROM:<a@b>x", "FROM:", 1, -1, NULL, NULL },
	{ "second path", "FROM:<a@b><c@d>", "FROM:", 1, -1, NULL, NULL },
	{ "space inside brackets", "FROM:<a @b>", "FROM:", 1, -1, NULL, NULL },
	{ "space before >", "FROM:<a@b >", "FROM:", 1, -1, NULL, NULL },
	{ "missing keyword", "<a@b>", "FROM:", 1, -1, NULL, NULL },
	{ "keyword without colon", "FROM <a@b>", "FROM:", 1, -1, NULL, NULL },
	{ "wrong keyword", "TO:<a@b>", "FROM:", 1, -1, NULL, NULL },
	{ "nothing after keyword", "FROM:", "FROM:", 1, -1, NULL, NULL },
	{ "only spaces after keyword", "FROM:   ", "FROM:", 1, -1, NULL, NULL },
	{ "empty argument", "", "FROM:", 1, -1, NULL, NULL },
	{ "empty domain", "TO:<a@>", "TO:", 0, -1, NULL, NULL },
	{ "empty local part", "TO:<@b>", "TO:", 0, -1, NULL, NULL },
	{ "domain trailing dot", "TO:<a@b.>", "TO:", 0, -1, NULL, NULL },
	{ "domain empty label", "TO:<a@b..c>", "TO:", 0, -1, NULL, NULL },
	{ "two @", "TO:<a@b@c>", "TO:", 0, -1, NULL, NULL },
	{ "comment", "TO:<a(comment)@b>", "TO:", 0, -1, NULL, NULL },
	{ "control byte", "TO:<a\001b@c>", "TO:", 0, -1, NULL, NULL },
	{ "DEL byte", "TO:<a\177b@c>", "TO:", 0, -1, NULL, NULL },
	{ "VRFY (no keyword)", "eggs@example", "", 1, 0, "eggs@example", "" },
	{ "VRFY of junk", "<<>>", "", 1, -1, NULL, NULL },
};

static void test_parse_path(void)
{
	for (size_t i = 0; i < sizeof(path_rows) / sizeof(path_rows[0]); i++) {
		const char *row = path_rows[i].name;
		char address[SMTP_ADDRESS_MAX_BYTES];
		const char *params = NULL;
		int rc = smtp_parse_path(path_rows[i].arg, path_rows[i].keyword,
					 path_rows[i].allow_null, address, sizeof(address), &params);
		UNIT_CHECK(row, rc == path_rows[i].rc);
		if (rc != 0 || path_rows[i].rc != 0)
			continue;
		UNIT_CHECK_STR(row, address, path_rows[i].address);
		UNIT_CHECK_STR(row, params, path_rows[i].params);
	}
}

/* Long addresses: any that fits the longest command line is taken (as
   smtpd.py: 528 + 8 bytes in test_smtpd.py); past the buffer, refused. */
static void test_parse_path_long(void)
{
	static const struct {
		const char *name;
		size_t local_len;
		int rc;
	} rows[] = {
		{ "536-byte address (test_smtpd.py)", 528, 0 },
		{ "address filling the buffer", SMTP_ADDRESS_MAX_BYTES - 1 - 8, 0 },
		{ "address one over the buffer", SMTP_ADDRESS_MAX_BYTES - 8, -1 },
		{ "address of 4000 bytes", 4000, -1 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char arg[4100], address[SMTP_ADDRESS_MAX_BYTES];
		const char *params;
		memcpy(arg, "TO:<", 4);
		memset(arg + 4, 'a', rows[i].local_len);
		snprintf(arg + 4 + rows[i].local_len, sizeof(arg) - 4 - rows[i].local_len,
			 "@example> SIZE=1");
		int rc = smtp_parse_path(arg, "TO:", 0, address, sizeof(address), &params);
		UNIT_CHECK(rows[i].name, rc == rows[i].rc);
		if (rc == 0 && rows[i].rc == 0) {
			UNIT_CHECK(rows[i].name, strlen(address) == rows[i].local_len + 8);
			UNIT_CHECK_STR(rows[i].name, params, "SIZE=1");
		}
	}
}

/* A small output buffer is a refusal, never an overflow. */
static void test_parse_path_small_buffer(void)
{
	char address[8];
	const char *params;
	memset(address, 'X', sizeof(address));
	UNIT_CHECK("7 bytes fit in 8", smtp_parse_path("TO:<a@b.cde>", "TO:", 0, address,
						       sizeof(address), &params) == 0);
	UNIT_CHECK_STR("7 bytes fit in 8", address, "a@b.cde");
	UNIT_CHECK("8 bytes refused", smtp_parse_path("TO:<a@b.cdef>", "TO:", 0, address,
						      sizeof(address), &params) == -1);
}

/* --- smtp_parse_params ------------------------------------------------- */

#define A10 "AAAAAAAAAA"
#define A100 A10 A10 A10 A10 A10 A10 A10 A10 A10 A10
#define A98 A10 A10 A10 A10 A10 A10 A10 A10 A10 "AAAAAAAA"
#define K30 "K K K K K K K K K K K K K K K K K K K K K K K K K K K K K K "

static const struct {
	const char *name;
	const char *params;
	int rc;
	size_t count;
	const char *joined; /* texts joined by '|' */
	const char *values; /* values joined by '|', "-" for a bare KEY */
} params_rows[] = {
	{ "none", "", 0, 0, "", "" },
	{ "only spaces", "   ", 0, 0, "", "" },
	{ "SIZE", "SIZE=10", 0, 1, "SIZE=10", "10" },
	{ "upper-cased", "size=20 body=8bitmime", 0, 2, "SIZE=20|BODY=8BITMIME", "20|8BITMIME" },
	{ "bare keyword", "SMTPUTF8", 0, 1, "SMTPUTF8", "-" },
	{ "DSN and AUTH values keep their case",
	  "orcpt=rfc822;Bob@Ex.test envid=Q+2Bx notify=success auth=<Al@Ex>", 0, 4,
	  "ORCPT=rfc822;Bob@Ex.test|ENVID=Q+2Bx|NOTIFY=SUCCESS|AUTH=<Al@Ex>",
	  "rfc822;Bob@Ex.test|Q+2Bx|SUCCESS|<Al@Ex>" },
	{ "a key that only starts like one", "envidx=Ab", 0, 1, "ENVIDX=AB", "AB" },
	{ "many spaces", "  A   b=c  ", 0, 2, "A|B=C", "-|C" },
	{ "tab separates", "A\tB", 0, 2, "A|B", "-|-" },
	{ "value with =", "A=B=C", 0, 1, "A=B=C", "B=C" },
	{ "value with any byte", "X=<\xc3\xa9>", 0, 1, "X=<\xc3\xa9>", "<\xc3\xa9>" },
	{ "empty key", "=x", -1, 0, NULL, NULL },
	{ "empty value", "SIZE=", -1, 0, NULL, NULL },
	{ "non-alphanumeric key", "SI-ZE=1", -1, 0, NULL, NULL },
	{ "underscore key", "A_B", -1, 0, NULL, NULL },
	{ "UTF-8 key", "\xc3\xa9=1", -1, 0, NULL, NULL },
	{ "bad after good", "SIZE=1 =", -1, 0, NULL, NULL },
	{ "17 parameters (smtpd.py had no limit)", "A B C D E F G H I J K L M N O P Q", 0, 17,
	  "A|B|C|D|E|F|G|H|I|J|K|L|M|N|O|P|Q", "-|-|-|-|-|-|-|-|-|-|-|-|-|-|-|-|-" },
	{ "parameter of 200 bytes",
	  "X=" A100 A98, 0, 1, "X=" A100 A98, A100 A98 },
	{ "300 parameters", K30 K30 K30 K30 K30 K30 K30 K30 K30 K30, 0, 300, NULL, NULL },
	{ "more than an argument holds", K30 K30 K30 K30 K30 K30 K30 K30 K30 K30 "K", -1, 0, NULL,
	  NULL },
};

static void test_parse_params(void)
{
	for (size_t i = 0; i < sizeof(params_rows) / sizeof(params_rows[0]); i++) {
		const char *row = params_rows[i].name;
		struct smtp_params p;
		int rc = smtp_parse_params(params_rows[i].params, &p);
		UNIT_CHECK(row, rc == params_rows[i].rc);
		if (rc != 0 || params_rows[i].rc != 0)
			continue;
		UNIT_CHECK(row, p.count == params_rows[i].count);
		if (!params_rows[i].joined)
			continue;
		char joined[2048] = "", values[2048] = "";
		for (size_t k = 0; k < p.count; k++) {
			size_t jl = strlen(joined), vl = strlen(values);
			snprintf(joined + jl, sizeof(joined) - jl, "%s%s", k ? "|" : "", p.param[k]);
			snprintf(values + vl, sizeof(values) - vl, "%s%s", k ? "|" : "",
				 p.value[k] ? p.value[k] : "-");
			UNIT_CHECK(row, p.key_len[k] == strcspn(p.param[k], "="));
		}
		UNIT_CHECK_STR(row, joined, params_rows[i].joined);
		UNIT_CHECK_STR(row, values, params_rows[i].values);
	}
}

static void test_params_find(void)
{
	struct smtp_params p;
	UNIT_CHECK("parse", smtp_parse_params("SIZE=1 BODY=7BIT SIZE=2 SIZEX=3", &p) == 0);
	UNIT_CHECK("last SIZE wins, as a dict", smtp_params_find(&p, "SIZE") == 2);
	UNIT_CHECK("BODY", smtp_params_find(&p, "BODY") == 1);
	UNIT_CHECK("SIZEX is not SIZE", smtp_params_find(&p, "SIZEX") == 3);
	UNIT_CHECK("prefix is not a key", smtp_params_find(&p, "SIZ") == -1);
	UNIT_CHECK("absent", smtp_params_find(&p, "SMTPUTF8") == -1);
	UNIT_CHECK("case-sensitive", smtp_params_find(&p, "size") == -1);
}

/* --- utf8_valid -------------------------------------------------------- */

static const struct {
	const char *name;
	const char *bytes;
	size_t len;
	int valid;
} utf8_rows[] = {
	{ "empty", UNIT_BYTES(""), 1 },
	{ "ASCII", UNIT_BYTES("plain ascii text"), 1 },
	{ "NUL is valid UTF-8", UNIT_BYTES("a\0b"), 1 },
	{ "2-byte", UNIT_BYTES("\xc5\xbc\xc5\xba\xc4\x87"), 1 },
	{ "3-byte", UNIT_BYTES("\xe2\x82\xac"), 1 },
	{ "4-byte", UNIT_BYTES("\xf0\x9f\x98\x80"), 1 },
	{ "U+10FFFF", UNIT_BYTES("\xf4\x8f\xbf\xbf"), 1 },
	{ "U+FFFF", UNIT_BYTES("\xef\xbf\xbf"), 1 },
	{ "U+D7FF", UNIT_BYTES("\xed\x9f\xbf"), 1 },
	{ "U+E000", UNIT_BYTES("\xee\x80\x80"), 1 },
	{ "above U+10FFFF", UNIT_BYTES("\xf4\x90\x80\x80"), 0 },
	{ "overlong NUL", UNIT_BYTES("\xc0\x80"), 0 },
	{ "overlong '/'", UNIT_BYTES("\xc1\xaf"), 0 },
	{ "overlong 3-byte", UNIT_BYTES("\xe0\x80\xaf"), 0 },
	{ "overlong 3-byte max", UNIT_BYTES("\xe0\x9f\xbf"), 0 },
	{ "overlong 4-byte", UNIT_BYTES("\xf0\x80\x80\xaf"), 0 },
	{ "overlong 4-byte max", UNIT_BYTES("\xf0\x8f\xbf\xbf"), 0 },
	{ "high surrogate", UNIT_BYTES("\xed\xa0\x80"), 0 },
	{ "low surrogate", UNIT_BYTES("\xed\xbf\xbf"), 0 },
	{ "surrogate pair (CESU-8)", UNIT_BYTES("\xed\xa0\xbd\xed\xb8\x80"), 0 },
	{ "truncated 2-byte", UNIT_BYTES("\xc3"), 0 },
	{ "truncated 3-byte", UNIT_BYTES("\xe2\x82"), 0 },
	{ "truncated 4-byte", UNIT_BYTES("\xf0\x9f\x98"), 0 },
	{ "truncated then ASCII", UNIT_BYTES("\xe2\x82x"), 0 },
	{ "lone continuation", UNIT_BYTES("\x80"), 0 },
	{ "0xFE", UNIT_BYTES("\xfe"), 0 },
	{ "0xFF", UNIT_BYTES("a\xff"), 0 },
	{ "5-byte form", UNIT_BYTES("\xf8\x88\x80\x80\x80"), 0 },
	{ "Latin-1", UNIT_BYTES("caf\xe9"), 0 },
};

static void test_utf8_valid(void)
{
	for (size_t i = 0; i < sizeof(utf8_rows) / sizeof(utf8_rows[0]); i++)
		UNIT_CHECK(utf8_rows[i].name,
			   utf8_valid(utf8_rows[i].bytes, utf8_rows[i].len) == utf8_rows[i].valid);
	/* The length is honoured: a valid prefix of an invalid buffer. */
	UNIT_CHECK("length honoured", utf8_valid("ab\xff", 2) == 1);
	UNIT_CHECK("sequence cut by length", utf8_valid("\xe2\x82\xac", 2) == 0);
}

int test_smtp_parse_register(void)
{
	CU_pSuite s = CU_add_suite("smtp_parse", NULL, NULL);
	if (!s || !CU_add_test(s, "smtp_parse_command table", test_parse_command) ||
	    !CU_add_test(s, "smtp_parse_command long argument", test_parse_command_long_arg) ||
	    !CU_add_test(s, "smtp_parse_path table", test_parse_path) ||
	    !CU_add_test(s, "smtp_parse_path long addresses", test_parse_path_long) ||
	    !CU_add_test(s, "smtp_parse_path small buffer", test_parse_path_small_buffer) ||
	    !CU_add_test(s, "smtp_parse_params table", test_parse_params) ||
	    !CU_add_test(s, "smtp_params_find", test_params_find) ||
	    !CU_add_test(s, "utf8_valid table", test_utf8_valid))
		return -1;
	return 0;
}
