/*
 * debug.c - the "debug" handler: smtpd.DebuggingServer as a plugin.
 *
 * Prints every message, framed as DebuggingServer frames it, with an
 * X-Peer header after the message's headers, to stdout or to the file set
 * by `output` in the listener's `debug` group.  Each message is written
 * whole under an exclusive lock, so messages from concurrent workers never
 * interleave.
 *
 * It is the smallest complete plugin and the template for authors: one
 * descriptor, an init that reads its settings, a message hook, a fini.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <smtpgate/plugin.h>

struct debug_state {
	const struct smtpgate_host *host;
	int fd; /* our own open file description, so flock() excludes other workers */
	char *buf;
	size_t len, cap;
};

/* As the core does: allocation failure ends the worker, logged first
   (a plugin cannot reach the core's log_panic, only the host's log). */
__attribute__((noreturn)) static void out_of_memory(struct debug_state *st, size_t bytes)
{
	st->host->log(SMTPGATE_LOG_ERROR, NULL, "event=panic reason=out-of-memory call=realloc "
		      "bytes=%zu", bytes);
	abort();
}

/* Add bytes to the message being framed, growing by doubling. */
static void append(struct debug_state *st, const char *p, size_t len)
{
	if (st->len + len > st->cap) {
		size_t cap = st->cap ? st->cap : 8192;
		while (cap < st->len + len)
			cap *= 2;
		char *n = realloc(st->buf, cap);
		if (!n)
			out_of_memory(st, cap);
		st->buf = n;
		st->cap = cap;
	}
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

static int debug_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		      void **priv_out)
{
	const char *output = NULL;
	if (host->cfg_string(cfg, "output", &output) < 0)
		return -1;
	struct debug_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	st->host = host;
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
	close(st->fd);
	free(st->buf);
	free(st);
}

static enum smtpgate_verdict debug_message(void *priv, const struct smtpgate_session *s,
					   const struct smtpgate_message *msg,
					   struct smtpgate_reply *reply)
{
	struct debug_state *st = priv;
	st->len = 0;
	append_str(st, "---------- MESSAGE FOLLOWS ----------\n");
	if (s->mail_option_count)
		append_options(st, "mail options", s->mail_options, s->mail_option_count);
	if (s->rcpt_option_count) {
		append_options(st, "rcpt options", s->rcpt_options, s->rcpt_option_count);
		append_str(st, "\n");
	}
	append_tls(st, s);

	/* X-Peer goes where the headers end: before the first empty line. */
	const char *d = msg->data;
	size_t len = msg->len, header_end = len;
	int has_empty_line = 0;
	for (size_t i = 0; i < len; i++)
		if (d[i] == '\n' && (i == 0 || d[i - 1] == '\n')) {
			header_end = i == 0 ? 0 : i;
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
	if (len > 0 && d[len - 1] != '\n')
		append_str(st, "\n");
	append_str(st, "------------ END MESSAGE ------------\n");

	flock(st->fd, LOCK_EX);
	int rc = write_all(st->fd, st->buf, st->len);
	flock(st->fd, LOCK_UN);
	if (st->cap > (1u << 20)) {
		free(st->buf);
		st->buf = NULL;
		st->cap = 0;
	}
	if (rc < 0) {
		st->host->log(SMTPGATE_LOG_WARNING, s, "cannot write the message: %s", strerror(errno));
		st->host->reply(reply, 451, "4.3.0", "Error: cannot record the message");
		return SMTPGATE_TEMPFAIL;
	}
	return SMTPGATE_CONTINUE;
}

static const struct smtpgate_plugin debug_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "debug",
	.version = "1.0",
	.init = debug_init,
	.fini = debug_fini,
	.on_message = debug_message,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &debug_plugin;
}
