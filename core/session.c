/*
 * session.c - the SMTP channel's loop: smtpd.SMTPChannel run blocking over
 * a struct conn.  It greets the client (after the plugin's connect hook
 * and greet_pause), reads command lines, dispatches each through the
 * command table (session_cmd.c) - the 503s of a verb used in the wrong
 * state come from its row, not from its handler - and applies the limits
 * between commands (hard_error_limit, max_idle_commands,
 * max_session_time), until the session is closing.
 *
 * Entry point: session_run().  Replies, codes and state rules are
 * smtpd.py's (the reference in the README); where smtpd.py crashed or
 * misbehaved this answers instead (see "Differences" in the README).
 * It never writes to the client but through session_chat.c, and the
 * modules below it (session_cmd.c, session_state.c, session_chat.c)
 * never call back into it.
 */
#include "session.h"

#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "linebuf.h"
#include "log.h"
#include "mem.h"
#include "smtp_parse.h"
#include "smtp_reply.h"

static int read_command(struct session *s, const char **line_out, size_t *len_out);
static int idle_command(struct session *s);
static void end_command(struct session *s, int idle_counted);
static const struct session_verb *find_verb(const struct session *s, const char *verb);
static int run_verb(struct session *s, const struct session_verb *row, const char *arg);
static int dispatch(struct session *s, const char *line, size_t len);
static int refuse_line(struct session *s, int rc);
static int pregreet(struct session *s);
static void greet_client(struct session *s);
static struct session *session_new(const struct session_env *env, struct conn *conn,
				   const struct session_peer *peer, const char *sid);
static enum session_end session_end_and_free(struct session *s);

/* The end reason's name in log lines. */
const char *session_end_name(enum session_end end)
{
	static const char *const names[] = { "quit", "eof", "timeout", "io-error", "stopped",
					     "plugin", "limit", "tls-error" };
	if ((unsigned int)end >= sizeof(names) / sizeof(names[0]))
		log_panic("what=session_end value=%d", (int)end); /* memory is corrupt */
	return names[end];
}

/* The next command line; LINEBUF_LINE, LINEBUF_TOO_LONG, LINEBUF_BARE_LF,
   LINEBUF_BARE_CR, or < 0 (an enum conn_status). */
static int read_command(struct session *s, const char **line_out, size_t *len_out)
{
	size_t max = session_auth_line_max(s, SMTP_CMDLINE_MAX_BYTES + s->mail_extra_bytes);
	/* Write pending replies unless a whole pipelined command is waiting. */
	if (!linebuf_has_line(&s->lb))
		session_chat_flush(&s->chat);
	if (!session_chat_ok(&s->chat))
		return CONN_ERROR;
	/* A stop interrupts the wait only between transactions: one in
	   progress is finished first (the loop sends 421 after it). */
	int r = linebuf_read_command(&s->lb, max,
				     session_chat_timeout_ms(&s->chat, s->l->command_timeout_sec),
				     !session_has_tx(s), line_out, len_out);
	if (r == LINEBUF_LINE && log_trace_enabled())
		session_auth_trace(s, *line_out, *len_out);
	return r;
}

/* Count a command that does not advance a transaction (Postfix's junk
   commands).  1 when it is one too many: 421 sent instead of an answer. */
static int idle_command(struct session *s)
{
	if (++s->idle_commands <= s->l->max_idle_commands)
		return 0;
	log_info("sid=%s listener=%s event=limit limit=max_idle_commands commands=%d", s->sid,
		 s->l->name, s->idle_commands);
	counters_limit(CL_MAX_IDLE_COMMANDS);
	session_chat_reply(&s->chat, "421 4.7.0 %s Error: too many commands without mail",
			   s->env->fqdn);
	session_close(s, SESSION_END_LIMIT);
	return 1;
}

/* After a command's answer: a write that failed ends the session, the
   hard error limit too, and a failed command counts as idle (unless it
   was counted already). */
static void end_command(struct session *s, int idle_counted)
{
	if (!session_chat_ok(&s->chat))
		session_close(s, SESSION_END_IO_ERROR);
	if (s->state == SESSION_CLOSING)
		return;
	if (s->chat.errors >= s->l->hard_error_limit) {
		log_info("sid=%s listener=%s event=limit limit=hard_error_limit errors=%d", s->sid,
			 s->l->name, s->chat.errors);
		counters_limit(CL_HARD_ERROR_LIMIT);
		session_chat_reply(&s->chat, "421 4.7.0 %s Error: too many errors", s->env->fqdn);
		session_close(s, SESSION_END_LIMIT);
	} else if (session_chat_command_failed(&s->chat) && !idle_counted) {
		idle_command(s);
	}
}

