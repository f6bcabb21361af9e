/*
 * debug.c - the "debug" handler: smtpd.DebuggingServer as a plugin.
 *
 * Prints every message, framed as DebuggingServer frames it, with an
 * X-Peer header after the message's headers, to stdout or to the file set
 * by `output` in the listener's `debug` group.  Each message is written
 * whole under an exclusive lock, so messages from concurrent workers never
 * interleave.  The message comes piece by piece (on_body, the header
 * block first and whole, for X-Peer); the framed text is kept in memory up
 * to DEBUG_MEMORY_MAX_BYTES, beyond that in an unnamed temporary file
 * ($TMPDIR or /tmp, debug_store.c), so a large message never costs its
 * size in memory.  As a developer's test double it can instead write one
 * JSON object per message (`format = "jsonl"`, debug_json.c) and inject
 * faults at connect, MAIL, RCPT and the final dot (`chaos_*`,
 * debug_chaos.c).  For jsonl the header block (the first piece) is kept
 * in memory, the body in a store of its own, its UTF-8 validity decided
 * as it comes; at the final dot the JSON line is made from them, the body
 * read back and encoded in bounded pieces, into the frame's store, and
 * written whole under the lock as the text is.
 *
 * It is the smallest complete plugin and the template for authors: one
 * descriptor, an init that reads its settings, the body and message
 * hooks, a fini.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <smtpgate/plugin.h>

#include "debug_chaos.h"
#include "debug_json.h"
#include "debug_store.h"

struct debug_state {
	const struct smtpgate_host *host;
	int fd; /* our own open file description, so flock() excludes other workers */
	struct debug_store frame; /* what goes to the output for this message */
	int started;      /* a message is being framed (its first piece came) */
	char last;        /* its last byte, for the final line end */
	int jsonl;                /* format = "jsonl" */
	struct debug_chaos chaos; /* chaos_* */
	char *head;               /* jsonl: the header fields (the first piece's) */
	size_t head_len;
	struct debug_store body;  /* jsonl: the rest of the message */
	struct debug_json_utf8 utf8; /* jsonl: whether the body is UTF-8 */
};

static void frame_drop(struct debug_state *st);
static void frame_start(struct debug_state *st, const struct smtpgate_session *s);
static void frame_piece(struct debug_state *st, const struct smtpgate_session *s, const char *d,
			size_t len, int first);
static int frame_write(struct debug_state *st);
static int frame_flush(struct debug_state *st);
static void jsonl_piece(struct debug_state *st, const char *p, size_t len);
static int jsonl_write(struct debug_state *st, const struct smtpgate_session *s,
		       const struct smtpgate_message *msg);

/* Add bytes to the message being framed (debug_store: in memory, past
   DEBUG_MEMORY_MAX_BYTES in the temporary file). */
static void append(struct debug_state *st, const char *p, size_t len)
{
	debug_store_put(&st->frame, p, len);
}

static void append_str(struct debug_state *st, const char *s)
{
	append(st, s, strlen(s));
}

/* "mail options: ['BODY=8BITMIME', 'SMTPUTF8']", as Python prints a list. */
static void append_options(struct debug_state *st, const char *label,
			   const char *const *opts, size_t n)
{
	append_str(st, label);
	append_str(st, ": [");
	for (size_t i = 0; i < n; i++) {
		append_str(st, i ? ", '" : "'");
		append_str(st, opts[i]);
		append_str(st, "'");
	}
	append_str(st, "]\n");
}

/* The TLS the message came over (ABI 1.1), one line per field, after the
   options; nothing without TLS, so a plaintext frame stays smtpd.py's. */
static void append_tls(struct debug_state *st, const struct smtpgate_session *s)
{
	if (st->host->abi_minor < 1 || !s->tls_protocol)
		return;
	const char *const fields[][2] = {
		{ "tls protocol: ", s->tls_protocol }, { "tls cipher: ", s->tls_cipher },
		{ "tls sni: ", s->tls_sni }, { "tls peer subject: ", s->tls_peer_subject },
		{ "tls peer fingerprint: ", s->tls_peer_fingerprint },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i][1]) {
			append_str(st, fields[i][0]);
			append_str(st, fields[i][1]);
			append_str(st, "\n");
		}
	if (s->tls_peer_fingerprint)
		append_str(st, s->tls_peer_verified ? "tls peer verified: yes\n"
			   : "tls peer verified: no\n");
}

