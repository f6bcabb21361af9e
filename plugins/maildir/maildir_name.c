/*
 * maildir_name.c - pure helpers of the maildir plugin: the path a
 * recipient's Maildir has, and the unique names of delivered files.
 *
 * The path of a recipient comes from its address, which the client chose:
 * nothing in an expanded value may climb out of the directory the
 * sysadmin's template names.  Values are refused rather than rewritten, so
 * two addresses can never be folded into one mailbox by accident.
 */
#include "maildir_name.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int value_allowed(const char *v, size_t len, int allow_at, const char **why_out);
static int append(char *out, size_t size, size_t *used, const char *p, size_t len);
static int path_fits(const char *path, const char **why_out);

int maildir_template_per_recipient(const char *tmpl)
{
	for (const char *p = tmpl; (p = strchr(p, '%')); p += 2) {
		if (p[1] == 'u' || p[1] == 'd' || p[1] == 'a')
			return 1;
		if (!p[1])
			break;
	}
	return 0;
}

int maildir_template_check(const char *tmpl, const char **why_out)
{
	if (tmpl[0] != '/') {
		*why_out = "must be an absolute path";
		return -1;
	}
	for (const char *p = tmpl; (p = strchr(p, '%')); p += 2)
		if (!p[1] || !strchr("uda%", p[1])) {
			*why_out = "only %u, %d, %a and %% may follow a %";
			return -1;
		}
	if (strstr(tmpl, "/../") || strstr(tmpl, "/./")) {
		*why_out = "must not contain /../ or /./";
		return -1;
	}
	return 0;
}

int maildir_template_base(const char *tmpl, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (const char *p = tmpl; *p; p++) {
		if (*p == '%' && p[1] != '%')
			break; /* the first %u, %d or %a */
		if (append(out, size, &used, p, 1) < 0)
			return -1;
		if (*p == '%')
			p++;
	}
	if (maildir_template_per_recipient(tmpl)) {
		char *slash = strrchr(out, '/');
		slash[slash == out ? 1 : 0] = '\0'; /* the template is absolute */
	}
	return 0;
}

/* A value may become one path component: no '/', no control characters,
   no quotes or spaces (quoted local parts), not empty, no leading dot. */
static int value_allowed(const char *v, size_t len, int allow_at, const char **why_out)
{
	if (len == 0) {
		*why_out = "empty local part or domain";
		return -1;
	}
	if (v[0] == '.') {
		*why_out = "a leading dot";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c >= 0x80 || isalnum(c) || strchr(".-_+=!#$&'*^`{|}~", c))
			continue;
		if (c == '@' && allow_at)
			continue;
		*why_out = c == '/' ? "a slash" : c < 0x20 || c == 0x7f ? "a control character"
						  : "a character not allowed in a mailbox name";
		return -1;
	}
	return 0;
}

static int append(char *out, size_t size, size_t *used, const char *p, size_t len)
{
	if (*used + len >= size)
		return -1;
	memcpy(out + *used, p, len);
	*used += len;
	out[*used] = '\0';
	return 0;
}

/* Every component of an expanded path must be a name the file system can
   hold: one longer than NAME_MAX would be accepted at RCPT and then fail at
   every delivery attempt (ENAMETOOLONG, a 451) until the sender gives up. */
static int path_fits(const char *path, const char **why_out)
{
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		if (len > NAME_MAX) {
			*why_out = "a path component longer than NAME_MAX (255 bytes)";
			return -1;
		}
		p += len;
		p += *p == '/';
	}
	return 0;
}

int maildir_expand(const char *tmpl, const char *address, char *out, size_t size,
		   const char **why_out)
{
	const char *at = strrchr(address, '@');
	size_t local_len = at ? (size_t)(at - address) : strlen(address);
	const char *domain = at ? at + 1 : "";
	size_t used = 0;
	out[0] = '\0';
	for (const char *p = tmpl; *p; p++) {
		if (*p != '%') {
			if (append(out, size, &used, p, 1) < 0)
				goto too_long;
			continue;
		}
		p++;
		const char *v;
		size_t len;
		switch (*p) {
		case 'u': v = address; len = local_len; break;
		case 'd': v = domain; len = strlen(domain); break;
		case 'a': v = address; len = strlen(address); break;
		case '%':
			if (append(out, size, &used, "%", 1) < 0)
				goto too_long;
			continue;
		default:
			*why_out = "bad template";
			return -1;
		}
		if (value_allowed(v, len, *p == 'a', why_out) < 0)
			return -1;
		size_t start = used;
		if (append(out, size, &used, v, len) < 0)
			goto too_long;
		for (size_t i = start; i < used; i++)
			out[i] = (char)tolower((unsigned char)out[i]);
	}
	if (used + MAILDIR_FILE_RESERVE_BYTES >= size || used + MAILDIR_FILE_RESERVE_BYTES >= PATH_MAX)
		goto too_long;
	return path_fits(out, why_out);
too_long:
	*why_out = "path too long";
	return -1;
}

int maildir_unique_name(char *out, size_t size, long long sec, long usec, long pid,
			unsigned long seq, unsigned long long random, const char *host,
			size_t msg_size)
{
	char safe_host[128];
	size_t n = 0;
	for (const char *h = host; *h && n + 5 < sizeof(safe_host); h++) {
		/* The Maildir convention escapes '/' and ':' in the host part. */
		if (*h == '/' || *h == ':')
			n += (size_t)snprintf(safe_host + n, sizeof(safe_host) - n, "\\%03o",
					      (unsigned char)*h);
		else
			safe_host[n++] = *h;
	}
	safe_host[n] = '\0';
	int len = snprintf(out, size, "%lld.M%06ldP%ldQ%luR%016llx.%s,S=%zu", sec, usec, pid, seq,
			   random, safe_host, msg_size);
	return len < 0 || (size_t)len >= size ? -1 : 0;
}