/* The verb's row: built-in rows first, then the plugin's; NULL if none. */
static const struct session_verb *find_verb(const struct session *s, const char *verb)
{
	for (size_t i = 0; i < s->verb_count; i++)
		if (strcmp(verb, s->verbs[i].verb) == 0)
			return &s->verbs[i];
	return NULL;
}

/* Check a verb against its row, in smtpd.py's order, and run it; 1 when
   it was counted toward max_idle_commands. */
static int run_verb(struct session *s, const struct session_verb *row, const char *arg)
{
	if (!session_tls_allows(s, row) || !session_auth_allows(s, row))
		return 0;
	if (s->state == SESSION_CONNECTED && !row->before_helo) {
		session_chat_reply(&s->chat, s->l->lmtp ? "503 5.5.1 Error: send LHLO first"
							: "503 Error: send HELO first");
		return 0;
	}
	if (row->syntax && row->syntax(s, arg, row) < 0)
		return 0;
	if (!(row->allowed & SESSION_IN(s->state))) {
		session_chat_reply(&s->chat, "%s", row->refused_text);
		return 0;
	}
	if (row->idle && idle_command(s))
		return 1;
	s->chat.verb = row->verb; /* the enhanced code of its replies */
	row->run(s, arg, row);
	return row->idle;
}

/* Parse one command line and answer it; 1 when it was counted toward
   max_idle_commands. */
static int dispatch(struct session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	int rc = smtp_parse_command(line, len, &cmd);
	if (rc != SMTP_PARSE_OK) {
		/* smtpd.py: empty line; NUL or bad UTF-8 crashed it instead. */
		if (!idle_command(s))
			session_chat_reply(&s->chat, "500 Error: bad syntax");
		return 1;
	}
	size_t limit = SMTP_CMDLINE_MAX_BYTES;
	if (s->extended_smtp && strcmp(cmd.verb, "MAIL") == 0)
		limit += s->mail_extra_bytes;
	if (strcmp(cmd.verb, "AUTH") == 0)
		limit = session_auth_line_max(s, limit);
	if (len > limit) {
		if (!idle_command(s))
			session_chat_reply(&s->chat, "500 Error: line too long");
		return 1;
	}
	if (session_ehlo_pipelining(s, cmd.verb))
		return 1;
	const struct session_verb *row = cmd.verb_truncated ? NULL : find_verb(s, cmd.verb);
	if (row)
		return run_verb(s, row, cmd.has_arg && cmd.arg[0] ? cmd.arg : NULL);
	if (!idle_command(s))
		session_chat_reply(&s->chat, "500 Error: command \"%s\" not recognized", cmd.verb);
	return 1;
}

/* A line the reader refused whole (too long, or ended by a bare LF when
   bare_lf is "reject"): none of it runs.  1, counted as idle. */
static int refuse_line(struct session *s, int rc)
{
	if (idle_command(s))
		return 1;
	if (rc == LINEBUF_BARE_LF)
		session_chat_reply(&s->chat, "500 5.5.2 Error: bare <LF> received");
	else if (rc == LINEBUF_BARE_CR)
		session_chat_reply(&s->chat, "500 5.5.2 Error: bare <CR> received");
	else
		session_chat_reply(&s->chat, "500 Error: line too long");
	return 1;
}

/* greet_pause: wait before the greeting, without reading.  1 when the
   client talked meanwhile and pregreet is "reject" (554 sent). */
static int pregreet(struct session *s)
{
	session_chat_pause(&s->chat, s->l->greet_pause_ms);
	if (!conn_input_pending(s->conn))
		return 0;
	log_info("sid=%s listener=%s event=pregreet action=%s", s->sid, s->l->name,
		 s->l->pregreet_reject ? "reject" : "log");
	counters_limit(CL_PREGREET);
	if (!s->l->pregreet_reject)
		return 0;
	session_chat_notify(&s->chat, "554 5.5.1 %s Error: talking before the greeting",
			    s->env->fqdn);
	return 1;
}

/* The plugin's connect hook, greet_pause, then the greeting (or the
   refusal that ends the session). */
static void greet_client(struct session *s)
{
	struct smtpgate_reply r;
	if (session_hook(s, SESSION_HOOK_CONNECT, &(struct session_hook_args){ 0 }, &r))
		return;
	if (s->l->greet_pause_ms > 0 && pregreet(s))
		session_close(s, SESSION_END_LIMIT);
	else if (r.code)
		session_chat_notify_reply(&s->chat, &r);
	else
		session_chat_notify(&s->chat, "220 %s smtpgate %s ESMTP", s->env->fqdn,
				    PACKAGE_VERSION);
}

