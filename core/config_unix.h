/* config_unix.h - the settings of a listener on a UNIX-domain socket. */
#ifndef SMTPGATE_CONFIG_UNIX_H
#define SMTPGATE_CONFIG_UNIX_H

#include "config_table.h"

#define CONFIG_UNIX_PREFIX "unix:"
#define CONFIG_UNIX_PATH_MAX_BYTES 108 /* sizeof(sockaddr_un.sun_path) on Linux;
					  session_peer.local_addr holds it too */

/* A listener's address "unix:PATH" into l->unix_path, socket_mode,
   socket_user and socket_group resolved, and what a UNIX socket cannot
   have refused; for a TCP address, socket_* set is refused.  0, or -1
   with the error in the loader naming the setting. */
int config_unix_check(struct config_loader *ld, const config_setting_t *s,
		      struct listener_config *l);

#endif
