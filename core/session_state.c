/*
 * session_state.c - the channel's state and its transitions: entering a
 * state (session_enter), ending the session (session_close, the one way
 * out), the transaction's reset, the view plugins get, and the call of a
 * plugin hook whose verdict and reply become the channel's reply
 * (session_hook, the one place that interprets a verdict).
 *
 * Below the command handlers (session_cmd.c) and the loop (session.c),
 * above the chat (session_chat.c), through which its replies go.  It never
 * reads from the client and never calls up into the modules above it.
 */
#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "log.h"

static enum smtpgate_state session_state_public(const struct session *s);
static enum smtpgate_verdict call_hook(struct session *s, enum session_hook h,
				       const struct session_hook_args *a, struct smtpgate_reply *r);
static const char *hook_name(enum session_hook h, const struct session_hook_args *a);
static void answer(struct session *s, enum session_hook h, const struct session_hook_args *a,
		   const struct smtpgate_reply *r);
static void tx_end(struct session *s);
static int session_hook_answer(struct session *s, enum session_hook h,
			       const struct session_hook_args *a, struct smtpgate_reply *r);

const char *session_state_name(enum session_state st)
{
	static const char *const names[SESSION_STATE_COUNT] = {
		"connected", "greeted", "mail", "rcpt", "data", "bdat", "tls-handshake", "auth",
		"closing"
	};
	return (unsigned int)st < SESSION_STATE_COUNT ? names[st] : "invalid";
}

/* What plugins see (the mapping is documented next to enum smtpgate_state
   in plugin.h).  Closing (on_disconnect) shows the session as it ended,
   its transaction gone: greeted once a HELO/EHLO was accepted. */
static enum smtpgate_state session_state_public(const struct session *s)
{
	static const enum smtpgate_state pub[SESSION_STATE_COUNT] = {
		[SESSION_CONNECTED] = SMTPGATE_STATE_CONNECTED,
		[SESSION_GREETED] = SMTPGATE_STATE_GREETED,
		[SESSION_MAIL] = SMTPGATE_STATE_MAIL,
		[SESSION_RCPT] = SMTPGATE_STATE_MAIL,
		[SESSION_DATA] = SMTPGATE_STATE_DATA,
		[SESSION_BDAT] = SMTPGATE_STATE_DATA,
		[SESSION_TLS_HANDSHAKE] = SMTPGATE_STATE_CONNECTED,
		[SESSION_AUTH] = SMTPGATE_STATE_GREETED,
		[SESSION_CLOSING] = SMTPGATE_STATE_CONNECTED,
	};
	if (s->state == SESSION_CLOSING && s->greeting[0])
		return SMTPGATE_STATE_GREETED;
	if ((unsigned int)s->state >= SESSION_STATE_COUNT)
		log_panic("what=session_state value=%d", (int)s->state); /* memory is corrupt */
	return pub[s->state];
}

/* Whether a transaction is open: MAIL, RCPT, DATA or BDAT. */
int session_has_tx(const struct session *s)
{
	return s->state == SESSION_MAIL || s->state == SESSION_RCPT || s->state == SESSION_DATA ||
	       s->state == SESSION_BDAT;
}

/* The one way to change state; logged at debug. */
void session_enter(struct session *s, enum session_state to)
{
	if (s->state == to)
		return;
	log_debug("sid=%s listener=%s event=state from=%s to=%s", s->sid, s->l->name,
		  session_state_name(s->state), session_state_name(to));
	s->state = to;
}

/* The one way out: the transaction abandoned, the reason kept, closing. */
void session_close(struct session *s, enum session_end why)
{
	if (s->state == SESSION_CLOSING)
		return;
	if (session_has_tx(s))
		session_reset_transaction(s, 1);
	s->end = why;
	session_enter(s, SESSION_CLOSING);
}

/* The transaction that began at MAIL's hook is over, however it ended:
   the plugin gets its tx_data back to free, once. */
static void tx_end(struct session *s)
{
	if (!s->tx_open)
		return;
	s->tx_open = 0;
	void *data = s->plugin_tx_data;
	if (s->env->plugin->on_tx_end) {
		session_sync_pub(s);
		s->env->plugin->on_tx_end(s->env->priv, &s->pub, data);
	}
	s->plugin_tx_data = NULL;
}

/* Forget the sender, the recipients and the message. */
void session_reset_transaction(struct session *s, int abandoned)
{
	int in_tx = session_has_tx(s);
	if (abandoned && in_tx && s->env->plugin->on_reset) {
		session_sync_pub(s);
		s->env->plugin->on_reset(s->env->priv, &s->pub);
	}
	tx_end(s);
	for (size_t i = 0; i < s->rcpt_count; i++)
		free(s->rcpttos[i]);
	if (s->rcpttos)
		s->rcpttos[0] = NULL; /* no pointer to a freed recipient stays */
	s->rcpt_count = 0;
	s->mailfrom[0] = '\0';
	s->require_smtputf8 = 0;
	s->mail_params.count = 0; /* the count says what is there (the struct is ~8 KiB) */
	s->rcpt_params.count = 0;
	memset(&s->bdat, 0, sizeof(s->bdat)); /* session_bdat.c's, for the next one */
	if (s->msg.cap > MSGBUF_KEEP_MAX_BYTES)
		msgbuf_free(&s->msg);
	msgbuf_reset(&s->msg);
	if (in_tx)
		session_enter(s, SESSION_GREETED);
}

