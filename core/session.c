/*
 * session.c - the SMTP channel: smtpd.SMTPChannel's loop, run blocking
 * over a struct conn: the greeting, reading and dispatching commands
 * (built-in ones in session_cmd.c, a plugin's own), the replies, the
 * plugins' hooks and view of the session, and the per-session limits.
 *
 * Entry point: session_run().  Replies, codes and state rules are
 * smtpd.py's (the reference in the README); where smtpd.py crashed or
 * misbehaved this answers instead (see "Differences" in the README).
 * This module is the only one that writes to the client: every reply goes
 * through session_reply() or session_send_reply().
 */
#include "session.h"

#include "session_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linebuf.h"
#include "log.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_reply.h"


static int read_command(struct session *s, const char **line_out, size_t *len_out);
static void dispatch(struct session *s, const char *line, size_t len);
static void pause_ms(struct session *s, long long ms);
static int idle_command(struct session *s);
static void end_command(struct session *s);
static int pregreet(struct session *s);

const char *session_end_name(enum session_end end)
{
	static const char *const names[] = { "quit", "eof", "timeout", "io-error", "stopped",
					     "plugin", "limit" };
	return names[end];
}

/* Session time left in milliseconds; 0 when max_session_time is over. */
long long session_time_left_ms(struct session *s)
{
	long long left = s->deadline_ms - clock_ms();
	return left > 0 ? left : 0;
}

/* A read's timeout: the setting, but never past the end of the session. */
int session_io_timeout_ms(struct session *s, int timeout_sec)
{
	long long t = (long long)timeout_sec * 1000, left = session_time_left_ms(s);
	return (int)(t < left ? t : left);
}

/* A bounded sleep of the worker (it serves no one else meanwhile): at
   most ms, never past the end of the session, cut short by a stop. */
static void pause_ms(struct session *s, long long ms)
{
	long long left = session_time_left_ms(s);
	if (ms > left)
		ms = left;
	if (ms > 0)
		conn_sleep(s->conn, ms);
}

/* Write buffered replies to the client. */
void session_flush(struct session *s)
{
	if (s->out_len == 0 || s->dead)
		return;
	/* Bounded by the session's end, but a second at least, so the 421
	   that ends it still goes out. */
	int timeout = session_io_timeout_ms(s, s->l->command_timeout_sec);
	if (timeout < 1000)
		timeout = 1000;
	if (conn_write(s->conn, s->out, s->out_len, timeout) < 0) {
		s->dead = 1;
		s->end = SESSION_END_IO_ERROR;
	}
	s->out_len = 0;
}

/* Queue one reply line (CR LF added).  Replies to pipelined commands are
   written together, before the next read that could block. */
