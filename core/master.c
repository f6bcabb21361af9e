/*
 * master.c - the master process: binds every listener, forks each
 * listener's workers, reaps and respawns them, reloads on SIGHUP and stops
 * on SIGTERM/SIGINT.
 *
 * It never talks SMTP and never runs plugin code (plugins are checked in a
 * throw-away child), so no plugin can crash it.  A worker that dies with
 * an error before it ever became ready (still "starting" in the
 * scoreboard: plugin init, chroot, user switch) is a start-up failure;
 * consecutive start-up failures delay the next spawn (1 s, 2 s, 4 s ...
 * 60 s) so a plugin that crashes every new worker costs a log line per
 * delay, not a fork loop.  A worker that had been ready is replaced at
 * once however young it was: killing workers, or a client crashing its
 * session's worker, must not leave the listener without workers.
 *
 * Each listener's pool sizes itself from the scoreboard the workers keep
 * (scoreboard.c): more workers while fewer than min_spare are idle, up to
 * max_workers; while more than max_spare are idle, half the excess (at
 * least one) retired each second, the longest idle first, so a burst's
 * workers go in seconds without thrashing; one a second while more than
 * min_spare are idle and one has been idle for max_idle.  A
 * worker that takes a client and leaves too few idle writes a byte to the
 * wake pipe, so the pool grows at once rather than at the next tick.  When
 * all max_workers are busy and clients wait in the listen queue, the
 * listener is under stress (as Postfix's smtpd): its workers' timeouts drop
 * to stress_timeout until the queue is empty and a worker is idle again.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "log.h"
#include "scoreboard.h"
#include "worker.h"

#define MASTER_MAX_FDS_PER_LISTENER 8
#define MASTER_MAX_BACKOFF_SEC 60
#define MASTER_LISTEN_BACKLOG 1024
#define MASTER_TICK_MS 1000
#define MASTER_RETIRE_INTERVAL_MS 1000

struct bound {
	char address[256]; /* the spec, the key to reuse sockets on reload */
	int fds[MASTER_MAX_FDS_PER_LISTENER];
	size_t nfds;
};

struct pool {
	int start_failures;     /* consecutive workers that died before ready */
	long long failed_ms;    /* when the last of them was reaped */
	long long next_spawn_ms;
	long long next_retire_ms;
	int stress;             /* all max_workers busy and clients waiting */
};

/* The master's own record of a worker; slot i is scoreboard slot i. */
struct worker_slot {
	pid_t pid;              /* 0: free */
	unsigned int generation;
	size_t listener;
	long long started_ms;
	int retiring;           /* sent SIGHUP to shrink the pool */
	char name[SCOREBOARD_LISTENER_MAX_BYTES]; /* config.c checks that names fit */
};

/* A listener's pool as the scoreboard shows it now. */
struct pool_count {
	int total;              /* workers of this generation, not retiring */
	int idle;               /* ... idle or still starting */
	int busy;
	size_t longest_idle;    /* slot of the worker idle the longest, or SIZE_MAX */
	long long longest_idle_since_ms;
	long long newest_ready_started_ms; /* start of the newest idle or busy one, or -1 */
};

struct master {
	const struct master_options *opts;
	struct config *cfg;
	struct bound *bound;    /* one per cfg->listeners entry */
	struct pool *pools;
	struct worker_slot *slots; /* SCOREBOARD_SLOTS of them */
	size_t nslots;             /* slots at and above this were never used */
	struct scoreboard *sb;
	int wake_pipe[2];          /* workers write, the master's loop reads */
	unsigned int generation;
	uid_t uid;
	gid_t gid;
};

static volatile sig_atomic_t got_stop, got_reload, got_child, got_ignored;

static void on_signal(int sig);
static int stop_pending(void);
static int bind_listener(const struct config *cfg, const struct listener_config *l,
			 struct bound *b);
static void close_bound(struct bound *b);
static int bind_all(struct master *m, struct config *cfg, struct bound **out);
static int lookup_user(struct master *m, const struct config *cfg);
static void spawn(struct master *m, size_t listener);
static void count_pool(const struct master *m, size_t listener, struct pool_count *out);
static void retire(struct master *m, size_t slot, const char *reason);
static unsigned int queued_clients(const struct bound *b);
static void set_stress(struct master *m, size_t listener, int on, const struct pool_count *pc,
		       unsigned int queued);
