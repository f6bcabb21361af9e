/* maildir_dir.h - the maildir plugin's directories below the template's
   fixed part: opened one component at a time, never through a symlink. */
#ifndef SMTPGATE_MAILDIR_DIR_H
#define SMTPGATE_MAILDIR_DIR_H

#include <stddef.h>
#include <sys/types.h>

/* How directories are made: the mode, and the process's umask (the bits
   it would clear are put back with fchmod). */
struct maildir_dir_mode {
	mode_t mode;
	mode_t umask;
};

/* Open rel ("a/b/c", relative; "" is dirfd itself) below dirfd, each
   component with O_NOFOLLOW|O_DIRECTORY relative to the one before.  With
   make, a missing component is created, and every component, made or
   found, is fsync'd into its parent.  An fd, or -1 with errno: ELOOP when
   a component is a symlink.  On failure bad holds rel up to the end of the
   component that failed, for the log line. */
int maildir_dir_open(int dirfd, const char *rel, const struct maildir_dir_mode *m, int make,
		     char *bad, size_t bad_size);

/* A Maildir below dirfd with its tmp, new and cur, made where missing and
   synced into their parents, none of them a symlink.  0, or -1 with errno
   and bad as above ("rel/tmp" when tmp/ failed). */
int maildir_dir_make_maildir(int dirfd, const char *rel, const struct maildir_dir_mode *m,
			     char *bad, size_t bad_size);

/* mkdir -p of the sysadmin's fixed part at init (symlinks in it are the
   sysadmin's and followed), each made directory with the exact mode. */
int maildir_dir_make_base(const char *path, const struct maildir_dir_mode *m);

#endif
