/*
 * session.c - the SMTP channel: smtpd.SMTPChannel's state machine and
 * command table, run as a blocking loop over a struct conn.
 *
 * Entry point: session_run().  Replies, codes and state rules are
 * smtpd.py's (the reference in the README); where smtpd.py crashed or
 * misbehaved this answers instead (see "Differences" in the README).
 * Plugins are consulted at each stage through their hooks; this module is
 * the only one that writes to the client, and every reply goes through
 * reply_line() or send_reply().
 */
#include "session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "linebuf.h"
#include "log.h"
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
	const char *mail_option_ptrs[SMTP_PARAMS_MAX];
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

typedef void (*command_fn)(struct session *s, const char *arg);

static void flush(struct session *s);
static void reply_line(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_reply(struct session *s, const struct smtpgate_reply *r);
static void sync_pub(struct session *s);
static void reset_transaction(struct session *s, int abandoned);
static enum smtpgate_verdict checked(struct session *s, const char *hook,
				     enum smtpgate_verdict v, struct smtpgate_reply *r);
static int answer_hook(struct session *s, enum smtpgate_verdict v, struct smtpgate_reply *r);
static int read_command(struct session *s, const char **line_out, size_t *len_out);
static void dispatch(struct session *s, const char *line, size_t len);
static int greet(struct session *s, const char *verb, const char *arg);
static void smtp_helo(struct session *s, const char *arg);
static void smtp_ehlo(struct session *s, const char *arg);
static void smtp_noop(struct session *s, const char *arg);
static void smtp_quit(struct session *s, const char *arg);
static void smtp_help(struct session *s, const char *arg);
static void smtp_vrfy(struct session *s, const char *arg);
static void smtp_mail(struct session *s, const char *arg);
static void smtp_rcpt(struct session *s, const char *arg);
static void smtp_rset(struct session *s, const char *arg);
static void smtp_data(struct session *s, const char *arg);
static void smtp_expn(struct session *s, const char *arg);
static long long time_left_ms(struct session *s);
static int io_timeout_ms(struct session *s, int timeout_sec);
static void pause_ms(struct session *s, long long ms);
static void session_time_exceeded(struct session *s);
static int idle_command(struct session *s);
static void end_command(struct session *s);
static int pregreet(struct session *s);
static int mail_params_acceptable(struct session *s, const char *syntaxerr);
static int receive_data(struct session *s, struct smtp_data *d);
static void deliver(struct session *s, const struct smtp_data *d, long long started_ms);

static const struct {
	const char *verb;
	command_fn run;
} command_table[] = {
	{ "HELO", smtp_helo }, { "EHLO", smtp_ehlo }, { "NOOP", smtp_noop },
	{ "QUIT", smtp_quit }, { "HELP", smtp_help }, { "VRFY", smtp_vrfy },
	{ "MAIL", smtp_mail }, { "RCPT", smtp_rcpt }, { "RSET", smtp_rset },
	{ "DATA", smtp_data }, { "EXPN", smtp_expn },
};

const char *session_end_name(enum session_end end)
{
	static const char *const names[] = { "quit", "eof", "timeout", "io-error", "stopped",
					     "plugin", "limit" };
	return names[end];
}

static long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Session time left in milliseconds; 0 when max_session_time is over. */
static long long time_left_ms(struct session *s)
{
	long long left = s->deadline_ms - monotonic_ms();
	return left > 0 ? left : 0;
}

/* A read's timeout: the setting, but never past the end of the session. */
static int io_timeout_ms(struct session *s, int timeout_sec)
{
	long long t = (long long)timeout_sec * 1000, left = time_left_ms(s);
	return (int)(t < left ? t : left);
}

/* A bounded sleep of the worker (it serves no one else meanwhile): at
   most ms, never past the end of the session, cut short by a stop. */
static void pause_ms(struct session *s, long long ms)
{
	long long left = time_left_ms(s);
	if (ms > left)
		ms = left;
	if (ms <= 0)
		return;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		if (s->env->stop_flag && *s->env->stop_flag)
			break;
}

/* Write buffered replies to the client. */
static void flush(struct session *s)
{
	if (s->out_len == 0 || s->dead)
		return;
	/* Bounded by the session's end, but a second at least, so the 421
	   that ends it still goes out. */
	int timeout = io_timeout_ms(s, s->l->command_timeout_sec);
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
static void reply_line(struct session *s, const char *fmt, ...)
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
			pause_ms(s, (long long)s->l->error_sleep_sec * 1000);
		}
		s->errors++;
	}
	if (log_trace_enabled())
		log_trace(s->sid, ">", line, len);
	if (s->out_len + len > sizeof(s->out))
		flush(s);
	memcpy(s->out + s->out_len, line, len);
	s->out_len += len;
}