void session_reply(struct session *s, const char *fmt, ...)
{
	char line[SMTP_REPLY_TEXT_MAX_BYTES + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 3;
	line[len++] = '\r';
	line[len++] = '\n';
	/* The first error reply to a command counts; past soft_error_limit it
	   is delayed.  A 421 closes the session: neither counted nor delayed. */
	if (s->in_command && !s->cmd_failed && (line[0] == '4' || line[0] == '5') &&
	    memcmp(line, "421", 3) != 0) {
		s->cmd_failed = 1;
		if (s->errors >= s->l->soft_error_limit) {
			if (s->errors == s->l->soft_error_limit)
				log_info("sid=%s listener=%s event=limit limit=soft_error_limit errors=%d "
					 "delay=%d", s->sid, s->l->name, s->errors, s->l->error_sleep_sec);
			/* The replies before this one were not delayed: out
			   first, not held back behind the sleep. */
			session_flush(s);
			pause_ms(s, (long long)s->l->error_sleep_sec * 1000);
		}
		s->errors++;
	}
	if (log_trace_enabled())
		log_trace(s->sid, ">", line, len);
	if (s->out_len + len > sizeof(s->out))
		session_flush(s);
	memcpy(s->out + s->out_len, line, len);
	s->out_len += len;
}

void session_send_reply(struct session *s, const struct smtpgate_reply *r)
{
	char line[SMTP_REPLY_TEXT_MAX_BYTES + 32];
	size_t len = smtp_reply_format(r, line, sizeof(line));
	/* The text is bounded so the line always fits; session_reply adds CR LF. */
	session_reply(s, "%.*s", len >= 2 ? (int)(len - 2) : 0, line);
}

/* Refresh the plugins' view of the session before a hook runs. */
void session_sync_pub(struct session *s)
{
	struct smtpgate_session *p = &s->pub;
	p->seen_greeting = s->greeting;
	p->extended_smtp = s->extended_smtp;
	p->mailfrom = s->has_mail ? s->mailfrom : NULL;
	/* Never NULL, and NULL-terminated, before the first RCPT as after. */
	static const char *const no_recipients[] = { NULL };
	p->rcpttos = s->rcpttos ? (const char *const *)s->rcpttos : no_recipients;
	p->rcpt_count = s->rcpt_count;
	p->smtputf8 = s->require_smtputf8;
	if (!s->greeting[0])
		p->state = SMTPGATE_STATE_CONNECTED;
	else if (!s->has_mail)
		p->state = SMTPGATE_STATE_GREETED;
	else if (p->state != SMTPGATE_STATE_DATA)
		p->state = SMTPGATE_STATE_MAIL;
	if (!s->l->decode_data) { /* set while MAIL is checked, for on_mail */
		p->mail_options = s->mail_params.param;
		p->mail_option_count = s->mail_params.count;
	} else {
		p->mail_options = NULL;
		p->mail_option_count = 0;
	}
	/* RCPT parameters are all refused (555), as in smtpd.py. */
	p->rcpt_options = NULL;
	p->rcpt_option_count = 0;
}

/* Forget MAIL and RCPTs; `abandoned` tells the plugin the transaction
   ends without a message (on_reset). */
void session_reset_transaction(struct session *s, int abandoned)
{
	if (abandoned && s->has_mail && s->env->plugin->on_reset) {
		session_sync_pub(s);
		s->env->plugin->on_reset(s->env->priv, &s->pub);
	}
	for (size_t i = 0; i < s->rcpt_count; i++)
		free(s->rcpttos[i]);
	if (s->rcpttos)
		s->rcpttos[0] = NULL; /* no pointer to a freed recipient stays */
	s->rcpt_count = 0;
	s->has_mail = 0;
	s->mailfrom[0] = '\0';
	s->require_smtputf8 = 0;
	s->mail_params.count = 0; /* the count says what is there (the struct is ~8 KiB) */
	s->pub.state = s->greeting[0] ? SMTPGATE_STATE_GREETED : SMTPGATE_STATE_CONNECTED;
	if (s->msg.cap > MSGBUF_KEEP_MAX_BYTES)
		msgbuf_free(&s->msg);
	msgbuf_reset(&s->msg);
}

/* A hook's answer that breaks the rules becomes a 451: never a 2xx the
   plugin did not mean. */
static enum smtpgate_verdict bad_answer(struct session *s, const char *hook,
					enum smtpgate_verdict v, struct smtpgate_reply *r,
					const char *why)
{
	log_err("sid=%s listener=%s plugin=%s hook=%s verdict=%s code=%d: bad plugin answer: %s",
		s->sid, s->l->name, s->env->plugin->name, hook, smtpgate_verdict_name(v), r->code, why);
	smtp_reply_set(r, 451, "4.3.0", "Error: internal error in the message handler");
	return SMTPGATE_TEMPFAIL;
}

enum smtpgate_verdict session_checked(struct session *s, const char *hook,
				     enum smtpgate_verdict v, struct smtpgate_reply *r)
{
	const char *why;
	if (smtp_reply_check(v, r, &why) == 0)
		return v;
	return bad_answer(s, hook, v, r, why);
}

/* Send what a hook decided when it was not CONTINUE/ACCEPT without text.
   Returns 1 when the hook's answer was sent (the command is over). */
int session_answer_hook(struct session *s, enum smtpgate_verdict v, struct smtpgate_reply *r)
{
	switch (v) {
	case SMTPGATE_CONTINUE:
	case SMTPGATE_ACCEPT:
		return 0;
	case SMTPGATE_REJECT:
	case SMTPGATE_TEMPFAIL:
		session_send_reply(s, r);
		return 1;
	case SMTPGATE_DISCONNECT:
		if (r->code)
			session_send_reply(s, r);
		else
			session_reply(s, "421 4.3.0 %s Error: closing connection", s->env->fqdn);
		s->closing = 1;
		s->end = SESSION_END_PLUGIN;
		return 1;
	}
	return 1;
}

/* The next command line; LINEBUF_LINE, LINEBUF_TOO_LONG, or < 0. */
static int read_command(struct session *s, const char **line_out, size_t *len_out)
{
	size_t max = SMTP_CMDLINE_MAX_BYTES + s->mail_extra_bytes;
	/* Write pending replies unless a whole pipelined command is waiting. */
	if (!linebuf_has_line(&s->lb))
		session_flush(s);
	if (s->dead)
		return CONN_ERROR;
	/* A stop interrupts the wait only between transactions: one in
	   progress is finished first (the loop sends 421 after it). */
	int r = linebuf_read_command(&s->lb, max, session_io_timeout_ms(s, s->l->command_timeout_sec),
				     !s->has_mail, line_out, len_out);
	if (r == LINEBUF_LINE && log_trace_enabled())
		log_trace(s->sid, "<", *line_out, *len_out);
	return r;
}

/* max_session_time is over: 421 and close. */
void session_time_exceeded(struct session *s)
{
	log_info("sid=%s listener=%s event=limit limit=max_session_time seconds=%d", s->sid,
		 s->l->name, s->l->max_session_time_sec);
	session_reply(s, "421 4.4.2 %s Error: session time limit exceeded", s->env->fqdn);
	s->closing = 1;
	s->end = SESSION_END_LIMIT;
}

/* Count a command that does not advance a transaction (Postfix's junk
   commands).  1 when it is one too many: 421 sent instead of an answer. */
static int idle_command(struct session *s)
{
	s->cmd_idle_counted = 1;
	if (++s->idle_commands <= s->l->max_idle_commands)
		return 0;
	log_info("sid=%s listener=%s event=limit limit=max_idle_commands commands=%d", s->sid,
		 s->l->name, s->idle_commands);
	session_reply(s, "421 4.7.0 %s Error: too many commands without mail", s->env->fqdn);
	s->closing = 1;
	s->end = SESSION_END_LIMIT;
	return 1;
}

/* After a command's answer: a failed command counts as idle, and the
   hard error limit ends the session. */
static void end_command(struct session *s)
{
	int failed = s->cmd_failed, counted = s->cmd_idle_counted;
	s->in_command = s->cmd_failed = s->cmd_idle_counted = 0;
	if (s->closing || s->dead)
		return;
	if (s->errors >= s->l->hard_error_limit) {
		log_info("sid=%s listener=%s event=limit limit=hard_error_limit errors=%d", s->sid,
			 s->l->name, s->errors);
		session_reply(s, "421 4.7.0 %s Error: too many errors", s->env->fqdn);
		s->closing = 1;
		s->end = SESSION_END_LIMIT;
	} else if (failed && !counted) {
		idle_command(s);
	}
}

static int is_idle_verb(const char *verb)
{
	static const char *const idle[] = { "NOOP", "RSET", "VRFY", "EXPN", "HELP" };
	for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++)
		if (strcmp(verb, idle[i]) == 0)
			return 1;
	return 0;
}

