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
 * ($TMPDIR or /tmp), so a large message never costs its size in memory.
 * As a developer's test double it can instead write one JSON object per
 * message (`format = "jsonl"`, debug_json.c: that one needs the whole
 * message, so it is gathered in memory) and inject faults at connect,
 * MAIL, RCPT and the final dot (`chaos_*`, debug_chaos.c).
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

#define DEBUG_MEMORY_MAX_BYTES (1024 * 1024) /* then a temporary file */
#define DEBUG_COPY_BYTES 65536

#include <smtpgate/plugin.h>

#include "debug_chaos.h"
#include "debug_json.h"

struct debug_state {
	const struct smtpgate_host *host;
	int fd; /* our own open file description, so flock() excludes other workers */
	char *buf;
	size_t len, cap;
	int spill;        /* the temporary file past DEBUG_MEMORY_MAX_BYTES, or -1 */
	int spill_failed; /* errno of a failed write there, or 0 */
	int started;      /* a message is being framed (its first piece came) */
	char last;        /* its last byte, for the final line end */
	int jsonl;                /* format = "jsonl" */
	struct debug_chaos chaos; /* chaos_* */
	char *raw;                /* jsonl: the message as it came */
	size_t raw_len, raw_cap;
};

static void spill_out(struct debug_state *st);
static void frame_drop(struct debug_state *st);
static void frame_start(struct debug_state *st, const struct smtpgate_session *s);
static void frame_piece(struct debug_state *st, const struct smtpgate_session *s, const char *d,
			size_t len, int first);
static int frame_write(struct debug_state *st);
static int frame_flush(struct debug_state *st);
static void raw_append(struct debug_state *st, const char *p, size_t len);

/* As the core does: allocation failure ends the worker, logged first
   (a plugin cannot reach the core's log_panic, only the host's log). */
__attribute__((noreturn)) static void out_of_memory(struct debug_state *st, size_t bytes)
{
	st->host->log(SMTPGATE_LOG_ERROR, NULL, "event=panic reason=out-of-memory call=realloc "
		      "bytes=%zu", bytes);
	abort();
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The framed text so far to the temporary file (made at the first
   spill): memory is then free for what comes next. */
static void spill_out(struct debug_state *st)
{
	if (st->spill < 0 && !st->spill_failed) {
		const char *dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
		st->spill = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (st->spill < 0)
			st->spill_failed = errno;
	}
	if (st->spill >= 0 && !st->spill_failed && write_all(st->spill, st->buf, st->len) < 0)
		st->spill_failed = errno;
	st->len = 0;
}

/* *buf holds at least need bytes (doubling from 8 KiB); no memory ends
   the worker. */
static void grow(struct debug_state *st, char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap : 8192;
	while (c < need)
		c *= 2;
	char *n = realloc(*buf, c);
	if (!n)
		out_of_memory(st, c);
	*buf = n;
	*cap = c;
}

/* Add bytes to the message being framed: in memory (growing by doubling)
   up to DEBUG_MEMORY_MAX_BYTES, then through the temporary file. */
static void append(struct debug_state *st, const char *p, size_t len)
{
	if (st->len + len > DEBUG_MEMORY_MAX_BYTES) {
		spill_out(st);
		if (len > DEBUG_MEMORY_MAX_BYTES) { /* more than the buffer: straight on */
			if (st->spill >= 0 && !st->spill_failed && write_all(st->spill, p, len) < 0)
				st->spill_failed = errno;
			return;
		}
	}
	grow(st, &st->buf, &st->cap, st->len + len);
	memcpy(st->buf + st->len, p, len);
	st->len += len;
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
	st->spill = -1;
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
	free(st->buf);
	free(st->raw);
	free(st);
}

/* Forget the message being framed (its temporary file with it). */
static void frame_drop(struct debug_state *st)
{
	if (st->spill >= 0)
		close(st->spill);
	st->spill = -1;
	st->spill_failed = 0;
	st->started = 0;
	st->len = 0;
	st->raw_len = 0;
	if (st->raw_cap > DEBUG_MEMORY_MAX_BYTES) {
		free(st->raw);
		st->raw = NULL;
		st->raw_cap = 0;
	}
	if (st->cap > DEBUG_MEMORY_MAX_BYTES) {
		free(st->buf);
		st->buf = NULL;
		st->cap = 0;
	}
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

/* What was framed, to the output whole under the lock. */
static int frame_flush(struct debug_state *st)
{
	if (st->spill >= 0)
		spill_out(st);
	if (st->spill_failed)
		return errno = st->spill_failed, -1;
	int rc = 0;
	flock(st->fd, LOCK_EX);
	if (st->spill < 0) {
		rc = write_all(st->fd, st->buf, st->len);
	} else {
		char *chunk = st->buf && st->cap >= DEBUG_COPY_BYTES ? st->buf : NULL;
		char local[4096];
		size_t size = chunk ? DEBUG_COPY_BYTES : sizeof(local);
		ssize_t n;
		if (lseek(st->spill, 0, SEEK_SET) < 0)
			rc = -1;
		while (rc == 0 && (n = read(st->spill, chunk ? chunk : local, size)) != 0)
			rc = n < 0 ? (errno == EINTR ? 0 : -1)
				   : write_all(st->fd, chunk ? chunk : local, (size_t)n);
	}
	int saved = errno;
	flock(st->fd, LOCK_UN);
	errno = saved;
	return rc;
}

/* jsonl: the message kept whole for debug_json_message(). */
static void raw_append(struct debug_state *st, const char *p, size_t len)
{
	grow(st, &st->raw, &st->raw_cap, st->raw_len + len);
	memcpy(st->raw + st->raw_len, p, len);
	st->raw_len += len;
}

/* debug_json_message()'s output, into st's frame. */
static void emit(void *ctx, const char *p, size_t len)
{
	append(ctx, p, len);
}

/* A piece of the message as it arrives. */
static enum smtpgate_verdict debug_body(void *priv, const struct smtpgate_session *s,
					const char *data, size_t len, struct smtpgate_reply *reply)
{
	struct debug_state *st = priv;
	(void)reply;
	if (st->jsonl) {
		st->started = 1;
		raw_append(st, data, len);
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
		st->len = 0; /* nothing framed yet: the pieces went to raw */
		debug_json_message(s, st->raw ? st->raw : "", st->raw_len, emit, st);
		rc = frame_flush(st);
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
