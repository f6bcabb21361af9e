/*
 * session_chat.c - the only code that writes to an SMTP client (as
 * Postfix's smtpd_chat.c): replies are queued, written together before
 * the next read that could block (so pipelined commands get their
 * replies in one write), and error replies past soft_error_limit are
 * delayed by error_sleep.  It also keeps the session's time budget
 * (max_session_time), which bounds every write and every pause.
 *
 * Entry points: session_chat_reply/notify/send, session_chat_flush,
 * session_chat_pause, and session_chat_refuse for a client that gets no
 * session at all.  It never reads from the client, never decides what a
 * reply says, and calls nothing of the session above it (session.c,
 * session_cmd.c, session_state.c): the caller learns a failed write from
 * session_chat_ok().
 */
#include "session_chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "counters.h"
#include "log.h"
#include "smtp_enhanced.h"
#include "smtp_reply.h"

static size_t format_line(char *line, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void count_error(struct session_chat *ch, const char *line);
/* Append one formatted line, writing first when the queue is full. */
static void queue(struct session_chat *ch, const char *line, size_t len);
static void put(struct session_chat *ch, int command_reply, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void put_fmt(struct session_chat *ch, int command_reply, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void put_reply(struct session_chat *ch, int command_reply, const struct smtpgate_reply *r);

void session_chat_init(struct session_chat *ch, struct conn *conn, const char *sid,
		       const struct listener_config *l)
{
	ch->conn = conn;
	ch->sid = sid;
	ch->l = l;
	ch->deadline_ms = clock_ms() + (long long)l->max_session_time_sec * 1000;
	ch->broken = 0;
	ch->errors = ch->command_errors = 0;
	ch->enhanced = 0;
	ch->verb = NULL;
	ch->out_len = 0;
}

/* Time left before max_session_time, in milliseconds. */
long long session_chat_time_left_ms(const struct session_chat *ch)
{
	long long left = ch->deadline_ms - clock_ms();
	return left > 0 ? left : 0;
}

/* A wait's timeout: the setting, but never past the end of the session. */
int session_chat_timeout_ms(const struct session_chat *ch, int timeout_sec)
{
	long long t = (long long)timeout_sec * 1000, left = session_chat_time_left_ms(ch);
	return (int)(t < left ? t : left);
}

/* A new command: none of its replies so far. */
void session_chat_command_begin(struct session_chat *ch)
{
	ch->command_errors = 0;
	ch->verb = NULL;
}

/* Whether the command being answered got an error reply. */
int session_chat_command_failed(const struct session_chat *ch)
{
	return ch->command_errors > 0;
}

/* One reply line with CR LF in line[size]; its length.  A text too long
   for the line is cut (the callers' texts are bounded to fit). */
static size_t format_line(char *line, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(line, size - 2, fmt, ap);
	if (n < 0)
		n = 0;
	size_t len = (size_t)n < size - 2 ? (size_t)n : size - 3;
	line[len++] = '\r';
	line[len++] = '\n';
	return len;
}

/* The first error reply to a command counts; past soft_error_limit it is
   delayed, unless it is the one that reaches hard_error_limit (the 421
   and the close follow at once: sleeping first would only hold the
   worker).  A 421 closes the session: neither counted nor delayed. */
static void count_error(struct session_chat *ch, const char *line)
{
	if ((line[0] != '4' && line[0] != '5') || memcmp(line, "421", 3) == 0 ||
	    ch->command_errors++ > 0)
		return;
	const struct listener_config *l = ch->l;
	if (ch->errors >= l->soft_error_limit && ch->errors + 1 < l->hard_error_limit) {
		if (ch->errors == l->soft_error_limit) {
			log_info("sid=%s listener=%s event=limit limit=soft_error_limit errors=%d "
				 "delay=%d", ch->sid, l->name, ch->errors, l->error_sleep_sec);
			counters_limit(CL_SOFT_ERROR_LIMIT);
		}
		/* The replies before this one were not delayed: out first,
		   not held back behind the sleep. */
		session_chat_flush(ch);
		session_chat_pause(ch, (long long)l->error_sleep_sec * 1000);
	}
	ch->errors++;
}

/* Append one formatted line, writing first when the queue is full. */
static void queue(struct session_chat *ch, const char *line, size_t len)
{
	if (log_trace_enabled())
		log_trace(ch->sid, ">", line, len);
	if (ch->out_len + len > sizeof(ch->out))
		session_chat_flush(ch);
	memcpy(ch->out + ch->out_len, line, len);
	ch->out_len += len;
}

/* Format, count when it answers a command, and queue one reply line. */
static void put(struct session_chat *ch, int command_reply, const char *fmt, va_list ap)
{
	char line[SMTP_REPLY_TEXT_MAX_BYTES + 64], coded[sizeof(line) + 16];
	size_t len = format_line(line, sizeof(line), fmt, ap);
	if (command_reply) {
		count_error(ch, line);
		counters_command_reply(line[0]);
	}
	if (ch->enhanced) {
		len = smtp_enhanced_apply(ch->verb, line, len, coded, sizeof(coded));
		queue(ch, coded, len);
		return;
	}
	queue(ch, line, len);
}

/* put() with its arguments listed. */
static void put_fmt(struct session_chat *ch, int command_reply, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put(ch, command_reply, fmt, ap);
	va_end(ap);
}

/* put() for a reply object. */
static void put_reply(struct session_chat *ch, int command_reply, const struct smtpgate_reply *r)
{
	char line[SMTP_REPLY_TEXT_MAX_BYTES + 32];
	size_t len = smtp_reply_format(r, line, sizeof(line));
	/* The text is bounded so the line always fits; put() adds CR LF back. */
	put_fmt(ch, command_reply, "%.*s", len >= 2 ? (int)(len - 2) : 0, line);
}

/* A reply to a command: counted and delayed as count_error() says. */
void session_chat_reply(struct session_chat *ch, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put(ch, 1, fmt, ap);
	va_end(ap);
}

/* A reply to no command: queued as it is. */
void session_chat_notify(struct session_chat *ch, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put(ch, 0, fmt, ap);
	va_end(ap);
}

/* A reply object (a plugin's, or the core's) as a reply to a command. */
void session_chat_send(struct session_chat *ch, const struct smtpgate_reply *r)
{
	put_reply(ch, 1, r);
}

/* A reply object as a reply to no command (the greeting). */
void session_chat_notify_reply(struct session_chat *ch, const struct smtpgate_reply *r)
{
	put_reply(ch, 0, r);
}

/* Write the queued replies to the client. */
void session_chat_flush(struct session_chat *ch)
{
	if (ch->out_len == 0 || ch->broken)
		return;
	/* Bounded by the session's end, but a second at least, so the 421
	   that ends it still goes out. */
	int timeout = session_chat_timeout_ms(ch, ch->l->command_timeout_sec);
	if (timeout < 1000)
		timeout = 1000;
	if (conn_write(ch->conn, ch->out, ch->out_len, timeout) < 0)
		ch->broken = 1;
	ch->out_len = 0;
}

/* No write has failed so far. */
int session_chat_ok(const struct session_chat *ch)
{
	return !ch->broken;
}

/* Sleep without reading, bounded by the session's end (and stress). */
void session_chat_pause(struct session_chat *ch, long long ms)
{
	long long left = session_chat_time_left_ms(ch);
	if (ms > left)
		ms = left;
	if (ms > 0)
		conn_sleep(ch->conn, ms);
}

/* The one reply to a client refused before its session starts. */
void session_chat_refuse(struct conn *conn, const char *sid, int timeout_ms, const char *fmt, ...)
{
	char line[SMTP_REPLY_TEXT_MAX_BYTES + 64];
	va_list ap;
	va_start(ap, fmt);
	size_t len = format_line(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_trace_enabled())
		log_trace(sid, ">", line, len);
	conn_write(conn, line, len, timeout_ms);
}