static void size_pools(struct master *m);
static void start_proved(struct pool *p, long long started_ms);
static void drain_wake_pipe(struct master *m);
static void reap(struct master *m);
static void signal_generation(struct master *m, unsigned int generation, int sig);
static size_t live_workers(const struct master *m);
static void reload(struct master *m);
static int shutdown_workers(struct master *m);
static int check_plugins_in_child(const struct config *cfg, const struct master_options *opts);

static void on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		got_stop = 1;
	else if (sig == SIGHUP)
		got_reload = 1;
	else if (sig == SIGCHLD)
		got_child = 1;
	else
		got_ignored = sig; /* SIGUSR1, SIGUSR2: logged, nothing else */
}

/* A SIGTERM or SIGINT that came while the loop had them blocked (the
   signals are only let in by its wait): also sets got_stop. */
static int stop_pending(void)
{
	sigset_t pending;
	if (!got_stop && sigpending(&pending) == 0 &&
	    (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT)))
		got_stop = 1;
	return got_stop;
}

/* Bind every address the spec names.  A spec naming several addresses
   (a host name, or ":port") binds each, IPv6 ones v6-only so the IPv4
   ones can be bound too; a single [::] stays dual-stack. */
static int bind_listener(const struct config *cfg, const struct listener_config *l,
			 struct bound *b)
{
	struct hostport hp;
	struct addrinfo *res, *ai;
	const char *why;
	memset(b, 0, sizeof(*b));
	snprintf(b->address, sizeof(b->address), "%s", l->address);
	if (addr_split(l->address, &hp, &why) < 0 || addr_resolve_listen(&hp, &res, &why) < 0) {
		log_err("%s:%d: listeners: address \"%s\": %s", cfg->source, l->line, l->address, why);
		return -1;
	}
	int several = res->ai_next != NULL;
	for (ai = res; ai && b->nfds < MASTER_MAX_FDS_PER_LISTENER; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		int one = 1;
		if (fd < 0)
			goto fail;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* Replies are small and each is awaited: no Nagle delay.  Set once
		   here, every accepted connection inherits it. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (ai->ai_family == AF_INET6 && several)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, MASTER_LISTEN_BACKLOG) < 0) {
			close(fd);
			goto fail;
		}
		b->fds[b->nfds++] = fd;
	}
	freeaddrinfo(res);
	return 0;
fail:;
	char host[64];
	unsigned int port;
	int saved = errno;
	addr_to_text(ai->ai_addr, host, sizeof(host), &port);
	log_err("%s:%d: listeners: address \"%s\": cannot listen on %s port %u: %s", cfg->source,
		l->line, l->address, host, port, strerror(saved));
	freeaddrinfo(res);
	close_bound(b);
	return -1;
}

static void close_bound(struct bound *b)
{
	for (size_t i = 0; i < b->nfds; i++)
		close(b->fds[i]);
	b->nfds = 0;
}

/* Sockets for every listener of cfg, reusing the ones already bound to the
   same address (a reload keeps its ports and their queued clients). */
static int bind_all(struct master *m, struct config *cfg, struct bound **out)
{
	struct bound *nb = calloc(cfg->listener_count, sizeof(*nb));
	if (!nb)
		abort();
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct listener_config *l = &cfg->listeners[i];
		for (size_t j = 0; m->bound && j < m->cfg->listener_count; j++)
			if (m->bound[j].nfds && strcmp(m->bound[j].address, l->address) == 0) {
				nb[i] = m->bound[j];
				m->bound[j].nfds = 0; /* moved */
				break;
			}
		if (nb[i].nfds == 0 && bind_listener(cfg, l, &nb[i]) < 0) {
			/* Give reused sockets back, close new ones. */
			for (size_t k = 0; k < i; k++) {
				for (size_t j = 0; m->bound && j < m->cfg->listener_count; j++)
					if (m->bound[j].nfds == 0 &&
					    strcmp(m->bound[j].address, nb[k].address) == 0) {
						m->bound[j] = nb[k];
						nb[k].nfds = 0;
					}
				close_bound(&nb[k]);
			}
			free(nb);
			return -1;
		}
	}
	*out = nb;
	return 0;
}

/* The user workers switch to: *user NULL when none (-n, or user = ""),
   else the name and its ids.  -1: no such user; -2: another user than
   ours, without root.  Logs nothing: the master reports it, the plugin
   check leaves it to the master. */
