/*
 * session_cmd.c - the channel's commands: smtpd.SMTPChannel's smtp_<VERB>
 * methods, with smtpd.py's replies and state rules, and DATA's reading and
 * delivery to the plugin.
 *
 * Entry point: session_command(), the handler of a verb.  Replies go
 * through session_reply()/session_send_reply() (session.c), the only way
 * to the client.
 */
#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int greet(struct session *s, const char *verb, const char *arg);
static void smtp_helo(struct session *s, const char *arg);
static void smtp_ehlo(struct session *s, const char *arg);
static void smtp_noop(struct session *s, const char *arg);
static void smtp_quit(struct session *s, const char *arg);
static void smtp_help(struct session *s, const char *arg);
static void smtp_vrfy(struct session *s, const char *arg);
static int mail_params_acceptable(struct session *s, const char *syntaxerr);
static void smtp_mail(struct session *s, const char *arg);
static void smtp_rcpt(struct session *s, const char *arg);
static void smtp_rset(struct session *s, const char *arg);
static void smtp_expn(struct session *s, const char *arg);
static int receive_data(struct session *s, struct smtp_data *d);
static void deliver(struct session *s, const struct smtp_data *d, long long started_ms);
static void smtp_data(struct session *s, const char *arg);

static const struct {
	const char *verb;
	session_command_fn run;
} command_table[] = {
	{ "HELO", smtp_helo }, { "EHLO", smtp_ehlo }, { "NOOP", smtp_noop },
	{ "QUIT", smtp_quit }, { "HELP", smtp_help }, { "VRFY", smtp_vrfy },
	{ "MAIL", smtp_mail }, { "RCPT", smtp_rcpt }, { "RSET", smtp_rset },
	{ "DATA", smtp_data }, { "EXPN", smtp_expn },
};

session_command_fn session_command(const char *verb)
{
	for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++)
		if (strcmp(verb, command_table[i].verb) == 0)
			return command_table[i].run;
	return NULL;
}

/* HELO and EHLO share everything but the extension list. */
static int greet(struct session *s, const char *verb, const char *arg)
{
	if (!arg) {
		session_reply(s, "501 Syntax: %s hostname", verb);
		return 0;
	}
	if (s->greeting[0]) {
		session_reply(s, "503 Duplicate HELO/EHLO");
		return 0;
	}
	if (s->env->plugin->on_helo) {
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		session_sync_pub(s);
		enum smtpgate_verdict v = session_checked(s, "on_helo",
						  s->env->plugin->on_helo(s->env->priv, &s->pub, arg, &r), &r);
		if (session_answer_hook(s, v, &r))
			return 0;
	}
	session_reset_transaction(s, 1);
	snprintf(s->greeting, sizeof(s->greeting), "%s", arg);
	return 1;
}

static void smtp_helo(struct session *s, const char *arg)
{
	if (greet(s, "HELO", arg))
		session_reply(s, "250 %s", s->env->fqdn);
}

static void smtp_ehlo(struct session *s, const char *arg)
{
	if (!greet(s, "EHLO", arg))
		return;
	s->extended_smtp = 1;
	session_reply(s, "250-%s", s->env->fqdn);
	if (s->l->data_size_limit) {
		session_reply(s, "250-SIZE %lld", s->l->data_size_limit);
		s->mail_extra_bytes += SMTP_SIZE_EXTRA_BYTES;
	}
	if (!s->l->decode_data)
		session_reply(s, "250-8BITMIME");
	if (s->l->smtputf8) {
		session_reply(s, "250-SMTPUTF8");
		s->mail_extra_bytes += SMTP_UTF8_EXTRA_BYTES;
	}
	session_reply(s, "250 HELP");
}

static void smtp_noop(struct session *s, const char *arg)
{
	if (arg)
		session_reply(s, "501 Syntax: NOOP");
	else
		session_reply(s, "250 OK");
}

static void smtp_quit(struct session *s, const char *arg)
{
	(void)arg; /* ignored, as in smtpd.py */
	session_reply(s, "221 Bye");
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
		session_reply(s, "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY");
		return;
	}
	for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
		if (strcasecmp(arg, help[i].verb) == 0) {
			session_reply(s, "250 Syntax: %s%s", help[i].syntax,
				   help[i].extended && s->extended_smtp ? " [SP <mail-parameters>]" : "");
			return;
		}
	session_reply(s, "501 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY");
}

