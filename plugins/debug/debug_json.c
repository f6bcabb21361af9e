/*
 * debug_json.c - one message as one JSON object on one line (the debug
 * plugin's `format = "jsonl"`), for tests that read what an application
 * sent with a real JSON parser, as Mailpit or MailHog are used: time,
 * session id, peer, HELO name, sender, recipients, options, size, the
 * header fields in order, and the body as text, or base64 when it is not
 * valid UTF-8.
 *
 * It only formats, through the caller's emit function: it never writes a
 * file itself, and never emits a raw control character or a byte that
 * is not UTF-8, so one object is always exactly one line.
 */
#include "debug_json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct out {
	debug_json_emit emit;
	void *ctx;
};

static size_t utf8_char(const unsigned char *p, size_t len);
static void put(const struct out *o, const char *s);
static void put_string(const struct out *o, const char *p, size_t len);
static void put_list(const struct out *o, const char *key, const char *const *v, size_t n);
static void put_base64(const struct out *o, const unsigned char *p, size_t len);
static size_t header_name_len(const char *p, size_t len);
static size_t put_headers(const struct out *o, const char *d, size_t len);

/* The length of the valid UTF-8 character at p (RFC 3629: no overlong
   forms, no surrogates, at most U+10FFFF); 0 if the bytes are not one. */
static size_t utf8_char(const unsigned char *p, size_t len)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	if (n == 0 || p[0] > 0xf4 || n > len)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

int debug_json_utf8_valid(const char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_char((const unsigned char *)p + i, len - i);
		if (!n)
			return 0;
		i += n;
	}
	return 1;
}

static void put(const struct out *o, const char *s)
{
	o->emit(o->ctx, s, strlen(s));
}

/* A JSON string: quotes, backslashes and controls escaped; a byte that is
   not UTF-8 becomes U+FFFD (callers send bodies that are not as base64). */
static void put_string(const struct out *o, const char *p, size_t len)
{
	char esc[8];
	put(o, "\"");
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)p[i];
		size_t n = utf8_char((const unsigned char *)p + i, len - i);
		if (c == '"' || c == '\\') {
			snprintf(esc, sizeof(esc), "\\%c", c);
			put(o, esc);
		} else if (c == '\n') {
			put(o, "\\n");
		} else if (c == '\t') {
			put(o, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(o, esc);
		} else if (n == 0) {
			put(o, "\\ufffd");
			n = 1;
		} else {
			o->emit(o->ctx, p + i, n);
		}
		i += n ? n : 1;
	}
	put(o, "\"");
}

/* "key":["a","b"] */
static void put_list(const struct out *o, const char *key, const char *const *v, size_t n)
{
	put(o, ",\"");
	put(o, key);
	put(o, "\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(o, ",");
		put_string(o, v[i], strlen(v[i]));
	}
	put(o, "]");
}

/* RFC 4648 base64, no line breaks, as a JSON string. */
static void put_base64(const struct out *o, const unsigned char *p, size_t len)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	put(o, "\"");
	for (size_t i = 0; i < len; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = abc[(v >> 18) & 63];
		q[1] = abc[(v >> 12) & 63];
		q[2] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? abc[v & 63] : '=';
		o->emit(o->ctx, q, 4);
	}
	put(o, "\"");
}

/* The length of "Name" when the line at p starts "Name:" (RFC 5322 field
   name: printable ASCII but the colon); 0 otherwise. */
static size_t header_name_len(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
		i++;
	return i > 0 && i < len && p[i] == ':' ? i : 0;
}

/* "headers":[["Name","value"],...] from the header block: field lines and
   their continuation lines (joined with LF, as written) up to the empty
   line or the first line that is neither.  Returns where the body starts
   (after the empty line). */
static size_t put_headers(const struct out *o, const char *d, size_t len)
{
	size_t p = 0, fields = 0;
	put(o, ",\"headers\":[");
	while (p < len) {
		size_t name = header_name_len(d + p, len - p);
		if (!name)
			break;
		size_t v = p + name + 1, end = v;
		/* The value runs to the line end, continuation lines included. */
		for (;;) {
			const char *lf = memchr(d + end, '\n', len - end);
			end = lf ? (size_t)(lf - d) : len;
			if (end + 1 < len && (d[end + 1] == ' ' || d[end + 1] == '\t'))
				end++;
			else
				break;
		}
		while (v < end && (d[v] == ' ' || d[v] == '\t'))
			v++;
		put(o, fields++ ? ",[" : "[");
		put_string(o, d + p, name);
		put(o, ",");
		put_string(o, d + v, end - v);
		put(o, "]");
		p = end < len ? end + 1 : len;
	}
	put(o, "]");
	if (fields && p < len && d[p] == '\n')
		p++; /* the empty line ends the header block */
	return fields ? p : 0;
}

void debug_json_message(const struct smtpgate_session *s, const char *data, size_t len,
			debug_json_emit emit, void *ctx)
{
	const struct out o = { emit, ctx };
	char num[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(num, sizeof(num), "{\"time\":\"%Y-%m-%dT%H:%M:%SZ\",\"session\":", &tm);
	put(&o, num);
	put_string(&o, s->id, strlen(s->id));
	put(&o, ",\"peer\":");
	put_string(&o, s->peer_addr, strlen(s->peer_addr));
	snprintf(num, sizeof(num), ",\"peer_port\":%u,\"helo\":", s->peer_port);
	put(&o, num);
	put_string(&o, s->seen_greeting, strlen(s->seen_greeting));
	put(&o, ",\"sender\":");
	put_string(&o, s->mailfrom ? s->mailfrom : "", s->mailfrom ? strlen(s->mailfrom) : 0);
	put_list(&o, "recipients", s->rcpttos, s->rcpt_count);
	put_list(&o, "mail_options", s->mail_options, s->mail_option_count);
	put_list(&o, "rcpt_options", s->rcpt_options, s->rcpt_option_count);
	snprintf(num, sizeof(num), ",\"size\":%zu", len);
	put(&o, num);
	size_t body = put_headers(&o, data, len);
	int text = debug_json_utf8_valid(data + body, len - body);
	put(&o, text ? ",\"body_encoding\":\"utf-8\",\"body\":"
		     : ",\"body_encoding\":\"base64\",\"body\":");
	if (text)
		put_string(&o, data + body, len - body);
	else
		put_base64(&o, (const unsigned char *)data + body, len - body);
	put(&o, "}\n");
}