static void dispatch(struct session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	int rc = smtp_parse_command(line, len, &cmd);
	if (rc != SMTP_PARSE_OK) {
		/* smtpd.py: empty line; NUL or bad UTF-8 crashed it instead. */
		if (!idle_command(s))
			session_reply(s, "500 Error: bad syntax");
		return;
	}
	size_t limit = SMTP_CMDLINE_MAX_BYTES;
	if (s->extended_smtp && strcmp(cmd.verb, "MAIL") == 0)
		limit += s->mail_extra_bytes;
	if (len > limit) {
		if (!idle_command(s))
			session_reply(s, "500 Error: line too long");
		return;
	}
	const char *arg = cmd.has_arg && cmd.arg[0] ? cmd.arg : NULL;
	if (!cmd.verb_truncated) {
		session_command_fn run = session_command(cmd.verb);
		if (run) {
			if (is_idle_verb(cmd.verb) && idle_command(s))
				return;
			run(s, arg);
			return;
		}
		for (const struct smtpgate_command *c = s->env->plugin->commands; c && c->verb; c++)
			if (strcmp(cmd.verb, c->verb) == 0) {
				struct smtpgate_reply r;
				smtp_reply_clear(&r);
				session_sync_pub(s);
				enum smtpgate_verdict v = session_checked(s, c->verb,
								  c->run(s->env->priv, &s->pub, arg, &r), &r);
				if (!session_answer_hook(s, v, &r)) {
					if (r.code)
						session_send_reply(s, &r);
					else
						session_reply(s, "250 OK");
				}
				return;
			}
	}
	if (!idle_command(s))
		session_reply(s, "500 Error: command \"%s\" not recognized", cmd.verb);
}

/* greet_pause: wait before the greeting, without reading.  1 when the
   client talked meanwhile and pregreet is "reject" (554 sent). */