static int debug_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		      void **priv_out)
{
	const char *output = NULL, *format = "text";
	if (host->cfg_string(cfg, "output", &output) < 0 ||
	    host->cfg_string(cfg, "format", &format) < 0)
		return -1;
	if (strcmp(format, "text") != 0 && strcmp(format, "jsonl") != 0) {
		host->cfg_error(cfg, "format", "expected \"text\" or \"jsonl\", not \"%s\"", format);
		return -1;
	}
	struct debug_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	st->host = host;
	debug_store_init(&st->frame, host);
	debug_store_init(&st->body, host);
	st->jsonl = strcmp(format, "jsonl") == 0;
	if (debug_chaos_read(&st->chaos, host, cfg) < 0) {
		free(st);
		return -1;
	}
	/* Open our own description even for stdout: a lock on the inherited
	   descriptor would be shared with every other worker. */
	const char *path = output ? output : "/proc/self/fd/1";
	st->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (st->fd < 0 && !output)
		st->fd = dup(STDOUT_FILENO);
	if (st->fd < 0) {
		host->cfg_error(cfg, "output", "cannot open \"%s\": %s", path, strerror(errno));
		free(st);
		return -1;
	}
	*priv_out = st;
	return 0;
}

static void debug_fini(void *priv)
{
	struct debug_state *st = priv;
	frame_drop(st);
	close(st->fd);
	debug_store_free(&st->frame);
	debug_store_free(&st->body);
	free(st);
}

/* Forget the message being framed (its temporary files with it). */
static void frame_drop(struct debug_state *st)
{
	debug_store_drop(&st->frame);
	debug_store_drop(&st->body);
	free(st->head);
	st->head = NULL;
	st->head_len = 0;
	memset(&st->utf8, 0, sizeof(st->utf8));
	st->started = 0;
}

/* The frame's opening lines. */
static void frame_start(struct debug_state *st, const struct smtpgate_session *s)
{
	frame_drop(st);
	st->started = 1;
	st->last = '\n';
	append_str(st, "---------- MESSAGE FOLLOWS ----------\n");
	if (s->mail_option_count)
		append_options(st, "mail options", s->mail_options, s->mail_option_count);
	if (s->rcpt_option_count) {
		append_options(st, "rcpt options", s->rcpt_options, s->rcpt_option_count);
		append_str(st, "\n");
	}
	append_tls(st, s);
}

/* A piece of the message.  The first one holds the whole header block
   (or is the whole message): X-Peer goes where the headers end, before
   the first empty line. */
static void frame_piece(struct debug_state *st, const struct smtpgate_session *s, const char *d,
			size_t len, int first)
{
	size_t header_end = len;
	int has_empty_line = 0;
	for (size_t i = 0; first && i < len; i++)
		if (d[i] == '\n' && (i == 0 || d[i - 1] == '\n')) {
			header_end = i;
			has_empty_line = 1;
			break;
		}
	append(st, d, header_end);
	if (has_empty_line) {
		append_str(st, "X-Peer: ");
		append_str(st, s->peer_addr);
		append_str(st, "\n");
	}
	append(st, d + header_end, len - header_end);
	if (len > 0)
		st->last = d[len - 1];
}

/* The frame's end, then the whole of it out. */
static int frame_write(struct debug_state *st)
{
	if (st->last != '\n')
		append_str(st, "\n");
	append_str(st, "------------ END MESSAGE ------------\n");
	return frame_flush(st);
}

/* For debug_store_each(): bytes to the output. */
static int to_output(void *ctx, const char *p, size_t len)
{
	return debug_store_write_all(*(const int *)ctx, p, len);
}

/* What was framed, to the output whole under the lock. */
static int frame_flush(struct debug_state *st)
{
	flock(st->fd, LOCK_EX);
	int rc = debug_store_each(&st->frame, to_output, &st->fd);
	int saved = errno;
	flock(st->fd, LOCK_UN);
	errno = saved;
	return rc;
}

/* jsonl: a piece of the message.  The first holds the whole header block
   (or is the whole message): its fields are kept in memory, what follows
   them goes with the rest to the body's store. */
static void jsonl_piece(struct debug_state *st, const char *p, size_t len)
{
	if (!st->started) {
		frame_drop(st);
		st->started = 1;
		st->head_len = debug_json_header_end(p, len);
		st->head = debug_store_alloc(st->host, st->head_len);
		memcpy(st->head, p, st->head_len);
		p += st->head_len;
		len -= st->head_len;
	}
	debug_json_utf8_feed(&st->utf8, p, len);
	debug_store_put(&st->body, p, len);
}

/* debug_json's output, into st's frame. */
static void emit(void *ctx, const char *p, size_t len)
{
	append(ctx, p, len);
}

/* For debug_store_each(): a piece of the body into the JSON string. */
static int body_out(void *ctx, const char *p, size_t len)
{
	debug_json_body_put(ctx, p, len);
	return 0;
}

