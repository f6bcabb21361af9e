/*
 * test_debug_plugin.c - the debug plugin (smtpd.DebuggingServer) against a
 * fake struct smtpgate_host: its output file is checked byte for byte for
 * a table of messages (framing, mail options, X-Peer where the headers
 * end), and init/write failures are checked to go through cfg_error and a
 * 451 reply.  The plugin is linked into this binary, so
 * smtpgate_plugin_entry() is the debug plugin's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_load.h"
#include "smtp_reply.h"
#include "unit.h"

static const char *fake_output;  /* what cfg_string("output") returns */
static int fake_output_rc;       /* 1 present, 0 absent, -1 wrong type */
static int fake_cfg_errors, fake_logs;

static void fake_reply(struct smtpgate_reply *reply, int code, const char *enhanced,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void fake_log(enum smtpgate_log_level level, const struct smtpgate_session *s,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fake_cfg_error(const struct smtpgate_cfg *cfg, const char *name, const char *fmt,
			   ...) __attribute__((format(printf, 3, 4)));

static void fake_reply(struct smtpgate_reply *reply, int code, const char *enhanced,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_reply_vset(reply, code, enhanced, fmt, ap);
	va_end(ap);
}

static void fake_log(enum smtpgate_log_level level, const struct smtpgate_session *s,
		     const char *fmt, ...)
{
	(void)level;
	(void)s;
	(void)fmt;
	fake_logs++;
}

static int fake_cfg_string(const struct smtpgate_cfg *cfg, const char *name, const char **out)
{
	(void)cfg;
	if (strcmp(name, "output") != 0)
		return 0;
	if (fake_output_rc == 1)
		*out = fake_output;
	return fake_output_rc;
}

static int fake_cfg_int(const struct smtpgate_cfg *cfg, const char *name, long long *out)
{
	(void)cfg;
	(void)name;
	(void)out;
	return 0;
}

static int fake_cfg_bool(const struct smtpgate_cfg *cfg, const char *name, int *out)
{
	(void)cfg;
	(void)name;
	(void)out;
	return 0;
}

static int fake_cfg_list_count(const struct smtpgate_cfg *cfg, const char *name)
{
	(void)cfg;
	(void)name;
	return 0;
}

static const char *fake_cfg_list_string(const struct smtpgate_cfg *cfg, const char *name,
					int index)
{
	(void)cfg;
	(void)name;
	(void)index;
	return NULL;
}

static void fake_cfg_error(const struct smtpgate_cfg *cfg, const char *name, const char *fmt,
			   ...)
{
	(void)cfg;
	(void)name;
	(void)fmt;
	fake_cfg_errors++;
}

static const char *fake_remote(void)
{
	return "";
}

static const struct smtpgate_host fake_host = {
	.abi_major = SMTPGATE_ABI_MAJOR,
	.abi_minor = SMTPGATE_ABI_MINOR,
	.size = sizeof(struct smtpgate_host),
	.reply = fake_reply,
	.log = fake_log,
	.cfg_string = fake_cfg_string,
	.cfg_int = fake_cfg_int,
	.cfg_bool = fake_cfg_bool,
	.cfg_list_count = fake_cfg_list_count,
	.cfg_list_string = fake_cfg_list_string,
	.cfg_error = fake_cfg_error,
	.listener_remote = fake_remote,
};

#define HEAD "---------- MESSAGE FOLLOWS ----------\n"
#define TAIL "------------ END MESSAGE ------------\n"
#define PEER "X-Peer: 127.0.0.1\n"

static const struct {
	const char *name;
	const char *data;
	size_t len;
	const char *options; /* space-separated mail options, "" for none */
	const char *expected;
} debug_rows[] = {
	{ "headers and body", UNIT_BYTES("From: test\nSubject: hi\n\nHello\nworld"), "",
	  HEAD "From: test\nSubject: hi\n" PEER "\nHello\nworld\n" TAIL },
	{ "mail options", UNIT_BYTES("From: test\n\nHello"), "BODY=8BITMIME",
	  HEAD "mail options: ['BODY=8BITMIME']\nFrom: test\n" PEER "\nHello\n" TAIL },
	{ "two mail options", UNIT_BYTES("From: test\n\nHello"), "BODY=8BITMIME SMTPUTF8",
	  HEAD "mail options: ['BODY=8BITMIME', 'SMTPUTF8']\nFrom: test\n" PEER "\nHello\n" TAIL },
	{ "no empty line: no X-Peer", UNIT_BYTES("From: test\nno body"), "",
	  HEAD "From: test\nno body\n" TAIL },
	{ "single line", UNIT_BYTES("data"), "", HEAD "data\n" TAIL },
	{ "empty message", UNIT_BYTES(""), "", HEAD TAIL },
	{ "only an empty line", UNIT_BYTES("\n"), "", HEAD PEER "\n" TAIL },
	{ "starts with an empty line", UNIT_BYTES("\nbody"), "", HEAD PEER "\nbody\n" TAIL },
	{ "ends with LF", UNIT_BYTES("a: b\n\nc\n"), "", HEAD "a: b\n" PEER "\nc\n" TAIL },
	{ "ends with an empty line", UNIT_BYTES("a: b\n\n"), "", HEAD "a: b\n" PEER "\n" TAIL },
	{ "only the first empty line", UNIT_BYTES("h: 1\n\nb1\n\nb2"), "",
	  HEAD "h: 1\n" PEER "\nb1\n\nb2\n" TAIL },
	{ "8-bit and NUL bytes kept", UNIT_BYTES("h: \xc5\xbc\n\n\0\xff"), "",
	  HEAD "h: \xc5\xbc\n" PEER "\n\0\xff\n" TAIL },
};

static int start(const char *output, void **priv_out)
{
	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	fake_output = output;
	fake_output_rc = 1;
	fake_cfg_errors = fake_logs = 0;
	*priv_out = NULL;
	return d->init(&fake_host, NULL, priv_out);
}

static void session_for(struct smtpgate_session *s, const char **opts, size_t nopts)
{
	memset(s, 0, sizeof(*s));
	s->id = "00c0ffee";
	s->listener = "test";
	s->peer_addr = "127.0.0.1";
	s->peer_port = 40025;
	s->local_addr = "127.0.0.2";
	s->local_port = 25;
	s->fqdn = "mx.test";
	s->seen_greeting = "example";
	s->state = SMTPGATE_STATE_DATA;
	s->mailfrom = "eggs@example";
	s->mail_options = opts;
	s->mail_option_count = nopts;
}

static void test_descriptor(void)
{
	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	char err[256] = "";
	UNIT_CHECK("entry", d != NULL);
	UNIT_CHECK("descriptor valid", plugin_check_descriptor(d, err, sizeof(err)) == 0);
	UNIT_CHECK_STR("name", d->name, "debug");
	UNIT_CHECK("init and fini", d->init && d->fini);
}

static void test_messages(void)
{
	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	for (size_t i = 0; i < sizeof(debug_rows) / sizeof(debug_rows[0]); i++) {
		const char *row = debug_rows[i].name;
		char path[512];
		char name[64];
		snprintf(name, sizeof(name), "debug-%zu.out", i);
		unit_tmppath(path, sizeof(path), name);
		void *priv;
		if (!UNIT_CHECK(row, start(path, &priv) == 0))
			continue;

		char opts_buf[256];
		const char *opts[8];
		size_t nopts = 0;
		snprintf(opts_buf, sizeof(opts_buf), "%s", debug_rows[i].options);
		for (char *save = NULL, *t = strtok_r(opts_buf, " ", &save); t && nopts < 8;
		     t = strtok_r(NULL, " ", &save))
			opts[nopts++] = t;
		struct smtpgate_session s;
		session_for(&s, opts, nopts);
		struct smtpgate_message m = { .data = debug_rows[i].data, .len = debug_rows[i].len };
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		enum smtpgate_verdict v = d->on_message(priv, &s, &m, &r);
		UNIT_CHECK(row, v == SMTPGATE_CONTINUE);
		UNIT_CHECK(row, r.code == 0);
		d->fini(priv);

		size_t len;
		char *got = unit_read_file(path, &len);
		UNIT_CHECK(row, got != NULL);
		if (got) {
			/* The expected text holds NULs only in the 8-bit row. */
			size_t exp_len = strlen(debug_rows[i].expected);
			if (strstr(row, "NUL"))
				exp_len = sizeof(HEAD "h: \xc5\xbc\n" PEER "\n\0\xff\n" TAIL) - 1;
			UNIT_CHECK_BYTES(row, got, len, debug_rows[i].expected, exp_len);
		}
		free(got);
	}
}

/* Messages are appended: two in a row follow each other whole. */
static void test_two_messages(void)
{
	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	char path[512];
	unit_tmppath(path, sizeof(path), "debug-two.out");
	void *priv;
	if (!UNIT_CHECK("init", start(path, &priv) == 0))
		return;
	struct smtpgate_session s;
	session_for(&s, NULL, 0);
	struct smtpgate_reply r;
	struct smtpgate_message m1 = { .data = "A: 1\n\none", .len = 9 };
	struct smtpgate_message m2 = { .data = "two", .len = 3 };
	smtp_reply_clear(&r);
	d->on_message(priv, &s, &m1, &r);
	s.peer_addr = "::1";
	d->on_message(priv, &s, &m2, &r);
	d->fini(priv);
	static const char exp[] = HEAD "A: 1\n" PEER "\none\n" TAIL HEAD "two\n" TAIL;
	size_t len;
	char *got = unit_read_file(path, &len);
	UNIT_CHECK("read", got != NULL);
	if (got)
		UNIT_CHECK_BYTES("two messages", got, len, exp, sizeof(exp) - 1);
	free(got);
}

/* A message larger than the plugin's 1 MiB buffer cap is written whole. */
static void test_large_message(void)
{
	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	const size_t body = 3 * 1024 * 1024;
	char path[512];
	unit_tmppath(path, sizeof(path), "debug-large.out");
	void *priv;
	if (!UNIT_CHECK("init", start(path, &priv) == 0))
		return;
	char *data = malloc(body + 8);
	if (!data)
		abort();
	memcpy(data, "H: v\n\n", 6);
	memset(data + 6, 'q', body);
	struct smtpgate_session s;
	session_for(&s, NULL, 0);
	struct smtpgate_message m = { .data = data, .len = body + 6 };
	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	UNIT_CHECK("large", d->on_message(priv, &s, &m, &r) == SMTPGATE_CONTINUE);
	d->on_message(priv, &s, &m, &r); /* the buffer is rebuilt after being freed */
	d->fini(priv);
	size_t len;
	char *got = unit_read_file(path, &len);
	size_t one = strlen(HEAD) + 5 + strlen(PEER) + 1 + body + 1 + strlen(TAIL);
	UNIT_CHECK("large", got != NULL && len == 2 * one);
	if (got && len == 2 * one)
		UNIT_CHECK("large", memcmp(got + one - strlen(TAIL) - 2, "q\n" TAIL, 2 + strlen(TAIL)) == 0);
	free(got);
	free(data);
}

/* A message given piece by piece (on_body, the header block first) is
   framed as the whole one is, through the temporary file past 1 MiB; one
   abandoned (on_reset) leaves nothing in the output. */
static void test_streamed_message(void)
{
	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	const size_t body = 3 * 1024 * 1024, piece = 65536;
	char path[512];
	unit_tmppath(path, sizeof(path), "debug-streamed.out");
	void *priv;
	if (!UNIT_CHECK("init", start(path, &priv) == 0))
		return;
	char *q = malloc(piece);
	if (!q)
		abort();
	memset(q, 'q', piece);
	struct smtpgate_session s;
	session_for(&s, NULL, 0);
	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	d->on_body(priv, &s, "H: dropped\n\n", 13, &r);
	d->on_body(priv, &s, q, piece, &r);
	d->on_reset(priv, &s);
	UNIT_CHECK("header piece", d->on_body(priv, &s, "H: v\n\n", 6, &r) == SMTPGATE_CONTINUE);
	for (size_t off = 0; off < body; off += piece)
		d->on_body(priv, &s, q, piece, &r);
	struct smtpgate_message m = { .data = NULL, .len = body + 6, .streamed = 1 };
	UNIT_CHECK("streamed", d->on_message(priv, &s, &m, &r) == SMTPGATE_CONTINUE);
	d->fini(priv);
	size_t len;
	char *got = unit_read_file(path, &len);
	size_t one = strlen(HEAD) + 5 + strlen(PEER) + 1 + body + 1 + strlen(TAIL);
	UNIT_CHECK("streamed: one frame", got != NULL && len == one);
	if (got && len == one) {
		UNIT_CHECK_BYTES("streamed: head", got, strlen(HEAD) + 5 + strlen(PEER) + 1,
				 HEAD "H: v\n" PEER "\n", strlen(HEAD) + 5 + strlen(PEER) + 1);
		UNIT_CHECK("streamed: tail", memcmp(got + one - strlen(TAIL) - 2, "q\n" TAIL,
						   2 + strlen(TAIL)) == 0);
		UNIT_CHECK("streamed: no dropped message", !strstr(got, "dropped"));
	}
	free(got);
	free(q);
}

static void test_init_failures(void)
{
	void *priv;
	char path[512];
	unit_tmppath(path, sizeof(path), "no/such/dir/out");
	UNIT_CHECK("unwritable output", start(path, &priv) == -1);
	UNIT_CHECK("unwritable output reported", fake_cfg_errors == 1);

	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	fake_output_rc = -1;
	fake_cfg_errors = 0;
	priv = NULL;
	UNIT_CHECK("output of the wrong type", d->init(&fake_host, NULL, &priv) == -1);
}

/* A failed write is a 451 for the client, never a silent 250. */
static void test_write_failure(void)
{
	if (access("/dev/full", W_OK) != 0)
		return;
	const struct smtpgate_plugin *d = smtpgate_plugin_entry();
	void *priv;
	if (!UNIT_CHECK("init /dev/full", start("/dev/full", &priv) == 0))
		return;
	struct smtpgate_session s;
	session_for(&s, NULL, 0);
	struct smtpgate_message m = { .data = "x", .len = 1 };
	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	enum smtpgate_verdict v = d->on_message(priv, &s, &m, &r);
	UNIT_CHECK("disk full", v == SMTPGATE_TEMPFAIL);
	UNIT_CHECK("disk full", r.code == 451);
	UNIT_CHECK_STR("disk full", r.enhanced, "4.3.0");
	const char *why;
	UNIT_CHECK("disk full: valid answer", smtp_reply_check(v, &r, &why) == 0);
	UNIT_CHECK("disk full: logged", fake_logs == 1);
	d->fini(priv);
}

int test_debug_plugin_register(void)
{
	CU_pSuite s = CU_add_suite("debug plugin", NULL, NULL);
	if (!s || !CU_add_test(s, "descriptor", test_descriptor) ||
	    !CU_add_test(s, "message table", test_messages) ||
	    !CU_add_test(s, "two messages appended", test_two_messages) ||
	    !CU_add_test(s, "large message", test_large_message) ||
	    !CU_add_test(s, "streamed message", test_streamed_message) ||
	    !CU_add_test(s, "init failures", test_init_failures) ||
	    !CU_add_test(s, "write failure", test_write_failure))
		return -1;
	return 0;
}