static int find_user(const struct master_options *opts, const struct config *cfg,
		     const char **user, uid_t *uid, gid_t *gid)
{
	*user = NULL;
	if (opts->nosetuid || !cfg->user)
		return 0;
	struct passwd *pw = getpwnam(cfg->user);
	if (!pw)
		return -1;
	if (geteuid() != 0 && pw->pw_uid != geteuid())
		return -2;
	*user = cfg->user;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int lookup_user(struct master *m, const struct config *cfg)
{
	const char *user;
	int rc = find_user(m->opts, cfg, &user, &m->uid, &m->gid);
	if (rc == -1)
		log_err("%s: user: no such user \"%s\"", cfg->source, cfg->user);
	else if (rc == -2)
		log_err("cannot switch to user \"%s\" without root; try running with -n", cfg->user);
	return rc;
}

static void spawn(struct master *m, size_t listener)
{
	const struct listener_config *l = &m->cfg->listeners[listener];
	size_t index = 0;
	while (index < m->nslots && m->slots[index].pid)
		index++;
	if (index == SCOREBOARD_SLOTS) {
		log_err("listener=%s: %d workers already: no room for more", l->name,
			SCOREBOARD_SLOTS);
		m->pools[listener].next_spawn_ms = clock_ms() + 1000;
		return;
	}
	if (index == m->nslots)
		m->nslots++;
	struct worker_slot *slot = &m->slots[index];
	memset(slot, 0, sizeof(*slot));
	scoreboard_slot_claim(m->sb, index, l->name, m->generation, m->pools[listener].stress);
	pid_t pid = fork();
	if (pid < 0) {
		log_err("listener=%s: fork: %s", l->name, strerror(errno));
		m->pools[listener].next_spawn_ms = clock_ms() + 1000;
		scoreboard_slot_release(m->sb, index);
		return;
	}
	if (pid == 0) {
		/* The child keeps only its own listener's sockets. */
		for (size_t i = 0; i < m->cfg->listener_count; i++)
			if (i != listener)
				close_bound(&m->bound[i]);
		close(m->wake_pipe[0]);
		struct worker_args a = {
			.listener = l,
			.fds = m->bound[listener].fds,
			.nfds = m->bound[listener].nfds,
			.fqdn = m->opts->fqdn,
			.uid = m->uid,
			.gid = m->gid,
			.user = (m->opts->nosetuid || !m->cfg->user) ? NULL : m->cfg->user,
			.sb = m->sb,
			.slot = &m->sb->slots[index],
			.wake_fd = m->wake_pipe[1],
			.sched_batch = m->cfg->worker_sched_batch,
		};
		worker_main(&a);
	}
	slot->pid = pid;
	slot->generation = m->generation;
	slot->listener = listener;
	slot->started_ms = clock_ms();
	snprintf(slot->name, sizeof(slot->name), "%s", l->name);
}

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
	log_info("listener=%s event=worker-retire pid=%ld reason=%s", w->name, (long)w->pid, reason);
}

/* Clients in a listener's accept queue: Linux reports the queue length of
   a listening socket in tcpi_unacked. */
