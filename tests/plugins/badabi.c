/* badabi.c - a plugin built for a future ABI major: must be refused at start. */
#include <smtpgate/plugin.h>

static enum smtpgate_verdict on_message(void *priv, const struct smtpgate_session *s,
					const struct smtpgate_message *m, struct smtpgate_reply *r)
{
	(void)priv; (void)s; (void)m; (void)r;
	return SMTPGATE_CONTINUE;
}

static const struct smtpgate_plugin plugin = {
	.abi_major = SMTPGATE_ABI_MAJOR + 1,
	.abi_minor = 0,
	.size = sizeof(struct smtpgate_plugin),
	.name = "badabi",
	.on_message = on_message,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &plugin;
}
