/*
 * master.c - the master process: set up, run the loop that acts on
 * signals, reaps, reloads and sizes the pools, and stop.
 *
 * Each job has its module: the listening sockets (master_listen.c),
 * forking and reaping workers with the back-off (master_spawn.c), pool
 * sizing and stress (master_avail.c), signals and the reload
 * (master_sig.c), the configuration's check (master_check.c).  This file
 * only calls them; none of them calls back into it.  The master never
 * talks SMTP and never runs plugin code (plugins are checked in a
 * throw-away child), so no plugin can crash it.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "master_avail.h"
#include "master_check.h"
#include "master_internal.h"
#include "master_listen.h"
#include "master_sig.h"
#include "master_spawn.h"
#include "metrics.h"
#include "master_tls.h"
#include "tls_ticket.h"

#define MASTER_TICK_MS 1000

static int setup(struct master *m, struct config *cfg);
static void log_ready(const struct config *cfg);
static void wait_for_work(struct master *m, const sigset_t *wait_mask);
static void run_loop(struct master *m, const sigset_t *wait_mask);
static int shutdown_workers(struct master *m, const sigset_t *wait_mask);

/* The user, the sockets, the scoreboard and the wake pipe; 0 or a
   sysexits status. */
static int setup(struct master *m, struct config *cfg)
{
	int rc = master_check_user(m->opts, cfg, &m->uid, &m->gid);
	if (rc != 0)
		return rc;
	rc = master_listen_bind_all(cfg, NULL, 0, &m->bound);
	if (rc != 0)
		return rc;
	if (metrics_setup(cfg) < 0)
		return EX_CONFIG;
	m->pools = calloc(cfg->listener_count, sizeof(*m->pools));
	m->slots = calloc(SCOREBOARD_SLOTS, sizeof(*m->slots));
	m->sb = scoreboard_create();
	if (!m->pools || !m->slots || !m->sb)
		abort();
	/* The ticket keys' page, before any fork and before the contexts
	   that use it: every worker shares it. */
	(void)tls_ticket_init(cfg->tls_ticket_rotation_sec);
	if (master_tls_load(cfg, &m->tls) < 0)
		return EX_CONFIG;
	if (pipe2(m->wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_err("call=pipe2 error=%s", log_quoted(strerror(errno)));
		return EX_OSERR;
	}
	return 0;
}

static void log_ready(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct listener_config *l = &cfg->listeners[i];
		/* The one line naming the plugin's file: the others name
		   the plugin by its descriptor (plugin=NAME). */
		log_info("event=ready listener=%s address=%s handler=%s plugin_file=%s min_spare=%d "
			 "max_spare=%d max_workers=%d", l->name, l->address, log_quoted(l->handler),
			 log_quoted(l->plugin_path), l->min_spare, l->max_spare, l->max_workers);
	}
}

static void drain_wake_pipe(struct master *m)
{
	char buf[256];
	while (read(m->wake_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* Wake at the next back-off expiry, at a worker's call, at a signal, or
   at the next tick. */
static void wait_for_work(struct master *m, const sigset_t *wait_mask)
{
	long long wait = MASTER_TICK_MS, now = clock_ms();
	for (size_t i = 0; i < m->cfg->listener_count; i++)
		if (m->pools[i].next_spawn_ms > now && m->pools[i].next_spawn_ms - now < wait)
			wait = m->pools[i].next_spawn_ms - now;
	struct timespec ts = { wait / 1000, (wait % 1000) * 1000000L };
	struct pollfd wake = { .fd = m->wake_pipe[0], .events = POLLIN };
	/* A SIGHUP during a reload's check waits for that check to end. */
	int reload_due = master_sig_reload && !m->reload.pid;
	if (!master_sig_child && !reload_due && !master_sig_stop && !master_sig_ignored)
		ppoll(&wake, 1, &ts, wait_mask);
}

static void run_loop(struct master *m, const sigset_t *wait_mask)
{
	while (!master_sig_stop) {
		master_sig_child = 0;
		master_spawn_reap(m, 0);
		if (master_sig_ignored) {
			log_warn("event=signal-ignored signal=%s msg=\"the master acts on TERM, INT and HUP only\"",
				 master_sig_ignored == SIGUSR1 ? "USR1" : "USR2");
			master_sig_ignored = 0;
		}
		/* A stop sent while a reload's check ran wins before the new
		   generation is forked, not after. */
		if (master_sig_stop_pending())
			break;
		master_sig_reload_finish(m);
		if (master_sig_reload && !m->reload.pid)
			master_sig_reload_start(m);
		tls_ticket_tick(m->cfg->tls_ticket_rotation_sec);
		drain_wake_pipe(m);
		master_avail_size_pools(m);
		metrics_tick(m);
		wait_for_work(m, wait_mask);
	}
}

/* SIGTERM/SIGINT: stop accepting, let sessions end, kill what is left at
   the deadline. */
static int shutdown_workers(struct master *m, const sigset_t *wait_mask)
{
	long long deadline = clock_ms() + (long long)m->cfg->shutdown_timeout_sec * 1000;
	master_sig_reload_abort(m);
	metrics_stop();
	log_info("event=stopping workers=%zu timeout_sec=%d", master_spawn_live(m),
		 m->cfg->shutdown_timeout_sec);
	for (size_t i = 0; i < m->cfg->listener_count; i++)
		master_listen_release(&m->bound[i]);
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].pid)
			kill(m->slots[i].pid, SIGTERM);
	int killed = 0;
	while (master_spawn_live(m) > 0) {
		master_sig_child = 0;
		master_spawn_reap(m, 1);
		if (master_spawn_live(m) == 0)
			break;
		if (deadline - clock_ms() <= 0 && !killed) {
			log_warn("event=stop-timeout action=kill workers=%zu", master_spawn_live(m));
			for (size_t i = 0; i < m->nslots; i++)
				if (m->slots[i].pid)
					kill(m->slots[i].pid, SIGKILL);
			killed = 1;
		}
		struct timespec ts = { 0, 100 * 1000000L };
		if (!master_sig_child)
			ppoll(NULL, 0, &ts, wait_mask);
	}
	log_info("event=stopped");
	return 0;
}

int master_run(struct config *cfg, const struct master_options *opts)
{
	struct master m = { .opts = opts, .cfg = cfg };
	sigset_t wait_mask;
	int rc = setup(&m, cfg);
	if (rc != 0) {
		config_free(cfg);
		return rc;
	}
	master_sig_install(&wait_mask);
	master_avail_size_pools(&m);
	log_ready(cfg);
	run_loop(&m, &wait_mask);
	rc = shutdown_workers(&m, &wait_mask);
	close(m.wake_pipe[0]);
	close(m.wake_pipe[1]);
	scoreboard_destroy(m.sb);
	master_tls_free(m.tls, m.cfg->listener_count);
	free(m.bound);
	free(m.pools);
	free(m.slots);
	config_free(m.cfg);
	return rc;
}
