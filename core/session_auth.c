/*
 * session_auth.c - AUTH in the channel (RFC 4954, SASL PLAIN RFC 4616 and
 * LOGIN): the EHLO keyword, the exchange of 334 challenges and base64
 * responses, the verdict of the listener's backend (auth.c) or of the
 * plugin's on_auth hook, the limits on failures (per session, and per
 * client address across workers through the scoreboard), and what AUTH
 * changes elsewhere: auth.required's 530 before MAIL, MAIL's AUTH=
 * parameter, auth.sender_must_match's 553.
 *
 * Called by session.c and session_cmd.c; replies through session_chat.c,
 * changes state through session_state.c.  It never logs, traces or keeps
 * a credential: responses are traced as "<hidden>", decoded buffers are
 * wiped before they go out of use, and a refusal says nothing of whether
 * the user exists (one reply, one delay, for every 535).
 */
#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth_util.h"
#include "base64.h"
#include "log.h"
#include "scoreboard.h"

/* RFC 4954 4: a response line (and an initial response) of up to 12288
   octets, not counting its CRLF. */
#define AUTH_RESPONSE_MAX_BYTES 12288
#define AUTH_COMMAND_MAX_BYTES (AUTH_RESPONSE_MAX_BYTES + sizeof("AUTH PLAIN ") - 1)

/* An exchange's outcome before the verdict. */
enum exchange { EXCHANGE_DONE, EXCHANGE_REFUSED, EXCHANGE_LOST };

/* What the client gave: decoded, NUL-terminated, wiped after use. */
struct credentials {
	const char *mechanism;
	char authzid[AUTH_USER_MAX_BYTES];
	char authcid[AUTH_USER_MAX_BYTES];
	char password[BASE64_DECODED_MAX(AUTH_RESPONSE_MAX_BYTES)];
};

static int offered(const struct session *s);
static int read_response(struct session *s, const char *challenge, unsigned char *out,
			 size_t *len_out);
static int decode(struct session *s, const char *text, size_t len, unsigned char *out,
		  size_t *len_out);
static int split_plain(const unsigned char *msg, size_t len, struct credentials *c);
static int copy_field(char *out, size_t size, const unsigned char *p, size_t len, int name);
static enum exchange exchange_plain(struct session *s, const char *initial,
				    struct credentials *c);
static enum exchange exchange_login(struct session *s, const char *initial,
				    struct credentials *c);
static enum exchange lost_or_refused(const struct session *s);
static enum auth_result plugin_verdict(struct session *s, const struct credentials *c,
				       char *why, size_t why_size);
static enum auth_result verdict(struct session *s, struct credentials *c, char *user,
				size_t user_size, char *why, size_t why_size);
static int client_blocked(struct session *s, int *reserved_out);
static void succeeded(struct session *s, const struct credentials *c, const char *user);
static void failed(struct session *s, const struct credentials *c, const char *why);
static void attempt(struct session *s, const char *mech, const char *initial);

/* AUTH is offered: a backend is set, and TLS is on or not needed. */
static int offered(const struct session *s)
{
	return s->l->auth.backend != AUTH_BACKEND_NONE &&
	       (s->tls_active || s->l->auth.plaintext_allowed);
}

void session_auth_forget(struct session *s)
{
	s->auth_user[0] = '\0';
	s->auth_mechanism = NULL;
	s->auth_log[0] = '\0';
}

void session_auth_ehlo(struct session *s)
{
	unsigned int m = s->l->auth.mech_mask;
	if (offered(s))
		session_chat_reply(&s->chat, "250-AUTH%s%s", m & AUTH_MECH_PLAIN ? " PLAIN" : "",
				   m & AUTH_MECH_LOGIN ? " LOGIN" : "");
}

size_t session_auth_line_max(const struct session *s, size_t limit)
{
	if (s->l->auth.backend == AUTH_BACKEND_NONE || limit >= AUTH_COMMAND_MAX_BYTES)
		return limit;
	return AUTH_COMMAND_MAX_BYTES;
}

