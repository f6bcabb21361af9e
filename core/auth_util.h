/* auth_util.h - wiping secrets and reading line files, for AUTH's
   modules (auth.c, auth_file.c, auth_dovecot.c, auth_senders.c,
   session_auth.c). */
#ifndef SMTPGATE_AUTH_UTIL_H
#define SMTPGATE_AUTH_UTIL_H

#include <stddef.h>

/* Wipe a secret in memory (never optimized away). */
void auth_util_wipe(void *p, size_t len);

/* A file's lines: line(ctx, text, lineno, err, err_size) for each line
   that is neither empty nor a # comment (the line end removed), which
   returns 0 or -1 after writing err.  0, or -1 with err (cannot open, or
   a line's error, with its file:line). */
typedef int (*auth_util_line_fn)(void *ctx, char *text, int lineno, char *err,
				 size_t err_size);
int auth_util_read_lines(const char *path, auth_util_line_fn line, void *ctx, char *err,
			 size_t err_size);

#endif