/* A session in SESSION_CONNECTED, with its table and the plugin's view. */
static struct session *session_new(const struct session_env *env, struct conn *conn,
				   const struct session_peer *peer, const char *sid)
{
	struct session *s = mem_calloc(1, sizeof(*s));
	s->env = env;
	s->l = env->listener;
	s->conn = conn;
	s->state = SESSION_CONNECTED;
	s->end = SESSION_END_EOF;
	snprintf(s->sid, sizeof(s->sid), "%s", sid);
	session_chat_init(&s->chat, conn, s->sid, s->l);
	linebuf_init(&s->lb, conn);
	linebuf_set_bare_lf(&s->lb, s->l->bare_lf);
	s->verbs = session_cmd_table(env->plugin, s->l->tls.mode != TLS_MODE_OFF,
				     s->l->auth.backend != AUTH_BACKEND_NONE, &s->verb_count);
	session_bdat_table_add(s);
	if (s->l->lmtp)
		session_lmtp_table(s->verbs, &s->verb_count);
	s->pub.id = s->sid;
	s->pub.listener = s->l->name;
	s->pub.peer_addr = peer->addr;
	s->pub.peer_port = peer->port;
	s->pub.local_addr = peer->local_addr;
	s->pub.local_port = peer->local_port;
	s->pub.via_addr = peer->proxy ? peer->via_addr : NULL;
	s->pub.via_port = peer->proxy ? peer->via_port : 0;
	s->pub.fqdn = env->fqdn;
	s->pub.decode_data = s->l->decode_data;
	s->pub.lmtp = s->l->lmtp;
	s->pub.peer_uid = s->l->unix_path ? peer->uid : -1;
	s->pub.peer_pid = s->l->unix_path ? peer->pid : -1;
	session_sync_pub(s);
	return s;
}

/* The last replies out, the plugin told, the end logged; how it ended. */
static enum session_end session_end_and_free(struct session *s)
{
	session_chat_flush(&s->chat);
	if (!session_chat_ok(&s->chat))
		s->end = SESSION_END_IO_ERROR; /* the client missed the last reply */
	session_reset_transaction(s, 1);
	/* on_disconnect closes what on_connect began: a connection whose
	   implicit-TLS handshake failed met no hook, and gets none. */
	int met = s->l->tls.mode != TLS_MODE_IMPLICIT || s->tls_active;
	if (met && s->env->plugin->on_disconnect) {
		session_sync_pub(s);
		s->env->plugin->on_disconnect(s->env->priv, &s->pub);
	}
	log_info("sid=%s listener=%s event=disconnect reason=%s commands=%lu messages=%lu%s%s",
		 s->sid, s->l->name, session_end_name(s->end), s->commands, s->messages, s->tls_log,
		 s->auth_log);
	enum session_end end = s->end;
	free(s->rcpttos);
	free(s->verbs);
	msgbuf_free(&s->msg);
	free(s);
	return end;
}

enum session_end session_run(const struct session_env *env, struct conn *conn,
			     const struct session_peer *peer, const char *sid)
{
	struct session *s = session_new(env, conn, peer, sid);
	if (peer->proxy)
		log_info("sid=%s listener=%s event=connect client=%s port=%u via=%s via_port=%u "
			 "proxy=%s", s->sid, s->l->name, peer->addr, peer->port, peer->via_addr,
			 peer->via_port, peer->proxy);
	else if (s->l->unix_path)
		log_info("sid=%s listener=%s event=connect client=unix uid=%ld pid=%ld", s->sid,
			 s->l->name, peer->uid, peer->pid);
	else
		log_info("sid=%s listener=%s event=connect client=%s port=%u", s->sid, s->l->name,
			 peer->addr, peer->port);
	if (log_trace_enabled())
		log_debug("sid=%s Peer: ('%s', %u)", s->sid, peer->addr, peer->port);
	/* Implicit TLS first: a ClientHello is no client talking before the
	   greeting (greet_pause looks only after the handshake). */
	if (s->l->tls.mode != TLS_MODE_IMPLICIT || session_tls_implicit(s) == 0)
		greet_client(s);

	while (s->state != SESSION_CLOSING) {
		const char *line;
		size_t len;
		if (env->stop_flag && *env->stop_flag && !session_has_tx(s)) {
			session_read_failed(s, CONN_STOPPED);
			break;
		}
		int rc = read_command(s, &line, &len);
		if (rc >= 0 && session_chat_time_left_ms(&s->chat) == 0) {
			session_time_exceeded(s); /* a command came after the session's end */
			break;
		}
		if (rc < 0) {
			session_read_failed(s, rc);
			break;
		}
		s->commands += rc == LINEBUF_LINE;
		counters_command_begin(rc == LINEBUF_LINE ? line : "", rc == LINEBUF_LINE ? len : 0);
		session_chat_command_begin(&s->chat);
		end_command(s, rc == LINEBUF_LINE ? dispatch(s, line, len) : refuse_line(s, rc));
	}
	return session_end_and_free(s);
}
