/*
 * smtp_enhanced.c - enhanced status codes (RFC 2034, RFC 3463) for the
 * replies of a session that offered ENHANCEDSTATUSCODES: which code a
 * reply without one gets, and the line with it inserted.
 *
 * Pure: no I/O, no state.  Entry point: smtp_enhanced_apply(), called by
 * session_chat.c for each queued line once the client's EHLO got
 * ENHANCEDSTATUSCODES.  It never changes a reply's code or text, never
 * touches a line that has a code already, and never adds one to 354
 * (RFC 2034 3: intermediate replies) or 334.
 */
#include "smtp_enhanced.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *smtp_enhanced_default(const char *verb, int code)
{
	switch (code) {
	case 250:
		if (verb && strcmp(verb, "MAIL") == 0)
			return "2.1.0";
		if (verb && strcmp(verb, "RCPT") == 0)
			return "2.1.5";
		return "2.0.0";
	case 500:
		return "5.5.2";
	case 501:
	case 504:
	case 555:
		return "5.5.4";
	case 502:
	case 503:
		return "5.5.1";
	case 552:
		return "5.3.4";
	}
	switch (code / 100) {
	case 2:
		return "2.0.0";
	case 4:
		return "4.0.0";
	case 5:
		return "5.0.0";
	}
	return NULL;
}

/* The length of a run of 1..3 digits at p (within end); 0 if none. */
static size_t digits(const char *p, const char *end)
{
	size_t n = 0;
	while (p + n < end && n < 4 && isdigit((unsigned char)p[n]))
		n++;
	return n >= 1 && n <= 3 ? n : 0;
}

int smtp_enhanced_present(const char *line, size_t len)
{
	const char *p = line + 4, *end = line + len;
	if (len < 4)
		return 0;
	/* class "." subject "." detail, then a space or the line's end */
	if (p + 2 > end || (*p != '2' && *p != '4' && *p != '5') || p[1] != '.')
		return 0;
	p += 2;
	size_t n = digits(p, end);
	if (!n || p + n >= end || p[n] != '.')
		return 0;
	p += n + 1;
	n = digits(p, end);
	if (!n)
		return 0;
	p += n;
	return p == end || *p == ' ' || *p == '\r';
}

size_t smtp_enhanced_apply(const char *verb, const char *line, size_t len, char *out,
			   size_t size)
{
	int is_reply = len >= 4 && isdigit((unsigned char)line[0]) &&
		       isdigit((unsigned char)line[1]) && isdigit((unsigned char)line[2]) &&
		       (line[3] == ' ' || line[3] == '-' || line[3] == '\r');
	int code = is_reply ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
	const char *enh = is_reply && code != 354 && code != 334 && !smtp_enhanced_present(line, len)
				  ? smtp_enhanced_default(verb, code)
				  : NULL;
	if (!enh || len + strlen(enh) + 2 > size) {
		size_t n = len < size ? len : size;
		memcpy(out, line, n);
		return n;
	}
	/* "NNN" sep code, then " text" or the line's end ("250\r\n" too). */
	int has_sep = line[3] != '\r';
	size_t rest_at = has_sep ? 4 : 3;
	int text = rest_at < len && line[rest_at] != '\r';
	int n = snprintf(out, size, "%.3s%c%s%s", line, has_sep ? line[3] : ' ', enh, text ? " " : "");
	memcpy(out + n, line + rest_at, len - rest_at);
	return (size_t)n + len - rest_at;
}