/* jsonl: the message's JSON line, made from what was kept and written
   whole (a message not streamed comes whole in msg). */
static int jsonl_write(struct debug_state *st, const struct smtpgate_session *s,
		       const struct smtpgate_message *msg)
{
	debug_store_drop(&st->frame);
	if (!msg->streamed) {
		debug_json_message(s, msg->data ? msg->data : "", msg->len, emit, st);
		return frame_flush(st);
	}
	struct debug_json_body b;
	debug_json_head(s, st->head ? st->head : "", st->head_len, msg->len, emit, st);
	debug_json_body_begin(&b, debug_json_utf8_valid_end(&st->utf8), emit, st);
	if (debug_store_each(&st->body, body_out, &b) < 0)
		return -1;
	debug_json_body_end(&b);
	return frame_flush(st);
}

/* A piece of the message as it arrives. */
static enum smtpgate_verdict debug_body(void *priv, const struct smtpgate_session *s,
					const char *data, size_t len, struct smtpgate_reply *reply)
{
	struct debug_state *st = priv;
	(void)reply;
	if (st->jsonl) {
		jsonl_piece(st, data, len);
		return SMTPGATE_CONTINUE;
	}
	int first = !st->started;
	if (first)
		frame_start(st, s);
	frame_piece(st, s, data, len, first);
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict debug_message(void *priv, const struct smtpgate_session *s,
					   const struct smtpgate_message *msg,
					   struct smtpgate_reply *reply)
{
	struct debug_state *st = priv;
	enum smtpgate_verdict v = debug_chaos_at(&st->chaos, DEBUG_CHAOS_DATA, s, reply);
	if (v != SMTPGATE_CONTINUE) {
		frame_drop(st);
		return v; /* nothing recorded: the client was not told 250 */
	}
	int rc;
	if (st->jsonl) {
		rc = jsonl_write(st, s, msg);
	} else {
		if (!msg->streamed || !st->started) { /* whole, or empty: no piece came */
			frame_start(st, s);
			frame_piece(st, s, msg->streamed ? "" : msg->data,
				    msg->streamed ? 0 : msg->len, 1);
		}
		rc = frame_write(st);
	}
	int saved = errno;
	frame_drop(st);
	if (rc < 0) {
		st->host->log(SMTPGATE_LOG_WARNING, s, "cannot write the message: %s", strerror(saved));
		st->host->reply(reply, 451, "4.3.0", "Error: cannot record the message");
		return SMTPGATE_TEMPFAIL;
	}
	return SMTPGATE_CONTINUE;
}

/* The message was refused or the client left: nothing of it is written. */
static void debug_reset(void *priv, const struct smtpgate_session *s)
{
	(void)s;
	frame_drop(priv);
}

/* The chaos hooks: the stage's fault, if one is drawn. */
static enum smtpgate_verdict debug_connect(void *priv, const struct smtpgate_session *s,
					   struct smtpgate_reply *reply)
{
	return debug_chaos_at(&((struct debug_state *)priv)->chaos, DEBUG_CHAOS_CONNECT, s, reply);
}

static enum smtpgate_verdict debug_mail(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	(void)address;
	return debug_chaos_at(&((struct debug_state *)priv)->chaos, DEBUG_CHAOS_MAIL, s, reply);
}

static enum smtpgate_verdict debug_rcpt(void *priv, const struct smtpgate_session *s,
					const char *address, struct smtpgate_reply *reply)
{
	(void)address;
	return debug_chaos_at(&((struct debug_state *)priv)->chaos, DEBUG_CHAOS_RCPT, s, reply);
}

/* The group's settings, checked by the core before init reads them. */
static const struct smtpgate_setting debug_settings[] = {
	{ "output", SMTPGATE_SETTING_STRING, 0, 0, "standard output",
	  "the file messages are appended to" },
	{ "format", SMTPGATE_SETTING_STRING, 0, 0, "\"text\"",
	  "\"text\" (DebuggingServer's frames) or \"jsonl\" (a JSON object per message)" },
	DEBUG_CHAOS_SETTINGS,
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const struct smtpgate_plugin debug_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "debug",
	.version = "1.0",
	.init = debug_init,
	.fini = debug_fini,
	.on_connect = debug_connect,
	.on_mail = debug_mail,
	.on_rcpt = debug_rcpt,
	.on_message = debug_message,
	.on_reset = debug_reset,
	.settings = debug_settings,
	/* X-Peer goes after the header block: it comes first, whole. */
	.stream_flags = SMTPGATE_STREAM_WHOLE_HEADER,
	.on_body = debug_body,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &debug_plugin;
}