void session_auth_trace(const struct session *s, const char *line, size_t len)
{
	/* "AUTH MECH secret": the verb and mechanism only. */
	if (s->l->auth.backend != AUTH_BACKEND_NONE && len > 5 && strncasecmp(line, "AUTH ", 5) == 0) {
		const char *sp = memchr(line + 5, ' ', len - 5);
		if (sp) {
			char shown[64];
			int n = snprintf(shown, sizeof(shown), "%.*s <hidden>",
					 (int)((size_t)(sp - line) < 40 ? sp - line : 40), line);
			log_trace(s->sid, "<", shown, (size_t)n);
			return;
		}
	}
	log_trace(s->sid, "<", line, len);
}

int session_auth_allows(struct session *s, const struct session_verb *row)
{
	/* MAIL opens every transaction: refusing it refuses them all. */
	if (!s->l->auth.required || s->auth_user[0] || strcmp(row->verb, "MAIL") != 0)
		return 1;
	session_chat_reply(&s->chat, "530 5.7.0 Authentication required");
	return 0;
}

int session_auth_mail_param(const struct session *s, const struct smtp_params *p, size_t k)
{
	/* RFC 4954 5: AUTH=<mailbox> or AUTH=<>, accepted whatever it says
	   (a relay's claim is not ours to check); on_mail sees it among the
	   options. */
	return s->l->auth.backend != AUTH_BACKEND_NONE && p->key_len[k] == 4 &&
	       memcmp(p->param[k], "AUTH", 4) == 0 && p->value[k];
}

int session_auth_sender_ok(struct session *s, const char *sender)
{
	if (!s->auth_user[0] || !s->env->auth || auth_sender_allowed(s->env->auth, s->auth_user, sender))
		return 1;
	log_info("sid=%s listener=%s event=auth-sender from=%s user=%s action=reject", s->sid,
		 s->l->name, log_quoted(sender), log_quoted(s->auth_user));
	session_chat_reply(&s->chat, "553 5.7.1 <%s>: Sender address rejected: not owned by the "
			   "authenticated user", sender);
	return 0;
}

