/* nomessage.c - a plugin without the required message hook: must be refused. */
#include <smtpgate/plugin.h>

static const struct smtpgate_plugin plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "nomessage",
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &plugin;
}
