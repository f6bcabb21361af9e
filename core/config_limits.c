/*
 * config_limits.c - refuse a config file before libconfig sees it when
 * it is larger than CONFIG_FILE_MAX_BYTES or holds a line longer than
 * CONFIG_LINE_MAX_BYTES, and the same for each file it @includes.
 *
 * libconfig's scanner takes time growing with the square of a line's
 * length (a 4 MB comment line: seconds; 100 MB: minutes), so a file that
 * passes these limits parses in bounded time.  Includes are found as
 * libconfig 1.5's scanner finds them: `@include "path"` at the start of
 * a line (after blanks), the path used as written.  This module only
 * reads; it never interprets a setting and never opens a file libconfig
 * would not.
 */
#include "config_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_error.h"

/* The head of the line being read: enough for an @include line. */
struct line_head {
	char text[PATH_MAX + 64];
	size_t len;
	size_t total;           /* the whole line's length so far */
	long number;
};

static int check_file(const char *path, int depth, char *err, size_t err_size);
static int scan(int fd, const char *path, int depth, char *err, size_t err_size);
static int line_end(struct line_head *h, const char *path, int depth, char *err,
		    size_t err_size);
static int include_path(const struct line_head *h, char *out, size_t out_size);

/* The path of an `@include "path"` line into out; 0 if the line is none. */
static int include_path(const struct line_head *h, char *out, size_t out_size)
{
	size_t i = 0, n = 0;
	while (i < h->len && (h->text[i] == ' ' || h->text[i] == '\t'))
		i++;
	if (h->len - i < 9 || memcmp(h->text + i, "@include", 8) != 0)
		return 0;
	i += 8;
	if (h->text[i] != ' ' && h->text[i] != '\t')
		return 0;
	while (i < h->len && (h->text[i] == ' ' || h->text[i] == '\t'))
		i++;
	if (i >= h->len || h->text[i++] != '"')
		return 0;
	for (; i < h->len && h->text[i] != '"' && n + 1 < out_size; i++) {
		if (h->text[i] == '\\' && i + 1 < h->len)
			i++;
		out[n++] = h->text[i];
	}
	out[n] = '\0';
	return i < h->len && n > 0;
}

/* A line has ended (or the file): check the file it includes, if any. */
static int line_end(struct line_head *h, const char *path, int depth, char *err,
		    size_t err_size)
{
	char inc[PATH_MAX];
	if (h->total <= sizeof(h->text) && include_path(h, inc, sizeof(inc))) {
		if (depth + 1 > CONFIG_INCLUDE_MAX_DEPTH)
			return config_error_format(err, err_size, path, (int)h->number, NULL,
						   "@include nested deeper than %d files",
						   CONFIG_INCLUDE_MAX_DEPTH);
		if (check_file(inc, depth + 1, err, err_size) < 0)
			return -1;
	}
	h->len = h->total = 0;
	h->number++;
	return 0;
}

/* Read the file through, line by line, keeping only each line's head. */
static int scan(int fd, const char *path, int depth, char *err, size_t err_size)
{
	struct line_head h;
	char buf[8192];
	long long size = 0;
	ssize_t got;
	int rc = 0;
	h.len = h.total = 0;
	h.number = 1;
	while (rc == 0 && (got = read(fd, buf, sizeof(buf))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = config_error_format(err, err_size, path, 0, NULL, "cannot read: %s",
						 strerror(errno));
			break;
		}
		size += got;
		if (size > CONFIG_FILE_MAX_BYTES) {
			rc = config_error_format(err, err_size, path, 0, NULL,
						 "larger than %ld bytes (the maximum): not read",
						 CONFIG_FILE_MAX_BYTES);
			break;
		}
		for (ssize_t i = 0; rc == 0 && i < got; i++) {
			if (buf[i] == '\n') {
				rc = line_end(&h, path, depth, err, err_size);
				continue;
			}
			if (h.len < sizeof(h.text))
				h.text[h.len++] = buf[i];
			if (++h.total > (size_t)CONFIG_LINE_MAX_BYTES)
				rc = config_error_format(err, err_size, path, (int)h.number, NULL,
							 "line longer than %ld bytes (the maximum): "
							 "not read", CONFIG_LINE_MAX_BYTES);
		}
	}
	if (rc == 0 && h.total > 0)
		rc = line_end(&h, path, depth, err, err_size);
	return rc;
}

/* One file: a regular file within the size limit, its lines too. */
static int check_file(const char *path, int depth, char *err, size_t err_size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0; /* libconfig reports it in its own words */
	int rc = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = config_error_format(err, err_size, path, 0, NULL, "not a regular file");
	else if (st.st_size > CONFIG_FILE_MAX_BYTES)
		rc = config_error_format(err, err_size, path, 0, NULL,
					 "%lld bytes, larger than %ld (the maximum): not read",
					 (long long)st.st_size, CONFIG_FILE_MAX_BYTES);
	else
		rc = scan(fd, path, depth, err, err_size);
	close(fd);
	return rc;
}

int config_limits_check(const char *path, char *err, size_t err_size)
{
	return check_file(path, 0, err, err_size);
}
