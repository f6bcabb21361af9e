/*
 * rcptcheck.c - an smtpgate plugin built outside smtpgate's tree: accept a
 * recipient only if it is listed in a file.
 *
 * The file is named by `file` in the listener's `rcptcheck` group and read
 * once, by init, in each worker (before the worker drops privileges, so
 * it may be readable by root only).  One address per line, compared
 * without regard to case; blank lines and lines starting with '#' are
 * skipped, and spaces around an address are ignored.  A recipient not in
 * the list gets
 *
 *   550 5.1.1 <addr>: Recipient address rejected: not in the list
 *
 * and every message to the listed recipients is accepted ("250 OK"):
 * replace on_message with what your site does with a message.  After the
 * file is edited, SIGHUP to the master makes new workers read it.
 *
 * It includes <smtpgate/plugin.h> and nothing else of smtpgate.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <smtpgate/plugin.h>

struct rcptcheck {
	const struct smtpgate_host *host; /* valid until fini returns */
	char **addresses;                  /* sorted, compared case-insensitively */
	size_t count;
};

static int compare_addresses(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static void free_list(struct rcptcheck *st)
{
	for (size_t i = 0; i < st->count; i++)
		free(st->addresses[i]);
	free(st->addresses);
	free(st);
}

/* Append the address on one line of the file (if any); -1 if out of memory. */
static int add_line(struct rcptcheck *st, char *line, size_t *cap)
{
	char *end = line + strlen(line);
	while (*line == ' ' || *line == '\t')
		line++;
	while (end > line && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
			      end[-1] == '\t'))
		*--end = '\0';
	if (!*line || *line == '#')
		return 0;
	if (st->count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		char **n = realloc(st->addresses, ncap * sizeof(*n));
		if (!n)
			return -1;
		st->addresses = n;
		*cap = ncap;
	}
	if (!(st->addresses[st->count] = strdup(line)))
		return -1;
	st->count++;
	return 0;
}

/* Read the list named by `file`; a missing setting or an unreadable file
   is reported with cfg_error, which names the config file and line. */
static int rcptcheck_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
			  void **priv_out)
{
	const char *path = NULL;
	int found = host->cfg_string(cfg, "file", &path);
	if (found < 0)
		return -1; /* wrong type: already reported */
	if (found == 0) {
		host->cfg_error(cfg, "file", "not set: the file of accepted recipients");
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		host->cfg_error(cfg, "file", "cannot read \"%s\": %s", path, strerror(errno));
		return -1;
	}
	struct rcptcheck *st = calloc(1, sizeof(*st));
	if (!st) {
		fclose(f);
		return -1;
	}
	st->host = host;
	char *line = NULL;
	size_t line_cap = 0, cap = 0;
	int rc = 0;
	while (rc == 0 && getline(&line, &line_cap, f) >= 0)
		rc = add_line(st, line, &cap);
	if (rc == 0 && ferror(f)) {
		host->cfg_error(cfg, "file", "cannot read \"%s\": %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc < 0) {
		free_list(st);
		return -1;
	}
	qsort(st->addresses, st->count, sizeof(*st->addresses), compare_addresses);
	host->log(SMTPGATE_LOG_INFO, NULL, "rcptcheck: %zu addresses from %s", st->count, path);
	*priv_out = st;
	return 0;
}

static void rcptcheck_fini(void *priv)
{
	if (priv)
		free_list(priv);
}

/* RCPT: CONTINUE (the core answers 250 OK) only for a listed address. */
static enum smtpgate_verdict rcptcheck_rcpt(void *priv, const struct smtpgate_session *s,
					    const char *address, struct smtpgate_reply *reply)
{
	struct rcptcheck *st = priv;
	(void)s;
	if (st->count && bsearch(&address, st->addresses, st->count, sizeof(*st->addresses),
				 compare_addresses))
		return SMTPGATE_CONTINUE;
	st->host->reply(reply, 550, "5.1.1", "<%s>: Recipient address rejected: not in the list",
			address);
	return SMTPGATE_REJECT;
}

/* The message hook is required: accept the message ("250 OK"). */
static enum smtpgate_verdict rcptcheck_message(void *priv, const struct smtpgate_session *s,
					       const struct smtpgate_message *msg,
					       struct smtpgate_reply *reply)
{
	struct rcptcheck *st = priv;
	(void)reply;
	st->host->log(SMTPGATE_LOG_INFO, s, "rcptcheck: accepted %zu bytes for %zu recipients",
		      msg->len, s->rcpt_count);
	return SMTPGATE_CONTINUE;
}

static const struct smtpgate_plugin rcptcheck_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "rcptcheck",
	.version = "1.0",
	.init = rcptcheck_init,
	.fini = rcptcheck_fini,
	.on_rcpt = rcptcheck_rcpt,
	.on_message = rcptcheck_message,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &rcptcheck_plugin;
}
