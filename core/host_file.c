/*
 * host_file.c - the durable-file host service: a file made in a directory
 * (unnamed with O_TMPFILE where the system allows, else under the
 * caller's temporary name), written, fsync'd, then given its final name
 * or names (hard links, into one directory or several), each directory
 * fsync'd: the maildir sequence, so a plugin that says 250 after
 * host->file_commit() has its file survive a power cut.
 *
 * Entry points: host_file_create(), _write(), _commit(), _abort(),
 * _close() (the host table's file_* members).  It never follows a
 * symlink for a name it makes, never replaces an existing file (O_EXCL,
 * link), never leaves a partial file under a final name, and never holds
 * more than two descriptors per open file (the file and its directory).
 */
#include "host_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"

#define HOST_FILE_BUF_BYTES 65536

/* One file being written, under its temporary name in dir_fd. */
struct smtpgate_file {
	int fd;
	int dir_fd;
	char *name;
	int synced;    /* written out and fsync'd: it may be given names */
	int unnamed;   /* O_TMPFILE: no name at all until a commit links it */
	size_t len;
	char buf[HOST_FILE_BUF_BYTES];
};

static int flush_buf(struct smtpgate_file *f);
static void release(struct smtpgate_file *f);

struct smtpgate_file *host_file_create(int dirfd, const char *name, unsigned int mode)
{
	if (!name || !*name || strchr(name, '/')) {
		errno = EINVAL;
		return NULL;
	}
	int dir = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (dir < 0)
		return NULL;
	/* Unnamed where the system can (linked by its /proc name at the
	   commit): a worker killed before the end leaves nothing behind. */
	int unnamed = 0, fd = -1;
	if (access("/proc/self/fd", X_OK) == 0) {
		fd = openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)mode);
		unnamed = fd >= 0;
		if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
			int saved = errno;
			close(dir);
			errno = saved;
			return NULL;
		}
	}
	if (fd < 0)
		fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    (mode_t)mode);
	if (fd < 0) {
		int saved = errno;
		close(dir);
		errno = saved;
		return NULL;
	}
	/* The umask may have cleared bits of mode: the caller asked for them. */
	if (fchmod(fd, (mode_t)mode) < 0) {
		int saved = errno;
		if (!unnamed)
			unlinkat(dir, name, 0);
		close(fd);
		close(dir);
		errno = saved;
		return NULL;
	}
	struct smtpgate_file *f = mem_malloc(sizeof(*f));
	memset(f, 0, offsetof(struct smtpgate_file, buf));
	f->fd = fd;
	f->dir_fd = dir;
	f->name = mem_strdup(name);
	f->unnamed = unnamed;
	return f;
}

/* Everything buffered to the file: 0, or -1 with errno. */
static int flush_buf(struct smtpgate_file *f)
{
	const char *p = f->buf;
	while (f->len > 0) {
		ssize_t k = write(f->fd, p, f->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return errno = EIO, -1;
		p += k;
		f->len -= (size_t)k;
	}
	return 0;
}

int host_file_write(struct smtpgate_file *f, const void *data, size_t len)
{
	const char *p = data;
	if (f->synced)
		return errno = EBADF, -1; /* it may have a final name: never changed there */
	while (len > 0) {
		if (f->len == sizeof(f->buf) && flush_buf(f) < 0)
			return -1;
		size_t n = sizeof(f->buf) - f->len;
		if (n > len)
			n = len;
		memcpy(f->buf + f->len, p, n);
		f->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

int host_file_commit(struct smtpgate_file *f, int dirfd, const char *name)
{
	if (!f->synced) {
		if (flush_buf(f) < 0 || fsync(f->fd) < 0)
			return -1;
		f->synced = 1;
	}
	/* A link, never a rename: the file may get more names, and the
	   temporary one goes last (host_file_close), so a crash in between
	   leaves a file in the temporary directory, never a final name
	   missing after the caller said 250. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	if (f->unnamed ? linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) < 0
		       : linkat(f->dir_fd, f->name, dirfd, name, 0) < 0)
		return -1;
	if (fsync(dirfd) < 0) {
		int saved = errno;
		unlinkat(dirfd, name, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

/* The temporary name removed (and that made durable), the file freed. */
static void release(struct smtpgate_file *f)
{
	if (!f->unnamed) {
		unlinkat(f->dir_fd, f->name, 0);
		fsync(f->dir_fd);
	}
	close(f->fd);
	close(f->dir_fd);
	free(f->name);
	free(f);
}

void host_file_abort(struct smtpgate_file *f)
{
	if (f)
		release(f);
}

void host_file_close(struct smtpgate_file *f)
{
	if (f)
		release(f);
}