static void smtp_vrfy(struct session *s, const char *arg)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	if (!arg)
		session_reply(s, "501 Syntax: VRFY <address>");
	else if (smtp_parse_path(arg, "", 1, address, sizeof(address), &params) == 0)
		session_reply(s, "252 Cannot VRFY user, but will accept message and attempt delivery");
	else
		session_reply(s, "502 Could not VRFY %s", arg);
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
			session_reply(s, "501 Error: BODY can only be one of 7BIT, 8BITMIME");
			return -1;
		}
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 4 && !memcmp(p->param[k], "BODY", 4);
	}
	if (s->l->smtputf8 && (i = smtp_params_find(p, "SMTPUTF8")) >= 0) {
		if (p->value[i]) {
			session_reply(s, "501 Error: SMTPUTF8 takes no arguments");
			return -1;
		}
		s->require_smtputf8 = 1;
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 8 && !memcmp(p->param[k], "SMTPUTF8", 8);
	}
	if ((i = smtp_params_find(p, "SIZE")) >= 0) {
		const char *v = p->value[i];
		/* smtpd.py crashed on a bare SIZE; it is a syntax error here. */
		if (!v || strspn(v, "0123456789") != strlen(v)) {
			session_reply(s, "%s", syntaxerr);
			return -1;
		}
		size_t digits = strlen(v);
		while (digits > 1 && *v == '0') {
			v++;
			digits--;
		}
		if (s->l->data_size_limit &&
		    (digits > 18 || strtoll(v, NULL, 10) > s->l->data_size_limit)) {
			session_reply(s, "552 Error: message size exceeds fixed maximum message size");
			return -1;
		}
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 4 && !memcmp(p->param[k], "SIZE", 4);
	}
	for (size_t k = 0; k < p->count; k++)
		if (!consumed[k]) {
			session_reply(s, "555 MAIL FROM parameters not recognized or not implemented");
			return -1;
		}
	return 0;
}

/* MAIL, RCPT and DATA need HELO/EHLO first: 1, or 0 after the 503. */
static int greeted(struct session *s)
{
	if (s->greeting[0])
		return 1;
	session_reply(s, "503 Error: send HELO first");
	return 0;
}

static void smtp_mail(struct session *s, const char *arg)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	char syntaxerr[80];

	if (!greeted(s))
		return;
	snprintf(syntaxerr, sizeof(syntaxerr), "501 Syntax: MAIL FROM: <address>%s",
		 s->extended_smtp ? " [SP <mail-parameters>]" : "");
	if (!arg || smtp_parse_path(arg, "FROM:", 1, address, sizeof(address), &params) < 0 ||
	    (!s->extended_smtp && *params)) {
		session_reply(s, "%s", syntaxerr);
		return;
	}
	if (s->has_mail) {
		session_reply(s, "503 Error: nested MAIL command");
		return;
	}
	if (smtp_parse_params(params, &s->mail_params) < 0) {
		s->mail_params.count = 0;
		session_reply(s, "%s", syntaxerr);
		return;
	}
	s->require_smtputf8 = 0;
	if (mail_params_acceptable(s, syntaxerr) < 0) {
		s->mail_params.count = 0;
		s->require_smtputf8 = 0;
		return;
	}
	if (s->env->plugin->on_mail) {
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		session_sync_pub(s);
		enum smtpgate_verdict v = session_checked(s, "on_mail",
						  s->env->plugin->on_mail(s->env->priv, &s->pub, address, &r),
						  &r);
		if (session_answer_hook(s, v, &r)) {
			s->mail_params.count = 0;
			s->require_smtputf8 = 0;
			return;
		}
		if (r.code) {
			memcpy(s->mailfrom, address, strlen(address) + 1);
			s->has_mail = 1;
			s->idle_commands = 0;
			session_send_reply(s, &r);
			return;
		}
	}
	memcpy(s->mailfrom, address, strlen(address) + 1);
	s->has_mail = 1;
	s->idle_commands = 0;
	session_reply(s, "250 OK");
}