static unsigned int queued_clients(const struct bound *b)
{
	unsigned int n = 0;
	for (size_t i = 0; i < b->nfds; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		if (getsockopt(b->fds[i], IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			n += ti.tcpi_unacked;
	}
	return n;
}

/* Flag every worker of the listener (old generations too: they serve the
   same port) and interrupt the busy ones' waits so they see the change. */
static void set_stress(struct master *m, size_t listener, int on, const struct pool_count *pc,
		       unsigned int queued)
{
	const struct listener_config *l = &m->cfg->listeners[listener];
	m->pools[listener].stress = on;
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

/* Grow, shrink and watch each pool of the current generation. */
static void size_pools(struct master *m)
{
	long long now = clock_ms();
	for (size_t i = 0; i < m->cfg->listener_count; i++) {
		const struct listener_config *l = &m->cfg->listeners[i];
		struct pool *p = &m->pools[i];
		struct pool_count pc;
		count_pool(m, i, &pc);
		if (pc.newest_ready_started_ms >= 0)
			start_proved(p, pc.newest_ready_started_ms);
		while (pc.idle < l->min_spare && pc.total < l->max_workers && now >= p->next_spawn_ms) {
			spawn(m, i);
			pc.idle++;
			pc.total++;
		}
		if (pc.longest_idle != SIZE_MAX && now >= p->next_retire_ms) {
			if (pc.idle > l->max_spare) {
				/* Starting workers count as idle but cannot be
				   retired yet: stop when none idle is left. */
				int n = (pc.idle - l->max_spare + 1) / 2;
				for (; n > 0 && pc.longest_idle != SIZE_MAX; n--) {
					retire(m, pc.longest_idle, "max_spare");
					count_pool(m, i, &pc);
				}
				p->next_retire_ms = now + MASTER_RETIRE_INTERVAL_MS;
			} else if (pc.idle > l->min_spare &&
				   now - pc.longest_idle_since_ms >= (long long)l->max_idle_sec * 1000) {
				retire(m, pc.longest_idle, "max_idle");
				p->next_retire_ms = now + MASTER_RETIRE_INTERVAL_MS;
			}
		}
		unsigned int queued = queued_clients(&m->bound[i]);
		if (!p->stress && pc.busy >= l->max_workers && queued > 0)
			set_stress(m, i, 1, &pc, queued);
		else if (p->stress && queued == 0 && pc.idle > 0)
			set_stress(m, i, 0, &pc, queued);
	}
}

/* A worker started after the last start-up failure got ready: start-up
   works again, and the next failure starts the series at 1 s. */
static void start_proved(struct pool *p, long long started_ms)
{
	if (started_ms >= p->failed_ms)
		p->start_failures = 0;
}

static void drain_wake_pipe(struct master *m)
{
	char buf[256];
	while (read(m->wake_pipe[0], buf, sizeof(buf)) > 0)
		;
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

static void reap(struct master *m)
{
	int status;
	pid_t pid;
	got_child = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < m->nslots; i++) {
			struct worker_slot *s = &m->slots[i];
			if (s->pid != pid)
				continue;
			s->pid = 0;
			/* Read before the release: a worker that had got as far as
			   idle had a working start-up, whatever killed it since. */
			int state = atomic_load(&m->sb->slots[i].state);
			int was_ready = state != WORKER_STARTING;
			/* One that fails on its own while idle, with no client to
			   blame (a plugin's timer or thread), would fail again in
			   the next worker: delayed as a start-up failure, or it
			   would be a fork loop. */
			int failed_idle = state == WORKER_IDLE && own_failure(status);
			scoreboard_slot_release(m->sb, i);
			long long lived = clock_ms() - s->started_ms;
			/* Never ready is a failure whatever the status: a start-up
			   that ends with exit(0) would otherwise loop. */
			int start_failure = !was_ready || failed_idle;
			int failed = start_failure || WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
			char how[64];
			if (WIFSIGNALED(status))
				snprintf(how, sizeof(how), "signal=%d", WTERMSIG(status));
			else
				snprintf(how, sizeof(how), "status=%d", WEXITSTATUS(status));
			if (s->generation != m->generation || got_stop) {
				log_info("listener=%s event=worker-exit pid=%ld %s generation=%u", s->name,
					 (long)pid, how, s->generation);
				break;
			}
			struct pool *p = &m->pools[s->listener];
			if (start_failure) {
				p->start_failures++;
				p->failed_ms = clock_ms();
				int shift = p->start_failures - 1 < 6 ? p->start_failures - 1 : 6;
				long long delay = (1LL << shift) * 1000;
				if (delay > MASTER_MAX_BACKOFF_SEC * 1000)
					delay = MASTER_MAX_BACKOFF_SEC * 1000;
				p->next_spawn_ms = p->failed_ms + delay;
				log_err("listener=%s event=worker-failed pid=%ld %s lived_ms=%lld "
					"start_failures=%d respawn_in_ms=%lld", s->name, (long)pid, how,
					lived, p->start_failures, delay);
			} else {
				/* No delay; a back-off in progress stays unless this
				   worker was started after the failure (it got ready). */
				start_proved(p, s->started_ms);
				if (failed)
					log_warn("listener=%s event=worker-died pid=%ld %s lived_ms=%lld", s->name,
						 (long)pid, how, lived);
				else
					log_info("listener=%s event=worker-exit pid=%ld %s", s->name, (long)pid,
						 how);
			}
			break;
		}
	}
}

static void signal_generation(struct master *m, unsigned int generation, int sig)
{
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].pid && m->slots[i].generation == generation)
			kill(m->slots[i].pid, sig);
}

static size_t live_workers(const struct master *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nslots; i++)
		n += m->slots[i].pid != 0;
	return n;
}

