/*
 * master_spawn.c - the master's workers: fork one into a free scoreboard
 * slot, reap those that ended, and tell a start-up failure from a death.
 *
 * A worker that dies with an error before it ever became ready (still
 * "starting" in the scoreboard: plugin init, chroot, user switch) is a
 * start-up failure; consecutive start-up failures delay the next spawn
 * (1 s, 2 s, 4 s ... 60 s) so a plugin that crashes every new worker costs
 * a log line per delay, not a fork loop.  A worker that had been ready is
 * replaced at once however young it was: killing workers, or a client
 * crashing its session's worker, must not leave the listener without
 * workers.  It never decides how many workers a pool needs
 * (master_avail.c) and never runs code of a worker in the master.
 */
#include "master_spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master_check.h"
#include "clock.h"
#include "counters.h"
#include "log.h"
#include "master_internal.h"
#include "metrics.h"
#include "worker.h"

#define MASTER_MAX_BACKOFF_SEC 60

static void spawn_child(struct master *m, size_t listener, size_t index)
	__attribute__((noreturn));
static int own_failure(int status);
static void reaped(struct master *m, size_t i, pid_t pid, int status, int stopping);
static void start_failed(struct pool *p, const struct worker_slot *s, pid_t pid, const char *how,
			 long long lived);

/* In the forked worker: keep only its own listener's sockets, run it. */
static void spawn_child(struct master *m, size_t listener, size_t index)
{
	const struct listener_config *l = &m->cfg->listeners[listener];
	for (size_t i = 0; i < m->cfg->listener_count; i++)
		if (i != listener)
			master_listen_close(&m->bound[i]);
	close(m->wake_pipe[0]);
	metrics_close_in_child();
	counters_use_slot(index);
	struct worker_args a = {
		.listener = l,
		.fds = m->bound[listener].fds,
		.nfds = m->bound[listener].nfds,
		.fqdn = m->opts->fqdn,
		.uid = m->uid,
		.gid = m->gid,
		.user = master_check_run_as(m->opts, m->cfg),
		.sb = m->sb,
		.slot = &m->sb->slots[index],
		.wake_fd = m->wake_pipe[1],
		.sched_batch = m->cfg->worker_sched_batch,
		.tls = m->tls[listener],
	};
	worker_main(&a);
}

void master_spawn(struct master *m, size_t listener)
{
	const struct listener_config *l = &m->cfg->listeners[listener];
	size_t index = 0;
	while (index < m->nslots && m->slots[index].pid)
		index++;
	if (index == SCOREBOARD_SLOTS) {
		log_err("listener=%s event=no-room workers=%d", l->name,
			SCOREBOARD_SLOTS);
		m->pools[listener].next_spawn_ms = clock_ms() + 1000;
		return;
	}
	if (index == m->nslots)
		m->nslots++;
	struct worker_slot *slot = &m->slots[index];
	memset(slot, 0, sizeof(*slot));
	scoreboard_slot_claim(m->sb, index, l->name, m->generation, m->pools[listener].stress);
	counters_slot_claim(index, l->name);
	pid_t pid = fork();
	if (pid < 0) {
		log_err("listener=%s call=fork error=%s", l->name, log_quoted(strerror(errno)));
		m->pools[listener].next_spawn_ms = clock_ms() + 1000;
		scoreboard_slot_release(m->sb, index);
		return;
	}
	if (pid == 0)
		spawn_child(m, listener, index);
	counters_pool_event(l->name, CPOOL_FORK);
	slot->pid = pid;
	slot->generation = m->generation;
	slot->listener = listener;
	slot->started_ms = clock_ms();
	snprintf(slot->name, sizeof(slot->name), "%s", l->name);
}

void master_spawn_proved(struct pool *p, long long started_ms)
{
	if (started_ms >= p->failed_ms)
		p->start_failures = 0;
}

/* A worker's end that it brought on itself - an error exit, or a signal
   raised by its own fault - rather than a kill from outside. */
static int own_failure(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status) != 0;
	switch (WTERMSIG(status)) {
	case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGABRT: case SIGSYS: case SIGTRAP:
		return 1;
	}
	return 0;
}

/* One more start-up failure: the next spawn waits 1 s, 2 s ... 60 s. */
static void start_failed(struct pool *p, const struct worker_slot *s, pid_t pid, const char *how,
			 long long lived)
{
	p->start_failures++;
	p->failed_ms = clock_ms();
	int shift = p->start_failures - 1 < 6 ? p->start_failures - 1 : 6;
	long long delay = (1LL << shift) * 1000;
	if (delay > MASTER_MAX_BACKOFF_SEC * 1000)
		delay = MASTER_MAX_BACKOFF_SEC * 1000;
	p->next_spawn_ms = p->failed_ms + delay;
	counters_pool_event(s->name, CPOOL_BACKOFF);
	log_err("listener=%s event=worker-failed pid=%ld %s lived_ms=%lld "
		"start_failures=%d respawn_in_ms=%lld", s->name, (long)pid, how,
		lived, p->start_failures, delay);
}

/* The worker in slot i ended with status: free its slot, log, back off. */
static void reaped(struct master *m, size_t i, pid_t pid, int status, int stopping)
{
	struct worker_slot *s = &m->slots[i];
	s->pid = 0;
	/* Read before the release: a worker that had got as far as idle had
	   a working start-up, whatever killed it since. */
	int state = atomic_load(&m->sb->slots[i].state);
	int was_ready = state != WORKER_STARTING;
	/* One that fails on its own while idle, with no client to blame (a
	   plugin's timer or thread), would fail again in the next worker:
	   delayed as a start-up failure, or it would be a fork loop. */
	int failed_idle = state == WORKER_IDLE && own_failure(status);
	scoreboard_slot_release(m->sb, i);
	counters_slot_fold(i);
	long long lived = clock_ms() - s->started_ms;
	/* Never ready is a failure whatever the status: a start-up that ends
	   with exit(0) would otherwise loop. */
	int start_failure = !was_ready || failed_idle;
	int failed = start_failure || WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
	char how[64];
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "signal=%d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "status=%d", WEXITSTATUS(status));
	if (s->generation != m->generation || stopping) {
		log_info("listener=%s event=worker-exit pid=%ld %s generation=%u", s->name, (long)pid,
			 how, s->generation);
		return;
	}
	struct pool *p = &m->pools[s->listener];
	if (start_failure) {
		start_failed(p, s, pid, how, lived);
		return;
	}
	/* No delay; a back-off in progress stays unless this worker was
	   started after the failure (it got ready). */
	master_spawn_proved(p, s->started_ms);
	if (failed)
		log_warn("listener=%s event=worker-died pid=%ld %s lived_ms=%lld", s->name, (long)pid,
			 how, lived);
	else
		log_info("listener=%s event=worker-exit pid=%ld %s", s->name, (long)pid, how);
}

void master_spawn_reap(struct master *m, int stopping)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (m->reload.pid == pid) {
			m->reload.done = 1;
			m->reload.status = status;
			continue;
		}
		if (metrics_reaped(pid, status))
			continue;
		for (size_t i = 0; i < m->nslots; i++)
			if (m->slots[i].pid == pid) {
				reaped(m, i, pid, status, stopping);
				break;
			}
	}
}

void master_spawn_signal_generation(struct master *m, unsigned int generation, int sig)
{
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].pid && m->slots[i].generation == generation)
			kill(m->slots[i].pid, sig);
}

size_t master_spawn_live(const struct master *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nslots; i++)
		n += m->slots[i].pid != 0;
	return n;
}
