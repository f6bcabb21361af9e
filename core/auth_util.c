/*
 * auth_util.c - what AUTH's backends share below them: wiping a secret
 * from memory, and reading a configuration file of lines (the password
 * file, the sender map) with its errors at file:line.  It never logs and
 * never keeps what it read: the caller's callback does.
 */
#include "auth_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Zero len bytes at p, in a way the compiler may not drop. */
void auth_util_wipe(void *p, size_t len)
{
	/* A volatile pointer: the compiler may not drop stores to memory
	   that is freed or goes out of scope right after. */
	volatile unsigned char *v = p;
	while (len--)
		*v++ = 0;
}

/* Feed each meaningful line of path to line(). */
int auth_util_read_lines(const char *path, auth_util_line_fn line, void *ctx, char *err, size_t err_size)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(buf, sizeof(buf), f)) {
		size_t n = strlen(buf);
		lineno++;
		if (n == sizeof(buf) - 1 && buf[n - 1] != '\n') {
			snprintf(err, err_size, "%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		if (n == 0 || buf[0] == '#')
			continue;
		char why[256];
		if (line(ctx, buf, lineno, why, sizeof(why)) < 0) {
			snprintf(err, err_size, "%s:%d: %s", path, lineno, why);
			rc = -1;
		}
	}
	auth_util_wipe(buf, sizeof(buf)); /* it held password hashes */
	if (rc == 0 && ferror(f)) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(f);
	return rc;
}

