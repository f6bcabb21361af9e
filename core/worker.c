/*
 * worker.c - a prefork worker: loads its listener's plugin, takes the TLS
 * contexts the master read (master_tls.c), drops privileges, then accepts
 * one client at a time and runs its session.
 *
 * Signals: SIGTERM/SIGINT stop (an idle session gets 421, a transaction in
 * progress is finished first); SIGHUP retires (the session in progress
 * finishes untouched, then the worker exits: a reload never cuts a
 * session); both close the listening sockets at once.  SIGUSR1 only
 * interrupts a wait, so it looks again at the stress flag the master sets
 * in the scoreboard.  Signals are blocked except inside the waits, so a
 * flag is never missed between a check and a blocking call.
 *
 * The worker keeps its scoreboard slot true (idle, or busy with a client)
 * and wakes the master when it leaves fewer idle workers than min_spare.
 */
#include "worker.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "clock.h"
#include "config_unix.h"
#include "conn.h"
#include "counters.h"
#include "host.h"
#include "log.h"
#include "plugin_load.h"
#include "proxy_accept.h"
#include "session.h"
#include "session_chat.h"
#include "tls.h"
#include "tls_ticket.h"

static volatile sig_atomic_t worker_stop;
static volatile sig_atomic_t worker_retire;

static void close_listeners(void);
static void on_stop(int sig);
static void on_retire(int sig);
static void on_wake(int sig);
static void setup_signals(sigset_t *wait_mask_out);
static int enter_chroot(const struct listener_config *l);
static int drop_privileges(const struct listener_config *l, const char *user, uid_t uid, gid_t gid);
static int over_client_limit(const struct worker_args *a, struct conn *c, const char *sid,
			     const char *client);
static void close_session(int fd, enum session_end end);
static void unix_peer(const struct listener_config *l, int fd, struct session_peer *peer);
static void wake_master_if_short(const struct worker_args *a);
static int load_auth(const struct listener_config *l, int report, struct auth_backend **out);
static int check_auth_reachable(const struct listener_config *l, struct auth_backend *auth);
static void serve(const struct worker_args *a, const struct session_env *env, int fd,
		  const struct sockaddr *client, const sigset_t *wait_mask, unsigned long n);
static void become_worker(const struct worker_args *a, sigset_t *wait_mask_out);
static void start_as_root(const struct worker_args *a, struct plugin *p_out, void **priv_out,
			  struct tls_server **tls_out, struct auth_backend **auth_out);
static int open_epoll(const struct worker_args *a);
static void note_pending_signals(void);
static void accept_loop(const struct worker_args *a, const struct session_env *env, int ep,
			const sigset_t *wait_mask);

/* The listening sockets, closed at once on a stop or retire: a worker
   finishing its session must not keep the port open, or the kernel would
   go on queueing clients on an address no one will serve any more (a stop,
   or a reload that drops it): they would be reset at our exit instead of
   being refused now. */
static const int *listen_fds;
static size_t listen_nfds;

static void close_listeners(void)
{
	for (size_t i = 0; i < listen_nfds; i++)
		close(listen_fds[i]); /* async-signal-safe */
	listen_nfds = 0;
}

static void on_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
	close_listeners();
}

static void on_retire(int sig)
{
	(void)sig;
	worker_retire = 1;
	close_listeners();
}

static void on_wake(int sig)
{
	(void)sig; /* the interrupted wait re-reads the stress flag */
}

/* Block the control signals; the mask to wait with unblocks them. */
static void setup_signals(sigset_t *wait_mask_out)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop; /* no SA_RESTART: waits must see EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_retire;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_wake;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* A plugin writing past RLIMIT_FSIZE gets EFBIG and can answer 4xx,
	   instead of the worker dying in the middle of a delivery. */
	sigaction(SIGXFSZ, &sa, NULL);
	/* The master's handlers for these are not the worker's: SIGUSR2
	   keeps its default action, as before the master caught it. */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	/* Inherited from the master: a stop or reload signal that came before
	   the handlers above stays pending and is seen in the first wait. */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_SETMASK, &block, NULL);
	sigemptyset(wait_mask_out);
}

/* After the plugin's init (which may open files outside) and before the
   user switch (chroot needs root). */
