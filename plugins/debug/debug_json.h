/* debug_json.h - a message as one JSON line (the debug plugin's jsonl). */
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

#endif
