/*
 * session_chat.h - the one way to the client: the reply queue, the flush
 * before a blocking read, the delay of error replies, and the session's
 * time budget that bounds every write and pause.  Below the session
 * (session.c, session_cmd.c, session_state.c call it; it calls none of them).
 */
#ifndef SMTPGATE_SESSION_CHAT_H
#define SMTPGATE_SESSION_CHAT_H

#include <stddef.h>

#include "config.h"
#include "conn.h"
#include "smtpgate/plugin.h"

#define SESSION_CHAT_OUT_MAX_BYTES 4096

struct session_chat {
	struct conn *conn;
	const char *sid;                /* for the log and the protocol trace */
	const struct listener_config *l;
	long long deadline_ms;          /* max_session_time from the connect */
	int broken;                     /* a write failed: nothing more is written */
	int errors;                     /* error replies to commands, all told */
	int command_errors;             /* ... to the command being answered */
	/* ENHANCEDSTATUSCODES (RFC 2034) was offered to the client's EHLO
	   (always after LMTP's LHLO):
	   each reply line from then on carries a code (smtp_enhanced.c),
	   the one Postfix gives that reply to verb, the command answered. */
	int enhanced;
	const char *verb;
	size_t out_len;
	char out[SESSION_CHAT_OUT_MAX_BYTES]; /* replies not yet written */
};

void session_chat_init(struct session_chat *ch, struct conn *conn, const char *sid,
		       const struct listener_config *l);

/* The session's time left in milliseconds (0: max_session_time is over),
   and a wait's timeout: timeout_sec, but never past the session's end. */
long long session_chat_time_left_ms(const struct session_chat *ch);
int session_chat_timeout_ms(const struct session_chat *ch, int timeout_sec);

/* A command begins / has been answered: 1 if its answer was an error. */
void session_chat_command_begin(struct session_chat *ch);
int session_chat_command_failed(const struct session_chat *ch);

/* Queue a reply to a command (CR LF added).  The first 4xx/5xx reply to a
   command counts as an error, and past soft_error_limit waits error_sleep
   first (never past the session's end, not at all under stress, nor for
   the error that reaches hard_error_limit: that client is closed at once).
   A 421 ends the session: never counted. */
void session_chat_reply(struct session_chat *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void session_chat_send(struct session_chat *ch, const struct smtpgate_reply *r);
/* Queue a reply to no command (the greeting, a 421 at a timeout): never
   counted nor delayed. */
void session_chat_notify(struct session_chat *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void session_chat_notify_reply(struct session_chat *ch, const struct smtpgate_reply *r);

/* Write what is queued (replies to pipelined commands go out together,
   before the next read that could block). */
void session_chat_flush(struct session_chat *ch);
/* 1 when every write so far reached the client's socket. */
int session_chat_ok(const struct session_chat *ch);

/* A pause of the worker (greet_pause, the error delay): at most ms, never
   past the session's end, cut short by a stop or by stress. */
void session_chat_pause(struct session_chat *ch, long long ms);

/* One reply line to a client that gets no session (the worker's 421 to a
   client over its limit): written at once, bounded by timeout_ms. */
void session_chat_refuse(struct conn *conn, const char *sid, int timeout_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
