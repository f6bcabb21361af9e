/*
 * counters.c - the metrics' counters in shared memory (see counters.h).
 *
 * One MAP_SHARED anonymous mapping made by the master before it forks,
 * only when the `metrics` setting is on.  No locks: a worker's block has
 * one writer (the worker), the listener table one (the master), and every
 * counter is a 64-bit word loaded and stored whole, so a reader sees each
 * one either before or after an increment.  The one moment a count moves
 * between blocks - the master folding an exited worker's counts into its
 * listener's total - is bracketed by a sequence number the reader checks,
 * so a scrape never counts those messages twice or not at all.  The
 * reader never waits for the master, and the master never waits for it.
 *
 * It must never hold anything the master acts on, nor a string that came
 * from a client: labels are built from the fixed names below.
 */
#include "counters.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "clock.h"

#define COUNTERS_WORDS (sizeof(struct counter_set) / sizeof(unsigned long long))
#define COUNTERS_SNAPSHOT_TRIES 50

_Static_assert(sizeof(struct counter_set) % sizeof(unsigned long long) == 0,
	       "a counter set is an array of words");

/* A worker slot's counts, and the listener they belong to. */
struct counters_slot {
	int listener;            /* index in the listener table; -1: never used */
	struct counter_set c;
};

/* A listener: the master's counts and the exited workers' total. */
struct counters_listener {
	char name[SCOREBOARD_LISTENER_MAX_BYTES];
	unsigned long long forks, retirements, backoffs;
	int stress;
	long long stress_since_ms;   /* CLOCK_MONOTONIC, while stress is on */
	unsigned long long stress_ms; /* spells of stress that have ended */
	struct counter_set retired;
};

struct counters_board {
	_Atomic unsigned long seq;   /* odd while the master folds */
	_Atomic size_t nlisteners;
	_Atomic size_t used;         /* slots at and above this were never claimed */
	struct counters_listener listeners[COUNTERS_LISTENERS_MAX];
	struct counters_slot slots[SCOREBOARD_SLOTS];
};

const unsigned long long counters_hook_bounds_us[COUNTERS_HOOK_BUCKETS] = {
	100, 500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000, 10000000, 30000000
};

#define COUNTERS_VERB_MAX_BYTES 8 /* STARTTLS */
/* The lengths of the verbs' names, in enum counters_verb order. */
static const unsigned char verb_lens[CV_OTHER] = { 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 4 };

static struct counters_board *board;
static struct counter_set *mine;       /* a worker's own block */
static int verb_pending = -1;          /* the command awaiting its first reply */

static unsigned long long word_load(const unsigned long long *w);
static void word_add(unsigned long long *w, unsigned long long n);
static void set_add(struct counter_set *to, const struct counter_set *from);
static int listener_index(const char *name);
static long long now_us(void);
static void snapshot_once(const struct scoreboard *sb, struct counters_view *out, size_t n);
static void count_workers(const struct scoreboard *sb, struct counters_view *out, size_t n);

/* A name from one of the fixed tables, never out of range. */
#define NAME_OF(table, i) ((unsigned int)(i) < sizeof(table) / sizeof(table[0]) ? table[i] : "?")

const char *counters_verb_name(enum counters_verb v)
{
	static const char *const names[] = { "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA",
					     "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN",
					     "HELP", "STARTTLS", "AUTH", "other" };
	return NAME_OF(names, v);
}

const char *counters_result_name(enum counters_result r)
{
	static const char *const names[] = { "accepted", "refused", "tempfailed", "size-limited" };
	return NAME_OF(names, r);
}

const char *counters_limit_name(enum counters_limit l)
{
	static const char *const names[] = { "max_idle_commands", "hard_error_limit",
					     "soft_error_limit", "max_session_time",
					     "max_sessions_per_client", "max_recipients",
					     "pregreet", "data_size_limit" };
	return NAME_OF(names, l);
}

const char *counters_tls_name(enum counters_tls t)
{
	static const char *const names[] = { "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "other",
					     "none" };
	return NAME_OF(names, t);
}

