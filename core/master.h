/* master.h - the master process: bind the listeners, keep a worker pool
   per listener, reload on SIGHUP, stop on SIGTERM/SIGINT. */
#ifndef SMTPGATE_MASTER_H
#define SMTPGATE_MASTER_H

#include "config.h"

struct master_options {
	const char *config_file; /* NULL: the config came from the command line */
	const char *config_text; /* ... and this is its text, reused on reload */
	const char *fqdn;
	int nosetuid;            /* -n: workers keep our user */
};

/* Runs until SIGTERM/SIGINT; returns the exit status (sysexits.h).
   Takes ownership of cfg, which master_check_load() gave. */
int master_run(struct config *cfg, const struct master_options *opts);

#endif
