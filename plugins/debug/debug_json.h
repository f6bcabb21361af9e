/* debug_json.h - a message as one JSON line (the debug plugin's jsonl),
   whole or in parts. */
#ifndef SMTPGATE_DEBUG_JSON_H
#define SMTPGATE_DEBUG_JSON_H

#include <stddef.h>

#include <smtpgate/plugin.h>

/* Where the object's bytes go, in order. */
typedef void (*debug_json_emit)(void *ctx, const char *p, size_t len);

/* The message (data, len bytes as the message hook has it) and its
   session's envelope as one JSON object and a LF, through emit. */
void debug_json_message(const struct smtpgate_session *s, const char *data, size_t len,
			debug_json_emit emit, void *ctx);
/* 1 if the bytes are valid UTF-8 (RFC 3629). */
int debug_json_utf8_valid(const char *p, size_t len);

/* The same check over pieces cut anywhere: zeroed to start, fed each
   piece in order, asked at the end. */
struct debug_json_utf8 {
	unsigned char pend[4]; /* a character the last piece cut */
	size_t pend_len;
	int bad;
};
void debug_json_utf8_feed(struct debug_json_utf8 *u, const char *p, size_t len);
int debug_json_utf8_valid_end(const struct debug_json_utf8 *u);

/* Where the body starts in a message beginning with data (the whole
   header block, or the whole message): after the header fields and the
   empty line ending them, as debug_json_message() sees it. */
size_t debug_json_header_end(const char *data, size_t len);
/* The object in parts: its opening up to the header fields, from head
   (the message's first head_len bytes, all its fields) for a message of
   size bytes; returns where the body starts in head.  Then the body:
   begin (text when the whole body is valid UTF-8, else base64), put each
   piece in order, end (which also closes the object and the line). */
size_t debug_json_head(const struct smtpgate_session *s, const char *head, size_t head_len,
		       unsigned long long size, debug_json_emit emit, void *ctx);
struct debug_json_body {
	debug_json_emit emit;
	void *ctx;
	int text;
	unsigned char carry[4]; /* a cut character, or base64's last 1-2 bytes */
	size_t carry_len;
};
void debug_json_body_begin(struct debug_json_body *b, int text, debug_json_emit emit, void *ctx);
void debug_json_body_put(struct debug_json_body *b, const char *p, size_t len);
void debug_json_body_end(struct debug_json_body *b);

#endif