/* End this process by signal sig, as the process it reports on did. */
static void die_of(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	signal(sig, SIG_DFL);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(EX_CONFIG);
}

/* Fork a child that loads and initializes every listener's plugin, so a
   plugin that crashes or refuses its settings is found before any worker
   is started with it, and never in this process.  For each listener a
   process of its own then goes on as a worker would, into its chroot and
   to its user, so that a chroot or user that cannot work fails the start
   or the reload instead of every worker.  The master reaps and
   respawns nothing while it waits, so the wait is bounded: a check still
   running after the config's shutdown_timeout (a plugin's init hangs) is
   killed and fails, and so is one a stop cuts short. */
static int check_plugins_in_child(const struct config *cfg, const struct master_options *opts)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		log_set_role("check");
		const char *user;
		uid_t uid = 0;
		gid_t gid = 0;
		if (find_user(opts, cfg, &user, &uid, &gid) < 0)
			user = NULL; /* the master's own lookup says what is wrong */
		for (size_t i = 0; i < cfg->listener_count; i++) {
			int status;
			pid_t one = fork();
			if (one == 0) {
				/* Killed with this process at the check's deadline. */
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				_exit(worker_check_start(&cfg->listeners[i], user, uid, gid) < 0 ? EX_CONFIG : 0);
			}
			while (one > 0 && waitpid(one, &status, 0) < 0 && errno == EINTR)
				;
			if (one > 0 && WIFSIGNALED(status))
				die_of(WTERMSIG(status)); /* the crash, reported as ours */
			if (one < 0 || WEXITSTATUS(status) != 0)
				_exit(EX_CONFIG);
		}
		_exit(0);
	}
	long long deadline = clock_ms() + (long long)cfg->shutdown_timeout_sec * 1000;
	sigset_t none;
	sigemptyset(&none);
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			log_err("waitpid: %s", strerror(errno));
			return -1;
		}
		int late = clock_ms() >= deadline;
		if (late || got_stop) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			if (late)
				log_err("%s: the plugins' check did not end within shutdown_timeout "
					"(%d s), killed: does a plugin's init hang?", cfg->source,
					cfg->shutdown_timeout_sec);
			else
				log_info("%s: the plugins' check cut short: stopping", cfg->source);
			return -1;
		}
		/* Signals are let in here as in the main loop's wait: the
		   check's SIGCHLD ends the sleep, a stop is seen at once.
		   At start-up, before any handler is set, a stop still
		   ends the process at once, as before. */
		struct timespec ts = { 0, 50 * 1000000L };
		ppoll(NULL, 0, &ts, &none);
	}
	if (WIFSIGNALED(status)) {
		log_err("%s: a plugin crashed while being checked (signal %d)", cfg->source,
			WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status) == 0 ? 0 : -1;
}

int master_parse_config(const struct master_options *opts, struct config **out, char *err,
			size_t err_size)
{
	return opts->config_file ? config_load_file(opts->config_file, out, err, err_size)
				 : config_load_string(opts->config_text, "command line", out, err,
						      err_size);
}