static void send_reply(struct session *s, const struct smtpgate_reply *r)
{
	if (r->enhanced[0])
		reply_line(s, "%03d %s %s", r->code, r->enhanced, r->text);
	else
		reply_line(s, "%03d %s", r->code, r->text);
}

/* Refresh the plugins' view of the session before a hook runs. */
static void sync_pub(struct session *s)
{
	struct smtpgate_session *p = &s->pub;
	p->seen_greeting = s->greeting;
	p->extended_smtp = s->extended_smtp;
	p->mailfrom = s->has_mail ? s->mailfrom : NULL;
	p->rcpttos = (const char *const *)s->rcpttos;
	p->rcpt_count = s->rcpt_count;
	p->smtputf8 = s->require_smtputf8;
	if (!s->greeting[0])
		p->state = SMTPGATE_STATE_CONNECTED;
	else if (!s->has_mail)
		p->state = SMTPGATE_STATE_GREETED;
	else if (p->state != SMTPGATE_STATE_DATA)
		p->state = SMTPGATE_STATE_MAIL;
	if (!s->l->decode_data) { /* set while MAIL is checked, for on_mail */
		for (size_t i = 0; i < s->mail_params.count; i++)
			s->mail_option_ptrs[i] = s->mail_params.text[i];
		p->mail_options = s->mail_option_ptrs;
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
static void reset_transaction(struct session *s, int abandoned)
{
	if (abandoned && s->has_mail && s->env->plugin->on_reset) {
		sync_pub(s);
		s->env->plugin->on_reset(s->env->priv, &s->pub);
	}
	for (size_t i = 0; i < s->rcpt_count; i++)
		free(s->rcpttos[i]);
	s->rcpt_count = 0;
	s->has_mail = 0;
	s->mailfrom[0] = '\0';
	s->require_smtputf8 = 0;
	memset(&s->mail_params, 0, sizeof(s->mail_params));
	s->pub.state = s->greeting[0] ? SMTPGATE_STATE_GREETED : SMTPGATE_STATE_CONNECTED;
	if (s->msg.cap > MSGBUF_KEEP_MAX_BYTES)
		msgbuf_free(&s->msg);
	msgbuf_reset(&s->msg);
}

/* A hook's answer that breaks the rules becomes a 451: never a 2xx the
   plugin did not mean. */
static enum smtpgate_verdict checked(struct session *s, const char *hook,
				     enum smtpgate_verdict v, struct smtpgate_reply *r)
{
	const char *why;
	if (smtp_reply_check(v, r, &why) == 0)
		return v;
	log_err("sid=%s listener=%s plugin=%s hook=%s verdict=%s code=%d: bad plugin answer: %s",
		s->sid, s->l->name, s->env->plugin->name, hook, smtpgate_verdict_name(v), r->code, why);
	smtp_reply_set(r, 451, "4.3.0", "Error: internal error in the message handler");
	return SMTPGATE_TEMPFAIL;
}

/* Send what a hook decided when it was not CONTINUE/ACCEPT without text.
   Returns 1 when the hook's answer was sent (the command is over). */
static int answer_hook(struct session *s, enum smtpgate_verdict v, struct smtpgate_reply *r)
{
	switch (v) {
	case SMTPGATE_CONTINUE:
	case SMTPGATE_ACCEPT:
		return 0;
	case SMTPGATE_REJECT:
	case SMTPGATE_TEMPFAIL:
		send_reply(s, r);
		return 1;
	case SMTPGATE_DISCONNECT:
		if (r->code)
			send_reply(s, r);
		else
			reply_line(s, "421 4.3.0 %s Error: closing connection", s->env->fqdn);
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
	if (!memchr(s->lb.buf + s->lb.start, '\n', linebuf_pending(&s->lb)))
		flush(s);
	if (s->dead)
		return CONN_ERROR;
	/* A stop interrupts the wait only between transactions: one in
	   progress is finished first (the loop sends 421 after it). */
	int r = linebuf_read_command(&s->lb, max, io_timeout_ms(s, s->l->command_timeout_sec),
				     !s->has_mail, line_out, len_out);
	if (r == LINEBUF_LINE && log_trace_enabled())
		log_trace(s->sid, "<", *line_out, *len_out);
	return r;
}

/* max_session_time is over: 421 and close. */
static void session_time_exceeded(struct session *s)
{
	log_info("sid=%s listener=%s event=limit limit=max_session_time seconds=%d", s->sid,
		 s->l->name, s->l->max_session_time_sec);
	reply_line(s, "421 4.4.2 %s Error: session time limit exceeded", s->env->fqdn);
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
	reply_line(s, "421 4.7.0 %s Error: too many commands without mail", s->env->fqdn);
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
		reply_line(s, "421 4.7.0 %s Error: too many errors", s->env->fqdn);
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
			reply_line(s, "500 Error: bad syntax");
		return;
	}
	size_t limit = SMTP_CMDLINE_MAX_BYTES;
	if (s->extended_smtp && strcmp(cmd.verb, "MAIL") == 0)
		limit += s->mail_extra_bytes;
	if (len > limit) {
		if (!idle_command(s))
			reply_line(s, "500 Error: line too long");
		return;
	}
	const char *arg = cmd.has_arg && cmd.arg[0] ? cmd.arg : NULL;
	if (!cmd.verb_truncated) {
		for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++)
			if (strcmp(cmd.verb, command_table[i].verb) == 0) {
				if (is_idle_verb(cmd.verb) && idle_command(s))
					return;
				command_table[i].run(s, arg);
				return;
			}
		for (const struct smtpgate_command *c = s->env->plugin->commands; c && c->verb; c++)
			if (strcmp(cmd.verb, c->verb) == 0) {
				struct smtpgate_reply r;
				smtp_reply_clear(&r);
				sync_pub(s);
				enum smtpgate_verdict v = checked(s, c->verb,
								  c->run(s->env->priv, &s->pub, arg, &r), &r);
				if (!answer_hook(s, v, &r)) {
					if (r.code)
						send_reply(s, &r);
					else
						reply_line(s, "250 OK");
				}
				return;
			}
	}
	if (!idle_command(s))
		reply_line(s, "500 Error: command \"%s\" not recognized", cmd.verb);
}

/* HELO and EHLO share everything but the extension list. */
static int greet(struct session *s, const char *verb, const char *arg)
{
	if (!arg) {
		reply_line(s, "501 Syntax: %s hostname", verb);
		return 0;
	}
	if (s->greeting[0]) {
		reply_line(s, "503 Duplicate HELO/EHLO");
		return 0;
	}
	if (s->env->plugin->on_helo) {
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		sync_pub(s);
		enum smtpgate_verdict v = checked(s, "on_helo",
						  s->env->plugin->on_helo(s->env->priv, &s->pub, arg, &r), &r);
		if (answer_hook(s, v, &r))
			return 0;
	}
	reset_transaction(s, 1);
	snprintf(s->greeting, sizeof(s->greeting), "%s", arg);
	return 1;
}

static void smtp_helo(struct session *s, const char *arg)
{
	if (greet(s, "HELO", arg))
		reply_line(s, "250 %s", s->env->fqdn);
}

static void smtp_ehlo(struct session *s, const char *arg)
{
	if (!greet(s, "EHLO", arg))
		return;
	s->extended_smtp = 1;
	reply_line(s, "250-%s", s->env->fqdn);
	if (s->l->data_size_limit) {
		reply_line(s, "250-SIZE %lld", s->l->data_size_limit);
		s->mail_extra_bytes += SMTP_SIZE_EXTRA_BYTES;
	}
	if (!s->l->decode_data)
		reply_line(s, "250-8BITMIME");
	if (s->l->smtputf8) {
		reply_line(s, "250-SMTPUTF8");
		s->mail_extra_bytes += SMTP_UTF8_EXTRA_BYTES;
	}
	reply_line(s, "250 HELP");
}

static void smtp_noop(struct session *s, const char *arg)
{
	if (arg)
		reply_line(s, "501 Syntax: NOOP");
	else
		reply_line(s, "250 OK");
}

static void smtp_quit(struct session *s, const char *arg)
{
	(void)arg; /* ignored, as in smtpd.py */
	reply_line(s, "221 Bye");
	s->closing = 1;
	s->end = SESSION_END_QUIT;
}

static void smtp_help(struct session *s, const char *arg)
{
	static const struct { const char *verb, *syntax; int extended; } help[] = {
		{ "EHLO", "EHLO hostname", 0 }, { "HELO", "HELO hostname", 0 },
		{ "MAIL", "MAIL FROM: <address>", 1 }, { "RCPT", "RCPT TO: <address>", 1 },
		{ "DATA", "DATA", 0 }, { "RSET", "RSET", 0 }, { "NOOP", "NOOP", 0 },
		{ "QUIT", "QUIT", 0 }, { "VRFY", "VRFY <address>", 0 },
	};
	if (!arg) {
		reply_line(s, "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY");
		return;
	}
	for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
		if (strcasecmp(arg, help[i].verb) == 0) {
			reply_line(s, "250 Syntax: %s%s", help[i].syntax,
				   help[i].extended && s->extended_smtp ? " [SP <mail-parameters>]" : "");
			return;
		}
	reply_line(s, "501 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY");
}

static void smtp_vrfy(struct session *s, const char *arg)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	if (!arg)
		reply_line(s, "501 Syntax: VRFY <address>");
	else if (smtp_parse_path(arg, "", 1, address, sizeof(address), &params) == 0)
		reply_line(s, "252 Cannot VRFY user, but will accept message and attempt delivery");
	else
		reply_line(s, "502 Could not VRFY %s", arg);
}

