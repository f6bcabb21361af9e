/*
 * test_linebuf.c - the bounded line reader over an in-memory connection:
 * command lines ended by CR LF, and by a bare LF as each bare_lf policy
 * says (keep: part of the line; normalize: a line end; reject: a line end
 * that refuses the line), the length limit (an overlong line is discarded
 * up to its end and the next line is read normally),
 * DATA pieces, EOF and timeout, each with the input delivered whole
 * (chunk 0), one byte at a time (chunk 1) and in odd pieces (chunk 7).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "linebuf.h"
#include "unit.h"

static const size_t chunk_sizes[] = { 0, 1, 7 };

/* The input is prefix, then fill_count copies of fill, then suffix. */
struct lb_row {
	const char *name;
	const char *prefix;
	char fill;
	size_t fill_count;
	const char *suffix;
	size_t max_bytes;
	int eof_is_timeout;
	const char *expected; /* "[line]" per line, <TOOLONG>, <BARELF>, <BARECR>, then <EOF>/<TIMEOUT> */
	enum bare_lf_policy policy; /* command rows: what ends a line [keep] */
};

static char *build_input(const struct lb_row *r, size_t *len_out)
{
	size_t pl = strlen(r->prefix), sl = strlen(r->suffix);
	char *in = malloc(pl + r->fill_count + sl + 1);
	if (!in)
		abort();
	memcpy(in, r->prefix, pl);
	memset(in + pl, r->fill, r->fill_count);
	memcpy(in + pl + r->fill_count, r->suffix, sl);
	*len_out = pl + r->fill_count + sl;
	return in;
}

static void append_result(char *out, size_t size, int rc, const char *line, size_t len)
{
	size_t used = strlen(out);
	if (rc == LINEBUF_LINE)
		snprintf(out + used, size - used, "[%.*s]", (int)len, line);
	else if (rc == LINEBUF_TOO_LONG)
		snprintf(out + used, size - used, "<TOOLONG>");
	else if (rc == LINEBUF_BARE_LF)
		snprintf(out + used, size - used, "<BARELF>");
	else if (rc == LINEBUF_BARE_CR)
		snprintf(out + used, size - used, "<BARECR>");
	else
		snprintf(out + used, size - used, "<%s>",
			 rc == CONN_EOF ? "EOF" : rc == CONN_TIMEOUT ? "TIMEOUT" : "ERROR");
}

