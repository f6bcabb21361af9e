/*
 * master_avail.c - pool sizing and stress, from the scoreboard the
 * workers keep (scoreboard.c).
 *
 * More workers while fewer than min_spare are idle, up to max_workers;
 * while more than max_spare are idle, half the excess (at least one)
 * retired each second, the longest idle first, so a burst's workers go in
 * seconds without thrashing; one a second while more than min_spare are
 * idle and one has been idle for max_idle.  A worker that takes a client
 * and leaves too few idle writes a byte to the wake pipe, so the pool
 * grows at once rather than at the next tick.  When all max_workers are
 * busy and clients wait in the listen queue, the listener is under stress
 * (as Postfix's smtpd): its workers' timeouts drop to stress_timeout until
 * the queue is empty and a worker is idle again.  It never reaps a worker
 * nor trusts the scoreboard beyond counting.
 */
#include "master_avail.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "counters.h"
#include "log.h"
#include "master_internal.h"
#include "master_spawn.h"

#define MASTER_RETIRE_INTERVAL_MS 1000

/* A listener's pool as the scoreboard shows it now. */
struct pool_count {
	int total;              /* workers of this generation, not retiring */
	int idle;               /* ... idle or still starting */
	int busy;
	size_t longest_idle;    /* slot of the worker idle the longest, or SIZE_MAX */
	long long longest_idle_since_ms;
	long long newest_ready_started_ms; /* start of the newest idle or busy one, or -1 */
};

static void count_pool(const struct master *m, size_t listener, struct pool_count *out);
static void retire(struct master *m, size_t slot, const char *reason);
static void set_stress(struct master *m, size_t listener, int on, const struct pool_count *pc,
		       unsigned int queued);
static void shrink(struct master *m, size_t listener, struct pool_count *pc, long long now);

/* Count the current generation's workers of a listener by state. */
static void count_pool(const struct master *m, size_t listener, struct pool_count *out)
{
	memset(out, 0, sizeof(*out));
	out->longest_idle = SIZE_MAX;
	out->newest_ready_started_ms = -1;
	for (size_t i = 0; i < m->nslots; i++) {
		const struct worker_slot *w = &m->slots[i];
		if (!w->pid || w->retiring || w->generation != m->generation || w->listener != listener)
			continue;
		out->total++;
		const struct scoreboard_slot *s = &m->sb->slots[i];
		int state = atomic_load(&s->state);
		if (state != WORKER_STARTING && w->started_ms > out->newest_ready_started_ms)
			out->newest_ready_started_ms = w->started_ms;
		if (state == WORKER_BUSY) {
			out->busy++;
			continue;
		}
		out->idle++;
		long long since = atomic_load(&s->idle_since_ms);
		if (state == WORKER_IDLE &&
		    (out->longest_idle == SIZE_MAX || since < out->longest_idle_since_ms)) {
			out->longest_idle = i;
			out->longest_idle_since_ms = since;
		}
	}
}

/* SIGHUP retires a worker: an idle one exits now, a busy one (it took a
   client meanwhile) after its session. */
static void retire(struct master *m, size_t slot, const char *reason)
{
	struct worker_slot *w = &m->slots[slot];
	w->retiring = 1;
	kill(w->pid, SIGHUP);
	counters_pool_event(w->name, CPOOL_RETIRE);
	log_info("listener=%s event=worker-retire pid=%ld reason=%s", w->name, (long)w->pid, reason);
}

/* Flag every worker of the listener (old generations too: they serve the
   same port) and interrupt the busy ones' waits so they see the change. */
static void set_stress(struct master *m, size_t listener, int on, const struct pool_count *pc,
		       unsigned int queued)
{
	const struct listener_config *l = &m->cfg->listeners[listener];
	m->pools[listener].stress = on;
	counters_stress(l->name, on);
	for (size_t i = 0; i < m->nslots; i++) {
		struct scoreboard_slot *s = &m->sb->slots[i];
		if (!m->slots[i].pid || strcmp(m->slots[i].name, l->name) != 0)
			continue;
		atomic_store(&s->stress, on);
		if (on && atomic_load(&s->state) == WORKER_BUSY)
			kill(m->slots[i].pid, SIGUSR1);
	}
	if (on)
		log_warn("listener=%s event=stress-on busy=%d queued=%u stress_timeout=%d", l->name,
			 pc->busy, queued, l->stress_timeout_sec);
	else
		log_info("listener=%s event=stress-off busy=%d idle=%d", l->name, pc->busy, pc->idle);
}

/* Retire idle workers past max_spare, or one idle past max_idle. */
static void shrink(struct master *m, size_t listener, struct pool_count *pc, long long now)
{
	const struct listener_config *l = &m->cfg->listeners[listener];
	struct pool *p = &m->pools[listener];
	if (pc->longest_idle == SIZE_MAX || now < p->next_retire_ms)
		return;
	if (pc->idle > l->max_spare) {
		/* Starting workers count as idle but cannot be retired yet:
		   stop when none idle is left. */
		int n = (pc->idle - l->max_spare + 1) / 2;
		for (; n > 0 && pc->longest_idle != SIZE_MAX; n--) {
			retire(m, pc->longest_idle, "max_spare");
			count_pool(m, listener, pc);
		}
		p->next_retire_ms = now + MASTER_RETIRE_INTERVAL_MS;
	} else if (pc->idle > l->min_spare &&
		   now - pc->longest_idle_since_ms >= (long long)l->max_idle_sec * 1000) {
		retire(m, pc->longest_idle, "max_idle");
		p->next_retire_ms = now + MASTER_RETIRE_INTERVAL_MS;
	}
}

void master_avail_size_pools(struct master *m)
{
	long long now = clock_ms();
	for (size_t i = 0; i < m->cfg->listener_count; i++) {
		const struct listener_config *l = &m->cfg->listeners[i];
		struct pool *p = &m->pools[i];
		struct pool_count pc;
		count_pool(m, i, &pc);
		if (pc.newest_ready_started_ms >= 0)
			master_spawn_proved(p, pc.newest_ready_started_ms);
		while (pc.idle < l->min_spare && pc.total < l->max_workers && now >= p->next_spawn_ms) {
			master_spawn(m, i);
			pc.idle++;
			pc.total++;
		}
		shrink(m, i, &pc, now);
		unsigned int queued = master_listen_queued(&m->bound[i]);
		if (!p->stress && pc.busy >= l->max_workers && queued > 0)
			set_stress(m, i, 1, &pc, queued);
		else if (p->stress && queued == 0 && pc.idle > 0)
			set_stress(m, i, 0, &pc, queued);
	}
}