/* SIZE, BODY and SMTPUTF8 as smtpd.py checks them, in its order.  0 if
   the parameters are acceptable (a reply was sent otherwise). */
static int mail_params_acceptable(struct session *s, const char *syntaxerr)
{
	const struct smtp_params *p = &s->mail_params;
	int consumed[SMTP_PARAMS_MAX] = { 0 };
	int i;

	if (!s->l->decode_data && (i = smtp_params_find(p, "BODY")) >= 0) {
		if (!p->value[i] || (strcmp(p->value[i], "7BIT") && strcmp(p->value[i], "8BITMIME"))) {
			reply_line(s, "501 Error: BODY can only be one of 7BIT, 8BITMIME");
			return -1;
		}
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 4 && !memcmp(p->text[k], "BODY", 4);
	}
	if (s->l->smtputf8 && (i = smtp_params_find(p, "SMTPUTF8")) >= 0) {
		if (p->value[i]) {
			reply_line(s, "501 Error: SMTPUTF8 takes no arguments");
			return -1;
		}
		s->require_smtputf8 = 1;
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 8 && !memcmp(p->text[k], "SMTPUTF8", 8);
	}
	if ((i = smtp_params_find(p, "SIZE")) >= 0) {
		const char *v = p->value[i];
		/* smtpd.py crashed on a bare SIZE; it is a syntax error here. */
		if (!v || strspn(v, "0123456789") != strlen(v)) {
			reply_line(s, "%s", syntaxerr);
			return -1;
		}
		size_t digits = strlen(v);
		while (digits > 1 && *v == '0') {
			v++;
			digits--;
		}
		if (s->l->data_size_limit &&
		    (digits > 18 || strtoll(v, NULL, 10) > s->l->data_size_limit)) {
			reply_line(s, "552 Error: message size exceeds fixed maximum message size");
			return -1;
		}
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 4 && !memcmp(p->text[k], "SIZE", 4);
	}
	for (size_t k = 0; k < p->count; k++)
		if (!consumed[k]) {
			reply_line(s, "555 MAIL FROM parameters not recognized or not implemented");
			return -1;
		}
	return 0;
}