static const struct lb_row command_rows[] = {
	{ "CR LF lines", "HELO a\r\nNOOP\r\n", 0, 0,
	  "", 512, 0, "[HELO a][NOOP]<EOF>", BARE_LF_KEEP },
	{ "bare LF lines, normalize", "HELO a\nNOOP\n", 0, 0,
	  "", 512, 0, "[HELO a][NOOP]<EOF>", BARE_LF_NORMALIZE },
	{ "bare LF inside a line, keep", "HELO a\nNOOP\r\n", 0, 0, "", 512, 0,
	  "[HELO a\nNOOP]<EOF>", BARE_LF_KEEP },
	{ "bare LF lines, keep: no line yet", "HELO a\nNOOP\n", 0, 0,
	  "", 512, 0, "<EOF>", BARE_LF_KEEP },
	{ "bare LF line refused, reject", "HELO a\nNOOP\r\n", 0, 0,
	  "", 512, 0, "<BARELF>[NOOP]<EOF>", BARE_LF_REJECT },
	{ "mixed line ends, normalize", "A\r\nB\nC\r\n", 0, 0,
	  "", 512, 0, "[A][B][C]<EOF>", BARE_LF_NORMALIZE },
	{ "mixed line ends, keep", "A\r\nB\nC\r\n", 0, 0,
	  "", 512, 0, "[A][B\nC]<EOF>", BARE_LF_KEEP },
	{ "mixed line ends, reject", "A\r\nB\nC\r\n", 0, 0,
	  "", 512, 0, "[A]<BARELF>[C]<EOF>", BARE_LF_REJECT },
	{ "empty lines, normalize", "\r\n\n", 0, 0, "", 512, 0, "[][]<EOF>", BARE_LF_NORMALIZE },
	{ "empty lines, keep", "\r\n\n\r\n", 0, 0, "", 512, 0, "[][\n]<EOF>", BARE_LF_KEEP },
	{ "empty lines, reject", "\r\n\n", 0, 0, "", 512, 0, "[]<BARELF><EOF>", BARE_LF_REJECT },
	{ "CR inside a line kept", "a\rb\r\n", 0, 0, "", 512, 0, "[a\rb]<EOF>", BARE_LF_KEEP },
	{ "CR inside a line kept, normalize", "a\rb\r\n", 0, 0, "", 512, 0, "[a\rb]<EOF>",
	  BARE_LF_NORMALIZE },
	{ "CR inside a line refused, reject", "a\rb\r\nNOOP\r\n", 0, 0, "", 512, 0,
	  "<BARECR>[NOOP]<EOF>", BARE_LF_REJECT },
	{ "CR before CR LF refused, reject", "a\r\r\n", 0, 0, "", 512, 0, "<BARECR><EOF>",
	  BARE_LF_REJECT },
	{ "only the CR before LF dropped", "a\r\r\n", 0, 0,
	  "", 512, 0, "[a\r]<EOF>", BARE_LF_KEEP },
	{ "NUL kept (the parser refuses it)", "a", '\0', 1, "b\r\n", 512, 0,
	  "[a]<EOF>", BARE_LF_KEEP },
	{ "partial line at EOF", "NOOP", 0, 0, "", 512, 0, "<EOF>", BARE_LF_KEEP },
	{ "partial line at timeout", "NOOP", 0, 0, "", 512, 1, "<TIMEOUT>", BARE_LF_KEEP },
	{ "no input", "", 0, 0, "", 512, 0, "<EOF>", BARE_LF_KEEP },
	{ "line at the limit", "", 'a', 10, "\r\n", 10, 0, "[aaaaaaaaaa]<EOF>", BARE_LF_KEEP },
	{ "line at the limit, bare LF", "", 'a', 10, "\n", 10, 0,
	  "[aaaaaaaaaa]<EOF>", BARE_LF_NORMALIZE },
	{ "line at the limit, bare LF, reject", "", 'a', 10, "\n", 10, 0,
	  "<BARELF><EOF>", BARE_LF_REJECT },
	{ "one over the limit", "", 'a', 11, "\r\nNOOP\r\n", 10, 0,
	  "<TOOLONG>[NOOP]<EOF>", BARE_LF_KEEP },
	{ "one over the limit, bare LF", "", 'a', 11, "\nNOOP\n", 10, 0,
	  "<TOOLONG>[NOOP]<EOF>", BARE_LF_NORMALIZE },
	{ "one over the limit, bare LF, reject", "", 'a', 11, "\nNOOP\n", 10, 0,
	  "<TOOLONG><BARELF><EOF>", BARE_LF_REJECT },
	{ "over the limit through a bare LF, keep", "", 'a', 8, "\nNOOP\r\nQUIT\r\n", 10, 0,
	  "<TOOLONG>[QUIT]<EOF>", BARE_LF_KEEP },
	{ "512 bytes accepted", "", 'a', 512, "\r\nQUIT\r\n", 512, 0,
	  "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa][QUIT]<EOF>",
	  BARE_LF_KEEP },
	{ "513 bytes too long", "", 'a', 513, "\r\nQUIT\r\n", 512, 0,
	  "<TOOLONG>[QUIT]<EOF>", BARE_LF_KEEP },
	{ "20000 bytes discarded to CR LF", "", 'x', 20000, "\r\nQUIT\r\n", 512, 0,
	  "<TOOLONG>[QUIT]<EOF>", BARE_LF_KEEP },
	{ "20000 bytes discarded to bare LF", "", 'x', 20000, "\nQUIT\n", 512, 0,
	  "<TOOLONG>[QUIT]<EOF>", BARE_LF_NORMALIZE },
	{ "20000 bytes discarded past a bare LF to CR LF, keep", "", 'x', 20000,
	  "\nQUIT\r\nNOOP\r\n", 512, 0, "<TOOLONG>[NOOP]<EOF>", BARE_LF_KEEP },
	{ "two long lines in a row", "", 'x', 600, "\r\nyyyyyyyyyyyyyyyyyyyy\r\nQUIT\r\n", 10, 0,
	  "<TOOLONG><TOOLONG>[QUIT]<EOF>", BARE_LF_KEEP },
	{ "long line, then EOF", "", 'x', 20000, "", 512, 0, "<EOF>", BARE_LF_KEEP },
	{ "long line, then timeout", "", 'x', 20000, "", 512, 1, "<TIMEOUT>", BARE_LF_KEEP },
	{ "long line with CR inside", "", '\r', 20, "\nNOOP\r\n", 10, 0,
	  "<TOOLONG>[NOOP]<EOF>", BARE_LF_KEEP },
};

