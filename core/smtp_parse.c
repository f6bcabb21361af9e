/*
 * smtp_parse.c - the pure parsers of the channel: command lines, paths in
 * MAIL/RCPT, and ESMTP parameters.
 *
 * Every parser takes a length and never relies on a NUL from the network.
 * Where smtpd.py used the email package's header parser (which accepted
 * comments, spaces and a missing '>' and raised on some inputs), this
 * follows RFC 5321 §4.1.2 with smtpd.py's leniencies: an address without
 * angle brackets, a local part without a domain ("postmaster"), and UTF-8.
 */
#include "smtp_parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int is_space(char c);
static int is_atext(unsigned char c);
static int parse_local_part(const char *p, const char *end, const char **next_out);
static int parse_domain(const char *p, const char *end);
static int parse_mailbox(const char *p, const char *end);

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		unsigned int cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

int smtp_parse_command(const char *line, size_t len, struct smtp_command *out)
{
	/* Field by field, not a memset: the struct is 1.2 KiB, once a command. */
	out->verb[0] = out->arg[0] = '\0';
	out->verb_truncated = out->has_arg = 0;
	if (len == 0)
		return SMTP_PARSE_EMPTY;
	if (memchr(line, '\0', len) || !utf8_valid(line, len))
		return SMTP_PARSE_BAD_BYTES;

	const char *sp = memchr(line, ' ', len);
	size_t verb_len = sp ? (size_t)(sp - line) : len;
	size_t n = verb_len < sizeof(out->verb) - 1 ? verb_len : sizeof(out->verb) - 1;
	out->verb_truncated = verb_len > n;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		out->verb[i] = (c > 0x20 && c < 0x7f) ? (char)toupper(c) : '?';
	}
	out->verb[n] = '\0';
	if (!sp)
		return SMTP_PARSE_OK;

	out->has_arg = 1;
	const char *a = sp + 1, *end = line + len;
	while (a < end && is_space(*a))
		a++;
	while (end > a && is_space(end[-1]))
		end--;
	/* The line limit (548 bytes, AUTH's 12299) keeps this within arg. */
	size_t alen = (size_t)(end - a);
	if (alen >= sizeof(out->arg))
		alen = sizeof(out->arg) - 1;
	memcpy(out->arg, a, alen);
	out->arg[alen] = '\0';
	return SMTP_PARSE_OK;
}

/* RFC 5322 atext, plus any byte of a UTF-8 sequence (RFC 6531). */
static int is_atext(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Dot-string or quoted string; sets *next_out after it.  0 or -1. */
static int parse_local_part(const char *p, const char *end, const char **next_out)
{
	if (p < end && *p == '"') {
		for (p++; p < end; p++) {
			if (*p == '\\') {
				if (++p >= end || (unsigned char)*p < 0x20)
					return -1;
			} else if (*p == '"') {
				*next_out = p + 1;
				return 0;
			} else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				return -1;
			}
		}
		return -1;
	}
	const char *start = p;
	/* smtpd.py accepted leading, trailing and doubled dots; so do we. */
	while (p < end && (is_atext((unsigned char)*p) || *p == '.'))
		p++;
	if (p == start)
		return -1;
	*next_out = p;
	return 0;
}

/* A host name of labels (letters, digits, '-', '_', UTF-8) or an address
   literal in brackets. */
static int parse_domain(const char *p, const char *end)
{
	if (p < end && *p == '[') {
		if (end - p < 3 || end[-1] != ']')
			return -1;
		/* '<', '>' and '"' are dcontent to RFC 5321 but end or quote a
		   path when the address is written as <path>, as a relay does:
		   no real literal has them, so refuse rather than relay
		   "x@[a>b]" as "<x@[a>b]>". */
		for (const char *q = p + 1; q < end - 1; q++)
			if ((unsigned char)*q <= 0x20 || *q == 0x7f || strchr("[]\\<>\"", *q))
				return -1;
		return 0;
	}
	size_t label = 0;
	if (p == end)
		return -1;
	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_' || c >= 0x80) {
			label++;
		} else {
			return -1;
		}
	}
	return label ? 0 : -1;
}

