/*
 * session_cmd.c - the channel's commands: the command table (which verb
 * may run in which state, what it is refused with, whether it counts as
 * idle) and one handler per verb, smtpd.SMTPChannel's smtp_<VERB> methods
 * with smtpd.py's replies (DATA's is in session_body.c, with the message).
 *
 * Entry point: session_cmd_table(), the rows session.c dispatches on.  A
 * handler runs only in the states its row allows (the dispatcher sends the
 * 503s); it replies through session_chat.c, changes state through
 * session_state.c, and never calls back into session.c.
 */
#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "log.h"
#include "mem.h"

static int greet_syntax(struct session *s, const char *arg, const struct session_verb *row);
static int greet(struct session *s, const char *arg);
/* HELO: the greeting and our name. */
static void smtp_helo(struct session *s, const char *arg, const struct session_verb *row);
/* EHLO: the greeting and the extensions offered. */
static void smtp_ehlo(struct session *s, const char *arg, const struct session_verb *row);
/* NOOP takes no argument. */
static void smtp_noop(struct session *s, const char *arg, const struct session_verb *row);
/* QUIT: 221, then the session ends. */
static void smtp_quit(struct session *s, const char *arg, const struct session_verb *row);
static void smtp_vrfy(struct session *s, const char *arg, const struct session_verb *row);
static int mail_params_acceptable(struct session *s, const char *syntaxerr);
static const char *mail_syntaxerr(const struct session *s);
static int mail_path(struct session *s, const char *arg, char *address, const char **params_out);
/* MAIL's argument check, run before the nested-MAIL check. */
static int mail_syntax(struct session *s, const char *arg, const struct session_verb *row);
/* MAIL: the sender and its parameters; the transaction begins. */
static void smtp_mail(struct session *s, const char *arg, const struct session_verb *row);
static void add_recipient(struct session *s, const char *address);
/* RCPT: one more recipient, if the plugin takes it. */
static void smtp_rcpt(struct session *s, const char *arg, const struct session_verb *row);
/* RSET: the transaction is abandoned. */
static void smtp_rset(struct session *s, const char *arg, const struct session_verb *row);
/* EXPN is not implemented, as in smtpd.py. */
static void smtp_expn(struct session *s, const char *arg, const struct session_verb *row);
static int data_syntax(struct session *s, const char *arg, const struct session_verb *row);
static void plugin_verb(struct session *s, const char *arg, const struct session_verb *row);

#define IN(st) SESSION_IN(SESSION_##st)
#define ANY SESSION_ANY_COMMAND_STATE

/* smtpd.py's commands.  HELO/EHLO and MAIL check their argument before
   the state, the others the state first, as smtpd.py does. */
static const struct session_verb builtin_verbs[] = {
	/* verb   handler    syntax        allowed in         refused with (503)
	   before HELO, idle, plugin, before STARTTLS (tls.mode "required") */
	{ "HELO", smtp_helo, greet_syntax, IN(CONNECTED), "503 Duplicate HELO/EHLO", 1, 0, NULL, 0 },
	{ "EHLO", smtp_ehlo, greet_syntax, IN(CONNECTED), "503 Duplicate HELO/EHLO", 1, 0, NULL,
	  1 },
	{ "MAIL", smtp_mail, mail_syntax, IN(GREETED), "503 Error: nested MAIL command", 0, 0,
	  NULL, 0 },
	{ "RCPT", smtp_rcpt, NULL, IN(MAIL) | IN(RCPT), "503 Error: need MAIL command", 0, 0,
	  NULL, 0 },
	{ "DATA", session_body_data, data_syntax, IN(RCPT), "503 Error: need RCPT command", 0, 0, NULL, 0 },
	{ "RSET", smtp_rset, NULL, ANY, NULL, 1, 1, NULL, 0 },
	{ "NOOP", smtp_noop, NULL, ANY, NULL, 1, 1, NULL, 1 },
	{ "QUIT", smtp_quit, NULL, ANY, NULL, 1, 0, NULL, 1 },
	{ "HELP", session_ehlo_help, NULL, ANY, NULL, 1, 1, NULL, 0 },
	{ "VRFY", smtp_vrfy, NULL, ANY, NULL, 1, 1, NULL, 0 },
	{ "EXPN", smtp_expn, NULL, ANY, NULL, 1, 1, NULL, 0 },
};

