/* master_sig.h - the master's signals, and the reload SIGHUP asks for. */
#ifndef SMTPGATE_MASTER_SIG_H
#define SMTPGATE_MASTER_SIG_H

#include <signal.h>

struct master;

/* Set by the handlers, cleared by whoever acts on them. */
extern volatile sig_atomic_t master_sig_stop, master_sig_reload, master_sig_child,
	master_sig_ignored;

/* Install the handlers and block the signals; *wait_mask_out lets them
   in (the main loop's only wait). */
void master_sig_install(sigset_t *wait_mask_out);

/* A SIGTERM or SIGINT that came while the loop had them blocked: also
   sets master_sig_stop.  1 when the master is to stop. */
int master_sig_stop_pending(void);

/* SIGHUP: fork the new config's check; the master goes on meanwhile. */
void master_sig_reload_start(struct master *m);

/* After a reap: the check ended, so apply the new config or keep the
   running one. */
void master_sig_reload_finish(struct master *m);

/* Stopping: kill a check still running; the reload fails. */
void master_sig_reload_abort(struct master *m);

#endif
