/*
 * master_tls.c - the listeners' TLS contexts (certificates, keys, SNI
 * map) read by the master, as root, at the start and at each reload, and
 * handed to every worker it forks.  A reload whose certificate or key
 * does not load is refused as a whole: the master keeps the contexts it
 * has, so a worker started afterwards (to replace one that exited)
 * serves the old certificate instead of failing on the new file.
 *
 * The master only builds and frees the contexts; it never opens a TLS
 * connection and never talks SMTP.
 */
#include "master_tls.h"

#include <stdlib.h>

#include "tls.h"
#include "worker.h"

int master_tls_load(const struct config *cfg, struct tls_server ***out)
{
	struct tls_server **tls = calloc(cfg->listener_count ? cfg->listener_count : 1,
					 sizeof(*tls));
	if (!tls)
		abort();
	for (size_t i = 0; i < cfg->listener_count; i++)
		if (worker_load_tls(&cfg->listeners[i], &tls[i]) < 0) { /* logged */
			master_tls_free(tls, i);
			return -1;
		}
	*out = tls;
	return 0;
}

void master_tls_free(struct tls_server **tls, size_t count)
{
	if (!tls)
		return;
	for (size_t i = 0; i < count; i++)
		tls_server_free(tls[i]);
	free(tls);
}
