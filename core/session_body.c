/*
 * session_body.c - a transaction's message from its first byte to the
 * reply to its end, and the DATA command that reads one.
 *
 * Entry points: session_body_begin(), session_body_feed() (decoded bytes,
 * from DATA here and from any other verb that carries a message) and
 * session_body_end(), which delivers and answers; session_body_data() is
 * DATA's row handler.  A plugin with on_body gets the message in pieces as
 * it arrives (smtp_body.c cuts them) and the core keeps no copy of it, the
 * header block excepted when the plugin asks for it whole; a plugin
 * without gets on_message with the whole message, exactly as before.
 * Once the message is refused (by on_body, the size limit, a bare LF, bad
 * UTF-8, a header block too big) nothing more reaches the plugin, the rest
 * is read and dropped, the refusal answers the end of data, and the
 * transaction ends with on_reset, never with on_message.  It never sends
 * a 2xx the plugin did not give, and never answers before the end of data.
 */
#include "session_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static int to_plugin(void *arg, const char *p, size_t len);
static int to_buffer(void *arg, const char *p, size_t len);
static int refusal_reply(struct session *s, struct smtpgate_reply *r);
static void log_message(struct session *s, const struct smtpgate_reply *r, int delivered);
static int receive_data(struct session *s, struct smtp_data *d, struct msgbuf *out);

/* on_body's piece: 0 to go on, SESSION_BODY_PLUGIN once it refused. */
static int to_plugin(void *arg, const char *p, size_t len)
{
	struct session *s = arg;
	struct session_body *b = &s->body;
	const char *why;
	smtp_reply_clear(&b->reply);
	session_sync_pub(s);
	enum smtpgate_verdict v = s->env->plugin->on_body(s->env->priv, &s->pub, p, len, &b->reply);
	if (smtp_reply_check(v, &b->reply, &why) != 0)
		v = session_bad_answer(s, "on_body", v, &b->reply, why);
	if (v == SMTPGATE_CONTINUE || v == SMTPGATE_ACCEPT)
		return 0; /* a 2xx set here answers nothing: the end of data is not here yet */
	if (v == SMTPGATE_DISCONNECT && !b->reply.code)
		smtp_reply_set(&b->reply, 421, "4.3.0", "%s Error: closing connection", s->env->fqdn);
	b->verdict = v;
	return SESSION_BODY_PLUGIN;
}

/* A plugin without on_body: the message is gathered for on_message. */
static int to_buffer(void *arg, const char *p, size_t len)
{
	struct session *s = arg;
	msgbuf_append(&s->msg, p, len);
	return 0;
}

/* From the first refusal on nothing is kept or passed on.  The plugin's
   stays; among the core's, one found later may still take precedence
   (data_size_limit over a bare LF over bad UTF-8, as when all three were
   checked after the final dot). */
void session_body_refuse(struct session *s, int rc)
{
	struct session_body *b = &s->body;
	enum session_body_refusal why = rc == SMTP_BODY_BAD_UTF8 ? SESSION_BODY_BAD_UTF8
				       : rc == SMTP_BODY_HEADER_TOO_BIG ? SESSION_BODY_HEADER_BIG
				       : (enum session_body_refusal)rc;
	if (b->refusal == SESSION_BODY_PLUGIN ||
	    (b->refusal != SESSION_BODY_TAKEN && why >= b->refusal))
		return;
	b->refusal = why;
	msgbuf_free(&s->msg);
}

int session_body_begin(struct session *s)
{
	struct session_body *b = &s->body;
	const struct smtpgate_plugin *p = s->env->plugin;
	memset(b, 0, sizeof(*b));
	b->streaming = p->on_body != NULL;
	b->started_ms = clock_ms();
	smtp_body_begin(&b->body, b->streaming && (p->stream_flags & SMTPGATE_STREAM_WHOLE_HEADER),
			s->l->decode_data, &s->msg);
	return b->streaming;
}

int session_body_feed(struct session *s, const char *data, size_t len)
{
	struct session_body *b = &s->body;
	if (b->refusal != SESSION_BODY_TAKEN)
		return -1;
	b->size_bytes += len;
	unsigned long long limit = (unsigned long long)s->l->data_size_limit;
	if (limit && b->body.total + len > limit) {
		session_body_refuse(s, SESSION_BODY_TOO_BIG);
		return -1;
	}
	int rc = smtp_body_feed(&b->body, data, len, b->streaming ? to_plugin : to_buffer, s);
	if (rc)
		session_body_refuse(s, rc);
	return rc ? -1 : 0;
}

/* The reply to a refused message, in the order of enum
   session_body_refusal; 0 when it was not refused. */
static int refusal_reply(struct session *s, struct smtpgate_reply *r)
{
	switch (s->body.refusal) {
	case SESSION_BODY_TAKEN:
		return 0;
	case SESSION_BODY_PLUGIN:
		*r = s->body.reply;
		break;
	case SESSION_BODY_TOO_BIG:
		smtp_reply_set(r, 552, NULL, "Error: Too much mail data");
		break;
	case SESSION_BODY_BARE_LF:
		smtp_reply_set(r, 550, "5.5.2", "Error: bare <LF> received");
		break;
	case SESSION_BODY_BAD_UTF8:
		/* smtpd.py raised UnicodeDecodeError and dropped the client. */
		smtp_reply_set(r, 554, "5.6.0", "Error: message data is not valid UTF-8");
		break;
	case SESSION_BODY_HEADER_BIG:
		smtp_reply_set(r, 552, "5.3.4", "Error: message header block too big");
		break;
	}
	return 1;
}