static int enter_chroot(const struct listener_config *l)
{
	const char *dir = l->chroot_dir;
	if (!dir)
		return 0;
	if (chroot(dir) < 0 || chdir("/") < 0) {
		log_err("listener=%s call=chroot path=%s error=%s", l->name, log_quoted(dir),
			log_quoted(strerror(errno)));
		return -1;
	}
	return 0;
}

/* user NULL: stay who we are.  Already that user (a daemon started as
   its own user without -n): nothing to switch, and setgroups() would
   fail without root. */
static int drop_privileges(const struct listener_config *l, const char *user, uid_t uid, gid_t gid)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	if (!user)
		return 0;
	if (getresuid(&ruid, &euid, &suid) == 0 && getresgid(&rgid, &egid, &sgid) == 0 &&
	    ruid == uid && euid == uid && suid == uid && rgid == gid && egid == gid && sgid == gid)
		return 0;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		log_err("listener=%s event=user-switch user=%s error=%s", l->name, log_quoted(user),
			log_quoted(strerror(errno)));
		return -1;
	}
	return 0;
}

int worker_check_plugin(const struct listener_config *l, const struct smtpgate_plugin **desc_out)
{
	static struct plugin p; /* desc points into it after the return */
	char err[1024];
	void *priv;
	if (plugin_load(l->plugin_path, &p, err, sizeof(err)) < 0) {
		log_err("file=%s line=%d listener=%s handler=%s error=%s", log_quoted(l->source),
			l->line, l->name, log_quoted(l->handler), log_quoted(err));
		return -1;
	}
	if (plugin_check_extensions(p.desc, l->extensions, err, sizeof(err)) < 0) {
		log_err("file=%s line=%d listener=%s handler=%s error=%s", log_quoted(l->source),
			l->line, l->name, log_quoted(l->handler), log_quoted(err));
		return -1;
	}
	if (l->auth.backend == AUTH_BACKEND_PLUGIN && !p.desc->on_auth) {
		log_err("file=%s line=%d listener=%s handler=%s error=%s", log_quoted(l->source),
			l->line, l->name, log_quoted(l->handler),
			log_quoted("auth.backend is \"plugin\" but the plugin has no on_auth hook"));
		return -1;
	}
	if (host_plugin_init(p.desc, l, &priv) < 0)
		return -1;
	if (p.desc->fini)
		p.desc->fini(priv);
	if (desc_out)
		*desc_out = p.desc;
	/* Kept loaded (p.desc_copy with it): the strings and the settings
	   table live in the plugin. */
	return 0;
}

int worker_load_tls(const struct listener_config *l, struct tls_server **srv_out)
{
	char err[2048];
	*srv_out = NULL;
	if (l->tls.mode == TLS_MODE_OFF)
		return 0;
	*srv_out = tls_server_new(&l->tls, l->name, err, sizeof(err));
	if (*srv_out)
		return 0;
	char msg[CONFIG_ERROR_MAX_BYTES + sizeof(err)];
	config_error_format(msg, sizeof(msg), l->source, l->line, "tls", "listener %s: %s",
			    l->name, err);
	log_err("%s", msg);
	return -1;
}

/* The listener's AUTH backend, its files read now (as root, before the
   chroot); NULL without one.  -1 after the error naming the file.
   report: the warnings of -t too. */
static int load_auth(const struct listener_config *l, int report, struct auth_backend **out)
{
	char err[1024];
	*out = NULL;
	if (l->auth.backend == AUTH_BACKEND_NONE || l->auth.backend == AUTH_BACKEND_PLUGIN)
		return 0;
	if ((*out = auth_open(l, report, err, sizeof(err))))
		return 0;
	char msg[CONFIG_ERROR_MAX_BYTES + sizeof(err)];
	config_error_format(msg, sizeof(msg), l->source, l->line, "auth", "listener %s: %s",
			    l->name, err);
	log_err("%s", msg);
	return -1;
}

/* After the chroot and the user switch, as a worker will be: can it
   still reach Dovecot's socket?  (smtpgate.conf(5), auth.dovecot_socket.) */
