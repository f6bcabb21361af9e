/*
 * test_smtp_data.c - DATA decoding without I/O: the terminator (and what
 * must not be one: SMTP smuggling), de-transparency, line ends joined with
 * LF as smtpd.py's `data`, the size count, and the bare LF policies, which
 * a bare CR gets too.  Each
 * row is fed as linebuf_read_data() would cut it (pieces end at LF or at
 * the buffer size) with two buffer sizes, so a CR LF split between pieces
 * is covered too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"
#include "unit.h"

struct data_row {
	const char *name;
	const char *input; /* the bytes after "354" */
	size_t input_len;
	enum bare_lf_policy policy;
	unsigned long long limit;
	int terminated;
	size_t consumed;     /* bytes up to and including the terminator */
	const char *message; /* NULL when over the limit */
	size_t message_len;
	unsigned long long raw_bytes; /* smtpd.py's num_bytes */
	int bare_lf_seen;
};

#define MSG(lit) (lit), (sizeof(lit) - 1)

static const struct data_row data_rows[] = {
	{ "two lines", UNIT_BYTES("data\r\nmore\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 15,
	  MSG("data\nmore"), 10, 0 },
	{ "empty message", UNIT_BYTES(".\r\n"), BARE_LF_KEEP, 0, 1, 3, MSG(""), 0, 0 },
	{ "bytes after the terminator untouched", UNIT_BYTES("a\r\n.\r\nQUIT\r\n"), BARE_LF_KEEP,
	  0, 1, 6, MSG("a"), 1, 0 },
	{ "dot-stuffed dot (RFC 5321 4.5.2)", UNIT_BYTES("..\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 7,
	  MSG("."), 2, 0 },
	{ "leading dots removed once", UNIT_BYTES("..a\r\n...b\r\n.c\r\n.\r\n"), BARE_LF_KEEP, 0, 1,
	  18, MSG(".a\n..b\nc"), 13, 0 },
	{ "dot and space", UNIT_BYTES(". \r\n.\r\n"), BARE_LF_KEEP, 0, 1, 7, MSG(" "), 2, 0 },
	{ "dot inside a line kept", UNIT_BYTES("a.b\r\na.\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 12,
	  MSG("a.b\na."), 7, 0 },
	{ "empty lines kept", UNIT_BYTES("a\r\n\r\nb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 11,
	  MSG("a\n\nb"), 6, 0 },
	{ "trailing empty line kept", UNIT_BYTES("a\r\n\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 8,
	  MSG("a\n"), 3, 0 },
	{ "only an empty line", UNIT_BYTES("\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 5, MSG(""), 0, 0 },
	{ "no terminator", UNIT_BYTES("a\r\nb\r\n"), BARE_LF_KEEP, 0, 0, 0, NULL, 0, 0, 0 },
	{ "dot without CR LF is not the end", UNIT_BYTES("a\r\n."), BARE_LF_KEEP, 0, 0, 0, NULL, 0,
	  0, 0 },
	{ "'.x' line is content", UNIT_BYTES(".x\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 7, MSG("x"), 2, 0 },
	{ "' .' line is content", UNIT_BYTES(" .\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 7, MSG(" ."), 2, 0 },
	{ "CR inside a line kept", UNIT_BYTES("a\rb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 8, MSG("a\rb"),
	  3, 1 },
	{ "binary bytes kept", UNIT_BYTES("\0\xff\x80\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 8,
	  MSG("\0\xff\x80"), 3, 0 },
	/* SMTP smuggling: only CR LF . CR LF ends the message. */
	{ "LF . CR LF is content (keep)", UNIT_BYTES("a\n.\r\nb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 11,
	  MSG("a\n.\nb"), 6, 1 },
	{ "CR . CR LF is content (keep)", UNIT_BYTES("a\r.\r\nb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 11,
	  MSG("a\r.\nb"), 6, 1 },
	{ "LF . LF is content (keep)", UNIT_BYTES("a\n.\nb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 10,
	  MSG("a\n.\nb"), 5, 1 },
	{ "CR LF . LF is content", UNIT_BYTES("a\r\n.\nb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 11,
	  MSG("a\n\nb"), 6, 1 },
	{ "LF . CR LF is content (normalize)", UNIT_BYTES("a\n.\r\nb\r\n.\r\n"), BARE_LF_NORMALIZE,
	  0, 1, 11, MSG("a\n\nb"), 6, 1 },
	{ "LF . CR LF is content (reject)", UNIT_BYTES("a\n.\r\nb\r\n.\r\n"), BARE_LF_REJECT, 0, 1,
	  11, MSG("a\n.\nb"), 6, 1 },
	/* Bare LF policies: the bytes are the same, de-transparency differs. */
	{ "bare LF kept", UNIT_BYTES("a\nb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 8, MSG("a\nb"), 3, 1 },
	{ "bare LF, dot after it kept (keep)", UNIT_BYTES("a\n..b\r\n.\r\n"), BARE_LF_KEEP, 0, 1,
	  10, MSG("a\n..b"), 5, 1 },
	{ "bare LF, dot after it removed (normalize)", UNIT_BYTES("a\n..b\r\n.\r\n"),
	  BARE_LF_NORMALIZE, 0, 1, 10, MSG("a\n.b"), 5, 1 },
	{ "bare LF seen (reject)", UNIT_BYTES("a\nb\r\n.\r\n"), BARE_LF_REJECT, 0, 1, 8,
	  MSG("a\nb"), 3, 1 },
	{ "no bare LF (reject)", UNIT_BYTES("a\r\nb\r\n.\r\n"), BARE_LF_REJECT, 0, 1, 9,
	  MSG("a\nb"), 4, 0 },
	/* Bare CR: what a bare LF gets in each mode, and never an end. */
	{ "CR . CR LF is content (normalize)", UNIT_BYTES("a\r.\r\nb\r\n.\r\n"), BARE_LF_NORMALIZE,
	  0, 1, 11, MSG("a\n\nb"), 6, 1 },
	{ "CR . CR LF is content (reject)", UNIT_BYTES("a\r.\r\nb\r\n.\r\n"), BARE_LF_REJECT, 0, 1,
	  11, MSG("a\r.\nb"), 6, 1 },
	{ "CR . CR is content (keep)", UNIT_BYTES("a\r.\rb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 10,
	  MSG("a\r.\rb"), 5, 1 },
	{ "CR . CR is content (normalize)", UNIT_BYTES("a\r.\rb\r\n.\r\n"), BARE_LF_NORMALIZE, 0,
	  1, 10, MSG("a\n\nb"), 5, 1 },
	{ "CR . CR is content (reject)", UNIT_BYTES("a\r.\rb\r\n.\r\n"), BARE_LF_REJECT, 0, 1,
	  10, MSG("a\r.\rb"), 5, 1 },
	{ "CR . CR LF first is content (normalize)", UNIT_BYTES("\r.\r\n.\r\n"),
	  BARE_LF_NORMALIZE, 0, 1, 7, MSG("\n"), 2, 1 },
	{ "CR . CR LF first is content (reject)", UNIT_BYTES("\r.\r\n.\r\n"), BARE_LF_REJECT, 0,
	  1, 7, MSG("\r."), 2, 1 },
	{ "bare CR kept", UNIT_BYTES("a\rb\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 8, MSG("a\rb"), 3, 1 },
	{ "bare CR is a line end (normalize)", UNIT_BYTES("a\rb\r\n.\r\n"), BARE_LF_NORMALIZE, 0,
	  1, 8, MSG("a\nb"), 3, 1 },
	{ "bare CR seen (reject)", UNIT_BYTES("a\rb\r\n.\r\n"), BARE_LF_REJECT, 0, 1, 8,
	  MSG("a\rb"), 3, 1 },
	{ "bare CR before CR LF (keep)", UNIT_BYTES("a\r\r\n.\r\n"), BARE_LF_KEEP, 0, 1, 7,
	  MSG("a\r"), 2, 1 },
	{ "bare CR before CR LF (normalize)", UNIT_BYTES("a\r\r\n.\r\n"), BARE_LF_NORMALIZE, 0, 1,
	  7, MSG("a\n"), 2, 1 },
	{ "two bare CRs (normalize)", UNIT_BYTES("a\r\rb\r\n.\r\n"), BARE_LF_NORMALIZE, 0, 1, 9,
	  MSG("a\n\nb"), 4, 1 },
	{ "bare CR, dot after it kept (keep)", UNIT_BYTES("a\r..b\r\n.\r\n"), BARE_LF_KEEP, 0, 1,
	  10, MSG("a\r..b"), 5, 1 },
	{ "bare CR, dot after it removed (normalize)", UNIT_BYTES("a\r..b\r\n.\r\n"),
	  BARE_LF_NORMALIZE, 0, 1, 10, MSG("a\n.b"), 5, 1 },
	{ "bare CR, stuffed dot first removed (keep)", UNIT_BYTES("..\rb\r\n.\r\n"), BARE_LF_KEEP,
	  0, 1, 9, MSG(".\rb"), 4, 1 },
	{ "CR LF . CR: a stuffed dot (reject)", UNIT_BYTES("a\r\n.\rb\r\n.\r\n"), BARE_LF_REJECT, 0,
	  1, 11, MSG("a\n\rb"), 6, 1 },
	/* Size: smtpd.py counts the bytes before CR LF . CR LF. */
	{ "size at the limit", UNIT_BYTES("0123456789\r\n.\r\n"), BARE_LF_KEEP, 10, 1, 15,
	  MSG("0123456789"), 10, 0 },
	{ "size one over the limit", UNIT_BYTES("0123456789A\r\n.\r\n"), BARE_LF_KEEP, 10, 1, 16,
	  NULL, 0, 11, 0 },
	{ "line ends count", UNIT_BYTES("ab\r\ncd\r\n.\r\n"), BARE_LF_KEEP, 5, 1, 11, NULL, 0, 6,
	  0 },
	{ "line ends count, at the limit", UNIT_BYTES("ab\r\ncd\r\n.\r\n"), BARE_LF_KEEP, 6, 1, 11,
	  MSG("ab\ncd"), 6, 0 },
	{ "stuffing dots count", UNIT_BYTES("..a\r\n.\r\n"), BARE_LF_KEEP, 3, 1, 8, MSG(".a"), 3,
	  0 },
	{ "stuffing dots count, over", UNIT_BYTES("..ab\r\n.\r\n"), BARE_LF_KEEP, 3, 1, 9, NULL, 0,
	  4, 0 },
	{ "over the limit, reading goes on to the end",
	  UNIT_BYTES("This message is longer than 32 bytes\r\nsecond line\r\n.\r\nNOOP\r\n"),
	  BARE_LF_KEEP, 32, 1, 54, NULL, 0, 49, 0 },
	{ "limit 0 means none", UNIT_BYTES("This message is longer than 32 bytes\r\n.\r\n"),
	  BARE_LF_KEEP, 0, 1, 41, MSG("This message is longer than 32 bytes"), 36, 0 },
};

/* Feed `in` in pieces as linebuf_read_data() cuts them with a buffer of
   `max_piece` bytes.  1 when the terminator came; *consumed_out. */
static int feed_all(struct smtp_data *d, const char *in, size_t len, size_t max_piece,
		    size_t *consumed_out)
{
	size_t pos = 0;
	while (pos < len) {
		size_t n = len - pos;
		const char *lf = memchr(in + pos, '\n', n);
		if (lf)
			n = (size_t)(lf - (in + pos)) + 1;
		if (n > max_piece)
			n = max_piece;
		int end = smtp_data_feed(d, in + pos, n);
		pos += n;
		if (end) {
			smtp_data_finish(d);
			*consumed_out = pos;
			return 1;
		}
	}
	*consumed_out = pos;
	return 0;
}

static void run_data_rows(size_t max_piece)
{
	for (size_t i = 0; i < sizeof(data_rows) / sizeof(data_rows[0]); i++) {
		const struct data_row *r = &data_rows[i];
		char row[160];
		snprintf(row, sizeof(row), "%s [pieces of %zu]", r->name, max_piece);
		struct msgbuf out = { 0 };
		struct smtp_data d;
		size_t consumed;
		smtp_data_begin(&d, &out, r->policy, r->limit);
		int term = feed_all(&d, r->input, r->input_len, max_piece, &consumed);
		UNIT_CHECK(row, term == r->terminated);
		if (term && r->terminated) {
			UNIT_CHECK(row, consumed == r->consumed);
			UNIT_CHECK(row, d.raw_bytes == r->raw_bytes);
			UNIT_CHECK(row, d.bare_lf_seen == r->bare_lf_seen);
			UNIT_CHECK(row, d.over_limit == (r->message == NULL));
			if (r->message)
				UNIT_CHECK_BYTES(row, out.data, out.len, r->message, r->message_len);
			else
				UNIT_CHECK(row, out.len == 0);
		}
		msgbuf_free(&out);
	}
}

static void test_data_whole_lines(void)
{
	run_data_rows(8192);
}

/* A 4-byte buffer still holds ".\r\n" whole, as linebuf guarantees, but
   splits every longer line, and CR from LF. */
static void test_data_small_pieces(void)
{
	run_data_rows(4);
}

/* A body line longer than linebuf's buffer arrives in several pieces and
   is kept byte-exact; a dot in a later piece is not a line start. */
static void test_data_long_line(void)
{
	const size_t line_len = 20000;
	char *in = malloc(line_len + 16);
	char *expected = malloc(line_len + 16);
	UNIT_CHECK("malloc", in && expected);
	if (!in || !expected) {
		free(in);
		free(expected);
		return;
	}
	for (size_t i = 0; i < line_len; i++)
		in[i] = (char)('a' + i % 26);
	in[8192] = '.'; /* starts the second piece */
	in[0] = 'x';
	memcpy(expected, in, line_len);
	memcpy(in + line_len, "\r\n.\r\n", 5);

	for (size_t max = 8192; max >= 1000; max /= 8) {
		char row[64];
		snprintf(row, sizeof(row), "20000-byte line [pieces of %zu]", max);
		struct msgbuf out = { 0 };
		struct smtp_data d;
		size_t consumed;
		smtp_data_begin(&d, &out, BARE_LF_KEEP, 0);
		UNIT_CHECK(row, feed_all(&d, in, line_len + 5, max, &consumed) == 1);
		UNIT_CHECK(row, consumed == line_len + 5);
		UNIT_CHECK_BYTES(row, out.data, out.len, expected, line_len);
		UNIT_CHECK(row, d.raw_bytes == line_len);
		msgbuf_free(&out);
	}
	free(in);
	free(expected);
}

/* The size limit applies to a long line too, and the buffer is given up. */
static void test_data_long_line_over_limit(void)
{
	const size_t line_len = 50000;
	char *in = malloc(line_len + 5);
	UNIT_CHECK("malloc", in != NULL);
	if (!in)
		return;
	memset(in, 'z', line_len);
	memcpy(in + line_len, "\r\n.\r\n", 5);
	struct msgbuf out = { 0 };
	struct smtp_data d;
	size_t consumed;
	smtp_data_begin(&d, &out, BARE_LF_KEEP, 10000);
	UNIT_CHECK("50000 > 10000", feed_all(&d, in, line_len + 5, 8192, &consumed) == 1);
	UNIT_CHECK("50000 > 10000", d.over_limit == 1);
	UNIT_CHECK("50000 > 10000", out.len == 0);
	UNIT_CHECK("50000 > 10000", out.cap <= 16384);
	msgbuf_free(&out);
	free(in);
}

/* A second message reuses the buffer: nothing of the first remains. */
static void test_data_reuse(void)
{
	struct msgbuf out = { 0 };
	struct smtp_data d;
	size_t consumed;
	smtp_data_begin(&d, &out, BARE_LF_KEEP, 0);
	feed_all(&d, UNIT_BYTES("first message\r\n.\r\n"), 8192, &consumed);
	smtp_data_begin(&d, &out, BARE_LF_KEEP, 0);
	UNIT_CHECK("second", feed_all(&d, UNIT_BYTES("2nd\r\n.\r\n"), 8192, &consumed) == 1);
	UNIT_CHECK_BYTES("second", out.data, out.len, "2nd", 3);
	msgbuf_free(&out);
}

static const struct {
	const char *name;
	int rc;
	enum bare_lf_policy policy;
} policy_rows[] = {
	{ "keep", 0, BARE_LF_KEEP },
	{ "normalize", 0, BARE_LF_NORMALIZE },
	{ "reject", 0, BARE_LF_REJECT },
	{ "KEEP", -1, BARE_LF_KEEP },
	{ "", -1, BARE_LF_KEEP },
	{ "strip", -1, BARE_LF_KEEP },
};

static void test_bare_lf_names(void)
{
	for (size_t i = 0; i < sizeof(policy_rows) / sizeof(policy_rows[0]); i++) {
		enum bare_lf_policy p = BARE_LF_KEEP;
		const char *row = policy_rows[i].name[0] ? policy_rows[i].name : "(empty)";
		UNIT_CHECK(row, bare_lf_policy_from_name(policy_rows[i].name, &p) == policy_rows[i].rc);
		if (policy_rows[i].rc == 0) {
			UNIT_CHECK(row, p == policy_rows[i].policy);
			UNIT_CHECK_STR(row, bare_lf_policy_name(p), policy_rows[i].name);
		}
	}
}

int test_smtp_data_register(void)
{
	CU_pSuite s = CU_add_suite("smtp_data", NULL, NULL);
	if (!s || !CU_add_test(s, "DATA table, whole lines", test_data_whole_lines) ||
	    !CU_add_test(s, "DATA table, 4-byte pieces", test_data_small_pieces) ||
	    !CU_add_test(s, "long body line kept byte-exact", test_data_long_line) ||
	    !CU_add_test(s, "long line over the limit", test_data_long_line_over_limit) ||
	    !CU_add_test(s, "buffer reused between messages", test_data_reuse) ||
	    !CU_add_test(s, "bare_lf policy names", test_bare_lf_names))
		return -1;
	return 0;
}