static void smtp_rcpt(struct session *s, const char *arg)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	struct smtp_params rcpt_params;

	if (!greeted(s))
		return;
	if (!s->has_mail) {
		session_reply(s, "503 Error: need MAIL command");
		return;
	}
	if (!arg || smtp_parse_path(arg, "TO:", 0, address, sizeof(address), &params) < 0 ||
	    (!s->extended_smtp && *params) || smtp_parse_params(params, &rcpt_params) < 0) {
		session_reply(s, "501 Syntax: RCPT TO: <address>%s",
			   s->extended_smtp ? " [SP <mail-parameters>]" : "");
		return;
	}
	if (rcpt_params.count > 0) {
		session_reply(s, "555 RCPT TO parameters not recognized or not implemented");
		return;
	}
	if (s->rcpt_count >= (size_t)s->l->max_recipients) {
		session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	if (s->env->plugin->on_rcpt) {
		session_sync_pub(s);
		enum smtpgate_verdict v = session_checked(s, "on_rcpt",
						  s->env->plugin->on_rcpt(s->env->priv, &s->pub, address, &r),
						  &r);
		if (session_answer_hook(s, v, &r))
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
		session_send_reply(s, &r);
	else
		session_reply(s, "250 OK");
}

static void smtp_rset(struct session *s, const char *arg)
{
	if (arg) {
		session_reply(s, "501 Syntax: RSET");
		return;
	}
	session_reset_transaction(s, 1);
	session_reply(s, "250 OK");
}

static void smtp_expn(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, "502 EXPN not implemented");
}

/* Read DATA to the terminator.  0 when the terminator came, -1 when the
   connection failed or timed out (nothing is delivered then). */
static int receive_data(struct session *s, struct smtp_data *d)
{
	session_flush(s);
	if (s->dead)
		return -1;
	for (;;) {
		const char *piece;
		size_t len;
		int r = linebuf_read_data(&s->lb, session_io_timeout_ms(s, s->l->data_timeout_sec), &piece,
					  &len);
		if (r == CONN_TIMEOUT && session_time_left_ms(s) == 0) {
			session_time_exceeded(s);
			return -1;
		}
		if (r < 0) {
			s->end = r == CONN_TIMEOUT ? SESSION_END_TIMEOUT
				 : r == CONN_EOF ? SESSION_END_EOF : SESSION_END_IO_ERROR;
			if (r == CONN_TIMEOUT)
				session_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->env->fqdn);
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
		session_sync_pub(s);
		enum smtpgate_verdict v = session_checked(s, "on_message",
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
	session_send_reply(s, &r);
	log_info("sid=%s listener=%s event=message from=<%s> nrcpt=%zu size=%llu reply=\"%03d %s\" "
		 "delivered=%s ms=%lld", s->sid, s->l->name, s->mailfrom, s->rcpt_count,
		 d->raw_bytes, r.code, r.text, delivered ? "yes" : "no",
		 clock_ms() - started_ms);
	session_reset_transaction(s, !delivered);
}

static void smtp_data(struct session *s, const char *arg)
{
	if (!greeted(s))
		return;
	if (!s->rcpt_count) {
		session_reply(s, "503 Error: need RCPT command");
		return;
	}
	if (arg) {
		session_reply(s, "501 Syntax: DATA");
		return;
	}
	long long started = clock_ms();
	if (s->env->plugin->on_data) {
		struct smtpgate_reply r;
		smtp_reply_clear(&r);
		session_sync_pub(s);
		enum smtpgate_verdict v = session_checked(s, "on_data",
						  s->env->plugin->on_data(s->env->priv, &s->pub, &r), &r);
		if (session_answer_hook(s, v, &r))
			return;
	}
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->pub.state = SMTPGATE_STATE_DATA;

	struct smtp_data d;
	smtp_data_begin(&d, &s->msg, s->l->bare_lf, (unsigned long long)s->l->data_size_limit);
	if (receive_data(s, &d) < 0) {
		/* The client never sent the final dot: nothing is delivered. */
		s->closing = 1;
		return;
	}
	if (session_time_left_ms(s) == 0) {
		/* The final dot came after the session's end: nothing delivered. */
		session_time_exceeded(s);
		return;
	}
	deliver(s, &d, started);
}

