/*
 * test_smtp_body.c - a body cut into on_body's pieces, without I/O: UTF-8
 * checked across pieces (a character cut anywhere gives what utf8_valid
 * gives for the whole), the pieces' bound and the header block held whole
 * (and refused past its limit), and DATA's decoder in front of it: the
 * pieces joined are exactly the bytes the whole-message path gives,
 * whatever the reads were.  Each table row is one case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_body.h"
#include "smtp_parse.h"
#include "unit.h"

/* What the sink saw. */
struct seen {
	struct msgbuf all;
	size_t pieces, first_len, max_len, max_after_first;
	int stop_at;       /* refuse the piece with this number (1-based); 0 never */
};

static int sink(void *arg, const char *p, size_t len)
{
	struct seen *w = arg;
	w->pieces++;
	if (w->pieces == 1)
		w->first_len = len;
	else if (len > w->max_after_first)
		w->max_after_first = len;
	if (len > w->max_len)
		w->max_len = len;
	msgbuf_append(&w->all, p, len);
	return w->stop_at && (int)w->pieces == w->stop_at ? 7 : 0;
}

struct utf8_row {
	const char *name;
	const char *bytes;
	size_t len;
	size_t cut1, cut2; /* where the pieces are cut (0: not) */
	int valid;
};

static const struct utf8_row utf8_rows[] = {
	{ "ASCII", UNIT_BYTES("plain text\n"), 3, 7, 1 },
	{ "2 bytes cut after the lead", UNIT_BYTES("a\xc3\xa9z"), 2, 0, 1 },
	{ "3 bytes cut after 1", UNIT_BYTES("\xe2\x82\xac"), 1, 0, 1 },
	{ "3 bytes cut after 2", UNIT_BYTES("\xe2\x82\xac"), 2, 0, 1 },
	{ "4 bytes cut at every byte", UNIT_BYTES("\xf0\x9f\x98\x80"), 1, 2, 1 },
	{ "4 bytes cut after 3", UNIT_BYTES("x\xf0\x9f\x98\x80"), 4, 0, 1 },
	{ "two characters cut between", UNIT_BYTES("\xc3\xa9\xc3\xa9"), 2, 3, 1 },
	{ "lead then ASCII across the cut", UNIT_BYTES("\xc3" "a"), 1, 0, 0 },
	{ "truncated at the end", UNIT_BYTES("ab\xe2\x82"), 3, 0, 0 },
	{ "lone continuation after a cut", UNIT_BYTES("a\x80"), 1, 0, 0 },
	{ "overlong cut", UNIT_BYTES("\xc0\xaf"), 1, 0, 0 },
	{ "surrogate cut", UNIT_BYTES("\xed\xa0\x80"), 1, 2, 0 },
	{ "past U+10FFFF cut", UNIT_BYTES("\xf4\x90\x80\x80"), 2, 0, 0 },
	{ "invalid byte, no cut", UNIT_BYTES("a\xffz"), 0, 0, 0 },
};

static void test_utf8_across_pieces(void)
{
	for (size_t i = 0; i < sizeof(utf8_rows) / sizeof(utf8_rows[0]); i++) {
		const struct utf8_row *r = &utf8_rows[i];
		size_t cuts[4] = { 0, r->cut1 ? r->cut1 : r->len, r->cut2 ? r->cut2 : r->len, r->len };
		struct utf8_stream u = { { 0 }, 0, 0 };
		int rc = 0;
		for (size_t k = 0; k < 3 && rc == 0; k++)
			if (cuts[k + 1] > cuts[k])
				rc = utf8_stream_feed(&u, r->bytes + cuts[k], cuts[k + 1] - cuts[k]);
		int ok = rc == 0 && utf8_stream_end(&u) == 0;
		UNIT_CHECK(r->name, ok == r->valid);
		UNIT_CHECK(r->name, ok == utf8_valid(r->bytes, r->len));
	}
}