static int check_auth_reachable(const struct listener_config *l, struct auth_backend *auth)
{
	char err[1024];
	if (!auth || auth_check_reachable(auth, err, sizeof(err)) == 0)
		return 0;
	char msg[CONFIG_ERROR_MAX_BYTES + sizeof(err)];
	config_error_format(msg, sizeof(msg), l->source, l->line, "auth.dovecot_socket",
			    "listener %s: as the worker (after chroot and user switch): %s",
			    l->name, err);
	log_err("%s", msg);
	return -1;
}

int worker_check_start(const struct listener_config *l, const char *user, uid_t uid, gid_t gid,
		       const struct smtpgate_plugin **desc_out)
{
	struct tls_server *tls;
	struct auth_backend *auth;
	if (worker_check_plugin(l, desc_out) < 0 || worker_load_tls(l, &tls) < 0)
		return -1;
	tls_server_warn(l);
	tls_server_free(tls);
	if (load_auth(l, 1, &auth) < 0)
		return -1;
	int rc = enter_chroot(l) < 0 || drop_privileges(l, user, uid, gid) < 0 ||
		 check_auth_reachable(l, auth) < 0;
	auth_free(auth);
	return rc ? -1 : 0;
}

/* max_sessions_per_client: Postfix's 421 when this client already has
   as many sessions as allowed on this listener (all generations).  A
   client in client_limit_exceptions (loopback by default, as Postfix
   spares $mynetworks from anvil's limits) is never sent away.  Behind a
   balancer client is the original one, from its PROXY header.  1 when
   the client was sent away. */
static int over_client_limit(const struct worker_args *a, struct conn *c, const char *sid,
			     const char *client)
{
	int limit = a->listener->max_sessions_per_client;
	const struct config_nets *spared = &a->listener->client_limit_exceptions;
	/* A UNIX socket's clients are local processes the socket's mode let
	   in: no client address to count by. */
	if (limit <= 0 || a->listener->unix_path ||
	    addr_net_list_contains(spared->nets, spared->count, client))
		return 0;
	size_t open = scoreboard_client_sessions(a->sb, a->slot->listener, a->slot->client);
	if (open <= (size_t)limit)
		return 0;
	log_info("sid=%s listener=%s event=limit limit=max_sessions_per_client client=%s "
		 "sessions=%zu", sid, a->listener->name, client, open);
	counters_limit(CL_MAX_SESSIONS_PER_CLIENT);
	/* An implicit-TLS client expects a ClientHello's answer: a plaintext
	   421 would be garbage to it, and a handshake is what the limit is
	   there to spare.  It is closed unanswered, and tries again later. */
	if (a->listener->tls.mode != TLS_MODE_IMPLICIT)
		session_chat_refuse(c, sid, 10 * 1000,
				    "421 4.7.0 %s Error: too many connections from %s", a->fqdn,
				    client);
	return 1;
}

/* When we end a session (a 421, a 554 to a client talking too early) its
   input may still hold unread commands, and closing a socket with unread
   input sends a reset, which can destroy our last reply before the client
   reads it.  So: FIN after the reply, discard what has arrived, close.
   Never waits: a client that keeps sending gets its reset. */
static void close_session(int fd, enum session_end end)
{
	if (end != SESSION_END_QUIT && end != SESSION_END_EOF && end != SESSION_END_IO_ERROR) {
		char junk[4096];
		shutdown(fd, SHUT_WR);
		for (int i = 0; i < 16 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
			;
	}
	close(fd);
}

/* Just turned busy: when that leaves fewer than min_spare idle and the
   pool may grow, the master is woken to fork more now, not at its tick. */
static void wake_master_if_short(const struct worker_args *a)
{
	size_t total, idle;
	scoreboard_pool(a->sb, a->slot->listener, a->slot->generation, &total, &idle);
	if (idle < (size_t)a->listener->min_spare && total < (size_t)a->listener->max_workers) {
		char wake = 'b';
		if (write(a->wake_fd, &wake, 1) < 0) {
			/* Full pipe: the master has wake-ups pending already. */
		}
	}
}

/* The client of a UNIX socket: "unix", its uid and pid from the kernel
   (SO_PEERCRED, fixed at its connect()); the local address is the path
   (config_unix.c bounds it to fit local_addr). */
static void unix_peer(const struct listener_config *l, int fd, struct session_peer *peer)
{
	_Static_assert(sizeof(peer->local_addr) >= CONFIG_UNIX_PATH_MAX_BYTES,
		       "a UNIX socket's path fits the local address");
	struct ucred cred;
	socklen_t len = sizeof(cred);
	snprintf(peer->addr, sizeof(peer->addr), "unix");
	snprintf(peer->local_addr, sizeof(peer->local_addr), "%s", l->unix_path);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred)) {
		peer->uid = (long)cred.uid;
		peer->pid = (long)cred.pid;
	}
}