const char *counters_proxy_name(enum counters_proxy p)
{
	static const char *const names[] = { "untrusted", "timeout", "eof", "malformed", "other" };
	return NAME_OF(names, p);
}

const char *counters_hook_name(enum counters_hook h)
{
	static const char *const names[] = { "on_connect", "on_helo", "on_mail", "on_rcpt",
					     "on_data", "on_message", "command" };
	return NAME_OF(names, h);
}

/* One counter, read whole. */
static unsigned long long word_load(const unsigned long long *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

/* One counter raised by its only writer: a plain load and store (no
   locked instruction), each whole, so readers never see half of it. */
static void word_add(unsigned long long *w, unsigned long long n)
{
	__atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* to += from, word by word. */
static void set_add(struct counter_set *to, const struct counter_set *from)
{
	unsigned long long *t = (unsigned long long *)to;
	const unsigned long long *f = (const unsigned long long *)from;
	for (size_t k = 0; k < COUNTERS_WORDS; k++)
		word_add(&t[k], word_load(&f[k]));
}

int counters_create(void)
{
	void *p = mmap(NULL, sizeof(struct counters_board), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	board = p; /* zero-filled: untouched pages cost nothing */
	for (size_t i = 0; i < SCOREBOARD_SLOTS; i++)
		board->slots[i].listener = -1;
	return 0;
}

void counters_destroy(void)
{
	if (board)
		munmap(board, sizeof(*board));
	board = NULL;
	mine = NULL;
}

int counters_enabled(void)
{
	return board != NULL;
}

/* The master's index for a listener name, added when new; -1 when the
   table is full (its counts are then not kept). */
static int listener_index(const char *name)
{
	size_t n = atomic_load(&board->nlisteners);
	for (size_t i = 0; i < n; i++)
		if (strcmp(board->listeners[i].name, name) == 0)
			return (int)i;
	if (n == COUNTERS_LISTENERS_MAX)
		return -1;
	snprintf(board->listeners[n].name, sizeof(board->listeners[n].name), "%s", name);
	atomic_store(&board->nlisteners, n + 1); /* the name is written before it shows */
	return (int)n;
}

void counters_slot_claim(size_t i, const char *listener)
{
	if (!board || i >= SCOREBOARD_SLOTS)
		return;
	__atomic_store_n(&board->slots[i].listener, listener_index(listener), __ATOMIC_RELEASE);
	if (atomic_load(&board->used) <= i)
		atomic_store(&board->used, i + 1);
}

void counters_slot_fold(size_t i)
{
	if (!board || i >= SCOREBOARD_SLOTS)
		return;
	struct counters_slot *s = &board->slots[i];
	int l = __atomic_load_n(&s->listener, __ATOMIC_RELAXED);
	if (l < 0)
		return;
	atomic_fetch_add(&board->seq, 1); /* odd: readers try again */
	set_add(&board->listeners[l].retired, &s->c);
	unsigned long long *w = (unsigned long long *)&s->c;
	for (size_t k = 0; k < COUNTERS_WORDS; k++)
		__atomic_store_n(&w[k], 0, __ATOMIC_RELAXED);
	atomic_fetch_add(&board->seq, 1);
}

void counters_pool_event(const char *listener, enum counters_pool ev)
{
	int l = board ? listener_index(listener) : -1;
	if (l < 0)
		return;
	struct counters_listener *cl = &board->listeners[l];
	word_add(ev == CPOOL_FORK ? &cl->forks : ev == CPOOL_RETIRE ? &cl->retirements
								     : &cl->backoffs, 1);
}

void counters_stress(const char *listener, int on)
{
	int l = board ? listener_index(listener) : -1;
	if (l < 0)
		return;
	struct counters_listener *cl = &board->listeners[l];
	long long now = clock_ms();
	if (on && !cl->stress)
		__atomic_store_n(&cl->stress_since_ms, now, __ATOMIC_RELAXED);
	else if (!on && cl->stress)
		word_add(&cl->stress_ms, (unsigned long long)(now - cl->stress_since_ms));
	__atomic_store_n(&cl->stress, on, __ATOMIC_RELEASE);
}

void counters_use_slot(size_t i)
{
	mine = board && i < SCOREBOARD_SLOTS ? &board->slots[i].c : NULL;
}

void counters_session_start(void)
{
	if (mine)
		word_add(&mine->sessions_started, 1);
}

void counters_session_end(int end)
{
	if (mine && end >= 0 && end < COUNTERS_END_MAX)
		word_add(&mine->sessions_ended[end], 1);
}

/* The verb of a command line (bytes up to the first space, any case);
   only the fixed names are kept, so no client text becomes a label. */
void counters_command_begin(const char *line, size_t len)
{
	if (!mine)
		return;
	/* Upper-cased into a word, compared with each name's whole length:
	   this runs for every command, so no strlen() or strcasecmp() here. */
	char up[COUNTERS_VERB_MAX_BYTES];
	size_t n = 0;
	while (n < len && line[n] != ' ' && n < sizeof(up)) {
		char c = line[n];
		up[n++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}
	verb_pending = CV_OTHER;
	if (n == len || line[n] == ' ')
		for (int v = 0; v < CV_OTHER; v++)
			if (verb_lens[v] == n && memcmp(up, counters_verb_name((enum counters_verb)v), n) == 0) {
				verb_pending = v;
				break;
			}
}

/* The first reply to the pending command gives its class; later replies
   (the message's own after DATA's 354) are counted elsewhere. */
void counters_command_reply(int code_first_digit)
{
	if (!mine || verb_pending < 0 || code_first_digit < '2' || code_first_digit > '5')
		return;
	word_add(&mine->commands[verb_pending][code_first_digit - '2'], 1);
	verb_pending = -1;
}

void counters_message(enum counters_result r, unsigned long long bytes, size_t rcpts)
{
	if (!mine || (unsigned int)r >= CR_COUNT)
		return;
	word_add(&mine->messages[r], 1);
	word_add(&mine->message_bytes[r], bytes);
	word_add(&mine->recipients[r], rcpts);
	if (r == CR_SIZE_LIMITED)
		word_add(&mine->limits[CL_DATA_SIZE_LIMIT], 1);
}

enum counters_result counters_result_of(int code, int size_limited)
{
	if (size_limited)
		return CR_SIZE_LIMITED;
	return code / 100 == 2 ? CR_ACCEPTED : code / 100 == 4 ? CR_TEMPFAILED : CR_REFUSED;
}

void counters_limit(enum counters_limit l)
{
	if (mine && (unsigned int)l < CL_COUNT)
		word_add(&mine->limits[l], 1);
}

void counters_tls(const char *protocol)
{
	if (!mine)
		return;
	enum counters_tls t = CT_FAILED;
	if (protocol) {
		t = CT_OTHER;
		for (int k = CT_TLSV1; k < CT_OTHER; k++)
			if (strcmp(protocol, counters_tls_name((enum counters_tls)k)) == 0)
				t = (enum counters_tls)k;
	}
	word_add(&mine->tls[t], 1);
}

void counters_proxy_error(const char *reason)
{
	if (!mine)
		return;
	enum counters_proxy p = CP_MALFORMED; /* the parser's own names */
	if (strcmp(reason, "untrusted") == 0)
		p = CP_UNTRUSTED;
	else if (strcmp(reason, "timeout") == 0)
		p = CP_TIMEOUT;
	else if (strcmp(reason, "eof") == 0)
		p = CP_EOF;
	else if (strcmp(reason, "io-error") == 0 || strcmp(reason, "stopped") == 0)
		p = CP_OTHER;
	word_add(&mine->proxy_errors[p], 1);
}

/* Monotonic microseconds. */
static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long counters_hook_begin(void)
{
	return mine ? now_us() : 0;
}

void counters_hook_end(int hook, long long began_us)
{
	if (!mine || hook < 0 || hook >= CH_COUNT)
		return;
	long long d = now_us() - began_us;
	unsigned long long us = d > 0 ? (unsigned long long)d : 0;
	/* One bucket per call (the exposition adds them up): the first
	   whose bound it is within; past the last, only the count. */
	int b = 0;
	while (b < COUNTERS_HOOK_BUCKETS && us > counters_hook_bounds_us[b])
		b++;
	if (b < COUNTERS_HOOK_BUCKETS)
		word_add(&mine->hook_buckets[hook][b], 1);
	word_add(&mine->hook_count[hook], 1);
	word_add(&mine->hook_sum_us[hook], us);
}

/* One pass over the tables into out[0..n); the caller checks that no
   fold ran meanwhile. */
static void snapshot_once(const struct scoreboard *sb, struct counters_view *out, size_t n)
{
	long long now = clock_ms();
	for (size_t i = 0; i < n; i++) {
		struct counters_listener *cl = &board->listeners[i];
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(out[i].name, sizeof(out[i].name), "%s", cl->name);
		set_add(&out[i].c, &cl->retired);
		out[i].forks = word_load(&cl->forks);
		out[i].retirements = word_load(&cl->retirements);
		out[i].backoffs = word_load(&cl->backoffs);
		out[i].stress = __atomic_load_n(&cl->stress, __ATOMIC_ACQUIRE);
		long long ms = (long long)word_load(&cl->stress_ms);
		if (out[i].stress)
			ms += now - __atomic_load_n(&cl->stress_since_ms, __ATOMIC_RELAXED);
		out[i].stress_seconds = (double)ms / 1000.0;
	}
	size_t used = atomic_load(&board->used);
	for (size_t i = 0; i < used && i < SCOREBOARD_SLOTS; i++) {
		int l = __atomic_load_n(&board->slots[i].listener, __ATOMIC_ACQUIRE);
		if (l >= 0 && (size_t)l < n)
			set_add(&out[l].c, &board->slots[i].c);
	}
	count_workers(sb, out, n);
}

/* Workers of every generation by state, from the scoreboard. */
static void count_workers(const struct scoreboard *sb, struct counters_view *out, size_t n)
{
	size_t used = atomic_load(&sb->used);
	for (size_t i = 0; i < used && i < SCOREBOARD_SLOTS; i++) {
		const struct scoreboard_slot *s = &sb->slots[i];
		int state = atomic_load(&s->state);
		if (state <= WORKER_FREE || state > WORKER_BUSY)
			continue;
		for (size_t l = 0; l < n; l++)
			if (strncmp(out[l].name, s->listener, sizeof(out[l].name)) == 0) {
				out[l].workers[state]++;
				break;
			}
	}
}

size_t counters_snapshot(const struct scoreboard *sb, struct counters_view *out, size_t max)
{
	if (!board)
		return 0;
	size_t n = atomic_load(&board->nlisteners);
	if (n > max)
		n = max;
	for (int tries = 0; tries < COUNTERS_SNAPSHOT_TRIES; tries++) {
		unsigned long before = atomic_load(&board->seq);
		if (before & 1) {
			sched_yield(); /* a fold takes microseconds */
			continue;
		}
		snapshot_once(sb, out, n);
		if (atomic_load(&board->seq) == before)
			break;
	}
	return n;
}

int counters_listener_ready(const struct scoreboard *sb, const char *listener, int *stress_out)
{
	size_t n = board ? atomic_load(&board->nlisteners) : 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(board->listeners[i].name, listener) != 0)
			continue;
		*stress_out = __atomic_load_n(&board->listeners[i].stress, __ATOMIC_ACQUIRE);
		size_t used = atomic_load(&sb->used);
		for (size_t k = 0; k < used && k < SCOREBOARD_SLOTS; k++)
			if (atomic_load(&sb->slots[k].state) == WORKER_IDLE &&
			    strcmp(sb->slots[k].listener, listener) == 0)
				return 1;
		return 0;
	}
	return -1;
}
