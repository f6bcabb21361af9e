/*
 * smtp_ext.c - pure checks behind the ESMTP extensions of issue 18: the
 * names a listener's `extensions` may list, the syntax of an EHLO line a
 * plugin adds (its ehlo_keywords), and the xtext and parameters of DSN
 * (RFC 3461).
 *
 * Entry points: smtp_ext_keyword_check(), smtp_ext_xtext_valid(),
 * smtp_ext_dsn_param_check().  No I/O, no state: it never decides what
 * a session offers (session_ehlo.c does) and never logs.
 */
#include "smtp_ext.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define SMTP_EXT_KEYWORD_LINE_MAX_BYTES 200
#define SMTP_EXT_ENVID_MAX_BYTES 100 /* RFC 3461 4.4 */
#define SMTP_EXT_ORCPT_MAX_BYTES 500 /* RFC 3461 4.2 */

const char *const smtp_ext_names[] = { "PIPELINING", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN",
				       NULL };

/* Keywords the core offers, or may offer on some listener: a plugin's own
   would be a second, conflicting line.  DSN is not here: a plugin lists
   it to say it relays (plugin.h). */
static const char *const core_keywords[] = {
	"SIZE", "8BITMIME", "SMTPUTF8", "STARTTLS", "HELP", "PIPELINING",
	"ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "AUTH", NULL
};

size_t smtp_ext_keyword_len(const char *text)
{
	return strcspn(text, " ");
}

int smtp_ext_keyword_check(const char *text, const char **why_out)
{
	size_t klen = smtp_ext_keyword_len(text), len = strlen(text);
	if (klen == 0 || !isalnum((unsigned char)text[0])) {
		*why_out = "does not start with a letter or digit";
		return -1;
	}
	if (len > SMTP_EXT_KEYWORD_LINE_MAX_BYTES) {
		*why_out = "is longer than 200 bytes";
		return -1;
	}
	for (size_t i = 1; i < klen; i++)
		if (!isalnum((unsigned char)text[i]) && text[i] != '-') {
			*why_out = "has a keyword with a byte other than a letter, digit or '-'";
			return -1;
		}
	for (size_t i = klen; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		/* Parameters: printable ASCII, one space before each. */
		if (c < ' ' || c > '~' || (c == ' ' && (i + 1 == len || text[i + 1] == ' '))) {
			*why_out = "has parameters that are not printable words separated by one space";
			return -1;
		}
	}
	for (const char *const *k = core_keywords; *k; k++)
		if (strlen(*k) == klen && strncasecmp(*k, text, klen) == 0) {
			*why_out = "repeats a keyword the core offers";
			return -1;
		}
	return 0;
}

int smtp_ext_xtext_valid(const char *p, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '+') {
			/* hexchar: upper-case hex digits only (RFC 3461 4) */
			if (len - i < 3)
				return 0;
			for (size_t k = 1; k <= 2; k++)
				if (!isxdigit((unsigned char)p[i + k]) || islower((unsigned char)p[i + k]))
					return 0;
			i += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return 0;
		}
	}
	return 1;
}

/* NOTIFY's value: NEVER alone, or SUCCESS, FAILURE and DELAY joined by
   commas, each at most once. */
static int notify_valid(const char *v)
{
	static const char *const words[] = { "SUCCESS", "FAILURE", "DELAY" };
	unsigned int seen = 0;
	if (strcasecmp(v, "NEVER") == 0)
		return 1;
	for (const char *p = v;;) {
		size_t n = strcspn(p, ",");
		unsigned int bit = 0;
		for (unsigned int i = 0; i < 3; i++)
			if (strlen(words[i]) == n && strncasecmp(words[i], p, n) == 0)
				bit = 1u << i;
		if (!bit || (seen & bit))
			return 0;
		seen |= bit;
		if (!p[n])
			return 1;
		p += n + 1;
	}
}

/* ORCPT's value: an addr-type (an atom: letters, digits, '-'), ';', and
   the address as xtext. */
static int orcpt_valid(const char *v)
{
	size_t len = strlen(v), type = strcspn(v, ";");
	if (len > SMTP_EXT_ORCPT_MAX_BYTES || type == 0 || type == len)
		return 0;
	for (size_t i = 0; i < type; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-')
			return 0;
	return smtp_ext_xtext_valid(v + type + 1, len - type - 1);
}

int smtp_ext_dsn_param_check(const char *key, const char *value)
{
	if (!value)
		return -1;
	if (strcasecmp(key, "RET") == 0)
		return strcasecmp(value, "FULL") == 0 || strcasecmp(value, "HDRS") == 0 ? 0 : -1;
	if (strcasecmp(key, "ENVID") == 0)
		return strlen(value) <= SMTP_EXT_ENVID_MAX_BYTES &&
				       smtp_ext_xtext_valid(value, strlen(value))
			       ? 0
			       : -1;
	if (strcasecmp(key, "NOTIFY") == 0)
		return notify_valid(value) ? 0 : -1;
	if (strcasecmp(key, "ORCPT") == 0)
		return orcpt_valid(value) ? 0 : -1;
	return -1;
}