/* One accepted client (TCP_NODELAY inherited from the listening socket;
   client is its address from accept): mark the worker busy, read its
   PROXY header when the listener wants one, run the session, close it. */
static void serve(const struct worker_args *a, const struct session_env *env, int fd,
		  const struct sockaddr *client, const sigset_t *wait_mask, unsigned long n)
{
	struct session_peer peer;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&peer, 0, sizeof(peer));
	peer.uid = peer.pid = -1;
	if (a->listener->unix_path)
		unix_peer(a->listener, fd, &peer);
	else
		addr_to_text(client, peer.addr, sizeof(peer.addr), &peer.port);
	if (!a->listener->unix_path && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_to_text((struct sockaddr *)&ss, peer.local_addr, sizeof(peer.local_addr),
			     &peer.local_port);

	char sid[24];
	snprintf(sid, sizeof(sid), "%05lx%04x%05lx", (unsigned long)time(NULL) & 0xfffff,
		 (unsigned int)getpid() & 0xffff, n & 0xfffff);
	struct conn_fd c;
	conn_fd_init(&c, fd, wait_mask, &worker_stop);
	conn_fd_set_stress(&c, &a->slot->stress, a->listener->stress_timeout_sec * 1000);

	/* Behind a balancer the client is known after its PROXY header: till
	   then the session counts for no client (never for the balancer). */
	int proxied = a->listener->proxy_protocol != PROXY_PROTO_OFF;
	scoreboard_set_busy(a->slot, proxied || a->listener->unix_path ? "" : peer.addr);
	wake_master_if_short(a);
	counters_session_start();
	enum session_end end = SESSION_END_LIMIT;
	if (proxy_accept_header(a->listener, fd, wait_mask, &worker_stop, sid, &peer) == 0) {
		if (proxied) /* stored again before it is counted, as above */
			scoreboard_set_busy(a->slot, peer.addr);
		if (!over_client_limit(a, &c.base, sid, peer.addr))
			end = session_run(env, &c.base, &peer, sid);
	}
	counters_session_end(end);
	conn_fd_end_tls(&c);
	close_session(fd, end);
	scoreboard_set_idle(a->slot, clock_ms());
}

/* The worker's process settings: role in the log, signals, a death
   signal from the master, the scheduling policy. */
static void become_worker(const struct worker_args *a, sigset_t *wait_mask_out)
{
	log_set_role("worker");
	listen_fds = a->fds;
	listen_nfds = a->nfds;
	setup_signals(wait_mask_out);
	/* A worker must not outlive its master. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);
	/* A SCHED_BATCH worker woken by its client or its upstream does not
	   preempt the process that woke it: an event-driven peer on the same
	   CPUs (a client's MTA, an upstream) goes on with its other ready
	   connections instead of being switched out once per reply.  More
	   throughput for a longer latency tail under overload; the default
	   (bench/RESULTS.md measures both sides). */
	if (a->sched_batch) {
		struct sched_param sp = { .sched_priority = 0 };
		if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
			log_warn("listener=%s setting=worker_scheduling error=%s", a->listener->name,
				 log_quoted(strerror(errno)));
	}
}

/* What needs root, in order: the plugin's init (it may open files
   outside the chroot), the chroot, then the switch to the unprivileged
   user (the TLS context came from the master, keys read as root).  A failure ends the
   worker with its exit status. */