static int parse_mailbox(const char *p, const char *end)
{
	const char *after;
	if (parse_local_part(p, end, &after) < 0)
		return -1;
	if (after == end)
		return 0; /* "postmaster", "a": smtpd.py took them */
	if (*after != '@')
		return -1;
	return parse_domain(after + 1, end);
}

int smtp_parse_path(const char *arg, const char *keyword, int allow_null,
		    char *address_out, size_t address_size, const char **params_out)
{
	size_t klen = strlen(keyword);
	if (strncasecmp(arg, keyword, klen) != 0)
		return -1;
	const char *p = arg + klen;
	while (is_space(*p))
		p++;

	const char *start, *end, *rest;
	if (*p == '<') {
		start = p + 1;
		int quoted = 0;
		for (end = start; *end && (quoted || *end != '>'); end++) {
			if (quoted && *end == '\\' && end[1])
				end++;
			else if (*end == '"')
				quoted = !quoted;
		}
		if (*end != '>')
			return -1;
		rest = end + 1;
		/* An RFC 5321 source route "@a,@b:" is accepted and ignored. */
		if (start < end && *start == '@') {
			const char *colon = memchr(start, ':', (size_t)(end - start));
			if (!colon)
				return -1;
			start = colon + 1;
		}
	} else {
		start = p;
		/* A quoted local part may hold spaces: "Fred Blogs"@example.com */
		int quoted = 0;
		for (end = p; *end && (quoted || !is_space(*end)); end++) {
			if (quoted && *end == '\\' && end[1])
				end++;
			else if (*end == '"')
				quoted = !quoted;
		}
		rest = end;
	}
	if (*rest && !is_space(*rest))
		return -1;
	while (is_space(*rest))
		rest++;

	if (start == end) {
		if (!allow_null || *p != '<')
			return -1;
	} else if (parse_mailbox(start, end) < 0) {
		return -1;
	} else if (*p != '<' && end - start == 2 && start[0] == '"') {
		/* A bare "" is an empty quoted local part: smtpd.py's parser
		   makes nothing of it (MAIL and RCPT 501, VRFY 502); <""> is an
		   address to both. */
		return -1;
	}
	size_t len = (size_t)(end - start);
	if (len >= address_size)
		return -1;
	memcpy(address_out, start, len);
	address_out[len] = '\0';
	*params_out = rest;
	return 0;
}

/* Keys whose values are the client's own text: an envelope id, an
   original recipient and an authenticated sender (RFC 3461 4.2, 4.4; RFC
   4954 5).  Upper-casing them, as smtpd.py does every parameter, would
   change what a DSN or the next hop reports.  Only extensions smtpd.py
   never had accept them, so its listeners see no difference. */
static int smtp_parse_keeps_case(const char *key, size_t len)
{
	static const char *const keep[] = { "ENVID", "ORCPT", "AUTH" };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (strlen(keep[i]) == len && memcmp(keep[i], key, len) == 0)
			return 1;
	return 0;
}

int smtp_parse_params(const char *params, struct smtp_params *out)
{
	out->count = 0;
	const char *p = params;
	size_t used = 0;
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			return 0;
		const char *q = p;
		while (*q && !is_space(*q))
			q++;
		size_t len = (size_t)(q - p);
		if (out->count == SMTP_PARAMS_MAX || len >= sizeof(out->text) - used)
			return -1;
		char *t = out->text + used;
		for (size_t i = 0; i < len; i++)
			t[i] = (char)toupper((unsigned char)p[i]);
		t[len] = '\0';
		used += len + 1;
		char *eq = strchr(t, '=');
		size_t key_len = eq ? (size_t)(eq - t) : len;
		if (eq && smtp_parse_keeps_case(t, key_len))
			memcpy(eq + 1, p + key_len + 1, len - key_len - 1);
		if (key_len == 0 || (eq && eq[1] == '\0'))
			return -1;
		for (size_t i = 0; i < key_len; i++)
			if (!isalnum((unsigned char)t[i]))
				return -1;
		out->param[out->count] = t;
		out->key_len[out->count] = key_len;
		out->value[out->count] = eq ? eq + 1 : NULL;
		out->count++;
		p = q;
	}
}

int smtp_params_find(const struct smtp_params *p, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = p->count; i-- > 0;)
		if (p->key_len[i] == klen && memcmp(p->param[i], key, klen) == 0)
			return (int)i;
	return -1;
}
