/*
 * maildir_copy.c - the copy fallback for a file shared by many Maildirs:
 * where the shared file cannot be hard-linked into a Maildir's new/ (it
 * is on another file system, EXDEV; the file has too many links, EMLINK;
 * the file system has no hard links, EPERM), its content is read back
 * through a name it already has in another Maildir's new/ and written
 * into a new file in this Maildir's tmp/, through the host's durable-file
 * service, which the caller then commits (fsync, link, directory fsync).
 *
 * Entry points: maildir_copy_cannot_link(), maildir_copy_open(),
 * maildir_copy_make().  It never follows a symlink for the name it reads,
 * never holds more than the caller's buffer of the message in memory,
 * never holds a descriptor past its return but the ones it hands back,
 * and never gives a file that is shorter or longer than the size asked:
 * a source that changed is an error, not a short copy.
 */
#include "maildir_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_body(const struct smtpgate_host *host, struct smtpgate_file *f, int src_fd,
		     unsigned long long size, char *buf, size_t buf_len);

int maildir_copy_cannot_link(int err)
{
	return err == EXDEV || err == EMLINK || err == EPERM;
}

int maildir_copy_open(int dir_fd, const char *name, unsigned long long size)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int saved = errno;
		close(fd);
		return errno = saved, -1;
	}
	/* A FIFO or device put there, or a file a reader changed: not ours. */
	if (!S_ISREG(sb.st_mode) || (unsigned long long)sb.st_size != size) {
		close(fd);
		return errno = ESTALE, -1;
	}
	return fd;
}

/* size bytes of src_fd into f, a piece of at most buf_len at a time:
   0, or -1 with errno (EIO when the source ends early). */
static int copy_body(const struct smtpgate_host *host, struct smtpgate_file *f, int src_fd,
		     unsigned long long size, char *buf, size_t buf_len)
{
	while (size > 0) {
		size_t want = size < buf_len ? (size_t)size : buf_len;
		ssize_t k = read(src_fd, buf, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return errno = EIO, -1;
		if (host->file_write(f, buf, (size_t)k) < 0)
			return -1;
		size -= (unsigned long long)k;
	}
	return 0;
}

struct smtpgate_file *maildir_copy_make(const struct smtpgate_host *host, int src_fd,
					unsigned long long size, int tmp_fd,
					const char *tmp_name, unsigned int mode, char *buf,
					size_t buf_len)
{
	struct smtpgate_file *f = host->file_create(tmp_fd, tmp_name, mode);
	if (!f)
		return NULL;
	if (copy_body(host, f, src_fd, size, buf, buf_len) < 0) {
		int saved = errno;
		host->file_abort(f);
		errno = saved;
		return NULL;
	}
	return f;
}