/* STARTTLS (RFC 3207), a row only where tls.mode offers it: elsewhere the
   verb is unknown, as in smtpd.py.  Not in a transaction (as Postfix). */
static const struct session_verb starttls_verb = {
	"STARTTLS", session_tls_starttls, session_tls_syntax, IN(GREETED),
	"503 5.5.1 Error: MAIL transaction in progress", 0, 0, NULL, 1
};

/* AUTH (RFC 4954), a row only where auth.backend is set.  Not in a
   transaction (RFC 4954 4). */
static const struct session_verb auth_verb = {
	"AUTH", session_auth_command, session_auth_syntax, IN(GREETED),
	"503 5.5.1 Error: MAIL transaction in progress", 0, 0, NULL, 0
};

/* The table of one session: the built-in rows (and STARTTLS's and
   AUTH's), then the plugin's verbs. */
struct session_verb *session_cmd_table(const struct smtpgate_plugin *plugin, int starttls,
				       int auth, size_t *count_out)
{
	size_t builtin = sizeof(builtin_verbs) / sizeof(builtin_verbs[0]), extra = 0;
	for (const struct smtpgate_command *c = plugin->commands; c && c->verb; c++)
		extra++;
	struct session_verb *t = mem_malloc((builtin + 2 + extra) * sizeof(*t));
	memcpy(t, builtin_verbs, sizeof(builtin_verbs));
	if (starttls)
		t[builtin++] = starttls_verb;
	if (auth)
		t[builtin++] = auth_verb;
	/* A plugin's verbs run in any state, before HELO too (plugin.h); the
	   built-in rows come first, so a plugin cannot take over HELO. */
	for (size_t i = 0; i < extra; i++)
		t[builtin + i] = (struct session_verb){ plugin->commands[i].verb, plugin_verb, NULL, ANY,
							NULL, 1, 0, &plugin->commands[i], 0 };
	*count_out = builtin + extra;
	return t;
}

/* HELO and EHLO need a name: 0, or -1 after the 501. */
static int greet_syntax(struct session *s, const char *arg, const struct session_verb *row)
{
	if (arg)
		return 0;
	session_chat_reply(&s->chat, "501 Syntax: %s hostname", row->verb);
	return -1;
}

/* HELO and EHLO share everything but the extension list: 1 when the
   greeting was accepted. */
static int greet(struct session *s, const char *arg)
{
	struct smtpgate_reply r;
	struct session_hook_args a = { .text = arg };
	if (session_hook(s, SESSION_HOOK_HELO, &a, &r))
		return 0;
	snprintf(s->greeting, sizeof(s->greeting), "%s", arg);
	session_enter(s, SESSION_GREETED);
	return 1;
}

/* HELO: the greeting and our name. */
static void smtp_helo(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (greet(s, arg))
		session_chat_reply(&s->chat, "250 %s", s->env->fqdn);
}

/* EHLO: the greeting and the extensions offered. */
static void smtp_ehlo(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (!greet(s, arg))
		return;
	s->extended_smtp = 1;
	session_chat_reply(&s->chat, "250-%s", s->env->fqdn);
	session_ehlo_settings(s);
	if ((s->l->tls.mode == TLS_MODE_MAY || s->l->tls.mode == TLS_MODE_REQUIRED) && !s->tls_active)
		session_chat_reply(&s->chat, "250-STARTTLS");
	session_auth_ehlo(s);
	session_ehlo_offer(s);
}

/* NOOP takes no argument. */
static void smtp_noop(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (arg)
		session_chat_reply(&s->chat, "501 Syntax: NOOP");
	else
		session_chat_reply(&s->chat, "250 OK");
}

