/*
 * maildir_dir.c - the directories of a delivery, opened and made without
 * ever following a symlink below the template's fixed part.
 *
 * Below the fixed part everything belongs to whoever owns the Maildir,
 * who may replace new/, tmp/ or a directory on the way with a symlink to a
 * directory the worker's user may write and the Maildir's owner may not.
 * So each component is opened relative to the one before, with
 * O_NOFOLLOW|O_DIRECTORY, and a symlink ends the walk with ELOOP; nothing
 * here takes a path below the fixed part as a whole.  Only
 * maildir_dir_make_base() works by path: the fixed part is the sysadmin's.
 * It never follows a symlink below that part and never opens a path there
 * whole.
 *
 * Durability: when a delivery makes a Maildir (its tmp/ was missing),
 * every directory on the way, made or found (whoever made it may have died
 * before syncing it), is fsync'd into its parent before anything is
 * written below it.  XXX: a delivery that finds tmp/ and new/ syncs only
 * new/; if the worker that made them died between the mkdir of new/ and
 * the sync of its parent, new/'s own entry stays unsynced until the file
 * system commits it (the same window as before this module).
 */
#include "maildir_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_one(int dirfd, const char *name, const struct maildir_dir_mode *m, int make);
static int fail_at(const char *rel, size_t end, char *bad, size_t bad_size);

/* One component below dirfd: opened, or with make created first with the
   exact mode and synced into dirfd.  A symlink is ELOOP (Linux says
   ENOTDIR for a symlink opened with O_DIRECTORY|O_NOFOLLOW). */
static int open_one(int dirfd, const char *name, const struct maildir_dir_mode *m, int make)
{
	int made = 0;
	if (make) {
		if (mkdirat(dirfd, name, m->mode) == 0)
			made = 1;
		else if (errno != EEXIST)
			return -1;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		struct stat st;
		int saved = errno;
		if ((saved == ENOTDIR || saved == ELOOP) &&
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			saved = ELOOP;
		return errno = saved, -1;
	}
	if ((made && (m->mode & m->umask) && fchmod(fd, m->mode) < 0) ||
	    (make && fsync(dirfd) < 0)) {
		int saved = errno;
		close(fd);
		return errno = saved, -1;
	}
	return fd;
}

/* Say which part of rel failed (its first end bytes) and keep errno. */
static int fail_at(const char *rel, size_t end, char *bad, size_t bad_size)
{
	int saved = errno;
	snprintf(bad, bad_size, "%.*s", (int)end, rel);
	errno = saved;
	return -1;
}

/* Walk rel below dirfd one component at a time (see the header). */
int maildir_dir_open(int dirfd, const char *rel, const struct maildir_dir_mode *m, int make,
		     char *bad, size_t bad_size)
{
	char name[256];
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail_at(rel, 0, bad, bad_size);
	for (const char *p = rel; *p;) {
		size_t len = strcspn(p, "/");
		size_t end = (size_t)(p - rel) + len;
		if (len >= sizeof(name) || len == 0) {
			close(fd);
			errno = len ? ENAMETOOLONG : EINVAL;
			return fail_at(rel, end, bad, bad_size);
		}
		memcpy(name, p, len);
		name[len] = '\0';
		int next = open_one(fd, name, m, make);
		int saved = errno;
		close(fd);
		if (next < 0)
			return errno = saved, fail_at(rel, end, bad, bad_size);
		fd = next;
		p += len;
		p += *p == '/';
	}
	return fd;
}

/* A Maildir and its three sub-directories, made where missing. */
int maildir_dir_make_maildir(int dirfd, const char *rel, const struct maildir_dir_mode *m,
			     char *bad, size_t bad_size)
{
	static const char *const parts[] = { "tmp", "new", "cur" };
	int md = maildir_dir_open(dirfd, rel, m, 1, bad, bad_size);
	if (md < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		int fd = open_one(md, parts[i], m, 1);
		if (fd < 0) {
			int saved = errno;
			close(md);
			snprintf(bad, bad_size, "%s%s%s", rel, rel[0] ? "/" : "", parts[i]);
			return errno = saved, -1;
		}
		close(fd);
	}
	close(md);
	return 0;
}

/* The template's fixed part, made at init by path. */
int maildir_dir_make_base(const char *path, const struct maildir_dir_mode *m)
{
	char p[4096];
	size_t len = strlen(path);
	if (len >= sizeof(p))
		return errno = ENAMETOOLONG, -1;
	memcpy(p, path, len + 1);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, m->mode) == 0) {
			if ((m->mode & m->umask) && chmod(p, m->mode) < 0)
				return -1;
			/* Made now: its entry is on disk once its parent is synced. */
			char *slash = strrchr(p, '/');
			*slash = '\0';
			int fd = open(slash == p ? "/" : p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			*slash = '/';
			int rc = fd < 0 ? -1 : fsync(fd);
			if (fd >= 0)
				close(fd);
			if (rc < 0)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
		*s = c;
		if (!c)
			break;
	}
	return 0;
}
