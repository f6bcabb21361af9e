/*
 * smtp_reply.c - replies as values: set by the core or by a plugin through
 * host->reply(), checked against the hook's verdict, formatted for the wire.
 *
 * The only place reply text is sanitized: whatever a plugin puts in a reply,
 * the client gets exactly one well-formed line.  It never writes to the
 * client: session_chat.c does.
 */
#include "smtp_reply.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int enhanced_valid(const char *e, int code);
static int has_enhanced(const char *text, size_t len, char cls);
static const char *default_enhanced(int code);

void smtp_reply_clear(struct smtpgate_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->text[0] = '\0';
}

/* RFC 3463: class.subject.detail, class 2, 4 or 5 matching the code. */
static int enhanced_valid(const char *e, int code)
{
	const char *p = e;
	if (p[0] != '0' + code / 100 || p[1] != '.')
		return 0;
	p += 2;
	for (int part = 0; part < 2; part++) {
		int digits = 0;
		while (isdigit((unsigned char)*p) && digits < 3) {
			p++;
			digits++;
		}
		if (digits == 0 || *p != (part == 0 ? '.' : '\0'))
			return 0;
		if (part == 0)
			p++;
	}
	return 1;
}

void smtp_reply_vset(struct smtpgate_reply *r, int code, const char *enhanced,
		     const char *fmt, va_list ap)
{
	r->code = code;
	r->enhanced[0] = '\0';
	if (enhanced && strlen(enhanced) < sizeof(r->enhanced) && enhanced_valid(enhanced, code))
		memcpy(r->enhanced, enhanced, strlen(enhanced) + 1);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	for (char *p = r->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

void smtp_reply_set(struct smtpgate_reply *r, int code, const char *enhanced,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_reply_vset(r, code, enhanced, fmt, ap);
	va_end(ap);
}

int smtp_reply_check(enum smtpgate_verdict verdict, const struct smtpgate_reply *r,
		     const char **why_out)
{
	int cls = r->code / 100;
	if (r->code && (r->code < 200 || r->code > 599)) {
		*why_out = "reply code outside 200..599";
		return -1;
	}
	switch (verdict) {
	case SMTPGATE_CONTINUE:
	case SMTPGATE_ACCEPT:
		/* A CONTINUE with a 5xx would refuse the command to the client
		   while the core goes on as if it were accepted. */
		if (r->code && cls != 2) {
			*why_out = "CONTINUE/ACCEPT with a reply that is not 2xx";
			return -1;
		}
		return 0;
	case SMTPGATE_REJECT:
	case SMTPGATE_TEMPFAIL:
		if (!r->code) {
			*why_out = "REJECT/TEMPFAIL without a reply";
			return -1;
		}
		if (cls != (verdict == SMTPGATE_REJECT ? 5 : 4)) {
			*why_out = "reply class does not match the verdict";
			return -1;
		}
		return 0;
	case SMTPGATE_DISCONNECT:
		/* The last reply of the session: a 2xx or 354 before the close
		   would tell the client its command worked. */
		if (r->code && cls != 4 && cls != 5 && r->code != 221) {
			*why_out = "DISCONNECT with a reply that is not 4xx, 5xx or 221";
			return -1;
		}
		return 0;
	}
	*why_out = "unknown verdict";
	return -1;
}

size_t smtp_reply_format(const struct smtpgate_reply *r, char *buf, size_t size)
{
	int n;
	if (r->enhanced[0])
		n = snprintf(buf, size, "%03d %s %s\r\n", r->code, r->enhanced, r->text);
	else
		n = snprintf(buf, size, "%03d %s\r\n", r->code, r->text);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

const char *smtpgate_verdict_name(enum smtpgate_verdict verdict)
{
	switch (verdict) {
	case SMTPGATE_CONTINUE: return "continue";
	case SMTPGATE_ACCEPT: return "accept";
	case SMTPGATE_REJECT: return "reject";
	case SMTPGATE_TEMPFAIL: return "tempfail";
	case SMTPGATE_DISCONNECT: return "disconnect";
	}
	return "?";
}

/* Whether text (len bytes) starts with "cls.d.d" and a space or CR. */
static int has_enhanced(const char *text, size_t len, char cls)
{
	size_t i = 0;
	if (len < 6 || text[0] != cls || text[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;
		while (i < len && digits < 3 && isdigit((unsigned char)text[i])) {
			i++;
			digits++;
		}
		if (digits == 0 || i >= len)
			return 0;
		if (part == 0 && text[i++] != '.')
			return 0;
	}
	return text[i] == ' ' || text[i] == '\r';
}

/* The code of a reply that came without one: Postfix's for the core's
   replies, RFC 3463's X.0.0 ("other") for the rest. */
static const char *default_enhanced(int code)
{
	static const struct { int code; const char *enhanced; } known[] = {
		{ 221, "2.0.0" }, { 250, "2.0.0" }, { 252, "2.0.0" }, { 421, "4.3.0" },
		{ 451, "4.3.0" }, { 452, "4.3.1" }, { 500, "5.5.2" }, { 501, "5.5.4" },
		{ 502, "5.5.1" }, { 503, "5.5.1" }, { 504, "5.5.4" }, { 552, "5.3.4" },
		{ 555, "5.5.4" },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].code == code)
			return known[i].enhanced;
	return code / 100 == 2 ? "2.0.0" : code / 100 == 4 ? "4.0.0" : "5.0.0";
}

size_t smtp_reply_line_enhance(char *line, size_t len, size_t size)
{
	if (len < 6 || len > size || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]) ||
	    (line[3] != ' ' && line[3] != '-') || memcmp(line + len - 2, "\r\n", 2) != 0)
		return len;
	char cls = line[0];
	if ((cls != '2' && cls != '4' && cls != '5') || has_enhanced(line + 4, len - 4, cls))
		return len;
	char code[12];
	int n = snprintf(code, sizeof(code), "%s ",
			 default_enhanced((line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0'));
	size_t add = (size_t)n, text = len - 6; /* the text between "NNN " and CR LF */
	if (6 + add + 2 > size)
		return len;
	if (4 + add + text + 2 > size)
		text = size - 4 - add - 2;
	memmove(line + 4 + add, line + 4, text);
	memcpy(line + 4, code, add);
	memcpy(line + 4 + add + text, "\r\n", 2);
	return 4 + add + text + 2;
}
