/*
 * session_ehlo.c - what a session offers beyond smtpd.py's set (issue 18)
 * and what the client may then do: the EHLO lines of the listener's
 * `extensions` and of the plugin's ehlo_keywords, HELP listing the verbs
 * this listener takes, the check of commands sent ahead of our reply
 * (RFC 2920, Postfix's reject_unauth_pipelining), and the syntax of
 * DSN's parameters (RFC 3461).
 *
 * Entry points: session_ehlo_offer(), session_ehlo_help(),
 * session_ehlo_pipelining(), session_ehlo_dsn_mail/rcpt().  A listener
 * started smtpd.py-style, or with `extensions = [ ]`, offers nothing here
 * and its wire stays smtpd.py's byte for byte.  It replies only through
 * session_chat.c and never reads from the client.
 */
#include "session_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int is_smtpd_verb(const char *verb);
static void supported(const struct session *s, char *out, size_t size);
static int must_end_group(const char *verb);

/* smtpd.py's HELP list, in its order: the start of every HELP reply. */
static const char smtpd_supported[] = "Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
				      "QUIT VRFY";

void session_ehlo_settings(struct session *s)
{
	if (s->l->data_size_limit) {
		session_chat_reply(&s->chat, "250-SIZE %lld", s->l->data_size_limit);
		s->mail_extra_bytes += SMTP_SIZE_EXTRA_BYTES;
	}
	if (!s->l->decode_data)
		session_chat_reply(&s->chat, "250-8BITMIME");
	if (s->l->smtputf8) {
		session_chat_reply(&s->chat, "250-SMTPUTF8");
		s->mail_extra_bytes += SMTP_UTF8_EXTRA_BYTES;
	}
}

void session_ehlo_offer(struct session *s)
{
	const struct smtpgate_plugin *p = s->env->plugin;
	s->ext = s->l->extensions;
	if (s->ext & SMTP_EXT_PIPELINING)
		session_chat_reply(&s->chat, "250-PIPELINING");
	if (s->ext & SMTP_EXT_CHUNKING)
		session_chat_reply(&s->chat, "250-CHUNKING");
	if (s->ext & SMTP_EXT_DSN)
		session_chat_reply(&s->chat, "250-DSN");
	if (s->ext & SMTP_EXT_ENHANCEDSTATUSCODES)
		session_chat_reply(&s->chat, "250-ENHANCEDSTATUSCODES");
	/* The plugin's own, checked at load (smtp_ext_keyword_check); its
	   DSN only says that it relays: the line above is the core's. */
	for (const char *const *k = p->ehlo_keywords; k && *k; k++)
		if (strcasecmp(*k, "DSN") != 0)
			session_chat_reply(&s->chat, "250-%s", *k);
	session_chat_reply(&s->chat, "250 HELP");
	s->chat.enhanced = (s->ext & SMTP_EXT_ENHANCEDSTATUSCODES) != 0;
}

/* One of smtpd.py's verbs, already in its HELP list (or HELP and EXPN,
   which smtpd.py never listed)? */
static int is_smtpd_verb(const char *verb)
{
	static const char *const verbs[] = { "EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP",
					     "QUIT", "VRFY", "HELP", "EXPN", NULL };
	for (const char *const *v = verbs; *v; v++)
		if (strcmp(*v, verb) == 0)
			return 1;
	return 0;
}

/* smtpd.py's list, then every other verb of this session's table: BDAT
   when CHUNKING is offered, STARTTLS, the plugin's verbs. */
static void supported(const struct session *s, char *out, size_t size)
{
	size_t used = (size_t)snprintf(out, size, "%s", smtpd_supported);
	for (size_t i = 0; i < s->verb_count && used < size; i++)
		if (!is_smtpd_verb(s->verbs[i].verb))
			used += (size_t)snprintf(out + used, size - used, " %s", s->verbs[i].verb);
}

void session_ehlo_help(struct session *s, const char *arg, const struct session_verb *row)
{
	static const struct { const char *verb, *syntax; int extended; } help[] = {
		{ "EHLO", "EHLO hostname", 0 }, { "HELO", "HELO hostname", 0 },
		{ "MAIL", "MAIL FROM: <address>", 1 }, { "RCPT", "RCPT TO: <address>", 1 },
		{ "DATA", "DATA", 0 }, { "RSET", "RSET", 0 }, { "NOOP", "NOOP", 0 },
		{ "QUIT", "QUIT", 0 }, { "VRFY", "VRFY <address>", 0 },
		{ "BDAT", "BDAT chunk-size [LAST]", 0 }, { "STARTTLS", "STARTTLS", 0 },
	};
	char list[SMTP_REPLY_TEXT_MAX_BYTES];
	(void)row;
	supported(s, list, sizeof(list));
	if (!arg) {
		session_chat_reply(&s->chat, "250 %s", list);
		return;
	}
	for (size_t i = 0; i < s->verb_count; i++) {
		const char *verb = s->verbs[i].verb;
		if (strcasecmp(arg, verb) != 0 || strcmp(verb, "HELP") == 0 || strcmp(verb, "EXPN") == 0)
			continue;
		for (size_t k = 0; k < sizeof(help) / sizeof(help[0]); k++)
			if (strcmp(verb, help[k].verb) == 0) {
				session_chat_reply(&s->chat, "250 Syntax: %s%s", help[k].syntax,
						   help[k].extended && s->extended_smtp
							   ? " [SP <mail-parameters>]" : "");
				return;
			}
		/* A plugin's verb (or a row without its own syntax here). */
		session_chat_reply(&s->chat, "250 Syntax: %s [SP <argument>]", verb);
		return;
	}
	session_chat_reply(&s->chat, "501 %s", list);
}