int session_auth_syntax(struct session *s, const char *arg, const struct session_verb *row)
{
	(void)row;
	if (arg)
		return 0;
	session_chat_reply(&s->chat, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
	return -1;
}

/* Send a 334 challenge (base64 text, "" for none) and read the answer,
   decoded into out: 0; -1 after the reply that ends the exchange (501,
   500) or when the session is closing (a timeout, a lost client). */
static int read_response(struct session *s, const char *challenge, unsigned char *out,
			 size_t *len_out)
{
	const char *line;
	size_t len;
	session_chat_notify(&s->chat, "334 %s", challenge);
	session_chat_flush(&s->chat);
	if (!session_chat_ok(&s->chat)) {
		session_close(s, SESSION_END_IO_ERROR);
		return -1;
	}
	int rc = linebuf_read_command(&s->lb, AUTH_RESPONSE_MAX_BYTES,
				      session_chat_timeout_ms(&s->chat, s->l->command_timeout_sec), 0,
				      &line, &len);
	if (rc < 0) {
		session_read_failed(s, rc);
		return -1;
	}
	if (log_trace_enabled())
		log_trace(s->sid, "<", "<hidden>", 8);
	if (rc != LINEBUF_LINE) { /* too long, or a bare LF/CR bare_lf refuses */
		session_chat_reply(&s->chat, rc == LINEBUF_TOO_LONG
					     ? "500 5.5.6 Authentication Exchange line is too long"
					     : "501 5.5.2 Cannot decode response");
		return -1;
	}
	if (len == 1 && line[0] == '*') {
		session_chat_reply(&s->chat, "501 5.0.0 Authentication cancelled");
		return -1;
	}
	return decode(s, line, len, out, len_out);
}

/* Base64 into out: 0, or -1 after the 501. */
static int decode(struct session *s, const char *text, size_t len, unsigned char *out,
		  size_t *len_out)
{
	if (len <= AUTH_RESPONSE_MAX_BYTES &&
	    base64_decode(text, len, out, BASE64_DECODED_MAX(AUTH_RESPONSE_MAX_BYTES), len_out) == 0)
		return 0;
	session_chat_reply(&s->chat, "501 5.5.2 Cannot decode response");
	return -1;
}

/* One name or password of a response into out: 0, or -1 when it does
   not fit or holds a NUL (or, for a name, a control byte: names go into
   log lines and Received headers). */
static int copy_field(char *out, size_t size, const unsigned char *p, size_t len, int name)
{
	if (len >= size || memchr(p, '\0', len))
		return -1;
	for (size_t i = 0; name && i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd, authcid and passwd not
   empty.  0, or -1 when malformed. */
static int split_plain(const unsigned char *msg, size_t len, struct credentials *c)
{
	const unsigned char *nul1 = memchr(msg, '\0', len);
	if (!nul1)
		return -1;
	const unsigned char *user = nul1 + 1;
	const unsigned char *nul2 = memchr(user, '\0', len - (size_t)(user - msg));
	if (!nul2)
		return -1;
	const unsigned char *pass = nul2 + 1;
	size_t pass_len = len - (size_t)(pass - msg);
	if (nul2 == user || pass_len == 0)
		return -1;
	if (copy_field(c->authzid, sizeof(c->authzid), msg, (size_t)(nul1 - msg), 1) < 0 ||
	    copy_field(c->authcid, sizeof(c->authcid), user, (size_t)(nul2 - user), 1) < 0 ||
	    copy_field(c->password, sizeof(c->password), pass, pass_len, 0) < 0)
		return -1;
	return 0;
}

/* The decoded response buffer, wiped after each use. */
static unsigned char response[BASE64_DECODED_MAX(AUTH_RESPONSE_MAX_BYTES)];

/* How a failed read ended: the session closing, or a refusal sent. */
static enum exchange lost_or_refused(const struct session *s)
{
	return s->state == SESSION_CLOSING ? EXCHANGE_LOST : EXCHANGE_REFUSED;
}

/* The exchange's first response into response: the initial one given
   with AUTH ("=" is an empty one), or the answer to a 334 with prompt.
   0, or -1 (refused, or the session is closing). */
static int first_response(struct session *s, const char *prompt, const char *initial,
			  size_t *len)
{
	if (!initial)
		return read_response(s, prompt, response, len);
	if (strcmp(initial, "=") == 0)
		return 0;
	return decode(s, initial, strlen(initial), response, len);
}

/* PLAIN: the initial response ("=" is an empty one) or one 334. */
static enum exchange exchange_plain(struct session *s, const char *initial,
				    struct credentials *c)
{
	size_t len = 0;
	if (first_response(s, "", initial, &len) < 0)
		return lost_or_refused(s);
	int rc = split_plain(response, len, c);
	auth_util_wipe(response, len);
	if (rc == 0)
		return EXCHANGE_DONE;
	session_chat_reply(&s->chat, "501 5.5.2 Malformed PLAIN response");
	return EXCHANGE_REFUSED;
}

/* LOGIN: "Username:" (or the user as initial response, as smtplib's
   login() sends it), then "Password:". */
static enum exchange exchange_login(struct session *s, const char *initial,
				    struct credentials *c)
{
	size_t len = 0;
	if (first_response(s, "VXNlcm5hbWU6", initial, &len) < 0)
		return lost_or_refused(s);
	int rc = len == 0 ? -1 : copy_field(c->authcid, sizeof(c->authcid), response, len, 1);
	auth_util_wipe(response, len);
	if (rc < 0) {
		session_chat_reply(&s->chat, "501 5.5.2 Malformed LOGIN user name");
		return EXCHANGE_REFUSED;
	}
	if (read_response(s, "UGFzc3dvcmQ6", response, &len) < 0)
		return lost_or_refused(s);
	rc = copy_field(c->password, sizeof(c->password), response, len, 0);
	auth_util_wipe(response, len);
	if (rc == 0)
		return EXCHANGE_DONE;
	session_chat_reply(&s->chat, "501 5.5.2 Malformed LOGIN password");
	return EXCHANGE_REFUSED;
}

/* The plugin's on_auth as a backend result (plugin.h: ACCEPT is 235,
   TEMPFAIL 454, anything else a 535). */
static enum auth_result plugin_verdict(struct session *s, const struct credentials *c,
				       char *why, size_t why_size)
{
	struct smtpgate_reply r;
	struct smtpgate_auth cred = { c->mechanism, c->authzid, c->authcid, c->password };
	smtp_reply_clear(&r);
	session_sync_pub(s);
	enum smtpgate_verdict v = s->env->plugin->on_auth(s->env->priv, &s->pub, &cred, &r);
	snprintf(why, why_size, "plugin verdict %s", smtpgate_verdict_name(v));
	return v == SMTPGATE_ACCEPT ? AUTH_OK : v == SMTPGATE_TEMPFAIL ? AUTH_TEMPFAIL : AUTH_FAIL;
}

/* The backend's word on the credentials; user gets the name it knows. */
static enum auth_result verdict(struct session *s, struct credentials *c, char *user,
				size_t user_size, char *why, size_t why_size)
{
	why[0] = '\0';
	if (strcmp(c->authzid, c->authcid) == 0)
		c->authzid[0] = '\0'; /* acting as oneself is no authzid */
	if (c->authzid[0] && !s->l->auth.authzid_allowed) {
		snprintf(why, why_size, "authzid not allowed");
		return AUTH_FAIL;
	}
	snprintf(user, user_size, "%s", c->authzid[0] ? c->authzid : c->authcid);
	if (s->l->auth.backend == AUTH_BACKEND_PLUGIN)
		return plugin_verdict(s, c, why, why_size);
	struct auth_request req = { c->authzid, c->authcid, c->password, s->pub.peer_addr,
				    s->pub.local_addr, s->tls_active };
	return auth_verify(s->env->auth, &req, s->l->auth.dovecot_timeout_sec * 1000, user,
			   user_size, why, why_size);
}

/* client_failure_limit: 1 after the 454 when this client has had its
   failures in the window; else 0, the attempt counted as pending when
   *reserved_out is set. */
static int client_blocked(struct session *s, int *reserved_out)
{
	const struct auth_config *a = &s->l->auth;
	const struct config_nets *spared = &s->l->client_limit_exceptions;
	int failures;
	*reserved_out = 0;
	if (a->client_failure_limit == 0 || !s->env->sb ||
	    addr_net_list_contains(spared->nets, spared->count, s->pub.peer_addr))
		return 0;
	if (scoreboard_auth_begin(&s->env->sb->auth, s->l->name, s->pub.peer_addr,
				  a->client_failure_limit, a->client_failure_window_sec * 1000LL,
				  clock_ms(), &failures)) {
		*reserved_out = 1;
		return 0;
	}
	log_info("sid=%s listener=%s event=limit limit=client_failure_limit client=%s "
		 "failures=%d window=%d", s->sid, s->l->name, s->pub.peer_addr, failures,
		 a->client_failure_window_sec);
	session_chat_reply(&s->chat, "454 4.7.0 Error: too many authentication failures from "
			   "your address; try again later");
	return 1;
}

/* 235: the session is authenticated from now on. */
static void succeeded(struct session *s, const struct credentials *c, const char *user)
{
	snprintf(s->auth_user, sizeof(s->auth_user), "%s", user);
	s->auth_mechanism = c->mechanism;
	/* Quoted once (escapes grow a byte to four), for every line after. */
	char quoted[sizeof(s->auth_log) - 8];
	snprintf(s->auth_log, sizeof(s->auth_log), " user=%s",
		 log_quote(quoted, sizeof(quoted), s->auth_user));
	log_info("sid=%s listener=%s event=auth result=ok mechanism=%s%s%s", s->sid, s->l->name,
		 c->mechanism, s->auth_log, s->tls_log);
	session_chat_reply(&s->chat, "235 2.7.0 Authentication successful");
}

/* 535 after error_sleep, the same for every refusal; past max_failures
   421 and the end of the session. */
static void failed(struct session *s, const struct credentials *c, const char *why)
{
	s->auth_failures++;
	log_info("sid=%s listener=%s event=auth result=fail mechanism=%s failures=%d reason=%s",
		 s->sid, s->l->name, c->mechanism, s->auth_failures, log_quoted(why));
	/* As Postfix's smtpd_error_sleep_time after a failed AUTH: a
	   guesser's rate drops, and the delay hides the backend's timing. */
	session_chat_pause(&s->chat, (long long)s->l->error_sleep_sec * 1000);
	if (s->auth_failures < s->l->auth.max_failures) {
		session_chat_reply(&s->chat, "535 5.7.8 Authentication credentials invalid");
		return;
	}
	log_info("sid=%s listener=%s event=limit limit=max_failures failures=%d", s->sid,
		 s->l->name, s->auth_failures);
	session_chat_notify(&s->chat, "421 4.7.0 %s Error: too many failed authentication attempts",
			    s->env->fqdn);
	session_close(s, SESSION_END_LIMIT);
}

/* One AUTH attempt with mech, from the exchange to the reply. */
static void attempt(struct session *s, const char *mech, const char *initial)
{
	static struct credentials c;
	char user[AUTH_USER_MAX_BYTES] = "", why[256] = "";
	int reserved;
	if (client_blocked(s, &reserved))
		return;
	memset(&c, 0, sizeof(c));
	c.mechanism = mech;
	session_enter(s, SESSION_AUTH);
	enum exchange e = strcmp(mech, "PLAIN") == 0 ? exchange_plain(s, initial, &c)
						     : exchange_login(s, initial, &c);
	enum auth_result res = e == EXCHANGE_DONE ? verdict(s, &c, user, sizeof(user), why,
							    sizeof(why))
						  : AUTH_FAIL;
	auth_util_wipe(c.password, sizeof(c.password));
	if (reserved)
		scoreboard_auth_end(&s->env->sb->auth, s->l->name, s->pub.peer_addr,
				    e == EXCHANGE_DONE && res == AUTH_FAIL,
				    s->l->auth.client_failure_window_sec * 1000LL, clock_ms());
	if (e == EXCHANGE_LOST)
		return; /* closing: the reason is logged already */
	session_enter(s, SESSION_GREETED);
	if (e == EXCHANGE_REFUSED)
		return;
	if (res == AUTH_OK) {
		succeeded(s, &c, user);
	} else if (res == AUTH_FAIL) {
		failed(s, &c, why);
	} else {
		log_warn("sid=%s listener=%s event=auth result=tempfail mechanism=%s reason=%s",
			 s->sid, s->l->name, mech, log_quoted(why));
		session_chat_reply(&s->chat, "454 4.7.0 Temporary authentication failure");
	}
	auth_util_wipe(&c, sizeof(c));
}

void session_auth_command(struct session *s, const char *arg, const struct session_verb *row)
{
	char mech[16];
	(void)row;
	if (s->auth_user[0]) {
		session_chat_reply(&s->chat, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (!offered(s)) {
		session_chat_reply(&s->chat,
				   "538 5.7.11 Encryption required for requested authentication "
				   "mechanism");
		return;
	}
	size_t n = strcspn(arg, " ");
	const char *initial = arg[n] ? arg + n + 1 : NULL;
	if (n >= sizeof(mech) || (initial && (!initial[0] || strchr(initial, ' ')))) {
		session_chat_reply(&s->chat, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	if (strcasecmp(mech, "PLAIN") == 0 && (s->l->auth.mech_mask & AUTH_MECH_PLAIN))
		attempt(s, "PLAIN", initial);
	else if (strcasecmp(mech, "LOGIN") == 0 && (s->l->auth.mech_mask & AUTH_MECH_LOGIN))
		attempt(s, "LOGIN", initial);
	else
		session_chat_reply(&s->chat, "504 5.5.4 Unrecognized authentication type");
}
