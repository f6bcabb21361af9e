/*
 * scoreboard.c - the shared worker table (see scoreboard.h).
 *
 * One MAP_SHARED anonymous mapping made by the master before it forks
 * anything; untouched slots cost no memory.  No locks: each field has one
 * writer, states are atomics, and the strings next to them are only ever
 * compared, so a torn read can at worst miscount one session for an
 * instant.  Never holds a pid or anything the master acts on blindly.
 */
#include "scoreboard.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

const char *worker_state_name(enum worker_state state)
{
	static const char *const names[] = { "free", "starting", "idle", "busy" };
	return (unsigned int)state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}

struct scoreboard *scoreboard_create(void)
{
	void *p = mmap(NULL, sizeof(struct scoreboard), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Zero-filled: every slot WORKER_FREE, every auth entry free. */
	if (scoreboard_auth_init(&((struct scoreboard *)p)->auth) < 0) {
		munmap(p, sizeof(struct scoreboard));
		return NULL;
	}
	return p;
}

void scoreboard_destroy(struct scoreboard *sb)
{
	if (sb)
		munmap(sb, sizeof(*sb));
}

void scoreboard_slot_claim(struct scoreboard *sb, size_t i, const char *listener,
			   unsigned int generation, int stress)
{
	struct scoreboard_slot *s = &sb->slots[i];
	snprintf(s->listener, sizeof(s->listener), "%s", listener);
	s->client[0] = '\0';
	s->generation = generation;
	atomic_store(&s->stress, stress);
	atomic_store(&s->idle_since_ms, 0);
	atomic_store(&s->state, WORKER_STARTING);
	if (atomic_load(&sb->used) <= i)
		atomic_store(&sb->used, i + 1);
}

void scoreboard_slot_release(struct scoreboard *sb, size_t i)
{
	atomic_store(&sb->slots[i].state, WORKER_FREE);
}

void scoreboard_set_idle(struct scoreboard_slot *slot, long long now_ms)
{
	atomic_store(&slot->idle_since_ms, now_ms);
	atomic_store(&slot->state, WORKER_IDLE);
}

void scoreboard_set_busy(struct scoreboard_slot *slot, const char *client)
{
	snprintf(slot->client, sizeof(slot->client), "%s", client);
	atomic_store(&slot->state, WORKER_BUSY); /* seq_cst: before our count */
}

size_t scoreboard_client_sessions(const struct scoreboard *sb, const char *listener,
				  const char *client)
{
	size_t n = 0, used = atomic_load(&sb->used);
	for (size_t i = 0; i < used && i < SCOREBOARD_SLOTS; i++) {
		const struct scoreboard_slot *s = &sb->slots[i];
		if (atomic_load(&s->state) == WORKER_BUSY && strcmp(s->client, client) == 0 &&
		    strcmp(s->listener, listener) == 0)
			n++;
	}
	return n;
}

void scoreboard_pool(const struct scoreboard *sb, const char *listener, unsigned int generation,
		     size_t *total_out, size_t *idle_out)
{
	size_t total = 0, idle = 0, used = atomic_load(&sb->used);
	for (size_t i = 0; i < used && i < SCOREBOARD_SLOTS; i++) {
		const struct scoreboard_slot *s = &sb->slots[i];
		int state = atomic_load(&s->state);
		if (state == WORKER_FREE || s->generation != generation ||
		    strcmp(s->listener, listener) != 0)
			continue;
		total++;
		idle += state == WORKER_IDLE || state == WORKER_STARTING;
	}
	*total_out = total;
	*idle_out = idle;
}