/* RFC 2920 3.1: the commands that may only end a group (the client waits
   for their reply), with HELO, STARTTLS (RFC 3207 4.2) and AUTH. */
static int must_end_group(const char *verb)
{
	static const char *const verbs[] = { "EHLO", "HELO", "DATA", "VRFY", "EXPN", "TURN", "NOOP",
					     "STARTTLS", "AUTH", NULL };
	for (const char *const *v = verbs; *v; v++)
		if (strcmp(*v, verb) == 0)
			return 1;
	return 0;
}

int session_ehlo_pipelining(struct session *s, const char *verb)
{
	/* What follows QUIT is dropped with the connection (RFC 2920 3.1);
	   BDAT's own chunk follows it by design (session_bdat.c looks after
	   the chunk instead). */
	if (linebuf_pending(&s->lb) == 0 || strcmp(verb, "QUIT") == 0 || strcmp(verb, "BDAT") == 0)
		return 0;
	/* s->ext is set by EHLO only: after HELO the client cannot know. */
	if ((s->ext & SMTP_EXT_PIPELINING) && !must_end_group(verb))
		return 0;
	return session_ehlo_pipelining_violation(s, verb);
}

int session_ehlo_pipelining_violation(struct session *s, const char *verb)
{
	int reject = s->l->reject_unauth_pipelining;
	if (!s->pipelining_logged || reject)
		log_info("sid=%s listener=%s event=pipelining command=%s pending=%zu offered=%s "
			 "action=%s", s->sid, s->l->name, log_quoted(verb), linebuf_pending(&s->lb),
			 s->ext & SMTP_EXT_PIPELINING ? "yes" : "no", reject ? "reject" : "log");
	s->pipelining_logged = 1;
	if (!reject)
		return 0;
	/* Closed rather than answered command by command: what the client
	   sent ahead (a message body before 354) must never run as commands. */
	session_chat_reply(&s->chat, "554 5.5.0 Error: improper use of SMTP command pipelining");
	session_close(s, SESSION_END_LIMIT);
	return 1;
}

int session_ehlo_dsn_mail(struct session *s, int *consumed)
{
	const struct smtp_params *p = &s->mail_params;
	if (!(s->ext & SMTP_EXT_DSN))
		return 0;
	for (size_t k = 0; k < p->count; k++) {
		int ret = p->key_len[k] == 3 && !memcmp(p->param[k], "RET", 3);
		int envid = p->key_len[k] == 5 && !memcmp(p->param[k], "ENVID", 5);
		if (!ret && !envid)
			continue;
		if (smtp_ext_dsn_param_check(ret ? "RET" : "ENVID", p->value[k]) < 0) {
			session_chat_reply(&s->chat, "501 5.5.4 Error: bad %s parameter",
					   ret ? "RET" : "ENVID");
			return -1;
		}
		consumed[k] = 1;
	}
	return 0;
}

int session_ehlo_dsn_rcpt(struct session *s, const struct smtp_params *p)
{
	s->rcpt_params.count = 0;
	for (size_t k = 0; k < p->count; k++) {
		int notify = p->key_len[k] == 6 && !memcmp(p->param[k], "NOTIFY", 6);
		int orcpt = p->key_len[k] == 5 && !memcmp(p->param[k], "ORCPT", 5);
		if (!(s->ext & SMTP_EXT_DSN) || (!notify && !orcpt)) {
			session_chat_reply(&s->chat,
					   "555 RCPT TO parameters not recognized or not implemented");
			return -1;
		}
		if (smtp_ext_dsn_param_check(notify ? "NOTIFY" : "ORCPT", p->value[k]) < 0) {
			session_chat_reply(&s->chat, "501 5.5.4 Error: bad %s parameter",
					   notify ? "NOTIFY" : "ORCPT");
			return -1;
		}
	}
	/* Kept for the plugin's view: the copy's pointers into its own text. */
	s->rcpt_params = *p;
	for (size_t k = 0; k < p->count; k++) {
		s->rcpt_params.param[k] = s->rcpt_params.text + (p->param[k] - p->text);
		if (p->value[k])
			s->rcpt_params.value[k] = s->rcpt_params.text + (p->value[k] - p->text);
	}
	return 0;
}