static void start_as_root(const struct worker_args *a, struct plugin *p_out, void **priv_out,
			  struct tls_server **tls_out, struct auth_backend **auth_out)
{
	char err[1024];
	if (plugin_load(a->listener->plugin_path, p_out, err, sizeof(err)) < 0)
		log_fatal(EX_CONFIG, "listener=%s event=plugin-load error=%s", a->listener->name,
			  log_quoted(err));
	if (plugin_check_extensions(p_out->desc, a->listener->extensions, err, sizeof(err)) < 0)
		log_fatal(EX_CONFIG, "listener=%s event=plugin-load error=%s", a->listener->name,
			  log_quoted(err));
	if (host_plugin_init(p_out->desc, a->listener, priv_out) < 0)
		_exit(EX_CONFIG); /* host_plugin_init() logged why */
	*tls_out = a->tls; /* the master read it: see master_tls.c */
	tls_ticket_readonly();
	if (load_auth(a->listener, 0, auth_out) < 0)
		_exit(EX_CONFIG); /* load_auth() logged why */
	if (enter_chroot(a->listener) < 0 ||
	    drop_privileges(a->listener, a->user, a->uid, a->gid) < 0)
		_exit(EX_NOPERM); /* logged by either */
}

/* One epoll set over the listener's sockets. */
static int open_epoll(const struct worker_args *a)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		log_fatal(EX_OSERR, "listener=%s call=epoll_create1 error=%s", a->listener->name,
			  log_quoted(strerror(errno)));
	for (size_t i = 0; i < a->nfds; i++) {
		/* EPOLLEXCLUSIVE: one idle worker wakes per connection, not all. */
		struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = a->fds[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, a->fds[i], &ev) < 0)
			log_fatal(EX_OSERR, "listener=%s call=epoll_ctl error=%s", a->listener->name,
				  log_quoted(strerror(errno)));
	}
	return ep;
}

/* When a socket is ready, epoll_pwait() returns without running the
   handler of a signal that came outside a wait (the mask is restored
   first): a retired or stopping worker must not take the client, it
   belongs to the new generation's workers. */
static void note_pending_signals(void)
{
	sigset_t pending;
	if (sigpending(&pending) == 0) {
		if (sigismember(&pending, SIGHUP))
			worker_retire = 1;
		if (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))
			worker_stop = 1;
	}
}

/* Accept and serve clients until stopped, retired or at
   max_sessions_per_worker. */
static void accept_loop(const struct worker_args *a, const struct session_env *env, int ep,
			const sigset_t *wait_mask)
{
	unsigned long sessions = 0;
	while (!worker_stop && !worker_retire) {
		if (a->listener->max_sessions_per_worker &&
		    sessions >= (unsigned long)a->listener->max_sessions_per_worker)
			break;
		struct epoll_event ev;
		int n = epoll_pwait(ep, &ev, 1, -1, wait_mask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("listener=%s call=epoll_pwait error=%s", a->listener->name,
				log_quoted(strerror(errno)));
			break;
		}
		note_pending_signals();
		if (n == 0 || worker_stop || worker_retire)
			continue;
		struct sockaddr_storage client;
		socklen_t client_len = sizeof(client);
		int fd = accept4(ev.data.fd, (struct sockaddr *)&client, &client_len, SOCK_CLOEXEC);
		if (fd < 0) {
			/* Another worker took it, or the client already left. */
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("listener=%s call=accept error=%s", a->listener->name,
					 log_quoted(strerror(errno)));
			continue;
		}
		serve(a, env, fd, (struct sockaddr *)&client, wait_mask, ++sessions);
	}
}

void worker_main(const struct worker_args *a)
{
	sigset_t wait_mask;
	struct plugin p;
	void *priv = NULL;
	struct tls_server *tls;
	struct auth_backend *auth;
	become_worker(a, &wait_mask);
	start_as_root(a, &p, &priv, &tls, &auth);
	int ep = open_epoll(a);
	scoreboard_set_idle(a->slot, clock_ms());
	struct session_env env = {
		.listener = a->listener,
		.plugin = p.desc,
		.priv = priv,
		.fqdn = a->fqdn,
		.stop_flag = &worker_stop,
		.tls = tls,
		.auth = auth,
		.sb = a->sb,
	};
	accept_loop(a, &env, ep, &wait_mask);
	if (p.desc->fini)
		p.desc->fini(priv);
	tls_server_free(tls);
	auth_free(auth);
	exit(0);
}
