/*
 * test_smtp_client_chunk.c - BDAT chunk octets without I/O: line ends
 * made CR LF (LF, CR LF, a bare CR), no dot doubled, the CR state carried
 * from one piece to the next, the count alone equal to what is written,
 * and the written size within the promised 2 * len + 2 bytes.
 */
#include <string.h>

#include "smtp_client.h"
#include "unit.h"

/* Each row: the pieces (split at '|'), whether a CR was pending before
   them, the octets of all, and whether a CR is pending after. */
static const struct {
	const char *name;
	const char *pieces;
	int cr_before;
	const char *exp;
	int cr_after;
} rows[] = {
	{ "empty", "", 0, "", 0 },
	{ "plain text", "abc", 0, "abc", 0 },
	{ "LF", "a\nb", 0, "a\r\nb", 0 },
	{ "CR LF kept", "a\r\nb", 0, "a\r\nb", 0 },
	{ "bare CR", "a\rb", 0, "a\r\nb", 0 },
	{ "CR CR LF", "a\r\r\nb", 0, "a\r\n\r\nb", 0 },
	{ "LF CR", "\n\r", 0, "\r\n", 1 },
	{ "leading dot not doubled", ".x\n.\n..", 0, ".x\r\n.\r\n..", 0 },
	{ "CR last is pending", "ab\r", 0, "ab", 1 },
	{ "CR LF split across pieces", "a\r|\nb", 0, "a\r\nb", 0 },
	{ "bare CR split across pieces", "a\r|b", 0, "a\r\nb", 0 },
	{ "pending CR then LF", "\nx", 1, "\r\nx", 0 },
	{ "pending CR then text", "x", 1, "\r\nx", 0 },
	{ "pending CR then CR", "\r", 1, "\r\n", 1 },
	{ "pending CR, empty piece", "", 1, "", 1 },
	{ "empty pieces between", "a||\n||b", 0, "a\r\nb", 0 },
	{ "only LFs", "\n\n\n", 0, "\r\n\r\n\r\n", 0 },
	{ "only CRs", "\r\r\r", 0, "\r\n\r\n", 1 },
	{ "dot line as DATA's end", "x\r\n.\r\ny", 0, "x\r\n.\r\ny", 0 },
	{ "8-bit bytes", "\xc3\xa9\n", 0, "\xc3\xa9\r\n", 0 },
};

static void test_chunk_encode(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *row = rows[i].name, *p = rows[i].pieces;
		char got[256], piece_out[64];
		size_t used = 0;
		int cr = rows[i].cr_before, cr_count = rows[i].cr_before;
		for (;;) {
			const char *bar = strchr(p, '|');
			size_t len = bar ? (size_t)(bar - p) : strlen(p);
			memset(piece_out, '#', sizeof(piece_out));
			size_t counted = smtp_client_chunk_encode(&cr_count, p, len, NULL);
			size_t n = smtp_client_chunk_encode(&cr, p, len, piece_out);
			UNIT_CHECK(row, counted == n);
			UNIT_CHECK(row, cr_count == cr);
			UNIT_CHECK(row, n <= 2 * len + 2);
			UNIT_CHECK(row, piece_out[n] == '#'); /* nothing past the count */
			memcpy(got + used, piece_out, n);
			used += n;
			if (!bar)
				break;
			p = bar + 1;
		}
		UNIT_CHECK_BYTES(row, got, used, rows[i].exp, strlen(rows[i].exp));
		UNIT_CHECK(row, cr == rows[i].cr_after);
	}
}

/* The worst case of the room promised: a CR pending from the piece
   before, resolved bare by a text byte, then only LFs: 2 * len + 1. */
static void test_chunk_encode_worst_case(void)
{
	char in[1000], out[2 * sizeof(in) + 2];
	memset(in, '\n', sizeof(in));
	in[0] = 'x';
	int cr = 1;
	size_t n = smtp_client_chunk_encode(&cr, in, sizeof(in), out);
	UNIT_CHECK("worst case", n == 2 * sizeof(in) + 1);
	UNIT_CHECK("worst case", cr == 0);
	UNIT_CHECK_BYTES("worst case", out, 5, "\r\nx\r\n", 5);
}

int test_smtp_client_chunk_register(void)
{
	CU_pSuite s = CU_add_suite("smtp_client_chunk", NULL, NULL);
	if (!s || !CU_add_test(s, "smtp_client_chunk_encode table", test_chunk_encode) ||
	    !CU_add_test(s, "room needed, worst case", test_chunk_encode_worst_case))
		return -1;
	return 0;
}
