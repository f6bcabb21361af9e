/*
 * host_file.c - the durable-file host service: a file made under a
 * temporary name in a directory, written, fsync'd, then given its final
 * name or names (renamed, or hard-linked into several directories), every
 * directory involved fsync'd: the maildir sequence, so a plugin that says
 * 250 after host->file_commit() has its file survive a power cut.
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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"

#define HOST_FILE_BUF_BYTES 65536
#define HOST_FILE_PLACES_MAX 64 /* final names one commit may give */

/* One file: where it was made, and where a commit put it. */
struct smtpgate_file {
	int fd;
	int dir_fd;              /* the directory of its first name */
	char *name;
	int committed;
	size_t nplaces;          /* final names given by the commit */
	int place_dir[HOST_FILE_PLACES_MAX];
	char *place_name[HOST_FILE_PLACES_MAX];
	size_t len;
	char buf[HOST_FILE_BUF_BYTES];
};

static int flush_buf(struct smtpgate_file *f);
static void take_back(struct smtpgate_file *f);
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
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
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
	if (f->committed)
		return errno = EBADF, -1;
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

/* Remove every final name the commit gave (each directory fsync'd). */
static void take_back(struct smtpgate_file *f)
{
	for (size_t i = 0; i < f->nplaces; i++) {
		unlinkat(f->place_dir[i], f->place_name[i], 0);
		fsync(f->place_dir[i]);
		close(f->place_dir[i]);
		free(f->place_name[i]);
	}
	f->nplaces = 0;
}

int host_file_commit(struct smtpgate_file *f, const int *dirfds, const char *const *names,
		     size_t n)
{
	if (f->committed || n == 0 || n > HOST_FILE_PLACES_MAX)
		return errno = EINVAL, -1;
	if (flush_buf(f) < 0 || fsync(f->fd) < 0)
		return -1;
	/* Links first, the temporary name last: a crash in between leaves a
	   file in the temporary directory (which maildir readers clean up),
	   never a final name missing while the client was told 250. */
	for (size_t i = 0; i < n; i++) {
		int dir = fcntl(dirfds[i], F_DUPFD_CLOEXEC, 0);
		if (dir < 0 || linkat(f->dir_fd, f->name, dir, names[i], 0) < 0) {
			int saved = errno;
			if (dir >= 0)
				close(dir);
			take_back(f);
			return errno = saved, -1;
		}
		f->place_dir[f->nplaces] = dir;
		f->place_name[f->nplaces++] = mem_strdup(names[i]);
	}
	for (size_t i = 0; i < f->nplaces; i++)
		if (fsync(f->place_dir[i]) < 0) {
			int saved = errno;
			take_back(f);
			return errno = saved, -1;
		}
	f->committed = 1;
	unlinkat(f->dir_fd, f->name, 0);
	fsync(f->dir_fd);
	/* Only the final names' directories stay open, to take it back. */
	close(f->fd);
	close(f->dir_fd);
	f->fd = f->dir_fd = -1;
	return 0;
}

/* Close and free, names left as they are. */
static void release(struct smtpgate_file *f)
{
	for (size_t i = 0; i < f->nplaces; i++) {
		close(f->place_dir[i]);
		free(f->place_name[i]);
	}
	if (f->fd >= 0)
		close(f->fd);
	if (f->dir_fd >= 0)
		close(f->dir_fd);
	free(f->name);
	free(f);
}

void host_file_abort(struct smtpgate_file *f)
{
	if (!f)
		return;
	take_back(f);
	if (!f->committed) {
		unlinkat(f->dir_fd, f->name, 0);
		fsync(f->dir_fd);
	}
	release(f);
}

void host_file_close(struct smtpgate_file *f)
{
	if (!f)
		return;
	if (!f->committed) {
		host_file_abort(f);
		return;
	}
	release(f);
}