/* QUIT: 221, then the session ends. */
static void smtp_quit(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)arg; /* ignored, as in smtpd.py */
	(void)row;
	session_chat_reply(&s->chat, "221 Bye");
	session_close(s, SESSION_END_QUIT);
}

/* smtpd.py: 252 for what parses as an address, 502 for anything else
   (an empty quoted string "" included: it parses to nothing). */
static void smtp_vrfy(struct session *s, const char *arg, const struct session_verb *row)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	(void)row;
	if (!arg)
		session_chat_reply(&s->chat, "501 Syntax: VRFY <address>");
	else if (smtp_parse_path(arg, "", 1, address, sizeof(address), &params) == 0)
		session_chat_reply(&s->chat,
				   "252 Cannot VRFY user, but will accept message and attempt delivery");
	else
		session_chat_reply(&s->chat, "502 Could not VRFY %s", arg);
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
			session_chat_reply(&s->chat, "501 Error: BODY can only be one of 7BIT, 8BITMIME");
			return -1;
		}
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 4 && !memcmp(p->param[k], "BODY", 4);
	}
	if (s->l->smtputf8 && (i = smtp_params_find(p, "SMTPUTF8")) >= 0) {
		if (p->value[i]) {
			session_chat_reply(&s->chat, "501 Error: SMTPUTF8 takes no arguments");
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
			session_chat_reply(&s->chat, "%s", syntaxerr);
			return -1;
		}
		size_t digits = strlen(v);
		while (digits > 1 && *v == '0') {
			v++;
			digits--;
		}
		if (s->l->data_size_limit &&
		    (digits > 18 || strtoll(v, NULL, 10) > s->l->data_size_limit)) {
			session_chat_reply(&s->chat,
					   "552 Error: message size exceeds fixed maximum message size");
			return -1;
		}
		for (size_t k = 0; k < p->count; k++)
			consumed[k] |= p->key_len[k] == 4 && !memcmp(p->param[k], "SIZE", 4);
	}
	if (session_ehlo_dsn_mail(s, consumed) < 0)
		return -1;
	for (size_t k = 0; k < p->count; k++)
		if (!consumed[k] && !session_auth_mail_param(s, p, k)) {
			session_chat_reply(&s->chat, "555 MAIL FROM parameters not recognized or not implemented");
			return -1;
		}
	return 0;
}

/* smtpd.py's MAIL syntax reply, which names the parameters after EHLO. */
static const char *mail_syntaxerr(const struct session *s)
{
	return s->extended_smtp ? "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]"
				: "501 Syntax: MAIL FROM: <address>";
}

/* MAIL's path and where its parameters begin: 0, or -1 after the 501
   (smtpd.py's syntax checks before the nested-MAIL one). */
static int mail_path(struct session *s, const char *arg, char *address, const char **params_out)
{
	if (!arg || smtp_parse_path(arg, "FROM:", 1, address, SMTP_ADDRESS_MAX_BYTES, params_out) < 0 ||
	    (!s->extended_smtp && **params_out)) {
		session_chat_reply(&s->chat, "%s", mail_syntaxerr(s));
		return -1;
	}
	return 0;
}

/* MAIL's argument check, run before the nested-MAIL check. */
static int mail_syntax(struct session *s, const char *arg, const struct session_verb *row)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	(void)row;
	return mail_path(s, arg, address, &params);
}

/* MAIL: the sender and its parameters; the transaction begins. */
static void smtp_mail(struct session *s, const char *arg, const struct session_verb *row)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	(void)row;

	if (mail_path(s, arg, address, &params) < 0 || !session_auth_sender_ok(s, address))
		return;
	s->require_smtputf8 = 0;
	if (smtp_parse_params(params, &s->mail_params) < 0) {
		s->mail_params.count = 0;
		session_chat_reply(&s->chat, "%s", mail_syntaxerr(s));
		return;
	}
	if (mail_params_acceptable(s, mail_syntaxerr(s)) < 0) {
		s->mail_params.count = 0;
		s->require_smtputf8 = 0;
		return;
	}
	struct smtpgate_reply r;
	struct session_hook_args a = { .text = address };
	if (session_hook(s, SESSION_HOOK_MAIL, &a, &r)) {
		s->mail_params.count = 0;
		s->require_smtputf8 = 0;
		return;
	}
	memcpy(s->mailfrom, address, strlen(address) + 1);
	s->idle_commands = 0;
	session_enter(s, SESSION_MAIL);
	if (r.code)
		session_chat_send(&s->chat, &r);
	else
		session_chat_reply(&s->chat, "250 OK");
}