static void test_read_command(void)
{
	for (size_t c = 0; c < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); c++)
		for (size_t i = 0; i < sizeof(command_rows) / sizeof(command_rows[0]); i++) {
			const struct lb_row *r = &command_rows[i];
			char row[160];
			snprintf(row, sizeof(row), "%s [chunk %zu]", r->name, chunk_sizes[c]);
			size_t len;
			char *in = build_input(r, &len);
			struct conn_mem cm;
			conn_mem_init(&cm, in, len, chunk_sizes[c]);
			cm.eof_is_timeout = r->eof_is_timeout;
			struct linebuf *lb = malloc(sizeof(*lb));
			if (!lb)
				abort();
			linebuf_init(lb, &cm.base);
			linebuf_set_bare_lf(lb, r->policy);
			char got[1024] = "";
			for (int n = 0; n < 10; n++) {
				const char *line = NULL;
				size_t line_len = 0;
				int rc = linebuf_read_command(lb, r->max_bytes, 1000, 1, &line,
							      &line_len);
				append_result(got, sizeof(got), rc, line, line_len);
				if (rc < 0)
					break;
			}
			UNIT_CHECK_STR(row, got, r->expected);
			free(lb);
			conn_mem_free(&cm);
			free(in);
		}
}

static const struct lb_row data_rows[] = {
	{ "pieces end at LF", "abc\r\ndef\n.\r\n", 0, 0,
	  "", 0, 0, "[abc\r\n][def\n][.\r\n]<EOF>", BARE_LF_KEEP },
	{ "bytes kept exactly", "a\rb", '\0', 1, "c\r\n", 0, 0, "[a\rb]<EOF>", BARE_LF_KEEP },
	{ "partial piece at EOF dropped", "abc\r\nde", 0, 0,
	  "", 0, 0, "[abc\r\n]<EOF>", BARE_LF_KEEP },
	{ "partial piece at timeout", "abc", 0, 0, "", 0, 1, "<TIMEOUT>", BARE_LF_KEEP },
	{ "empty lines", "\r\n\n", 0, 0, "", 0, 0, "[\r\n][\n]<EOF>", BARE_LF_KEEP },
};

static void test_read_data(void)
{
	for (size_t c = 0; c < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); c++)
		for (size_t i = 0; i < sizeof(data_rows) / sizeof(data_rows[0]); i++) {
			const struct lb_row *r = &data_rows[i];
			char row[160];
			snprintf(row, sizeof(row), "%s [chunk %zu]", r->name, chunk_sizes[c]);
			size_t len;
			char *in = build_input(r, &len);
			struct conn_mem cm;
			conn_mem_init(&cm, in, len, chunk_sizes[c]);
			cm.eof_is_timeout = r->eof_is_timeout;
			struct linebuf *lb = malloc(sizeof(*lb));
			if (!lb)
				abort();
			linebuf_init(lb, &cm.base);
			char got[1024] = "";
			for (int n = 0; n < 10; n++) {
				const char *piece = NULL;
				size_t piece_len = 0;
				int rc = linebuf_read_data(lb, 1000, &piece, &piece_len);
				if (rc == LINEBUF_LINE && memchr(piece, '\0', piece_len)) {
					UNIT_CHECK_BYTES(row, piece, piece_len, "a\rb\0c\r\n", 7);
					piece_len = 3; /* render up to the NUL */
				}
				append_result(got, sizeof(got), rc, piece, piece_len);
				if (rc < 0)
					break;
			}
			UNIT_CHECK_STR(row, got, r->expected);
			free(lb);
			conn_mem_free(&cm);
			free(in);
		}
}