static void smtp_mail(struct session *s, const char *arg)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	char syntaxerr[80];

	if (!s->greeting[0]) {
		reply_line(s, "503 Error: send HELO first");
		return;
	}
	snprintf(syntaxerr, sizeof(syntaxerr), "501 Syntax: MAIL FROM: <address>%s",
		 s->extended_smtp ? " [SP <mail-parameters>]" : "");
	if (!arg || smtp_parse_path(arg, "FROM:", 1, address, sizeof(address), &params) < 0 ||
	    (!s->extended_smtp && *params)) {
		reply_line(s, "%s", syntaxerr);
		return;
	}
	if (s->has_mail) {
		reply_line(s, "503 Error: nested MAIL command");
		return;
	}
	if (smtp_parse_params(params, &s->mail_params) < 0) {
		memset(&s->mail_params, 0, sizeof(s->mail_params));
		reply_line(s, "%s", syntaxerr);
		return;
	}
	s->require_smtputf8 = 0;
	if (mail_params_acceptable(s, syntaxerr) < 0) {
		memset(&s->mail_params, 0, sizeof(s->mail_params));
		s->require_smtputf8 = 0;
		return;
	}
	if (s->env->plugin->on_mail) {
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		sync_pub(s);
		enum smtpgate_verdict v = checked(s, "on_mail",
						  s->env->plugin->on_mail(s->env->priv, &s->pub, address, &r),
						  &r);
		if (answer_hook(s, v, &r)) {
			memset(&s->mail_params, 0, sizeof(s->mail_params));
			s->require_smtputf8 = 0;
			return;
		}
		if (r.code) {
			memcpy(s->mailfrom, address, strlen(address) + 1);
			s->has_mail = 1;
			s->idle_commands = 0;
			send_reply(s, &r);
			return;
		}
	}
	memcpy(s->mailfrom, address, strlen(address) + 1);
	s->has_mail = 1;
	s->idle_commands = 0;
	reply_line(s, "250 OK");
}