/* Keep an accepted recipient (the list stays NULL-terminated). */
static void add_recipient(struct session *s, const char *address)
{
	if (s->rcpt_count == s->rcpt_cap) {
		size_t cap = s->rcpt_cap ? s->rcpt_cap * 2 : 8;
		s->rcpttos = mem_realloc(s->rcpttos, (cap + 1) * sizeof(*s->rcpttos));
		s->rcpt_cap = cap;
	}
	s->rcpttos[s->rcpt_count] = mem_strdup(address);
	s->rcpttos[++s->rcpt_count] = NULL;
}

/* RCPT: one more recipient, if the plugin takes it. */
static void smtp_rcpt(struct session *s, const char *arg, const struct session_verb *row)
{
	char address[SMTP_ADDRESS_MAX_BYTES];
	const char *params;
	struct smtp_params rcpt_params;
	(void)row;

	if (!arg || smtp_parse_path(arg, "TO:", 0, address, sizeof(address), &params) < 0 ||
	    (!s->extended_smtp && *params) || smtp_parse_params(params, &rcpt_params) < 0) {
		session_chat_reply(&s->chat, "501 Syntax: RCPT TO: <address>%s",
				   s->extended_smtp ? " [SP <mail-parameters>]" : "");
		return;
	}
	if (session_ehlo_dsn_rcpt(s, &rcpt_params) < 0)
		return;
	if (s->rcpt_count >= (size_t)s->l->max_recipients) {
		session_chat_reply(&s->chat, "452 4.5.3 Error: too many recipients");
		counters_limit(CL_MAX_RECIPIENTS);
		return;
	}
	struct smtpgate_reply r;
	struct session_hook_args a = { .text = address };
	if (session_hook(s, SESSION_HOOK_RCPT, &a, &r))
		return;
	add_recipient(s, address);
	session_enter(s, SESSION_RCPT);
	if (r.code)
		session_chat_send(&s->chat, &r);
	else
		session_chat_reply(&s->chat, "250 OK");
}

/* RSET: the transaction is abandoned. */
static void smtp_rset(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (arg) {
		session_chat_reply(&s->chat, "501 Syntax: RSET");
		return;
	}
	session_reset_transaction(s, 1);
	session_chat_reply(&s->chat, "250 OK");
}

/* EXPN is not implemented, as in smtpd.py. */
static void smtp_expn(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)arg;
	(void)row;
	session_chat_reply(&s->chat, "502 EXPN not implemented");
}

/* BDAT and DATA do not mix (RFC 3030 3): DATA in a transaction whose
   message began with BDAT gets 503; a DATA tried is noted, so a BDAT
   after it is refused (session_bdat.c). */
static int data_syntax(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)arg;
	(void)row;
	if (s->state == SESSION_BDAT) {
		session_chat_reply(&s->chat, "503 5.5.1 Error: DATA in a BDAT transaction");
		return -1;
	}
	if (s->state == SESSION_RCPT)
		s->bdat.data_used = 1;
	return 0;
}

/* A verb of the plugin's: its answer, or 250 OK. */
static void plugin_verb(struct session *s, const char *arg, const struct session_verb *row)
{
	struct smtpgate_reply r;
	struct session_hook_args a = { .text = arg, .command = row->plugin };
	if (session_hook(s, SESSION_HOOK_COMMAND, &a, &r))
		return;
	if (r.code)
		session_chat_send(&s->chat, &r);
	else
		session_chat_reply(&s->chat, "250 OK");
}
