/*
 * master_sig.c - the master's signals and the reload.
 *
 * The handlers only set flags; the main loop (master.c) acts on them
 * with every signal blocked but during its one wait.  SIGHUP starts a
 * reload: the new config's check (master_check.c) runs in a child while
 * the master keeps reaping and respawning; when the check has ended and
 * said yes, the master parses the file (bounded: it passed the limits),
 * binds what is new and starts a new generation; the old workers finish
 * their sessions.  Any error keeps the running config.  It never parses
 * an unchecked file and never waits for the check.
 */
#include "master_sig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "config_error.h"
#include "log.h"
#include "master_check.h"
#include "master_tls.h"
#include "tls_ticket.h"
#include "master_internal.h"
#include "master_listen.h"
#include "master_spawn.h"

volatile sig_atomic_t master_sig_stop, master_sig_reload, master_sig_child, master_sig_ignored;

static void on_signal(int sig);
static void reload_failed(void);
static struct pool *carry_stress(const struct master *m, const struct config *cfg);
static void reload_apply(struct master *m, struct config *cfg, struct master_bound *nb);

static void on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		master_sig_stop = 1;
	else if (sig == SIGHUP)
		master_sig_reload = 1;
	else if (sig == SIGCHLD)
		master_sig_child = 1;
	else
		master_sig_ignored = sig; /* SIGUSR1, SIGUSR2: logged, nothing else */
}

void master_sig_install(sigset_t *wait_mask_out)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	/* SIGUSR1 is the workers' stress wake-up, easily sent to the wrong
	   pid; by default it would kill the master and with it every worker.
	   A handler rather than SIG_IGN, so that it is logged; workers set
	   their own (worker.c) before they unblock it, so none is lost. */
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, wait_mask_out);
}

int master_sig_stop_pending(void)
{
	sigset_t pending;
	if (!master_sig_stop && sigpending(&pending) == 0 &&
	    (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT)))
		master_sig_stop = 1;
	return master_sig_stop;
}

static void reload_failed(void)
{
	log_err("event=reload-failed action=keep-running-configuration");
}

void master_sig_reload_start(struct master *m)
{
	master_sig_reload = 0;
	tls_ticket_rotate("reload"); /* the old key still reads for one rotation */
	char line[CONFIG_ERROR_MAX_BYTES];
	size_t used = 0;
	config_error_field(line, sizeof(line), &used, "event", "reload");
	config_error_field(line, sizeof(line), &used, "source",
			   master_check_source(m->opts));
	log_info("%s", line);
	pid_t pid = master_check_fork(m->opts, 0);
	if (pid < 0) {
		reload_failed();
		return;
	}
	m->reload.pid = pid;
	m->reload.done = 0;
}

void master_sig_reload_abort(struct master *m)
{
	int status;
	if (!m->reload.pid)
		return;
	if (!m->reload.done) {
		kill(m->reload.pid, SIGKILL);
		while (waitpid(m->reload.pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	m->reload.pid = 0;
	char msg[CONFIG_ERROR_MAX_BYTES];
	config_error_format(msg, sizeof(msg),
			    master_check_source(m->opts), 0, NULL,
			    "the plugins' check cut short: stopping");
	log_info("%s", msg);
	reload_failed();
}

/* The new pools: a listener under stress stays so across the reload (its
   queue does not change, and its stress-on/stress-off lines stay paired). */
static struct pool *carry_stress(const struct master *m, const struct config *cfg)
{
	struct pool *pools = calloc(cfg->listener_count, sizeof(*pools));
	if (!pools)
		abort();
	for (size_t i = 0; i < cfg->listener_count; i++)
		for (size_t j = 0; j < m->cfg->listener_count; j++)
			if (strcmp(cfg->listeners[i].name, m->cfg->listeners[j].name) == 0)
				pools[i].stress = m->pools[j].stress;
	return pools;
}

/* Switch to cfg and its sockets nb: a new generation. */
static void reload_apply(struct master *m, struct config *cfg, struct master_bound *nb)
{
	/* Old sockets not carried over close here; old workers hold their own
	   copies until their session ends. */
	for (size_t i = 0; i < m->cfg->listener_count; i++)
		master_listen_release(&m->bound[i]);
	free(m->bound);
	master_spawn_signal_generation(m, m->generation, SIGHUP);
	struct pool *pools = carry_stress(m, cfg);
	free(m->pools);
	int old_log_facility = m->cfg->log_facility;
	config_free(m->cfg);
	m->cfg = cfg;
	m->bound = nb;
	m->pools = pools;
	m->generation++;
	/* Where the log goes is part of the configuration too; the new
	   workers inherit it, the old ones keep theirs. */
	if (cfg->log_facility != old_log_facility) {
		log_info("event=log-target to=%s", cfg->log_facility >= 0 ? "syslog" : "stderr");
		log_set_target(cfg->log_facility);
	}
	log_info("event=reloaded generation=%u listeners=%zu", m->generation, cfg->listener_count);
}

void master_sig_reload_finish(struct master *m)
{
	char err[CONFIG_ERROR_MAX_BYTES];
	struct config *cfg;
	struct master_bound *nb;
	uid_t uid = m->uid;
	gid_t gid = m->gid;
	if (!m->reload.pid || !m->reload.done)
		return;
	m->reload.pid = 0;
	if (master_check_result(m->opts, m->reload.status) != 0) {
		reload_failed();
		return;
	}
	if (master_check_parse(m->opts, &cfg, err, sizeof(err)) < 0) {
		log_err("%s", err); /* the file changed since its check */
		reload_failed();
		return;
	}
	struct tls_server **tls;
	if (master_check_user(m->opts, cfg, &uid, &gid) != 0 || master_tls_load(cfg, &tls) < 0) {
		config_free(cfg);
		reload_failed();
		return;
	}
	if (master_listen_bind_all(cfg, m->bound, m->cfg->listener_count, &nb) != 0) {
		master_tls_free(tls, cfg->listener_count);
		config_free(cfg);
		reload_failed();
		return;
	}
	m->uid = uid;
	m->gid = gid;
	/* The old generation's workers hold their own copies. */
	master_tls_free(m->tls, m->cfg->listener_count);
	m->tls = tls;
	reload_apply(m, cfg, nb);
}
