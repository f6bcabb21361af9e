/*
 * stream.c - a test plugin that takes the message through on_body and
 * writes down what the core gave it, for tests of the streaming contract:
 * each piece's length as a line "body LEN" in the file `output` (its
 * `stream` group), the pieces' bytes appended to output + ".body",
 * "message streamed=S len=L data=D" at on_message and "reset" at
 * on_reset.  It asks for the header block whole (the core reads
 * stream_flags before init, so it is not a setting).  A
 * piece holding "REFUSE-ME" is refused with 554 5.7.1, "TEMPFAIL-ME" with
 * 451 4.3.0, "DROP-ME" with DISCONNECT (the core's 421).  For the
 * loader's checks, SMTPGATE_TEST_STREAM_FLAGS in its environment replaces
 * its stream_flags (strtoul, any base) and SMTPGATE_TEST_STREAM_NO_BODY
 * takes its on_body away: descriptors the loader must refuse.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smtpgate/plugin.h>

static const struct smtpgate_host *stream_host;
static char stream_output[1024];

/* A line to the record file (opened each time: workers share it). */
static void record(const char *line, const char *data, size_t len)
{
	char path[1100];
	int fd = open(stream_output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, line, strlen(line)) < 0)
			stream_host->log(SMTPGATE_LOG_ERROR, NULL, "cannot record");
		close(fd);
	}
	if (!data)
		return;
	snprintf(path, sizeof(path), "%s.body", stream_output);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, data, len) < 0)
			stream_host->log(SMTPGATE_LOG_ERROR, NULL, "cannot record the body");
		close(fd);
	}
}

static int stream_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		       void **priv_out)
{
	const char *output = "/dev/null";
	stream_host = host;
	if (host->cfg_string(cfg, "output", &output) < 0)
		return -1;
	snprintf(stream_output, sizeof(stream_output), "%s", output);
	*priv_out = NULL;
	return 0;
}

/* memmem without _GNU_SOURCE. */
static int holds(const char *d, size_t len, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(d + i, word, n) == 0)
			return 1;
	return 0;
}

static enum smtpgate_verdict stream_body(void *priv, const struct smtpgate_session *s,
					 const char *data, size_t len, struct smtpgate_reply *reply)
{
	char line[64];
	(void)priv;
	(void)s;
	snprintf(line, sizeof(line), "body %zu\n", len);
	record(line, data, len);
	if (holds(data, len, "REFUSE-ME")) {
		stream_host->reply(reply, 554, "5.7.1", "refused mid-body");
		return SMTPGATE_REJECT;
	}
	if (holds(data, len, "TEMPFAIL-ME")) {
		stream_host->reply(reply, 451, "4.3.0", "not now");
		return SMTPGATE_TEMPFAIL;
	}
	return holds(data, len, "DROP-ME") ? SMTPGATE_DISCONNECT : SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict stream_message(void *priv, const struct smtpgate_session *s,
					    const struct smtpgate_message *msg,
					    struct smtpgate_reply *reply)
{
	char line[128];
	(void)priv;
	(void)s;
	(void)reply;
	snprintf(line, sizeof(line), "message streamed=%d len=%zu data=%s\n", msg->streamed,
		 msg->len, msg->data ? "set" : "NULL");
	record(line, NULL, 0);
	return SMTPGATE_CONTINUE;
}

static void stream_reset(void *priv, const struct smtpgate_session *s)
{
	(void)priv;
	(void)s;
	record("reset\n", NULL, 0);
}

static struct smtpgate_plugin stream_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "stream",
	.version = "1.0",
	.init = stream_init,
	.on_message = stream_message,
	.on_reset = stream_reset,
	.on_body = stream_body,
	.stream_flags = SMTPGATE_STREAM_WHOLE_HEADER,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	const char *flags = getenv("SMTPGATE_TEST_STREAM_FLAGS");
	if (flags)
		stream_plugin.stream_flags = (unsigned int)strtoul(flags, NULL, 0);
	if (getenv("SMTPGATE_TEST_STREAM_NO_BODY"))
		stream_plugin.on_body = NULL;
	return &stream_plugin;
}
