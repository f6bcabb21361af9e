/*
 * smtp_client_reply.c - the SMTP client's reply parser over a bare line
 * reader: one reply, all its lines, into a code and one text (the fuzz
 * target feeds it from memory).
 *
 * It knows nothing of sockets or of the client's state, and it never
 * takes for a reply what is not one: a line that does not open with three
 * digits (2xx to 5xx), a reply too long, or lines with different codes
 * give code 0 and the reason, so the caller treats it as a failure.
 */
#include "smtp_client.h"

#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "linebuf.h"

#define CLIENT_REPLY_LINE_MAX_BYTES 2048
#define CLIENT_REPLY_MAX_LINES 100

/* True if a line of len bytes starts as an SMTP reply line must: three
   digits (2xx to 5xx), then the end, a space (last line) or '-'. */
static int is_reply_line(const char *line, size_t len)
{
	return len >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
	       line[2] >= '0' && line[2] <= '9' && (len == 3 || line[3] == ' ' || line[3] == '-');
}

/* The reply loop without the socket: lines from lb until the last one. */
int smtp_client_reply_read(struct linebuf *lb, int timeout_ms, struct smtpgate_upstream_reply *r,
			   struct smtp_client_extensions *ext, const char **why_out)
{
	size_t used = 0;
	r->code = 0;
	r->text[0] = '\0';
	for (int lines = 0; lines < CLIENT_REPLY_MAX_LINES; lines++) {
		const char *line;
		size_t len;
		int rc = linebuf_read_command(lb, CLIENT_REPLY_LINE_MAX_BYTES, timeout_ms, 0, &line, &len);
		if (rc == CONN_TIMEOUT) {
			*why_out = "timeout waiting for a reply";
			return 0;
		}
		if (rc < 0) {
			*why_out = "connection closed";
			return 0;
		}
		if (rc == LINEBUF_TOO_LONG || !is_reply_line(line, len)) {
			*why_out = "not an SMTP reply";
			return 0;
		}
		int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (lines > 0 && code != r->code) {
			*why_out = "reply lines with different codes";
			return 0;
		}
		r->code = code;
		if (ext && lines > 0 && len > 4 && ext->count < SMTP_CLIENT_EXTENSIONS_MAX) {
			size_t n = len - 4 < sizeof(ext->line[0]) - 1 ? len - 4 : sizeof(ext->line[0]) - 1;
			memcpy(ext->line[ext->count], line + 4, n);
			ext->line[ext->count++][n] = '\0';
		}
		if (len > 4) {
			int n = snprintf(r->text + used, sizeof(r->text) - used, "%s%.*s", used ? " " : "",
					 (int)(len - 4), line + 4);
			used = n < 0 ? used : used + (size_t)n >= sizeof(r->text) ? sizeof(r->text) - 1
										  : used + (size_t)n;
		}
		if (len == 3 || line[3] == ' ')
			return code;
	}
	*why_out = "reply too long";
	return 0;
}