/* The message's log line and count: what the client was told. */
static void log_message(struct session *s, const struct smtpgate_reply *r, int delivered)
{
	session_message_done(s, s->body.size_bytes, s->body.refusal == SESSION_BODY_TOO_BIG, r,
			     delivered, s->body.started_ms);
}

void session_body_end(struct session *s)
{
	struct session_body *b = &s->body;
	struct smtpgate_reply r;
	smtp_reply_clear(&r);
	if (b->refusal == SESSION_BODY_TAKEN) {
		int rc = smtp_body_end(&b->body, b->streaming ? to_plugin : to_buffer, s);
		if (rc)
			session_body_refuse(s, rc);
	}
	if (refusal_reply(s, &r)) {
		if (s->l->lmtp)
			session_lmtp_each(s, &r); /* the same refusal for every recipient */
		else
			session_chat_send(&s->chat, &r);
		log_message(s, &r, 0);
		if (b->refusal == SESSION_BODY_PLUGIN && b->verdict == SMTPGATE_DISCONNECT)
			session_close(s, SESSION_END_PLUGIN); /* on_reset runs there */
		else
			session_reset_transaction(s, 1);
		return;
	}
	struct smtpgate_message m = { .data = s->msg.data ? s->msg.data : "", .len = s->msg.len };
	if (b->streaming)
		m = (struct smtpgate_message){ .data = NULL, .len = b->body.total, .streamed = 1 };
	struct session_hook_args a = { .msg = &m };
	s->messages++;
	int sent = s->l->lmtp ? session_lmtp_message(s, &m, &r) /* a reply per recipient */
			      : session_hook(s, SESSION_HOOK_MESSAGE, &a, &r);
	if (!sent && !r.code)
		smtp_reply_set(&r, 250, NULL, "OK");
	if (!sent)
		session_chat_send(&s->chat, &r);
	log_message(s, &r, 1);
	session_reset_transaction(s, 0);
}

/* Read DATA to the terminator, each read on to the body as it comes.  0
   when the terminator came, -1 when the connection failed or timed out
   (the session is closing then, its transaction abandoned: on_reset). */
static int receive_data(struct session *s, struct smtp_data *d, struct msgbuf *out)
{
	session_chat_flush(&s->chat);
	if (!session_chat_ok(&s->chat)) {
		session_close(s, SESSION_END_IO_ERROR);
		return -1;
	}
	for (;;) {
		const char *piece;
		size_t len;
		int r = linebuf_read_data(&s->lb, session_chat_timeout_ms(&s->chat, s->l->data_timeout_sec),
					  &piece, &len);
		if (r < 0) {
			session_read_failed(s, r);
			return -1;
		}
		if (log_trace_enabled())
			log_trace(s->sid, "<", piece, len);
		int end = smtp_data_feed(d, piece, len);
		if (end)
			smtp_data_finish(d);
		if (d->over_limit)
			session_body_refuse(s, SESSION_BODY_TOO_BIG);
		else if (d->bare_lf_seen && s->l->bare_lf == BARE_LF_REJECT)
			session_body_refuse(s, SESSION_BODY_BARE_LF);
		if (s->body.refusal != SESSION_BODY_TAKEN) {
			msgbuf_reset(out); /* refused: the rest is read and dropped */
		} else {
			size_t n = smtp_body_settled(out, end);
			session_body_feed(s, out->data, n);
			smtp_body_consume(out, n);
		}
		if (end)
			return 0;
	}
}

/* DATA: 354, the message as it arrives, then its delivery. */
void session_body_data(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (arg) {
		session_chat_reply(&s->chat, "501 Syntax: DATA");
		return;
	}
	long long started = clock_ms();
	struct smtpgate_reply r;
	struct session_hook_args a = { 0 };
	if (session_hook(s, SESSION_HOOK_DATA, &a, &r))
		return;
	session_chat_reply(&s->chat, "354 End data with <CR><LF>.<CR><LF>");
	session_enter(s, SESSION_DATA);

	session_body_begin(s);
	s->body.started_ms = started;
	struct smtp_data d;
	struct msgbuf out = { 0 };
	smtp_data_begin(&d, &out, s->l->bare_lf, (unsigned long long)s->l->data_size_limit);
	int rc = receive_data(s, &d, &out);
	msgbuf_free(&out);
	if (rc < 0)
		return; /* the client never sent the final dot: nothing is delivered */
	s->body.size_bytes = d.raw_bytes; /* as smtpd.py counts them */
	if (session_chat_time_left_ms(&s->chat) == 0) {
		/* The final dot came after the session's end: nothing delivered. */
		session_time_exceeded(s);
		return;
	}
	session_body_end(s);
}
