/* worker.h - a worker process: accept, run one session, repeat. */
#ifndef SMTPGATE_WORKER_H
#define SMTPGATE_WORKER_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "scoreboard.h"
#include "smtpgate/plugin.h"

struct tls_server;

struct worker_args {
	const struct listener_config *listener;
	const int *fds;       /* the listener's bound sockets */
	size_t nfds;
	const char *fqdn;
	uid_t uid;            /* to switch to after plugin init ... */
	gid_t gid;
	const char *user;     /* ... or NULL to stay as we are (-n) */
	struct scoreboard *sb;
	struct scoreboard_slot *slot; /* this worker's, in sb */
	int wake_fd;          /* a byte here wakes the master: the pool needs it */
	int sched_batch;      /* run as SCHED_BATCH (worker_scheduling) */
	struct tls_server *tls; /* the listener's TLS contexts, or NULL (tls.mode "off") */
};

/* Never returns: exits 0 after max_sessions_per_worker sessions or a stop
   or retire signal, EX_CONFIG when the plugin cannot start.  SIGUSR1 only
   interrupts waits: the master flagged stress in the scoreboard. */
void worker_main(const struct worker_args *a) __attribute__((noreturn));

/* The listener's TLS contexts, read now with the caller's privileges (root
   before the privilege drop: a key only root can read works); NULL with
   tls.mode "off".  0, or -1 after the error naming the file. */
int worker_load_tls(const struct listener_config *l, struct tls_server **srv_out);

/* Load the listener's plugin and run its init and fini once: the check
   behind -t and before a start or reload.  0, or -1 after logging why. */
int worker_check_plugin(const struct listener_config *l, const struct smtpgate_plugin **desc_out);

/* In a throw-away process, as the master: all a worker of l does before
   its first client - the plugin's init, chroot, the switch to user and its
   uid/gid (user NULL: none) - so that a configuration no worker could
   start with is refused instead of started.  The plugin's descriptor (it
   stays loaded) in *desc_out unless NULL.  0, or -1 after logging why. */
int worker_check_start(const struct listener_config *l, const char *user, uid_t uid, gid_t gid,
		       const struct smtpgate_plugin **desc_out);

#endif
