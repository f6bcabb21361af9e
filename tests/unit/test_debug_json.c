/*
 * test_debug_json.c - the debug plugin's test-double parts: the chaos
 * rule syntax (one row per text: accepted with its code, probability and
 * delay, or refused), and the JSON line of a message (one row per message:
 * the headers, body and encoding expected in the output, which must stay
 * one line).  Integration tests parse whole lines with Python's json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/debug/debug_chaos.h"
#include "../../plugins/debug/debug_json.h"
#include "unit.h"

struct chaos_row {
	const char *name;
	const char *text;
	int rc;
	int code;
	double probability;
	long delay_ms;
};

static const struct chaos_row chaos_rows[] = {
	{ "tempfail quarter", "451 0.25", 0, 451, 0.25, 0 },
	{ "always 550", "550 1", 0, 550, 1.0, 0 },
	{ "never 421", "421 0", 0, 421, 0.0, 0 },
	{ "delay seconds", "delay 2", 0, 0, 0, 2000 },
	{ "delay fraction", "delay 0.25", 0, 0, 0, 250 },
	{ "delay zero", "delay 0", 0, 0, 0, 0 },
	{ "2xx refused", "250 1", -1, 0, 0, 0 },
	{ "3xx refused", "354 0.5", -1, 0, 0, 0 },
	{ "600 refused", "600 0.5", -1, 0, 0, 0 },
	{ "probability over 1", "451 1.5", -1, 0, 0, 0 },
	{ "negative probability", "451 -0.1", -1, 0, 0, 0 },
	{ "no probability", "451", -1, 0, 0, 0 },
	{ "trailing junk", "451 0.5x", -1, 0, 0, 0 },
	{ "delay too long", "delay 601", -1, 0, 0, 0 },
	{ "delay negative", "delay -1", -1, 0, 0, 0 },
	{ "delay not a number", "delay soon", -1, 0, 0, 0 },
	{ "nan", "451 nan", -1, 0, 0, 0 },
	{ "empty", "", -1, 0, 0, 0 },
};

static void test_chaos_parse(void)
{
	for (size_t i = 0; i < sizeof(chaos_rows) / sizeof(chaos_rows[0]); i++) {
		const struct chaos_row *row = &chaos_rows[i];
		struct debug_chaos_rule r;
		const char *why = NULL;
		int rc = debug_chaos_parse(row->text, &r, &why);
		UNIT_CHECK(row->name, rc == row->rc);
		if (rc < 0) {
			UNIT_CHECK(row->name, why != NULL);
			continue;
		}
		UNIT_CHECK(row->name, r.code == row->code);
		UNIT_CHECK(row->name, r.probability == row->probability);
		UNIT_CHECK(row->name, r.delay_ms == row->delay_ms);
	}
}

struct sink {
	char buf[8192];
	size_t len;
};

static void sink_emit(void *ctx, const char *p, size_t len)
{
	struct sink *k = ctx;
	if (k->len + len < sizeof(k->buf)) {
		memcpy(k->buf + k->len, p, len);
		k->len += len;
	}
	k->buf[k->len] = '\0';
}

struct json_row {
	const char *name;
	const char *data;
	size_t len;
	const char *want; /* the output from ,"size": on */
};

#define ROW(name, lit, want) { name, lit, sizeof(lit) - 1, want }

static const struct json_row json_rows[] = {
	ROW("headers and body", "Subject: hi\nFrom: a@b\n\nbody\nline 2",
	    ",\"size\":34,\"headers\":[[\"Subject\",\"hi\"],[\"From\",\"a@b\"]],"
	    "\"body_encoding\":\"utf-8\",\"body\":\"body\\nline 2\"}\n"),
	ROW("folded header", "Subject: one\n two\n\tthree\n\nb",
	    ",\"size\":27,\"headers\":[[\"Subject\",\"one\\n two\\n\\tthree\"]],"
	    "\"body_encoding\":\"utf-8\",\"body\":\"b\"}\n"),
	ROW("no headers", "just text\n\nmore",
	    ",\"size\":15,\"headers\":[],\"body_encoding\":\"utf-8\","
	    "\"body\":\"just text\\n\\nmore\"}\n"),
	ROW("quotes and controls", "X: \"q\" \\ \x01\r\n\n\x7f",
	    ",\"size\":14,\"headers\":[[\"X\",\"\\\"q\\\" \\\\ \\u0001\\u000d\"]],"
	    "\"body_encoding\":\"utf-8\",\"body\":\"\\u007f\"}\n"),
	ROW("utf-8 body kept", "S: \xc3\xa9\n\n\xe2\x82\xac",
	    ",\"size\":10,\"headers\":[[\"S\",\"\xc3\xa9\"]],"
	    "\"body_encoding\":\"utf-8\",\"body\":\"\xe2\x82\xac\"}\n"),
	ROW("8-bit body as base64", "S: x\n\n\xff\xfe\x00" "a",
	    ",\"size\":10,\"headers\":[[\"S\",\"x\"]],"
	    "\"body_encoding\":\"base64\",\"body\":\"//4AYQ==\"}\n"),
	ROW("8-bit header replaced", "S: \xff\n\nok",
	    ",\"size\":8,\"headers\":[[\"S\",\"\\ufffd\"]],"
	    "\"body_encoding\":\"utf-8\",\"body\":\"ok\"}\n"),
	ROW("overlong is not utf-8", "S: x\n\n\xc0\xaf",
	    ",\"size\":8,\"headers\":[[\"S\",\"x\"]],"
	    "\"body_encoding\":\"base64\",\"body\":\"wK8=\"}\n"),
	ROW("empty message", "",
	    ",\"size\":0,\"headers\":[],\"body_encoding\":\"utf-8\",\"body\":\"\"}\n"),
	ROW("4-byte characters", "S: x\n\n\xf0\x9f\x98\x80" "a\xf0\x9f\x98\x80\"",
	    ",\"size\":16,\"headers\":[[\"S\",\"x\"]],"
	    "\"body_encoding\":\"utf-8\",\"body\":\"\xf0\x9f\x98\x80" "a\xf0\x9f\x98\x80\\\"\"}\n"),
	ROW("cut 4-byte character at the end", "S: x\n\nab\xf0\x9f\x98",
	    ",\"size\":11,\"headers\":[[\"S\",\"x\"]],"
	    "\"body_encoding\":\"base64\",\"body\":\"YWLwn5g=\"}\n"),
	ROW("base64 of seven bytes", "S: x\n\n\xff\x01\x02\x03\x04\x05\x06",
	    ",\"size\":13,\"headers\":[[\"S\",\"x\"]],"
	    "\"body_encoding\":\"base64\",\"body\":\"/wECAwQFBg==\"}\n"),
	ROW("headers only", "S: x\nT: y",
	    ",\"size\":9,\"headers\":[[\"S\",\"x\"],[\"T\",\"y\"]],"
	    "\"body_encoding\":\"utf-8\",\"body\":\"\"}\n"),
};

