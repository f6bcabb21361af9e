/* master_check.h - the one check of a configuration that -t, the start
   and every reload run: parse it and start each listener's plugin, chroot
   and user in a throw-away child, never in the master. */
#ifndef SMTPGATE_MASTER_CHECK_H
#define SMTPGATE_MASTER_CHECK_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "master.h"

/* Where the config comes from: the file, or "command line". */
const char *master_check_source(const struct master_options *opts);

/* The user workers switch to, or NULL to stay who we are (-n, or no
   user in the config). */
const char *master_check_run_as(const struct master_options *opts, const struct config *cfg);

/* Read and validate the file, or the command line's config text, in this
   process (after a check said yes); 0, or -1 with the message in err. */
int master_check_parse(const struct master_options *opts, struct config **out, char *err,
		       size_t err_size);

/* The user workers switch to, into uid_out and gid_out.  0, or a sysexits
   status after logging why (EX_CONFIG: no such user; EX_NOPERM: another
   user than ours without root). */
int master_check_user(const struct master_options *opts, const struct config *cfg,
		      uid_t *uid_out, gid_t *gid_out);

/* Fork the check: a child that parses the config itself and starts
   every listener as a worker would, each in a process of its own, under
   the config's shutdown_timeout.  report: print a line per listener
   (-t); 2: and each plugin's declared settings with their values (-t -v).  The child's pid, or -1 after logging. */
pid_t master_check_fork(const struct master_options *opts, int report);

/* The check's wait status as a sysexits status (0: the config is good),
   after logging a crash. */
int master_check_result(const struct master_options *opts, int status);

/* Run the check and wait for it: -t (report 1, -t -v 2) and the start.  A
   sysexits status. */
int master_check_run(const struct master_options *opts, int report);

/* Start-up: the check, then the parse in this process.  0 and *out, or a
   sysexits status after logging. */
int master_check_load(const struct master_options *opts, struct config **out);

#endif