struct piece_row {
	const char *name;
	size_t header_len;   /* a header block of this many bytes ("X: xxx\n" lines, then "\n") */
	size_t body_len;     /* then this many body bytes */
	size_t feed_len;     /* fed in chunks of this size */
	int whole_header;
	int rc;              /* smtp_body_feed/_end's first nonzero */
	size_t first_len;    /* the first piece's length (when rc is 0) */
};

#define KIB 1024
static const struct piece_row piece_rows[] = {
	{ "small message, one piece", 20, 30, 4096, 0, 0, 50 },
	{ "big chunks cut at 64 KiB", 100, 300 * KIB, 1024 * KIB, 0, 0, 64 * KIB },
	{ "small reads pass as they come", 100, 10 * KIB, 1000, 0, 0, 1000 },
	{ "header held whole", 200 * KIB, 200 * KIB, 1000, 1, 0, 200 * KIB },
	{ "header held, then 64 KiB pieces", 50, 500 * KIB, 300 * KIB, 1, 0, 50 },
	{ "empty header block", 0, 100, 10, 1, 0, 1 },
	{ "header of exactly 1 MiB", 1024 * KIB, 10, 64 * KIB, 1, 0, 1024 * KIB },
	{ "header over 1 MiB", 1024 * KIB + 100, 10, 64 * KIB, 1, SMTP_BODY_HEADER_TOO_BIG, 0 },
};

/* A header block of n bytes (its empty line included) and a body. */
static char *make_message(size_t header_len, size_t body_len)
{
	char *m = malloc(header_len + body_len + 1);
	for (size_t i = 0; i < header_len; i++)
		m[i] = i + 1 == header_len ? '\n' : (i % 60 == 59 || i + 2 == header_len) ? '\n' : 'h';
	for (size_t i = 0; i < body_len; i++)
		m[header_len + i] = i % 70 == 69 ? '\n' : 'b';
	if (header_len == 0 && body_len)
		m[0] = '\n'; /* an empty first line: an empty header block */
	return m;
}

static void test_pieces(void)
{
	for (size_t i = 0; i < sizeof(piece_rows) / sizeof(piece_rows[0]); i++) {
		const struct piece_row *r = &piece_rows[i];
		size_t len = r->header_len + r->body_len;
		char *m = make_message(r->header_len, r->body_len);
		struct msgbuf hold = { 0 };
		struct seen w = { .stop_at = 0 };
		struct smtp_body b;
		smtp_body_begin(&b, r->whole_header, 0, &hold);
		int rc = 0;
		for (size_t off = 0; off < len && rc == 0; off += r->feed_len)
			rc = smtp_body_feed(&b, m + off, len - off < r->feed_len ? len - off : r->feed_len,
					    sink, &w);
		if (rc == 0)
			rc = smtp_body_end(&b, sink, &w);
		UNIT_CHECK(r->name, rc == r->rc);
		if (rc == 0) {
			UNIT_CHECK_BYTES(r->name, w.all.data, w.all.len, m, len);
			UNIT_CHECK(r->name, b.total == len);
			UNIT_CHECK(r->name, w.first_len == r->first_len);
			UNIT_CHECK(r->name, w.max_after_first <= SMTP_BODY_PIECE_MAX_BYTES);
			UNIT_CHECK(r->name, r->whole_header || w.max_len <= SMTP_BODY_PIECE_MAX_BYTES);
		}
		msgbuf_free(&hold);
		msgbuf_free(&w.all);
		free(m);
	}
}

/* A sink's refusal stops the pieces and is returned as it is. */
static void test_sink_refusal(void)
{
	char *m = make_message(100, 400 * KIB);
	struct msgbuf hold = { 0 };
	struct seen w = { .stop_at = 3 };
	struct smtp_body b;
	smtp_body_begin(&b, 0, 0, &hold);
	int rc = smtp_body_feed(&b, m, 100 + 400 * KIB, sink, &w);
	UNIT_CHECK("refused at the third piece", rc == 7 && w.pieces == 3);
	msgbuf_free(&hold);
	msgbuf_free(&w.all);
	free(m);
}