static void test_json_message(void)
{
	static const char *const rcpts[] = { "b@example.org", "c\"@example.org", NULL };
	static const char *const opts[] = { "BODY=8BITMIME" };
	struct smtpgate_session s = {
		.id = "0123abcd", .peer_addr = "127.0.0.1", .peer_port = 4321,
		.seen_greeting = "client.example", .mailfrom = "a@example.org",
		.rcpttos = rcpts, .rcpt_count = 2, .mail_options = opts, .mail_option_count = 1,
	};
	for (size_t i = 0; i < sizeof(json_rows) / sizeof(json_rows[0]); i++) {
		const struct json_row *row = &json_rows[i];
		struct sink k = { .len = 0 };
		debug_json_message(&s, row->data, row->len, sink_emit, &k);
		UNIT_CHECK(row->name, strncmp(k.buf, "{\"time\":\"", 9) == 0);
		UNIT_CHECK_CONTAINS(row->name, k.buf, "\",\"session\":\"0123abcd\",\"peer\":\"127.0.0.1\","
				    "\"peer_port\":4321,\"helo\":\"client.example\",\"sender\":"
				    "\"a@example.org\",\"recipients\":[\"b@example.org\","
				    "\"c\\\"@example.org\"],\"mail_options\":[\"BODY=8BITMIME\"],"
				    "\"rcpt_options\":[],\"size\":");
		const char *from = strstr(k.buf, ",\"size\":");
		UNIT_CHECK_STR(row->name, from, row->want);
		UNIT_CHECK(row->name, strchr(k.buf, '\n') == k.buf + k.len - 1);
	}
}

/* The same rows made in parts, as the plugin makes a streamed message:
   the header fields whole, the body in pieces of every size from 1 to 7
   bytes (characters and base64 groups cut at every place), the UTF-8
   check fed piece by piece: the same object as the whole message's. */
static void test_json_parts(void)
{
	struct smtpgate_session s = { .id = "1", .peer_addr = "::1", .seen_greeting = "h" };
	for (size_t i = 0; i < sizeof(json_rows) / sizeof(json_rows[0]); i++) {
		const struct json_row *row = &json_rows[i];
		struct sink whole = { .len = 0 };
		debug_json_message(&s, row->data, row->len, sink_emit, &whole);
		for (size_t piece = 1; piece <= 7; piece++) {
			struct sink k = { .len = 0 };
			struct debug_json_utf8 u = { .pend_len = 0 };
			struct debug_json_body b;
			size_t head = debug_json_header_end(row->data, row->len);
			for (size_t at = head; at < row->len; at += piece)
				debug_json_utf8_feed(&u, row->data + at,
						     row->len - at < piece ? row->len - at : piece);
			debug_json_head(&s, row->data, head, row->len, sink_emit, &k);
			debug_json_body_begin(&b, debug_json_utf8_valid_end(&u), sink_emit, &k);
			for (size_t at = head; at < row->len; at += piece)
				debug_json_body_put(&b, row->data + at,
						    row->len - at < piece ? row->len - at : piece);
			debug_json_body_end(&b);
			/* The time may have turned between the two: compare from "session". */
			UNIT_CHECK_STR(row->name, strstr(k.buf, "\"session\""),
				       strstr(whole.buf, "\"session\""));
		}
	}
}

int test_debug_json_register(void)
{
	CU_pSuite s = CU_add_suite("debug_json", NULL, NULL);
	if (!s || !CU_add_test(s, "debug_chaos_parse table", test_chaos_parse) ||
	    !CU_add_test(s, "debug_json_message table", test_json_message) ||
	    !CU_add_test(s, "debug_json in parts table", test_json_parts))
		return -1;
	return 0;
}