int master_load_config(const struct master_options *opts, struct config **out)
{
	char err[CONFIG_ERROR_MAX_BYTES];
	if (master_parse_config(opts, out, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	if (check_plugins_in_child(*out, opts) < 0) {
		config_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* SIGHUP: a new generation with the new config; the old workers finish
   their sessions and exit.  Any error keeps the running config. */
static void reload(struct master *m)
{
	struct config *cfg;
	struct bound *nb;
	got_reload = 0;
	log_info("event=reload source=%s", m->opts->config_file ? m->opts->config_file : "command line");
	if (master_load_config(m->opts, &cfg) < 0) {
		log_err("event=reload-failed: keeping the running configuration");
		return;
	}
	struct master probe = *m;
	if (lookup_user(&probe, cfg) < 0 || bind_all(m, cfg, &nb) < 0) {
		log_err("event=reload-failed: keeping the running configuration");
		config_free(cfg);
		return;
	}
	m->uid = probe.uid;
	m->gid = probe.gid;
	/* Old sockets not carried over close here; old workers hold their own
	   copies until their session ends. */
	for (size_t i = 0; i < m->cfg->listener_count; i++)
		close_bound(&m->bound[i]);
	free(m->bound);
	signal_generation(m, m->generation, SIGHUP);
	/* A listener under stress stays so across the reload: its queue
	   does not change, and its stress-on/stress-off lines stay paired. */
	struct pool *pools = calloc(cfg->listener_count, sizeof(*pools));
	if (!pools)
		abort();
	for (size_t i = 0; i < cfg->listener_count; i++)
		for (size_t j = 0; j < m->cfg->listener_count; j++)
			if (strcmp(cfg->listeners[i].name, m->cfg->listeners[j].name) == 0)
				pools[i].stress = m->pools[j].stress;
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

/* SIGTERM/SIGINT: stop accepting, let sessions end, kill what is left at
   the deadline. */
static int shutdown_workers(struct master *m)
{
	long long deadline = clock_ms() + (long long)m->cfg->shutdown_timeout_sec * 1000;
	log_info("event=stopping workers=%zu timeout_sec=%d", live_workers(m),
		 m->cfg->shutdown_timeout_sec);
	for (size_t i = 0; i < m->cfg->listener_count; i++)
		close_bound(&m->bound[i]);
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].pid)
			kill(m->slots[i].pid, SIGTERM);
	sigset_t none;
	sigemptyset(&none);
	int killed = 0;
	while (live_workers(m) > 0) {
		reap(m);
		if (live_workers(m) == 0)
			break;
		long long left = deadline - clock_ms();
		if (left <= 0 && !killed) {
			log_warn("event=stop-timeout: killing %zu workers", live_workers(m));
			for (size_t i = 0; i < m->nslots; i++)
				if (m->slots[i].pid)
					kill(m->slots[i].pid, SIGKILL);
			killed = 1;
		}
		struct timespec ts = { 0, 100 * 1000000L };
		if (!got_child)
			ppoll(NULL, 0, &ts, &none);
	}
	log_info("event=stopped");
	return 0;
}

int master_run(struct config *cfg, const struct master_options *opts)
{
	struct master m = { .opts = opts, .cfg = cfg };
	int rc = lookup_user(&m, cfg);
	if (rc < 0) {
		config_free(cfg);
		return rc == -2 ? EX_NOPERM : EX_CONFIG;
	}
	if (bind_all(&m, cfg, &m.bound) < 0) {
		config_free(cfg);
		return EX_CONFIG;
	}
	m.pools = calloc(cfg->listener_count, sizeof(*m.pools));
	m.slots = calloc(SCOREBOARD_SLOTS, sizeof(*m.slots));
	m.sb = scoreboard_create();
	if (!m.pools || !m.slots || !m.sb)
		abort();
	if (pipe2(m.wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_err("pipe2: %s", strerror(errno));
		return EX_OSERR;
	}

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
	sigset_t block, none;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &none);

	size_pools(&m);
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const struct listener_config *l = &cfg->listeners[i];
		log_info("event=ready listener=%s address=%s handler=%s min_spare=%d max_spare=%d "
			 "max_workers=%d", l->name, l->address, l->handler, l->min_spare, l->max_spare,
			 l->max_workers);
	}

	while (!got_stop) {
		reap(&m);
		if (got_ignored) {
			log_warn("event=signal-ignored signal=%s: the master acts on TERM, INT and HUP only",
				 got_ignored == SIGUSR1 ? "USR1" : "USR2");
			got_ignored = 0;
		}
		if (got_reload)
			reload(&m);
		/* A reload can take long (the plugins' check) with every signal
		   blocked: a stop sent meanwhile must win before the new
		   generation is forked, not after. */
		if (stop_pending())
			break;
		drain_wake_pipe(&m);
		size_pools(&m);
		/* Wake at the next back-off expiry, at a worker's call, or at
		   the next tick. */
		long long wait = MASTER_TICK_MS, now = clock_ms();
		for (size_t i = 0; i < m.cfg->listener_count; i++)
			if (m.pools[i].next_spawn_ms > now && m.pools[i].next_spawn_ms - now < wait)
				wait = m.pools[i].next_spawn_ms - now;
		struct timespec ts = { wait / 1000, (wait % 1000) * 1000000L };
		struct pollfd wake = { .fd = m.wake_pipe[0], .events = POLLIN };
		if (!got_child && !got_reload && !got_stop && !got_ignored)
			ppoll(&wake, 1, &ts, &none);
	}
	rc = shutdown_workers(&m);
	close(m.wake_pipe[0]);
	close(m.wake_pipe[1]);
	scoreboard_destroy(m.sb);
	free(m.bound);
	free(m.pools);
	free(m.slots);
	config_free(m.cfg);
	return rc;
}
