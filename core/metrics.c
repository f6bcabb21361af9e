/*
 * metrics.c - the optional metrics listener, on the master's side: with
 * `metrics = "host:port"` it maps the counters (counters.c) and binds the
 * socket before the first worker is forked, then keeps one child running
 * that drops to the workers' user and serves HTTP (metrics_http.c).
 *
 * The master itself never reads a byte of HTTP nor waits for the child:
 * a scrape is the child summing shared memory, so it costs the master
 * nothing however many workers there are.  A dead child is replaced at
 * the next tick (one fork a second at most); SMTP never notices.  The
 * setting takes effect at start: a reload that changes it is logged and
 * otherwise ignored (the socket and the counters stay as they are).
 */
#include "metrics.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "counters.h"
#include "log.h"
#include "master_check.h"
#include "master_internal.h"
#include "metrics_http.h"

#define METRICS_RESPAWN_MS 1000

static int metrics_fd = -1;
static char metrics_spec[256];      /* the setting in effect */
static pid_t child;
static long long next_fork_ms;
static int warned_change;

static int bind_spec(const char *spec);
static void child_main(struct master *m) __attribute__((noreturn));

/* The socket for spec, listening; its fd, or -1 after logging. */
static int bind_spec(const char *spec)
{
	struct hostport hp;
	struct addrinfo *res;
	const char *why;
	if (addr_split(spec, &hp, &why) < 0 || addr_resolve_listen(&hp, &res, &why) < 0) {
		log_err("setting=metrics address=%s error=%s", log_quoted(spec), log_quoted(why));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		log_err("setting=metrics address=%s call=bind error=%s", log_quoted(spec),
			log_quoted(strerror(errno)));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int metrics_setup(const struct config *cfg)
{
	if (!cfg->metrics)
		return 0;
	snprintf(metrics_spec, sizeof(metrics_spec), "%s", cfg->metrics);
	if (counters_create() < 0) {
		log_err("setting=metrics call=mmap error=%s", log_quoted(strerror(errno)));
		return -1;
	}
	metrics_fd = bind_spec(metrics_spec);
	if (metrics_fd < 0)
		return -1;
	log_info("event=metrics-listening address=%s", metrics_spec);
	return 0;
}

/* The child: nothing of the master's but the socket and the shared
   memory, the workers' user, then the HTTP loop. */
static void child_main(struct master *m)
{
	log_set_role("metrics");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	for (size_t i = 0; i < m->cfg->listener_count; i++)
		master_listen_close(&m->bound[i]);
	close(m->wake_pipe[0]);
	close(m->wake_pipe[1]);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (getppid() == 1)
		_exit(0);
	const char *user = master_check_run_as(m->opts, m->cfg);
	if (user && getuid() != m->uid &&
	    (setgroups(1, &m->gid) < 0 || setgid(m->gid) < 0 || setuid(m->uid) < 0))
		log_fatal(EXIT_FAILURE, "event=metrics-failed call=setuid user=%s error=%s",
			  log_quoted(user), log_quoted(strerror(errno)));
	metrics_http_serve(metrics_fd, m->sb);
}

void metrics_tick(struct master *m)
{
	if (metrics_fd < 0) {
		if (m->cfg->metrics && !warned_change++)
			log_warn("setting=metrics event=ignored msg=\"metrics takes effect at a restart\"");
		return;
	}
	if (!warned_change && (!m->cfg->metrics || strcmp(m->cfg->metrics, metrics_spec) != 0)) {
		log_warn("setting=metrics event=ignored address=%s msg=\"metrics takes effect at a "
			 "restart\"", metrics_spec);
		warned_change = 1;
	}
	long long now = clock_ms();
	if (child > 0 || now < next_fork_ms)
		return;
	next_fork_ms = now + METRICS_RESPAWN_MS;
	pid_t pid = fork();
	if (pid < 0) {
		log_err("event=metrics-fork call=fork error=%s", log_quoted(strerror(errno)));
		return;
	}
	if (pid == 0)
		child_main(m);
	child = pid;
}

int metrics_reaped(pid_t pid, int status)
{
	if (child <= 0 || pid != child)
		return 0;
	child = 0;
	if (WIFSIGNALED(status))
		log_warn("event=metrics-exit pid=%ld signal=%d", (long)pid, WTERMSIG(status));
	else
		log_warn("event=metrics-exit pid=%ld status=%d", (long)pid, WEXITSTATUS(status));
	return 1;
}

void metrics_stop(void)
{
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0); /* SIGTERM's default action: it cannot linger */
		child = 0;
	}
	if (metrics_fd >= 0)
		close(metrics_fd);
	metrics_fd = -1;
}

void metrics_close_in_child(void)
{
	if (metrics_fd >= 0)
		close(metrics_fd);
	metrics_fd = -1;
}
