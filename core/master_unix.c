/*
 * master_unix.c - listening on UNIX-domain sockets (address
 * "unix:/path"), for LMTP and SMTP listeners alike.
 *
 * At start a socket file left by a daemon that died is replaced: nobody
 * answers a connect() on it (ECONNREFUSED).  One that answers belongs to
 * a daemon still running: we refuse to start (EX_UNAVAILABLE) rather than
 * steal its clients.  The file is made under umask 0777 (no one can
 * connect before it has its owner and socket_mode), and removed when the
 * master lets go of it (stop, or a reload that drops the listener); a
 * reload that keeps the address keeps the socket and its file.
 *
 * It never removes anything but a socket file: a regular file or a
 * directory at the path is an error.  Workers never call it (they only
 * close their copies of the descriptor).
 */
#include "master_unix.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "config_error.h"
#include "log.h"

#define MASTER_UNIX_BACKLOG 1024

static void unix_error(const struct config *cfg, const struct listener_config *l,
		       const char *what, int err);
static int is_live(const struct sockaddr_un *sa);
static int bind_fresh(int fd, const struct sockaddr_un *sa);
static int take_path(const struct config *cfg, const struct listener_config *l, int fd,
		     const struct sockaddr_un *sa);

/* A listener's socket error as a config error naming its line. */
static void unix_error(const struct config *cfg, const struct listener_config *l,
		       const char *what, int err)
{
	char msg[CONFIG_ERROR_MAX_BYTES];
	config_error_format(msg, sizeof(msg), cfg->source, l->line, "address", "\"%s\": %s%s%s",
			    l->address, what, err ? ": " : "", err ? strerror(err) : "");
	log_err("%s", msg);
}

/* 1 when a server accepts connections on the socket file, 0 when nobody
   listens there (ECONNREFUSED), -1 (errno set) when it cannot be told. */
static int is_live(const struct sockaddr_un *sa)
{
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -1;
	int rc = connect(probe, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;
	close(probe);
	/* EAGAIN: a full backlog, which only a live listener has. */
	if (rc == 0 || err == EAGAIN)
		return 1;
	if (err == ECONNREFUSED)
		return 0;
	errno = err;
	return -1;
}

/* bind() with a file no one may connect to yet (mode 0). */
static int bind_fresh(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0777);
	int rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;
	umask(old);
	errno = err;
	return rc;
}

/* Bind the path, replacing a dead daemon's socket file: 0 or a sysexits
   status, logged. */
static int take_path(const struct config *cfg, const struct listener_config *l, int fd,
		     const struct sockaddr_un *sa)
{
	struct stat st;
	if (bind_fresh(fd, sa) == 0)
		return 0;
	if (errno != EADDRINUSE) {
		unix_error(cfg, l, "cannot create the socket", errno);
		return EX_CANTCREAT;
	}
	if (lstat(l->unix_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		unix_error(cfg, l, "exists and is not a socket: not removed", 0);
		return EX_CANTCREAT;
	}
	int live = is_live(sa);
	if (live != 0) {
		if (live > 0)
			unix_error(cfg, l, "another daemon is listening on this socket", 0);
		else
			unix_error(cfg, l, "cannot tell whether another daemon listens there", errno);
		return EX_UNAVAILABLE;
	}
	log_info("listener=%s event=stale-socket action=replace path=%s", l->name,
		 log_quoted(l->unix_path));
	if ((unlink(l->unix_path) < 0 && errno != ENOENT) || bind_fresh(fd, sa) < 0) {
		unix_error(cfg, l, "cannot replace the stale socket", errno);
		return EX_CANTCREAT;
	}
	return 0;
}

/* socket_user/socket_group, then socket_mode: at start only now can a
   client connect (lchown: a symlink put in our place is not followed). */
int master_unix_set_owner(const struct listener_config *l)
{
	if ((l->socket_uid >= 0 || l->socket_gid >= 0) &&
	    lchown(l->unix_path, (uid_t)l->socket_uid, (gid_t)l->socket_gid) < 0)
		return -1;
	return chmod(l->unix_path, (mode_t)l->socket_mode);
}

int master_unix_bind(const struct config *cfg, const struct listener_config *l,
		     struct master_bound *b)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	/* config_unix.c checked that the path fits. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->unix_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		unix_error(cfg, l, "socket", errno);
		return EX_OSERR;
	}
	int rc = take_path(cfg, l, fd, &sa);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	if (master_unix_set_owner(l) < 0 || listen(fd, MASTER_UNIX_BACKLOG) < 0) {
		unix_error(cfg, l, "cannot set up the socket", errno);
		unlink(l->unix_path);
		close(fd);
		return EX_CANTCREAT;
	}
	b->fds[0] = fd;
	b->nfds = 1;
	snprintf(b->unix_path, sizeof(b->unix_path), "%s", l->unix_path);
	return 0;
}

unsigned int master_unix_queued(const struct master_bound *b)
{
	struct pollfd p = { .fd = b->fds[0], .events = POLLIN };
	return b->nfds && poll(&p, 1, 0) == 1 && (p.revents & POLLIN) ? 1 : 0;
}

void master_unix_release(struct master_bound *b)
{
	struct stat st;
	/* Only a socket file: whatever else a sysadmin put there since is
	   left alone. */
	if (b->nfds && b->unix_path[0] && lstat(b->unix_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    unlink(b->unix_path) < 0)
		log_warn("event=socket-remove path=%s error=%s", log_quoted(b->unix_path),
			 log_quoted(strerror(errno)));
	b->unix_path[0] = '\0';
	for (size_t i = 0; i < b->nfds; i++)
		close(b->fds[i]);
	b->nfds = 0;
}
