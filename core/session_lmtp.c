/*
 * session_lmtp.c - the channel as an LMTP server (RFC 2033), on listeners
 * with protocol = "lmtp": LHLO takes the place of HELO and EHLO (which are
 * then unknown commands), PIPELINING and ENHANCEDSTATUSCODES are always
 * offered, and the final dot gets one reply per accepted recipient, in
 * RCPT order.
 *
 * The message hook sees msg->rcpt_replies, one reply per recipient: a
 * reply it sets there is that recipient's (its class is the verdict), one
 * it leaves unset gets the message's verdict and reply, so a plugin that
 * knows nothing of LMTP answers every recipient alike.
 *
 * Entry points: session_lmtp_table() (the rows of an LMTP session),
 * session_lmtp_message() and session_lmtp_each() (the replies after the
 * final dot).  It replies through session_chat.c and changes state
 * through session_state.c; it never calls back into session.c or
 * session_cmd.c, and never sends a 2xx for a recipient the plugin did not
 * accept.
 */
#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

static int lhlo_syntax(struct session *s, const char *arg, const struct session_verb *row);
static void lmtp_lhlo(struct session *s, const char *arg, const struct session_verb *row);
static void rcpt_verdict(struct session *s, struct smtpgate_reply *own,
			 const struct smtpgate_reply *message);
static void log_rcpt_reply(const struct session *s, size_t i, const struct smtpgate_reply *r);

/* LHLO: a session's greeting, as EHLO's in SMTP (before STARTTLS too). */
static const struct session_verb lhlo_verb = {
	"LHLO", lmtp_lhlo, lhlo_syntax, SESSION_IN(SESSION_CONNECTED),
	"503 5.5.1 Error: duplicate LHLO", 1, 0, NULL, 1
};

/* LHLO needs a name: 0, or -1 after the 501. */
static int lhlo_syntax(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (arg)
		return 0;
	session_chat_reply(&s->chat, "501 Syntax: LHLO hostname");
	return -1;
}

/* LHLO: the plugin's HELO hook, then our name and the extensions; from
   here every reply carries an enhanced status code (RFC 2034). */
static void lmtp_lhlo(struct session *s, const char *arg, const struct session_verb *row)
{
	struct smtpgate_reply r;
	struct session_hook_args a = { .text = arg };
	(void)row;
	if (session_hook(s, SESSION_HOOK_HELO, &a, &r))
		return;
	snprintf(s->greeting, sizeof(s->greeting), "%s", arg);
	session_enter(s, SESSION_GREETED);
	s->extended_smtp = 1;
	session_chat_reply(&s->chat, "250-%s", s->env->fqdn);
	session_chat_reply(&s->chat, "250-PIPELINING");
	session_ehlo_settings(s);
	session_chat_reply(&s->chat, "250-ENHANCEDSTATUSCODES");
	if ((s->l->tls.mode == TLS_MODE_MAY || s->l->tls.mode == TLS_MODE_REQUIRED) && !s->tls_active)
		session_chat_reply(&s->chat, "250-STARTTLS");
	session_chat_reply(&s->chat, "250 HELP");
	s->chat.enhanced = 1;
}

/* An LMTP session's rows: LHLO in HELO's place, EHLO gone (both are then
   unknown commands, 500), the order of the others kept. */
void session_lmtp_table(struct session_verb *t, size_t *count)
{
	size_t n = 0;
	for (size_t i = 0; i < *count; i++) {
		if (strcmp(t[i].verb, "EHLO") == 0)
			continue;
		t[n++] = strcmp(t[i].verb, "HELO") == 0 ? lhlo_verb : t[i];
	}
	*count = n;
}

/* One recipient's reply: the plugin's own if it set a valid one (a bad
   one becomes 451, logged), else the message's. */
static void rcpt_verdict(struct session *s, struct smtpgate_reply *own,
			 const struct smtpgate_reply *message)
{
	int cls = own->code / 100;
	if (!own->code) {
		*own = *message;
		return;
	}
	if (own->code >= 200 && own->code <= 599 && (cls == 2 || cls == 4 || cls == 5))
		return;
	log_err("sid=%s listener=%s plugin=%s hook=on_message code=%d event=bad-answer msg=%s",
		s->sid, s->l->name, log_quoted(s->env->plugin->name), own->code,
		log_quoted("a recipient's reply that is not 2xx, 4xx or 5xx"));
	smtp_reply_set(own, 451, "4.3.0", "Error: internal error in the message handler");
}

/* A recipient's reply in the log (its address quoted: it is the client's). */
static void log_rcpt_reply(const struct session *s, size_t i, const struct smtpgate_reply *r)
{
	char reply[SMTP_REPLY_TEXT_MAX_BYTES + 24];
	if (r->enhanced[0])
		snprintf(reply, sizeof(reply), "%03d %s %s", r->code, r->enhanced, r->text);
	else
		snprintf(reply, sizeof(reply), "%03d %s", r->code, r->text);
	log_info("sid=%s listener=%s event=rcpt-reply rcpt=%s reply=%s", s->sid, s->l->name,
		 log_quoted(s->rcpttos[i]), log_quoted(reply));
}

int session_lmtp_message(struct session *s, struct smtpgate_message *m, struct smtpgate_reply *r)
{
	size_t n = s->rcpt_count;
	struct smtpgate_reply *own = mem_calloc(n, sizeof(*own));
	struct smtpgate_reply **ptrs = mem_calloc(n, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		smtp_reply_clear(&own[i]);
		ptrs[i] = &own[i];
	}
	m->rcpt_replies = ptrs;
	m->rcpt_reply_count = n;
	struct session_hook_args a = { .msg = m, .caller_replies = 1 };
	session_hook(s, SESSION_HOOK_MESSAGE, &a, r);
	if (!r->code)
		smtp_reply_set(r, 250, "2.0.0", "OK");
	/* The plugin's view is gone with the hook; the recipients stay until
	   the transaction is reset, after these replies. */
	for (size_t i = 0; i < n; i++) {
		rcpt_verdict(s, &own[i], r);
		session_chat_send(&s->chat, &own[i]);
		log_rcpt_reply(s, i, &own[i]);
	}
	free(ptrs);
	free(own);
	return 1;
}

void session_lmtp_each(struct session *s, const struct smtpgate_reply *r)
{
	for (size_t i = 0; i < s->rcpt_count; i++)
		session_chat_send(&s->chat, r);
}
