/* maildir_copy.h - a delivered message file copied for a Maildir it
   cannot be hard-linked into (another file system, too many links, no
   hard links there): read back by a name it has, written durably anew. */
#ifndef SMTPGATE_MAILDIR_COPY_H
#define SMTPGATE_MAILDIR_COPY_H

#include <stddef.h>

#include <smtpgate/plugin.h>

/* Whether a link that failed with err calls for a copy instead. */
int maildir_copy_cannot_link(int err);
/* name in dir_fd opened for reading, never through a symlink, if it is
   a regular file of exactly size bytes: its fd, or -1 with errno. */
int maildir_copy_open(int dir_fd, const char *name, unsigned long long size);
/* A new file in tmp_fd (host->file_create with tmp_name and mode) holding
   the size bytes read from src_fd, through buf in pieces of at most
   buf_len: the file, written but not committed, or NULL with errno. */
struct smtpgate_file *maildir_copy_make(const struct smtpgate_host *host, int src_fd,
					unsigned long long size, int tmp_fd,
					const char *tmp_name, unsigned int mode, char *buf,
					size_t buf_len);

#endif
