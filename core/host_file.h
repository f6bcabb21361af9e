/* host_file.h - the durable-file host service (struct smtpgate_host's
   file_* members): write under a temporary name, fsync, link into place. */
#ifndef SMTPGATE_HOST_FILE_H
#define SMTPGATE_HOST_FILE_H

#include <stddef.h>

#include "smtpgate/plugin.h"

struct smtpgate_file *host_file_create(int dirfd, const char *name, unsigned int mode);
int host_file_write(struct smtpgate_file *f, const void *data, size_t len);
int host_file_commit(struct smtpgate_file *f, int dirfd, const char *name);
void host_file_abort(struct smtpgate_file *f);
void host_file_close(struct smtpgate_file *f);

#endif
