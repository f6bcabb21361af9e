/* config_auth.h - the checks of a listener's auth group that involve
   several settings (for config.c). */
#ifndef SMTPGATE_CONFIG_AUTH_H
#define SMTPGATE_CONFIG_AUTH_H

#include "config_table.h"

/* The mechanisms into l->auth.mech_mask and the settings the backend
   needs: 0, or -1 with the error in the loader (file:line, auth.NAME). */
int config_auth_check(struct config_loader *ld, const config_setting_t *s,
		      struct listener_config *l);

#endif