/* RFC 3848's registered words only: TLS after HELO has none of its own
   ("SMTPS" is not one), so it stays "SMTP".  LMTP and AUTH (its A)
   are here too. */
const char *session_protocol(struct session *s)
{
	/* RFC 3848: LMTP's words, else SMTP's (ESMTP after EHLO); RFC 6531's
	   UTF8SMTP and UTF8LMTP for a transaction with SMTPUTF8. */
	const char *base = s->require_smtputf8 ? (s->l->lmtp ? "UTF8LMTP" : "UTF8SMTP")
			 : s->l->lmtp ? "LMTP" : s->extended_smtp ? "ESMTP" : "SMTP";
	int ext = s->l->lmtp || s->extended_smtp;
	snprintf(s->protocol, sizeof(s->protocol), "%s%s%s", base, ext && s->tls_active ? "S" : "",
		 ext && s->auth_user[0] ? "A" : ""); /* RFC 3848: ESMTPA, ESMTPSA */
	return s->protocol;
}

/* Refresh the plugins' view of the session before a hook runs. */
void session_sync_pub(struct session *s)
{
	struct smtpgate_session *p = &s->pub;
	int in_tx = session_has_tx(s);
	p->protocol = session_protocol(s);
	p->messages_accepted = s->messages_accepted;
	p->session_data = &s->plugin_session_data;
	p->tx_data = &s->plugin_tx_data;
	p->seen_greeting = s->greeting;
	p->extended_smtp = s->extended_smtp;
	p->mailfrom = in_tx ? s->mailfrom : NULL;
	/* Never NULL, and NULL-terminated, before the first RCPT as after. */
	static const char *const no_recipients[] = { NULL };
	p->rcpttos = s->rcpttos ? (const char *const *)s->rcpttos : no_recipients;
	p->rcpt_count = s->rcpt_count;
	p->smtputf8 = s->require_smtputf8;
	p->state = session_state_public(s);
	p->auth_user = s->auth_user[0] ? s->auth_user : NULL;
	p->auth_mechanism = s->auth_mechanism;
	if (!s->l->decode_data) { /* set while MAIL is checked, for on_mail */
		p->mail_options = s->mail_params.param;
		p->mail_option_count = s->mail_params.count;
	} else {
		p->mail_options = NULL;
		p->mail_option_count = 0;
	}
	/* RCPT parameters are refused (555) as in smtpd.py, but DSN's when
	   it is offered: those of the last RCPT. */
	int rcpt_opts = !s->l->decode_data && s->rcpt_params.count > 0;
	p->rcpt_options = rcpt_opts ? s->rcpt_params.param : NULL;
	p->rcpt_option_count = rcpt_opts ? s->rcpt_params.count : 0;
}

/* max_session_time is over: 421 and close. */
void session_time_exceeded(struct session *s)
{
	log_info("sid=%s listener=%s event=limit limit=max_session_time seconds=%d", s->sid,
		 s->l->name, s->l->max_session_time_sec);
	session_chat_notify(&s->chat, "421 4.4.2 %s Error: session time limit exceeded",
			    s->env->fqdn);
	session_close(s, SESSION_END_LIMIT);
}

/* A failed read of a command or of DATA ends the session. */
void session_read_failed(struct session *s, int rc)
{
	if (rc == CONN_TIMEOUT && session_chat_time_left_ms(&s->chat) == 0) {
		session_time_exceeded(s); /* waited to the session's end */
		return;
	}
	if (rc == CONN_TIMEOUT)
		session_chat_notify(&s->chat, "421 4.4.2 %s Error: timeout exceeded", s->env->fqdn);
	else if (rc == CONN_STOPPED)
		session_chat_notify(&s->chat, "421 4.3.2 %s Error: server shutting down", s->env->fqdn);
	session_close(s, rc == CONN_TIMEOUT ? SESSION_END_TIMEOUT
			 : rc == CONN_STOPPED ? SESSION_END_STOPPED
			 : rc == CONN_EOF ? SESSION_END_EOF : SESSION_END_IO_ERROR);
}

