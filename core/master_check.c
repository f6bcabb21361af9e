/*
 * master_check.c - the check of a configuration, one function for its
 * three callers: -t, the start and a reload (SIGHUP).
 *
 * A forked child reads the file itself (config_load_file: its size and
 * line limits first, then libconfig and the validation), looks the user
 * up, and for each listener forks a process that goes on as a worker
 * would: the plugin's init, the chroot, the user switch.  So a plugin
 * that crashes or refuses its settings, a chroot or user that cannot
 * work, and a file that takes long to parse are found before any worker
 * starts with them, and never in the master: a reload's master keeps
 * reaping and respawning while its check runs.  The plugins' part gets the
 * new config's shutdown_timeout; a check still running then is killed and
 * fails.  The master parses the file again only after the check said yes:
 * the file passed the limits, so that parse is bounded.  This module
 * never runs plugin code in the calling process.
 */
#include "master_check.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "config_error.h"
#include "config_table.h"
#include "log.h"
#include "plugin_settings.h"
#include "worker.h"

static volatile sig_atomic_t check_late;

static void on_alarm(int sig);
static void die_of(int sig) __attribute__((noreturn));
static void check_listener(const struct config *cfg, size_t i, const char *user, uid_t uid,
			   gid_t gid, int report);
static void check_child(const struct master_options *opts, int report) __attribute__((noreturn));

const char *master_check_source(const struct master_options *opts)
{
	return opts->config_file ? opts->config_file : "command line";
}

const char *master_check_run_as(const struct master_options *opts, const struct config *cfg)
{
	return opts->nosetuid || !cfg->user ? NULL : cfg->user;
}

int master_check_parse(const struct master_options *opts, struct config **out, char *err,
		       size_t err_size)
{
	return opts->config_file ? config_load_file(opts->config_file, out, err, err_size)
				 : config_load_string(opts->config_text, master_check_source(opts), out, err,
						      err_size);
}

int master_check_user(const struct master_options *opts, const struct config *cfg,
		      uid_t *uid_out, gid_t *gid_out)
{
	if (!master_check_run_as(opts, cfg))
		return 0;
	struct passwd *pw = getpwnam(cfg->user);
	if (!pw) {
		char msg[CONFIG_ERROR_MAX_BYTES];
		config_error_format(msg, sizeof(msg), cfg->source, 0, "user", "no such user \"%s\"",
				    cfg->user);
		log_err("%s", msg);
		return EX_CONFIG;
	}
	if (geteuid() != 0 && pw->pw_uid != geteuid()) {
		char msg[CONFIG_ERROR_MAX_BYTES];
		config_error_format(msg, sizeof(msg), cfg->source, 0, "user",
				    "cannot switch to user \"%s\" without root; try running with -n",
				    cfg->user);
		log_err("%s", msg);
		return EX_NOPERM;
	}
	*uid_out = pw->pw_uid;
	*gid_out = pw->pw_gid;
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	check_late = 1; /* the wait for a listener's check sees EINTR */
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

/* Listener i as a worker would start, in a process of its own; returns
   only if it started.  A crash is passed on as this process's own. */
static void check_listener(const struct config *cfg, size_t i, const char *user, uid_t uid,
			   gid_t gid, int report)
{
	const struct listener_config *l = &cfg->listeners[i];
	int status;
	pid_t one = fork();
	if (one == 0) {
		/* Killed with this process at the check's deadline. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		const struct smtpgate_plugin *d;
		if (worker_check_start(l, user, uid, gid, &d) < 0)
			_exit(EX_CONFIG);
		if (report) {
			char settings[8192];
			config_table_describe_listener(l, settings, sizeof(settings));
			printf("listener %s address %s handler %s plugin %s version %s\n  %s\n",
			       l->name, l->address, l->handler, l->plugin_path,
			       d->version ? d->version : "", settings);
		}
		if (report > 1) /* -t -v: the plugin's own settings */
			plugin_settings_print(d->settings, l->handler_group, l->group_name, stdout);
		fflush(stdout);
		_exit(0);
	}
	if (one < 0) {
		log_err("call=fork error=%s", log_quoted(strerror(errno)));
		_exit(EX_OSERR);
	}
	while (waitpid(one, &status, 0) < 0) {
		if (errno == EINTR && check_late) {
			kill(one, SIGKILL);
			char msg[CONFIG_ERROR_MAX_BYTES];
			config_error_format(msg, sizeof(msg), cfg->source, 0, "shutdown_timeout",
					    "the plugins' check did not end within shutdown_timeout "
					    "(%d s), killed: does a plugin's init hang?",
					    cfg->shutdown_timeout_sec);
			log_err("%s", msg);
			_exit(EX_CONFIG);
		}
	}
	if (WIFSIGNALED(status))
		die_of(WTERMSIG(status)); /* the crash, reported as ours */
	if (WEXITSTATUS(status) != 0)
		_exit(EX_CONFIG);
}

/* The check's process: parse, the user, then every listener in turn. */
static void check_child(const struct master_options *opts, int report)
{
	char err[CONFIG_ERROR_MAX_BYTES];
	struct config *cfg;
	uid_t uid = 0;
	gid_t gid = 0;
	log_set_role("check");
	/* A master killed outright takes its check along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (master_check_parse(opts, &cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		_exit(EX_CONFIG);
	}
	int rc = master_check_user(opts, cfg, &uid, &gid);
	if (rc != 0)
		_exit(rc);
	const char *user = master_check_run_as(opts, cfg);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_alarm; /* no SA_RESTART: the wait must end */
	sigaction(SIGALRM, &sa, NULL);
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alrm, NULL);
	alarm((unsigned int)cfg->shutdown_timeout_sec);
	for (size_t i = 0; i < cfg->listener_count; i++)
		check_listener(cfg, i, user, uid, gid, report);
	_exit(0);
}

pid_t master_check_fork(const struct master_options *opts, int report)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		log_err("call=fork error=%s", log_quoted(strerror(errno)));
	else if (pid == 0)
		check_child(opts, report);
	return pid;
}

int master_check_result(const struct master_options *opts, int status)
{
	if (WIFSIGNALED(status)) {
		char msg[CONFIG_ERROR_MAX_BYTES];
		config_error_format(msg, sizeof(msg), master_check_source(opts), 0, NULL,
				    "a plugin crashed while being checked (signal %d)", WTERMSIG(status));
		log_err("%s", msg);
		return EX_CONFIG;
	}
	return WEXITSTATUS(status);
}

int master_check_run(const struct master_options *opts, int report)
{
	int status;
	pid_t pid = master_check_fork(opts, report);
	if (pid < 0)
		return EX_OSERR;
	/* No handler is set yet: a stop ends this process (and with it the
	   check's listeners, by their death signal) at once. */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			log_err("call=waitpid error=%s", log_quoted(strerror(errno)));
			return EX_OSERR;
		}
	return master_check_result(opts, status);
}

int master_check_load(const struct master_options *opts, struct config **out)
{
	char err[CONFIG_ERROR_MAX_BYTES];
	int rc = master_check_run(opts, 0);
	if (rc != 0)
		return rc;
	if (master_check_parse(opts, out, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EX_CONFIG;
	}
	return 0;
}
