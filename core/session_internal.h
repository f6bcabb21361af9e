/*
 * session_internal.h - what session.c (the loop, replies, hooks, limits)
 * and session_cmd.c (the commands) share: the session's state and its
 * helpers.  Not for use outside the channel.
 */
#ifndef SMTPGATE_SESSION_INTERNAL_H
#define SMTPGATE_SESSION_INTERNAL_H

#include "clock.h"
#include "linebuf.h"
#include "session.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_reply.h"

#define SMTP_CMDLINE_MAX_BYTES 512   /* smtpd.SMTPChannel.command_size_limit */
#define SMTP_SIZE_EXTRA_BYTES 26     /* MAIL grows by this when SIZE is offered */
#define SMTP_UTF8_EXTRA_BYTES 10     /* ... and by this with SMTPUTF8 */
#define SESSION_OUT_MAX_BYTES 4096
#define MSGBUF_KEEP_MAX_BYTES (1024 * 1024) /* larger buffers are freed after use */

struct session {
	const struct session_env *env;
	const struct listener_config *l;
	struct conn *conn;
	struct linebuf lb;
	struct smtpgate_session pub; /* the view plugins get */

	char sid[24];
	char greeting[SMTP_CMDLINE_MAX_BYTES + 1];
	int extended_smtp;
	size_t mail_extra_bytes; /* MAIL's limit above 512 after EHLO */

	int has_mail;
	char mailfrom[SMTP_ADDRESS_MAX_BYTES];
	char **rcpttos;
	size_t rcpt_count, rcpt_cap;
	struct smtp_params mail_params;
	int require_smtputf8;

	struct msgbuf msg;
	char out[SESSION_OUT_MAX_BYTES]; /* replies not yet written */
	size_t out_len;
	int dead;                        /* the connection failed: stop */
	int closing;                     /* QUIT or a hook: close after reply */
	enum session_end end;
	unsigned long commands, messages;

	long long deadline_ms;           /* max_session_time from the connect */
	int errors;                      /* 4xx/5xx replies to commands */
	int idle_commands;               /* NOOP, RSET, ..., errors since MAIL */
	int in_command;                  /* a command is being answered */
	int cmd_failed;                  /* ... with a 4xx/5xx */
	int cmd_idle_counted;            /* ... and counted in idle_commands */
};

typedef void (*session_command_fn)(struct session *s, const char *arg);

/* session_cmd.c: the handler of a built-in command, or NULL. */
session_command_fn session_command(const char *verb);

/* session.c: replies (queued; written before the next blocking read). */
void session_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void session_send_reply(struct session *s, const struct smtpgate_reply *r);
void session_flush(struct session *s);
/* The plugins' view, refreshed before each hook. */
void session_sync_pub(struct session *s);
/* Forget MAIL and RCPTs; abandoned: the plugin's on_reset runs. */
void session_reset_transaction(struct session *s, int abandoned);
/* A hook's answer, made safe (a bad one becomes 451). */
enum smtpgate_verdict session_checked(struct session *s, const char *hook,
				      enum smtpgate_verdict v, struct smtpgate_reply *r);
/* Send a REJECT/TEMPFAIL/DISCONNECT answer; 1 if the command is over. */
int session_answer_hook(struct session *s, enum smtpgate_verdict v, struct smtpgate_reply *r);
/* Time (clock.h's clock_ms): the session's time left, a read's timeout. */
long long session_time_left_ms(struct session *s);
int session_io_timeout_ms(struct session *s, int timeout_sec);
/* max_session_time is over: 421 and close. */
void session_time_exceeded(struct session *s);

#endif
