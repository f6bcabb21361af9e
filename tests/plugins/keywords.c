/*
 * keywords.c - a test plugin with EHLO keywords of its own and a verb:
 * with SMTPGATE_TEST_BAD_KEYWORD set in its environment it lists one of
 * the core's keywords instead, which the loader must refuse.  It takes
 * every message and never stores one.
 */
#include <stdlib.h>

#include <smtpgate/plugin.h>

static const struct smtpgate_host *host;

static int keywords_init(const struct smtpgate_host *h, const struct smtpgate_cfg *cfg,
			 void **priv_out)
{
	(void)cfg;
	host = h;
	*priv_out = NULL;
	return 0;
}

static enum smtpgate_verdict keywords_message(void *priv, const struct smtpgate_session *s,
					      const struct smtpgate_message *m,
					      struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	(void)m;
	(void)reply;
	return SMTPGATE_CONTINUE;
}

/* XSITE: answers with what it was given. */
static enum smtpgate_verdict keywords_xsite(void *priv, const struct smtpgate_session *s,
					    const char *arg, struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	host->reply(reply, 250, NULL, "XSITE %s", arg ? arg : "-");
	return SMTPGATE_ACCEPT;
}

static const struct smtpgate_command commands[] = { { "XSITE", keywords_xsite },
						    { NULL, NULL } };
static const char *const good[] = { "XSITE-INFO 1 2", "DSN", NULL };
static const char *const bad[] = { "XSITE-INFO", "SIZE 10", NULL };

static struct smtpgate_plugin plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "keywords",
	.init = keywords_init,
	.on_message = keywords_message,
	.commands = commands,
	.ehlo_keywords = good,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	if (getenv("SMTPGATE_TEST_BAD_KEYWORD"))
		plugin.ehlo_keywords = bad;
	return &plugin;
}
