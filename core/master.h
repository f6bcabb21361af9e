/* master.h - bind the listeners, keep a worker pool per listener, reload. */
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
   Takes ownership of cfg. */
int master_run(struct config *cfg, const struct master_options *opts);

/* Read and validate the file, or the command line's config text; 0, or
   -1 with the message in err. */
int master_parse_config(const struct master_options *opts, struct config **out, char *err,
			size_t err_size);

/* Load a config the way start and reload do: parse, then check each
   plugin in a child process so no plugin code runs in the master.  0, or
   -1 after logging the message. */
int master_load_config(const struct master_options *opts, struct config **out);

#endif
