/*
 * debug_json.c - one message as one JSON object on one line (the debug
 * plugin's `format = "jsonl"`), for tests that read what an application
 * sent with a real JSON parser, as Mailpit or MailHog are used: time,
 * session id, peer, HELO name, sender, recipients, options, size, the
 * header fields in order, and the body as text, or base64 when it is not
 * valid UTF-8.
 *
 * The object can be made in parts, for a message that was never whole
 * in memory: debug_json_head() up to the header fields, then the body
 * through debug_json_body_* in pieces cut anywhere (base64 carries up to
 * two bytes to the next piece, text a character cut in two), with the
 * choice of text or base64 made beforehand over the whole body
 * (debug_json_utf8_*, fed piece by piece too).  debug_json_message() is
 * the same for a message held whole.
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

static size_t utf8_len(unsigned char lead);
static size_t utf8_char(const unsigned char *p, size_t len);
static void put(const struct out *o, const char *s);
static size_t put_escaped(const struct out *o, const char *p, size_t len, int whole);
static void put_string(const struct out *o, const char *p, size_t len);
static void put_list(const struct out *o, const char *key, const char *const *v, size_t n);
static void put_base64(const struct out *o, const unsigned char *p, size_t len, int whole);
static size_t header_name_len(const char *p, size_t len);
static size_t put_headers(const struct out *o, const char *d, size_t len);
static void no_emit(void *ctx, const char *p, size_t len);
static void body_carry(struct debug_json_body *b, const char **p, size_t *len);

/* How long a UTF-8 character starting with lead is; 0 if lead cannot
   start one. */
static size_t utf8_len(unsigned char lead)
{
	if (lead < 0x80)
		return 1;
	return lead > 0xf4 ? 0 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
}

/* The length of the valid UTF-8 character at p (RFC 3629: no overlong
   forms, no surrogates, at most U+10FFFF); 0 if the bytes are not one. */
static size_t utf8_char(const unsigned char *p, size_t len)
{
	size_t n = utf8_len(p[0]);
	if (n == 1)
		return 1;
	if (n == 0 || n > len)
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

void debug_json_utf8_feed(struct debug_json_utf8 *u, const char *p, size_t len)
{
	const unsigned char *q = (const unsigned char *)p;
	while (len > 0 && !u->bad) {
		if (u->pend_len) { /* a character cut by the last piece's end */
			u->pend[u->pend_len++] = *q++;
			len--;
			if (u->pend_len == utf8_len(u->pend[0])) {
				u->bad = utf8_char(u->pend, u->pend_len) != u->pend_len;
				u->pend_len = 0;
			}
			continue;
		}
		size_t n = utf8_char(q, len);
		if (n == 0 && utf8_len(q[0]) > len) {
			memcpy(u->pend, q, len); /* checked when the rest comes */
			u->pend_len = len;
			return;
		}
		u->bad = n == 0;
		q += n;
		len -= n;
	}
}

int debug_json_utf8_valid_end(const struct debug_json_utf8 *u)
{
	return !u->bad && u->pend_len == 0;
}

static void put(const struct out *o, const char *s)
{
	o->emit(o->ctx, s, strlen(s));
}

/* The inside of a JSON string: quotes, backslashes and controls escaped;
   a byte that is not UTF-8 becomes U+FFFD (callers send bodies that are
   not as base64).  Unless whole, a character cut by the end is left: the
   bytes consumed. */
static size_t put_escaped(const struct out *o, const char *p, size_t len, int whole)
{
	char esc[8];
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)p[i];
		size_t n = utf8_char((const unsigned char *)p + i, len - i);
		if (n == 0 && !whole && utf8_len(c) > len - i)
			break;
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
	return i;
}

/* A JSON string. */
static void put_string(const struct out *o, const char *p, size_t len)
{
	put(o, "\"");
	put_escaped(o, p, len, 1);
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

/* RFC 4648 base64, no line breaks: all of p when whole (padded), else
   its whole groups of three bytes only. */
static void put_base64(const struct out *o, const unsigned char *p, size_t len, int whole)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	if (!whole)
		len -= len % 3;
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

/* For debug_json_header_end(): the fields parsed, nothing written. */
static void no_emit(void *ctx, const char *p, size_t len)
{
	(void)ctx;
	(void)p;
	(void)len;
}

size_t debug_json_header_end(const char *data, size_t len)
{
	const struct out o = { no_emit, NULL };
	return put_headers(&o, data, len);
}

size_t debug_json_head(const struct smtpgate_session *s, const char *head, size_t head_len,
		       unsigned long long size, debug_json_emit emit, void *ctx)
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
	snprintf(num, sizeof(num), ",\"size\":%llu", size);
	put(&o, num);
	return put_headers(&o, head, head_len);
}

void debug_json_body_begin(struct debug_json_body *b, int text, debug_json_emit emit, void *ctx)
{
	const struct out o = { emit, ctx };
	b->emit = emit;
	b->ctx = ctx;
	b->text = text;
	b->carry_len = 0;
	put(&o, text ? ",\"body_encoding\":\"utf-8\",\"body\":\""
		     : ",\"body_encoding\":\"base64\",\"body\":\"");
}

/* What completes the carried bytes (a character, or a group of three),
   taken from the front of *p; once complete, encoded. */
static void body_carry(struct debug_json_body *b, const char **p, size_t *len)
{
	const struct out o = { b->emit, b->ctx };
	size_t want = b->text ? utf8_len(b->carry[0]) : 3;
	while (b->carry_len < want && *len > 0) {
		b->carry[b->carry_len++] = (unsigned char)**p;
		(*p)++;
		(*len)--;
	}
	if (b->carry_len < want)
		return;
	if (b->text)
		put_escaped(&o, (const char *)b->carry, b->carry_len, 1);
	else
		put_base64(&o, b->carry, b->carry_len, 1);
	b->carry_len = 0;
}

void debug_json_body_put(struct debug_json_body *b, const char *p, size_t len)
{
	const struct out o = { b->emit, b->ctx };
	if (len == 0)
		return; /* p may be NULL then */
	if (b->carry_len)
		body_carry(b, &p, &len);
	if (b->carry_len)
		return; /* all of p went to the carry */
	size_t done;
	if (b->text) {
		done = put_escaped(&o, p, len, 0);
	} else {
		done = len - len % 3;
		put_base64(&o, (const unsigned char *)p, done, 0);
	}
	/* The rest, at most 3 bytes (a cut character) or 2 (base64). */
	memcpy(b->carry, p + done, len - done);
	b->carry_len = len - done;
}

void debug_json_body_end(struct debug_json_body *b)
{
	const struct out o = { b->emit, b->ctx };
	/* Text: a character the body's end cut off (never in a body checked
	   valid) comes out as U+FFFD; base64: the last group, padded. */
	if (b->text)
		put_escaped(&o, (const char *)b->carry, b->carry_len, 1);
	else
		put_base64(&o, b->carry, b->carry_len, 1);
	b->carry_len = 0;
	put(&o, "\"}\n");
}

void debug_json_message(const struct smtpgate_session *s, const char *data, size_t len,
			debug_json_emit emit, void *ctx)
{
	struct debug_json_body b;
	size_t body = debug_json_head(s, data, len, len, emit, ctx);
	debug_json_body_begin(&b, debug_json_utf8_valid(data + body, len - body), emit, ctx);
	debug_json_body_put(&b, data + body, len - body);
	debug_json_body_end(&b);
}