struct chain_row {
	const char *name;
	const char *wire;    /* the bytes after 354, terminator included */
	size_t wire_len;
	enum bare_lf_policy policy;
	size_t read_max;     /* reads end at LF or after this many bytes (at least 3:
				linebuf never cuts the terminator's line) */
	const char *message; /* smtpd.py's data */
	size_t message_len;
};

static const struct chain_row chain_rows[] = {
	{ "two lines", UNIT_BYTES("a\r\nb\r\n.\r\n"), BARE_LF_KEEP, 8192, UNIT_BYTES("a\nb") },
	{ "CR LF cut between reads", UNIT_BYTES("abc\r\ndef\r\n.\r\n"), BARE_LF_KEEP, 4,
	  UNIT_BYTES("abc\ndef") },
	{ "dots undone", UNIT_BYTES("..a\r\n.\r\n"), BARE_LF_KEEP, 3, UNIT_BYTES(".a") },
	{ "last line empty", UNIT_BYTES("a\r\n\r\n.\r\n"), BARE_LF_KEEP, 3, UNIT_BYTES("a\n") },
	{ "empty message", UNIT_BYTES(".\r\n"), BARE_LF_KEEP, 8192, UNIT_BYTES("") },
	{ "bare CR at a read's end (normalize)", UNIT_BYTES("ab\rcd\r\n.\r\n"), BARE_LF_NORMALIZE,
	  3, UNIT_BYTES("ab\ncd") },
	{ "bare CR at a read's end (keep)", UNIT_BYTES("ab\rcd\r\n.\r\n"), BARE_LF_KEEP, 3,
	  UNIT_BYTES("ab\rcd") },
	{ "NUL and 8-bit", UNIT_BYTES("\0\xff\r\n.\r\n"), BARE_LF_KEEP, 3, UNIT_BYTES("\0\xff") },
};

/* One read as linebuf_read_data() makes it: to an LF, or read_max bytes. */
static size_t next_read(const char *p, size_t left, size_t read_max)
{
	const char *lf = memchr(p, '\n', left < read_max ? left : read_max);
	return lf ? (size_t)(lf - p) + 1 : left < read_max ? left : read_max;
}

static void test_data_chain(void)
{
	for (size_t i = 0; i < sizeof(chain_rows) / sizeof(chain_rows[0]); i++) {
		const struct chain_row *r = &chain_rows[i];
		struct msgbuf out = { 0 }, hold = { 0 };
		struct seen w = { .stop_at = 0 };
		struct smtp_data d;
		struct smtp_body b;
		smtp_data_begin(&d, &out, r->policy, 0);
		smtp_body_begin(&b, 0, 0, &hold);
		int end = 0, rc = 0;
		for (size_t off = 0; off < r->wire_len && !end && rc == 0;) {
			size_t n = next_read(r->wire + off, r->wire_len - off, r->read_max);
			end = smtp_data_feed(&d, r->wire + off, n);
			off += n;
			if (end)
				smtp_data_finish(&d);
			size_t settled = smtp_body_settled(&out, end);
			rc = smtp_body_feed(&b, out.data, settled, sink, &w);
			smtp_body_consume(&out, settled);
		}
		if (rc == 0)
			rc = smtp_body_end(&b, sink, &w);
		UNIT_CHECK(r->name, end && rc == 0);
		UNIT_CHECK_BYTES(r->name, w.all.data ? w.all.data : "", w.all.len, r->message,
				 r->message_len);
		msgbuf_free(&out);
		msgbuf_free(&hold);
		msgbuf_free(&w.all);
	}
}

int test_smtp_body_register(void)
{
	CU_pSuite s = CU_add_suite("smtp_body", NULL, NULL);
	if (!s || !CU_add_test(s, "UTF-8 across pieces", test_utf8_across_pieces) ||
	    !CU_add_test(s, "pieces and the header block", test_pieces) ||
	    !CU_add_test(s, "a sink's refusal", test_sink_refusal) ||
	    !CU_add_test(s, "DATA's decoder in front", test_data_chain))
		return -1;
	return 0;
}