static void smtp_rcpt(struct session *s, const char *arg)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	struct smtp_params rcpt_params;

	if (!s->greeting[0]) {
		reply_line(s, "503 Error: send HELO first");
		return;
	}
	if (!s->has_mail) {
		reply_line(s, "503 Error: need MAIL command");
		return;
	}
	if (!arg || smtp_parse_path(arg, "TO:", 0, address, sizeof(address), &params) < 0 ||
	    (!s->extended_smtp && *params) || smtp_parse_params(params, &rcpt_params) < 0) {
		reply_line(s, "501 Syntax: RCPT TO: <address>%s",
			   s->extended_smtp ? " [SP <mail-parameters>]" : "");
		return;
	}
	if (rcpt_params.count > 0) {
		reply_line(s, "555 RCPT TO parameters not recognized or not implemented");
		return;
	}
	if (s->rcpt_count >= (size_t)s->l->max_recipients) {
		reply_line(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	if (s->env->plugin->on_rcpt) {
		sync_pub(s);
		enum smtpgate_verdict v = checked(s, "on_rcpt",
						  s->env->plugin->on_rcpt(s->env->priv, &s->pub, address, &r),
						  &r);
		if (answer_hook(s, v, &r))
			return;
	}
	if (s->rcpt_count == s->rcpt_cap) {
		size_t cap = s->rcpt_cap ? s->rcpt_cap * 2 : 8;
		char **n = realloc(s->rcpttos, (cap + 1) * sizeof(*n));
		if (!n)
			abort();
		s->rcpttos = n;
		s->rcpt_cap = cap;
	}
	if (!(s->rcpttos[s->rcpt_count] = strdup(address)))
		abort();
	s->rcpttos[++s->rcpt_count] = NULL;
	if (r.code)
		send_reply(s, &r);
	else
		reply_line(s, "250 OK");
}

static void smtp_rset(struct session *s, const char *arg)
{
	if (arg) {
		reply_line(s, "501 Syntax: RSET");
		return;
	}
	reset_transaction(s, 1);
	reply_line(s, "250 OK");
}

static void smtp_expn(struct session *s, const char *arg)
{
	(void)arg;
	reply_line(s, "502 EXPN not implemented");
}

/* Read DATA to the terminator.  0 when the terminator came, -1 when the
   connection failed or timed out (nothing is delivered then). */
static int receive_data(struct session *s, struct smtp_data *d)
{
	flush(s);
	if (s->dead)
		return -1;
	for (;;) {
		const char *piece;
		size_t len;
		int r = linebuf_read_data(&s->lb, io_timeout_ms(s, s->l->data_timeout_sec), &piece,
					  &len);
		if (r == CONN_TIMEOUT && time_left_ms(s) == 0) {
			session_time_exceeded(s);
			return -1;
		}
		if (r < 0) {
			s->end = r == CONN_TIMEOUT ? SESSION_END_TIMEOUT
				 : r == CONN_EOF ? SESSION_END_EOF : SESSION_END_IO_ERROR;
			if (r == CONN_TIMEOUT)
				reply_line(s, "421 4.4.2 %s Error: timeout exceeded", s->env->fqdn);
			return -1;
		}
		if (log_trace_enabled())
			log_trace(s->sid, "<", piece, len);
		if (smtp_data_feed(d, piece, len)) {
			smtp_data_finish(d);
			return 0;
		}
	}
}

/* After the final dot: refuse what breaks a limit, else run the message
   hook and send its answer.  The transaction ends either way. */
static void deliver(struct session *s, const struct smtp_data *d, long long started_ms)
{
	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	int delivered = 0;

	if (d->over_limit) {
		smtp_reply_set(&r, 552, NULL, "Error: Too much mail data");
	} else if (d->bare_lf_seen && s->l->bare_lf == BARE_LF_REJECT) {
		smtp_reply_set(&r, 550, "5.5.2", "Error: bare <LF> received");
	} else if (s->l->decode_data && !utf8_valid(s->msg.data ? s->msg.data : "", s->msg.len)) {
		/* smtpd.py raised UnicodeDecodeError and dropped the client. */
		smtp_reply_set(&r, 554, "5.6.0", "Error: message data is not valid UTF-8");
	} else {
		struct smtpgate_message m = { s->msg.data ? s->msg.data : "", s->msg.len };
		sync_pub(s);
		enum smtpgate_verdict v = checked(s, "on_message",
						  s->env->plugin->on_message(s->env->priv, &s->pub, &m, &r),
						  &r);
		delivered = 1;
		s->messages++;
		if (v == SMTPGATE_DISCONNECT) {
			if (!r.code)
				smtp_reply_set(&r, 421, "4.3.0", "%s Error: closing connection", s->env->fqdn);
			s->closing = 1;
			s->end = SESSION_END_PLUGIN;
		} else if (!r.code) {
			smtp_reply_set(&r, 250, NULL, "OK");
		}
	}
	send_reply(s, &r);
	log_info("sid=%s listener=%s event=message from=<%s> nrcpt=%zu size=%llu reply=\"%03d %s\" "
		 "delivered=%s ms=%lld", s->sid, s->l->name, s->mailfrom, s->rcpt_count,
		 d->raw_bytes, r.code, r.text, delivered ? "yes" : "no",
		 monotonic_ms() - started_ms);
	reset_transaction(s, !delivered);
}

static void smtp_data(struct session *s, const char *arg)
{
	if (!s->greeting[0]) {
		reply_line(s, "503 Error: send HELO first");
		return;
	}
	if (!s->rcpt_count) {
		reply_line(s, "503 Error: need RCPT command");
		return;
	}
	if (arg) {
		reply_line(s, "501 Syntax: DATA");
		return;
	}
	long long started = monotonic_ms();
	if (s->env->plugin->on_data) {
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		sync_pub(s);
		enum smtpgate_verdict v = checked(s, "on_data",
						  s->env->plugin->on_data(s->env->priv, &s->pub, &r), &r);
		if (answer_hook(s, v, &r))
			return;
	}
	reply_line(s, "354 End data with <CR><LF>.<CR><LF>");
	s->pub.state = SMTPGATE_STATE_DATA;

	struct smtp_data d;
	smtp_data_begin(&d, &s->msg, s->l->bare_lf, (unsigned long long)s->l->data_size_limit);
	if (receive_data(s, &d) < 0) {
		/* The client never sent the final dot: nothing is delivered. */
		s->closing = 1;
		return;
	}
	if (time_left_ms(s) == 0) {
		/* The final dot came after the session's end: nothing delivered. */
		session_time_exceeded(s);
		return;
	}
	deliver(s, &d, started);
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
	reply_line(s, "554 5.5.1 %s Error: talking before the greeting", s->env->fqdn);
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
	s->deadline_ms = monotonic_ms() + (long long)s->l->max_session_time_sec * 1000;
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
	sync_pub(s);
	log_info("sid=%s listener=%s event=connect client=%s port=%u", s->sid, s->l->name,
		 peer->addr, peer->port);
	if (log_trace_enabled())
		log_debug("sid=%s Peer: ('%s', %u)", s->sid, peer->addr, peer->port);

	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	enum smtpgate_verdict v = SMTPGATE_CONTINUE;
	if (env->plugin->on_connect)
		v = checked(s, "on_connect", env->plugin->on_connect(env->priv, &s->pub, &r), &r);
	if (answer_hook(s, v, &r)) {
		s->closing = 1;
		s->end = SESSION_END_PLUGIN;
	} else if (s->l->greet_pause_ms > 0 && pregreet(s)) {
		s->closing = 1;
		s->end = SESSION_END_LIMIT;
	} else if (r.code) {
		send_reply(s, &r);
	} else {
		reply_line(s, "220 %s smtpgate %s ESMTP", env->fqdn, PACKAGE_VERSION);
	}

	while (!s->closing && !s->dead) {
		const char *line;
		size_t len;
		if (env->stop_flag && *env->stop_flag && !s->has_mail) {
			reply_line(s, "421 4.3.2 %s Error: server shutting down", env->fqdn);
			s->end = SESSION_END_STOPPED;
			break;
		}
		int rc = read_command(s, &line, &len);
		if ((rc >= 0 || rc == CONN_TIMEOUT) && time_left_ms(s) == 0) {
			/* Waited to the session's end, or a command came after it. */
			session_time_exceeded(s);
			break;
		}
		if (rc == LINEBUF_TOO_LONG) {
			s->in_command = 1;
			if (!idle_command(s))
				reply_line(s, "500 Error: line too long");
			end_command(s);
			continue;
		}
		if (rc < 0) {
			if (rc == CONN_TIMEOUT)
				reply_line(s, "421 4.4.2 %s Error: timeout exceeded", env->fqdn);
			else if (rc == CONN_STOPPED)
				reply_line(s, "421 4.3.2 %s Error: server shutting down", env->fqdn);
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
	flush(s);
	reset_transaction(s, 1);
	if (env->plugin->on_disconnect) {
		sync_pub(s);
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