/* The plugin's verdict; CONTINUE when it has no such hook. */
static enum smtpgate_verdict call_hook(struct session *s, enum session_hook h,
				       const struct session_hook_args *a, struct smtpgate_reply *r)
{
	const struct smtpgate_plugin *p = s->env->plugin;
	void *priv = s->env->priv;
	switch (h) {
	case SESSION_HOOK_CONNECT:
		return p->on_connect ? p->on_connect(priv, &s->pub, r) : SMTPGATE_CONTINUE;
	case SESSION_HOOK_HELO:
		return p->on_helo ? p->on_helo(priv, &s->pub, a->text, r) : SMTPGATE_CONTINUE;
	case SESSION_HOOK_MAIL:
		return p->on_mail ? p->on_mail(priv, &s->pub, a->text, r) : SMTPGATE_CONTINUE;
	case SESSION_HOOK_RCPT:
		return p->on_rcpt ? p->on_rcpt(priv, &s->pub, a->text, r) : SMTPGATE_CONTINUE;
	case SESSION_HOOK_DATA:
		return p->on_data ? p->on_data(priv, &s->pub, r) : SMTPGATE_CONTINUE;
	case SESSION_HOOK_MESSAGE:
		return p->on_message(priv, &s->pub, a->msg, r);
	case SESSION_HOOK_COMMAND:
		return a->command->run(priv, &s->pub, a->text, r);
	}
	log_panic("what=session_hook value=%d", (int)h);
}

/* The hook's name in log lines (a plugin verb's own name). */
static const char *hook_name(enum session_hook h, const struct session_hook_args *a)
{
	static const char *const names[] = { "on_connect", "on_helo", "on_mail", "on_rcpt",
					     "on_data", "on_message" };
	if (h == SESSION_HOOK_COMMAND)
		return a->command->verb;
	return (unsigned int)h < sizeof(names) / sizeof(names[0]) ? names[h] : "?";
}

enum smtpgate_verdict session_bad_answer(struct session *s, const char *hook,
					 enum smtpgate_verdict v, struct smtpgate_reply *r,
					 const char *why)
{
	log_err("sid=%s listener=%s plugin=%s hook=%s verdict=%s code=%d event=bad-answer msg=%s",
		s->sid, s->l->name, log_quoted(s->env->plugin->name), log_quoted(hook),
		smtpgate_verdict_name(v), r->code, log_quoted(why));
	smtp_reply_set(r, 451, "4.3.0", "Error: internal error in the message handler");
	return SMTPGATE_TEMPFAIL;
}

/* Send the hook's reply: the connect hook's is no command's reply (never
   counted as a client error); LMTP's caller sends its own. */
static void answer(struct session *s, enum session_hook h, const struct session_hook_args *a,
		   const struct smtpgate_reply *r)
{
	if (a->caller_replies)
		return;
	if (h == SESSION_HOOK_CONNECT)
		session_chat_notify_reply(&s->chat, r);
	else
		session_chat_send(&s->chat, r);
}

int session_hook(struct session *s, enum session_hook h, const struct session_hook_args *a,
		 struct smtpgate_reply *r)
{
	smtp_reply_clear(r);
	if (h == SESSION_HOOK_MAIL) {
		/* The transaction begins with its MAIL's hook, tx_data NULL;
		   a refusal there ends it (on_tx_end) below. */
		tx_end(s);
		s->tx_open = 1;
	}
	session_sync_pub(s);
	int sent = session_hook_answer(s, h, a, r);
	if (h == SESSION_HOOK_MAIL && sent)
		tx_end(s);
	return sent;
}

/* The hook's verdict, made safe and answered (session_hook's second half). */
static int session_hook_answer(struct session *s, enum session_hook h,
			       const struct session_hook_args *a, struct smtpgate_reply *r)
{
	const char *why;
	long long began = counters_hook_begin();
	enum smtpgate_verdict v = call_hook(s, h, a, r);
	counters_hook_end((int)h, began);
	if (smtp_reply_check(v, r, &why) != 0)
		v = session_bad_answer(s, hook_name(h, a), v, r, why);
	/* A greeting of its own is a 220: a client takes any other code
	   there for a refusal of service. */
	if (h == SESSION_HOOK_CONNECT && (v == SMTPGATE_CONTINUE || v == SMTPGATE_ACCEPT) &&
	    r->code && r->code != 220)
		v = session_bad_answer(s, "on_connect", v, r, "a greeting that is not 220");
	/* Once the message hook ran, the transaction is over whatever the
	   verdict (never an on_reset after on_message); its data stays for
	   the caller's log line until it resets it. */
	if (h == SESSION_HOOK_MESSAGE)
		session_enter(s, SESSION_GREETED);
	switch (v) {
	case SMTPGATE_CONTINUE:
	case SMTPGATE_ACCEPT:
		return 0;
	case SMTPGATE_REJECT:
	case SMTPGATE_TEMPFAIL:
		answer(s, h, a, r);
		/* Refused at connect: the session ends there. */
		if (h == SESSION_HOOK_CONNECT)
			session_close(s, SESSION_END_PLUGIN);
		return 1;
	case SMTPGATE_DISCONNECT:
		if (!r->code)
			smtp_reply_set(r, 421, "4.3.0", "%s Error: closing connection", s->env->fqdn);
		answer(s, h, a, r);
		session_close(s, SESSION_END_PLUGIN);
		return 1;
	}
	log_panic("what=verdict value=%d", (int)v); /* smtp_reply_check() passes only those above */
}
