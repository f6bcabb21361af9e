/* master_tls.h - the listeners' TLS contexts, held by the master for the
   generation it forks workers of (for master.c and master_sig.c). */
#ifndef SMTPGATE_MASTER_TLS_H
#define SMTPGATE_MASTER_TLS_H

#include "config.h"

struct tls_server;

/* One context set per listener of cfg (NULL where tls.mode is "off"),
   read now as root: 0 with *out (free with master_tls_free), or -1 after
   the error naming the file, with nothing kept. */
int master_tls_load(const struct config *cfg, struct tls_server ***out);
void master_tls_free(struct tls_server **tls, size_t count);

#endif
