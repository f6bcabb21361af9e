/* config_tls.h - the tls group's settings that go together: client
   certificates and the SNI map (for config.c). */
#ifndef SMTPGATE_CONFIG_TLS_H
#define SMTPGATE_CONFIG_TLS_H

#include "config_table.h"

/* tls.verify_client against tls.ca_file, and tls.sni of group g (the
   listener's tls group, NULL when absent) into t: 0, or -1 after the
   error naming file, line and setting. */
int config_tls_check(struct config_loader *ld, const config_setting_t *g, struct tls_config *t);

#endif
