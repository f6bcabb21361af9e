/*
 * session_tls.c - TLS in the channel: the STARTTLS command (RFC 3207), the
 * handshake of an implicit-TLS listener before its greeting (RFC 8314),
 * and tls.mode "required"'s 530 before STARTTLS.  The handshake itself is
 * the connection's (conn.c over tls.c); here is what it means to the
 * session: plaintext the client sent after STARTTLS is thrown away before
 * the handshake (the CVE-2011-0411 injection), and after it the session
 * starts again as if just connected (no HELO, no transaction: RFC 3207
 * 4.2).
 *
 * Called by session.c and session_cmd.c; replies through session_chat.c,
 * changes state through session_state.c.  It never calls back into
 * session.c or session_cmd.c, and never writes a plaintext byte after a
 * handshake has begun.
 */
#include "session_internal.h"

#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "log.h"

static int handshake(struct session *s);
static void show_tls(struct session *s);

/* STARTTLS takes no argument (RFC 3207 4): 0, or -1 after the 501. */
int session_tls_syntax(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (!arg)
		return 0;
	session_chat_reply(&s->chat, "501 5.5.4 Syntax: STARTTLS");
	return -1;
}

/* Negotiate TLS on the connection: 0 with the session's TLS fields set,
   or -1 after the log line saying why (the session is closing; no reply
   is sent: the client expects TLS records, not text). */
static int handshake(struct session *s)
{
	char why[256];
	enum session_state before = s->state;
	session_enter(s, SESSION_TLS_HANDSHAKE);
	int timeout = session_chat_timeout_ms(&s->chat, s->l->tls.handshake_timeout_sec);
	int rc = conn_start_tls(s->conn, s->env->tls, timeout, why, sizeof(why));
	if (rc < 0) {
		log_info("sid=%s listener=%s event=tls-failed reason=%s", s->sid, s->l->name,
			 log_quoted(why));
		counters_tls(NULL);
		session_close(s, rc == CONN_TIMEOUT ? SESSION_END_TIMEOUT
				 : rc == CONN_STOPPED ? SESSION_END_STOPPED : SESSION_END_TLS);
		return -1;
	}
	show_tls(s);
	counters_tls(s->tls.protocol);
	session_enter(s, before);
	return 0;
}

/* What the handshake agreed, into the plugins' view (ABI 1.1's tls_*
   fields) and the log: tls= and cipher= on every later line of the
   session, the SNI name and the client certificate on this one. */
static void show_tls(struct session *s)
{
	struct tls_info *t = &s->tls;
	tls_conn_info(conn_tls(s->conn), t);
	s->tls_active = 1;
	s->pub.tls_protocol = t->protocol;
	s->pub.tls_cipher = t->cipher;
	s->pub.tls_sni = t->sni[0] ? t->sni : NULL;
	s->pub.tls_peer_subject = t->peer_fingerprint[0] ? t->peer_subject : NULL;
	s->pub.tls_peer_fingerprint = t->peer_fingerprint[0] ? t->peer_fingerprint : NULL;
	s->pub.tls_peer_verified = t->peer_verified;
	snprintf(s->tls_log, sizeof(s->tls_log), " tls=%s cipher=%s", t->protocol, t->cipher);
	if (!t->peer_fingerprint[0]) {
		log_info("sid=%s listener=%s event=tls%s sni=%s client_cert=none", s->sid,
			 s->l->name, s->tls_log, log_quoted(t->sni));
		return;
	}
	log_info("sid=%s listener=%s event=tls%s sni=%s client_cert=%s client_subject=%s "
		 "client_fingerprint=%s", s->sid, s->l->name, s->tls_log, log_quoted(t->sni),
		 t->peer_verified ? "verified" : "unverified", log_quoted(t->peer_subject),
		 t->peer_fingerprint);
}

/* STARTTLS: 220, the pipelined plaintext dropped, the handshake, then the
   session as new (RFC 3207 4.2: the client must EHLO again). */
void session_tls_starttls(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)arg;
	(void)row;
	if (s->tls_active) {
		session_chat_reply(&s->chat, "503 5.5.1 Error: TLS already active");
		return;
	}
	session_chat_reply(&s->chat, "220 2.0.0 Ready to start TLS");
	session_chat_flush(&s->chat);
	if (!session_chat_ok(&s->chat)) {
		session_close(s, SESSION_END_IO_ERROR);
		return;
	}
	size_t dropped = linebuf_discard(&s->lb);
	if (dropped)
		log_info("sid=%s listener=%s event=starttls-pipelined action=discard bytes=%zu",
			 s->sid, s->l->name, dropped);
	if (handshake(s) < 0)
		return;
	s->greeting[0] = '\0';
	s->extended_smtp = 0;
	s->mail_extra_bytes = 0;
	s->ext = 0; /* what EHLO offered is offered again to the next EHLO */
	s->chat.enhanced = 0;
	session_auth_forget(s);
	session_enter(s, SESSION_CONNECTED);
}

int session_tls_implicit(struct session *s)
{
	return handshake(s);
}

int session_tls_allows(struct session *s, const struct session_verb *row)
{
	if (s->l->tls.mode != TLS_MODE_REQUIRED || s->tls_active || row->before_tls)
		return 1;
	session_chat_reply(&s->chat, "530 5.7.0 Must issue a STARTTLS command first");
	return 0;
}
