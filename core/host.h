/* host.h - the service table handed to plugins. */
#ifndef SMTPGATE_HOST_H
#define SMTPGATE_HOST_H

#include "config.h"
#include "smtpgate/plugin.h"

/* The host for one listener's plugin; valid while `l` is. */
const struct smtpgate_host *host_for_listener(const struct listener_config *l);
/* Our name, as in the greeting, for plugins and the SMTP client. */
void host_set_fqdn(const char *name);
/* The group handed to the plugin's init (NULL if the listener has none). */
const struct smtpgate_cfg *host_cfg(const struct listener_config *l);

/* Run the plugin's init; 0, or -1 after logging why (file:line). */
int host_plugin_init(const struct smtpgate_plugin *d, const struct listener_config *l,
		     void **priv_out);

#endif
