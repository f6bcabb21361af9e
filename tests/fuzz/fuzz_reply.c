/*
 * fuzz_reply.c - libFuzzer target: arbitrary bytes from an upstream, read
 * as SMTP replies by the client's reply parser (smtp_client_reply_read)
 * through the same line reader as the proxy and mailman plugins, from the
 * in-memory connection.  Replies are read one after another, as pipelined
 * answers are, until one fails.
 *
 * Beyond "no crash", each reply is checked against the bytes it consumed:
 * those bytes, cut into lines here, must give the same code, the same
 * joined text (cut to the reply's size) and the same extension lines.  So
 * the parser can neither read past its input nor make up or drop text.
 * The first input byte picks the read size, whether extensions are
 * collected (an EHLO reply) and whether the input ends in EOF or timeout.
 * Never aborts but on a broken invariant.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "linebuf.h"
#include "smtp_client.h"

/* What one reply's bytes say, worked out here without the parser. */
struct expected {
	int code;
	char text[sizeof(((struct smtpgate_upstream_reply *)0)->text)];
	struct smtp_client_extensions ext;
};

static void check(int ok, const char *what);
static void expect_reply(const char *p, size_t len, int collect, struct expected *e);
static void check_reply(const char *p, size_t len, int collect, int code,
			const struct smtpgate_upstream_reply *r,
			const struct smtp_client_extensions *ext);
static void check_lookup(const struct smtp_client_extensions *ext);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a crash libFuzzer reports with its input. */
static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_reply: invariant broken: %s\n", what);
		abort();
	}
}

/* The code, text and extensions of a reply of whole lines p[0..len). */
static void expect_reply(const char *p, size_t len, int collect, struct expected *e)
{
	size_t used = 0, nlines = 0;
	memset(e, 0, sizeof(*e));
	for (const char *end = p + len; p < end; nlines++) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		check(lf != NULL, "a reply's bytes end with LF");
		size_t n = (size_t)(lf - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		e->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (collect && nlines > 0 && n > 4 && e->ext.count < SMTP_CLIENT_EXTENSIONS_MAX) {
			size_t k = n - 4 < SMTP_CLIENT_EXTENSION_BYTES - 1 ? n - 4
									   : SMTP_CLIENT_EXTENSION_BYTES - 1;
			memcpy(e->ext.line[e->ext.count++], p + 4, k);
		}
		/* The text stops at a NUL byte: it is a C string for the plugin. */
		const char *nul = n > 4 ? memchr(p + 4, '\0', n - 4) : NULL;
		size_t t = n > 4 ? (nul ? (size_t)(nul - p) : n) - 4 : 0;
		if (n > 4 && used > 0 && used < sizeof(e->text) - 1)
			e->text[used++] = ' ';
		for (size_t i = 0; i < t && used < sizeof(e->text) - 1; i++)
			e->text[used++] = p[4 + i];
		p = lf + 1;
	}
	check(nlines >= 1 && nlines <= 100, "a reply has 1 to 100 lines");
}

/* A reply the parser returned, against its bytes p[0..len). */
static void check_reply(const char *p, size_t len, int collect, int code,
			const struct smtpgate_upstream_reply *r,
			const struct smtp_client_extensions *ext)
{
	struct expected e;
	check(code >= 200 && code <= 599, "a reply's code is 200-599");
	check(code == r->code, "the code returned is the reply's");
	expect_reply(p, len, collect, &e);
	check(e.code == code, "the code is the one of the reply's lines");
	check(strcmp(e.text, r->text) == 0, "the text is the lines' texts joined");
	check(ext->count == e.ext.count, "one extension per line after the first");
	for (size_t i = 0; i < ext->count; i++)
		check(memcmp(ext->line[i], e.ext.line[i], sizeof(ext->line[i])) == 0,
		      "an extension is its line's text, cut and NUL-terminated");
}

/* Lookups the relay does answer from the list and point into it. */
static void check_lookup(const struct smtp_client_extensions *ext)
{
	static const char *const keys[] = { "SIZE", "PIPELINING", "8BITMIME", "SMTPUTF8",
					     "CHUNKING", "BINARYMIME", "" };
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const char *param = NULL;
		if (!smtp_client_extensions_find(ext, keys[k], &param))
			continue;
		int inside = 0;
		for (size_t i = 0; i < ext->count; i++)
			inside |= param >= ext->line[i] &&
				  param <= ext->line[i] + strlen(ext->line[i]);
		check(inside || (param && *param == '\0'), "a parameter points into its line");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int knobs = size ? data[0] : 0;
	const char *input = (const char *)data + (size ? 1 : 0);
	size_t input_len = size ? size - 1 : 0;
	int collect = (knobs & 8) != 0;
	static struct linebuf lb;
	struct conn_mem c;
	conn_mem_init(&c, input, input_len, knobs & 7);
	c.eof_is_timeout = (knobs & 16) != 0;
	linebuf_init(&lb, &c.base);

	size_t before = 0;
	for (;;) {
		struct smtpgate_upstream_reply r;
		struct smtp_client_extensions ext = { 0 };
		const char *why = NULL;
		memset(&r, 0x55, sizeof(r)); /* no byte of an earlier reply may show through */
		int code = smtp_client_reply_read(&lb, 1000, &r, collect ? &ext : NULL, &why);
		check(memchr(r.text, '\0', sizeof(r.text)) != NULL, "the text is NUL-terminated");
		check(strchr(r.text, '\n') == NULL, "the text holds no LF");
		size_t consumed = c.input_pos - linebuf_pending(&lb);
		check(consumed >= before && consumed <= input_len, "bytes consumed are the input's");
		if (code == 0) {
			check(why != NULL && why[0] != '\0', "a failure says why");
			break;
		}
		check_reply(input + before, consumed - before, collect, code, &r, &ext);
		check_lookup(&ext);
		before = consumed;
	}
	conn_mem_free(&c);
	return 0;
}