/* A body line longer than the buffer comes in buffer-sized pieces, whole. */
static void test_read_data_long_line(void)
{
	const size_t line_len = 3 * LINEBUF_SIZE_BYTES + 100;
	char *in = malloc(line_len + 2);
	if (!in)
		abort();
	for (size_t i = 0; i < line_len; i++)
		in[i] = (char)('A' + i % 23);
	memcpy(in + line_len, "\r\n", 2);
	for (size_t c = 0; c < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); c++) {
		char row[64];
		snprintf(row, sizeof(row), "long line [chunk %zu]", chunk_sizes[c]);
		struct conn_mem cm;
		conn_mem_init(&cm, in, line_len + 2, chunk_sizes[c]);
		struct linebuf *lb = malloc(sizeof(*lb));
		if (!lb)
			abort();
		linebuf_init(lb, &cm.base);
		size_t pos = 0, pieces = 0;
		int ok = 1;
		for (;;) {
			const char *piece;
			size_t len;
			int rc = linebuf_read_data(lb, 1000, &piece, &len);
			if (rc < 0)
				break;
			pieces++;
			ok &= len <= LINEBUF_SIZE_BYTES && pos + len <= line_len + 2 &&
			      memcmp(piece, in + pos, len) == 0;
			pos += len;
		}
		UNIT_CHECK(row, ok);
		UNIT_CHECK(row, pos == line_len + 2);
		UNIT_CHECK(row, pieces == 4);
		free(lb);
		conn_mem_free(&cm);
	}
	free(in);
}

/* Pipelined input stays buffered: pending counts what was not consumed,
   and DATA picks up right after the command line that started it. */
static void test_pending_and_switch(void)
{
	static const char in[] = "DATA\r\nbody\r\n.\r\nQUIT\r\n";
	struct conn_mem cm;
	conn_mem_init(&cm, in, sizeof(in) - 1, 0);
	struct linebuf *lb = malloc(sizeof(*lb));
	if (!lb)
		abort();
	linebuf_init(lb, &cm.base);
	const char *p;
	size_t len;
	UNIT_CHECK("nothing pending before a read", linebuf_pending(lb) == 0);
	UNIT_CHECK("DATA", linebuf_read_command(lb, 512, 1000, 1, &p, &len) == LINEBUF_LINE);
	UNIT_CHECK_BYTES("DATA", p, len, "DATA", 4);
	UNIT_CHECK("pending after DATA", linebuf_pending(lb) == sizeof(in) - 1 - 6);
	UNIT_CHECK("body", linebuf_read_data(lb, 1000, &p, &len) == LINEBUF_LINE);
	UNIT_CHECK_BYTES("body", p, len, "body\r\n", 6);
	UNIT_CHECK("dot", linebuf_read_data(lb, 1000, &p, &len) == LINEBUF_LINE);
	UNIT_CHECK_BYTES("dot", p, len, ".\r\n", 3);
	UNIT_CHECK("QUIT", linebuf_read_command(lb, 512, 1000, 1, &p, &len) == LINEBUF_LINE);
	UNIT_CHECK_BYTES("QUIT", p, len, "QUIT", 4);
	UNIT_CHECK("nothing pending at the end", linebuf_pending(lb) == 0);
	UNIT_CHECK("EOF", linebuf_read_command(lb, 512, 1000, 1, &p, &len) == CONN_EOF);
	free(lb);
	conn_mem_free(&cm);
}

int test_linebuf_register(void)
{
	CU_pSuite s = CU_add_suite("linebuf", NULL, NULL);
	if (!s || !CU_add_test(s, "linebuf_read_command table", test_read_command) ||
	    !CU_add_test(s, "linebuf_read_data table", test_read_data) ||
	    !CU_add_test(s, "linebuf_read_data long line", test_read_data_long_line) ||
	    !CU_add_test(s, "pending bytes and DATA switch", test_pending_and_switch))
		return -1;
	return 0;
}