static int pregreet(struct session *s)
{
	pause_ms(s, s->l->greet_pause_ms);
	if (!conn_input_pending(s->conn))
		return 0;
	log_info("sid=%s listener=%s event=pregreet action=%s", s->sid, s->l->name,
		 s->l->pregreet_reject ? "reject" : "log");
	if (!s->l->pregreet_reject)
		return 0;
	session_reply(s, "554 5.5.1 %s Error: talking before the greeting", s->env->fqdn);
	return 1;
}

enum session_end session_run(const struct session_env *env, struct conn *conn,
			     const struct session_peer *peer, const char *sid)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->env = env;
	s->l = env->listener;
	s->conn = conn;
	s->end = SESSION_END_EOF;
	s->deadline_ms = clock_ms() + (long long)s->l->max_session_time_sec * 1000;
	linebuf_init(&s->lb, conn);
	snprintf(s->sid, sizeof(s->sid), "%s", sid);
	s->pub.id = s->sid;
	s->pub.listener = s->l->name;
	s->pub.peer_addr = peer->addr;
	s->pub.peer_port = peer->port;
	s->pub.local_addr = peer->local_addr;
	s->pub.local_port = peer->local_port;
	s->pub.fqdn = env->fqdn;
	s->pub.decode_data = s->l->decode_data;
	session_sync_pub(s);
	log_info("sid=%s listener=%s event=connect client=%s port=%u", s->sid, s->l->name,
		 peer->addr, peer->port);
	if (log_trace_enabled())
		log_debug("sid=%s Peer: ('%s', %u)", s->sid, peer->addr, peer->port);

	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	enum smtpgate_verdict v = SMTPGATE_CONTINUE;
	if (env->plugin->on_connect) {
		v = session_checked(s, "on_connect", env->plugin->on_connect(env->priv, &s->pub, &r), &r);
		/* A greeting of its own is a 220: a client takes any other
		   code there for a refusal of service. */
		if ((v == SMTPGATE_CONTINUE || v == SMTPGATE_ACCEPT) && r.code && r.code != 220)
			v = bad_answer(s, "on_connect", v, &r, "a greeting that is not 220");
	}
	if (session_answer_hook(s, v, &r)) {
		s->closing = 1;
		s->end = SESSION_END_PLUGIN;
	} else if (s->l->greet_pause_ms > 0 && pregreet(s)) {
		s->closing = 1;
		s->end = SESSION_END_LIMIT;
	} else if (r.code) {
		session_send_reply(s, &r);
	} else {
		session_reply(s, "220 %s smtpgate %s ESMTP", env->fqdn, PACKAGE_VERSION);
	}

	while (!s->closing && !s->dead) {
		const char *line;
		size_t len;
		if (env->stop_flag && *env->stop_flag && !s->has_mail) {
			session_reply(s, "421 4.3.2 %s Error: server shutting down", env->fqdn);
			s->end = SESSION_END_STOPPED;
			break;
		}
		int rc = read_command(s, &line, &len);
		if ((rc >= 0 || rc == CONN_TIMEOUT) && session_time_left_ms(s) == 0) {
			/* Waited to the session's end, or a command came after it. */
			session_time_exceeded(s);
			break;
		}
		if (rc == LINEBUF_TOO_LONG) {
			s->in_command = 1;
			if (!idle_command(s))
				session_reply(s, "500 Error: line too long");
			end_command(s);
			continue;
		}
		if (rc < 0) {
			if (rc == CONN_TIMEOUT)
				session_reply(s, "421 4.4.2 %s Error: timeout exceeded", env->fqdn);
			else if (rc == CONN_STOPPED)
				session_reply(s, "421 4.3.2 %s Error: server shutting down", env->fqdn);
			s->end = rc == CONN_TIMEOUT ? SESSION_END_TIMEOUT
				 : rc == CONN_STOPPED ? SESSION_END_STOPPED
				 : rc == CONN_EOF ? SESSION_END_EOF : SESSION_END_IO_ERROR;
			break;
		}
		s->commands++;
		s->in_command = 1;
		dispatch(s, line, len);
		end_command(s);
	}
	session_flush(s);
	session_reset_transaction(s, 1);
	if (env->plugin->on_disconnect) {
		session_sync_pub(s);
		env->plugin->on_disconnect(env->priv, &s->pub);
	}
	log_info("sid=%s listener=%s event=disconnect reason=%s commands=%lu messages=%lu", s->sid,
		 s->l->name, session_end_name(s->end), s->commands, s->messages);
	enum session_end end = s->end;
	free(s->rcpttos);
	msgbuf_free(&s->msg);
	free(s);
	return end;
}
