/*
 * session_internal.h - what the channel's modules share: the session, its
 * states and its command table.  Not for use outside the channel.
 *
 * The modules, each calling only those below it:
 *   session.c        the loop: greeting, reading and dispatching commands
 *                    through the table, the limits between commands
 *   session_cmd.c    the table's rows and one handler per verb
 *   session_body.c   the message: DATA, on_body or on_message, its reply
 *   session_ehlo.c   what EHLO offers beyond smtpd.py's set, HELP, the
 *                    pipelining check, DSN's parameters
 *   session_bdat.c   BDAT (RFC 3030): its row, its chunks, its delivery
 *   session_tls.c    STARTTLS and the implicit-TLS handshake
 *   session_lmtp.c   LMTP: LHLO, and a reply per recipient after DATA
 *   session_auth.c   AUTH (RFC 4954) and what it changes for MAIL
 *   session_state.c  entering a state, closing, the transaction, the
 *                    plugin's view and the call of a hook with its answer
 *   session_result.c what became of a message: its result and log line
 *   session_chat.c   the only writer to the client (session_chat.h)
 */
#ifndef SMTPGATE_SESSION_INTERNAL_H
#define SMTPGATE_SESSION_INTERNAL_H

#include "auth.h"
#include "clock.h"
#include "linebuf.h"
#include "session_body.h"
#include "session.h"
#include "session_chat.h"
#include "smtp_bdat.h"
#include "smtp_data.h"
#include "smtp_ext.h"
#include "smtp_parse.h"
#include "smtp_reply.h"
#include "tls.h"

#define SMTP_CMDLINE_MAX_BYTES 512   /* smtpd.SMTPChannel.command_size_limit */
#define SMTP_SIZE_EXTRA_BYTES 26     /* MAIL grows by this when SIZE is offered */
#define SMTP_UTF8_EXTRA_BYTES 10     /* ... and by this with SMTPUTF8 */
#define MSGBUF_KEEP_MAX_BYTES (1024 * 1024) /* larger buffers are freed after use */

/* Where the channel is; the one source of its state.  Each maps onto one
   of the four public smtpgate_state values (session_state_public(),
   documented in plugin.h).  STARTTLS, AUTH and BDAT add their states
   here (a TLS handshake, an AUTH exchange, BDAT chunks) and their verbs
   as rows of the table. */
enum session_state {
	SESSION_CONNECTED = 0, /* greeted by us, no HELO/EHLO yet */
	SESSION_GREETED,       /* HELO/EHLO accepted, no transaction */
	SESSION_MAIL,          /* in a transaction: MAIL accepted, no recipient yet */
	SESSION_RCPT,          /* in a transaction with at least one recipient */
	SESSION_DATA,          /* reading the message after 354 */
	SESSION_BDAT,          /* in a transaction whose message comes in BDAT
				  chunks, between two of them */
	SESSION_TLS_HANDSHAKE, /* TLS being negotiated: no command is read */
	SESSION_AUTH,          /* an AUTH exchange: lines are responses, not commands */
	SESSION_CLOSING,       /* the last reply is queued: nothing more is read */
	SESSION_STATE_COUNT
};

#define SESSION_IN(st) (1u << (st))
#define SESSION_ANY_COMMAND_STATE                                                  \
	(SESSION_IN(SESSION_CONNECTED) | SESSION_IN(SESSION_GREETED) |             \
	 SESSION_IN(SESSION_MAIL) | SESSION_IN(SESSION_RCPT) | SESSION_IN(SESSION_BDAT))

const char *session_state_name(enum session_state st);

struct session;
struct session_verb;

/* A verb's handler; row is its row in the table (a plugin verb's row
   holds the plugin's command). */
typedef void (*session_verb_fn)(struct session *s, const char *arg, const struct session_verb *row);

/* One row of the command table.  The dispatcher (session.c) checks, in
   smtpd.py's order: HELO/EHLO first unless before_helo ("503 Error: send
   HELO first"); then, for rows with a syntax check, the argument (501);
   then the states the verb is allowed in (refused_text otherwise); then
   it counts the command toward max_idle_commands when idle is set, and
   runs it. */
struct session_verb {
	const char *verb;
	session_verb_fn run;
	/* NULL, or the argument's check: 0, or -1 after its 501 */
	int (*syntax)(struct session *s, const char *arg, const struct session_verb *row);
	unsigned int allowed;     /* SESSION_IN() of the states it may run in */
	const char *refused_text; /* the 503 in the other states */
	int before_helo;          /* may run before HELO/EHLO */
	int idle;                 /* counts toward max_idle_commands */
	const struct smtpgate_command *plugin; /* a plugin's verb: its command */
	int before_tls;           /* may run before STARTTLS with tls.mode "required" */
};

/* A transaction's BDAT side (session_bdat.c), zeroed with it. */
struct session_bdat {
	int data_used;              /* DATA was tried in this transaction */
	int failed;                 /* a chunk was refused: so is each one after */
	struct smtpgate_reply refusal; /* ... with this reply */
	struct smtp_bdat dec;
	long long started_ms;       /* the first chunk's BDAT */
};

struct session {
	const struct session_env *env;
	const struct listener_config *l;
	struct conn *conn;
	struct linebuf lb;
	struct session_chat chat;
	struct smtpgate_session pub; /* the view plugins get */
	enum session_state state;
	enum session_end end;        /* why it ended (SESSION_CLOSING) */

	struct session_verb *verbs;  /* the built-in rows, then the plugin's */
	size_t verb_count;

	char sid[24];
	char greeting[SMTP_CMDLINE_MAX_BYTES + 1]; /* the HELO/EHLO argument */
	int extended_smtp;
	size_t mail_extra_bytes;     /* MAIL's limit above 512 after EHLO */

	char mailfrom[SMTP_ADDRESS_MAX_BYTES];
	char **rcpttos;
	size_t rcpt_count, rcpt_cap;
	struct smtp_params mail_params;
	int require_smtputf8;

	struct msgbuf msg;           /* the message, or the header block held */
	struct session_body body;    /* session_body.c: the message being received */
	unsigned long commands, messages;
	int idle_commands;           /* NOOP, RSET, ..., errors since MAIL */
	int tls_active;              /* the handshake is done: all goes through TLS */
	char tls_log[160];           /* " tls=... cipher=..." for log lines, or "" */

	/* Kept for the plugin (ABI 1.1, session_state.c): its pointers, the
	   transaction from MAIL's hook to its on_tx_end, 2xx'd messages, and
	   the "with" word. */
	void *plugin_session_data, *plugin_tx_data;
	int tx_open;
	unsigned long messages_accepted;
	char protocol[16];
	unsigned int ext;            /* SMTP_EXT_* offered to this client's EHLO */
	int pipelining_logged;       /* event=pipelining was logged */
	struct session_bdat bdat;
	struct smtp_params rcpt_params; /* DSN's NOTIFY, ORCPT of the last RCPT */
	struct tls_info tls;         /* what the handshake agreed; the view's tls_* point here */
	char auth_user[AUTH_USER_MAX_BYTES]; /* the authenticated name; "" before AUTH */
	const char *auth_mechanism;  /* "PLAIN", "LOGIN"; NULL before AUTH */
	int auth_failures;           /* 535s in this session (auth.max_failures) */
	char auth_log[AUTH_USER_MAX_BYTES * 4 + 16]; /* " user=..." for log lines, or "" */
};

/* session_cmd.c: the table, built-in rows then one per plugin verb (made
   at session start; freed with free()). */
struct session_verb *session_cmd_table(const struct smtpgate_plugin *plugin, int starttls,
				       int auth, size_t *count_out);

/* session_body.c: a transaction's message.  begin: 1 when the plugin
   takes it piece by piece (on_body), 0 when it is gathered for on_message.
   feed: decoded bytes (de-transparent, LF line ends); 0, or -1 once the
   message is refused (read the rest and drop it, then end).  end: the
   message is complete: on_message (or the refusal) answers it and the
   transaction is over. */
int session_body_begin(struct session *s);
int session_body_feed(struct session *s, const char *data, size_t len);
/* Refuse the message now (an enum session_body_refusal, or an
   SMTP_BODY_* code of smtp_body_feed()): nothing more reaches the plugin,
   and the end answers with the refusal. */
void session_body_refuse(struct session *s, int why);
void session_body_end(struct session *s);
/* DATA's row handler: 354, the message, its delivery. */
void session_body_data(struct session *s, const char *arg, const struct session_verb *row);

/* session_ehlo.c: after the EHLO reply's fixed lines, what the listener
   offers beyond smtpd.py's set, the plugin's keywords and "250 HELP";
   ENHANCEDSTATUSCODES applies from the next reply on. */
void session_ehlo_offer(struct session *s);
/* The extensions smtpd.py offers from its settings (SIZE, 8BITMIME,
   SMTPUTF8), for EHLO and LHLO alike, with the MAIL line's room for their
   parameters (RFC 1870, RFC 6531). */
void session_ehlo_settings(struct session *s);
/* HELP and HELP <verb>: the verbs this listener takes, plugin verbs too. */
void session_ehlo_help(struct session *s, const char *arg, const struct session_verb *row);
/* Before a command runs: did the client send more before our reply where
   RFC 2920 does not allow it?  Logged once per session; 1 when
   reject_unauth_pipelining refused it (554 sent, closing). */
int session_ehlo_pipelining(struct session *s, const char *verb);
/* Input is pending where it may not be: logged, and refused with
   reject_unauth_pipelining (1: 554 sent, closing). */
int session_ehlo_pipelining_violation(struct session *s, const char *verb);
/* DSN's MAIL parameters (RET, ENVID) when offered: marks them in
   consumed; -1 after a 501 for a bad value. */
int session_ehlo_dsn_mail(struct session *s, int *consumed);
/* RCPT's parameters: NOTIFY and ORCPT when DSN is offered, kept in
   s->rcpt_params; -1 after the 555 (anything else) or a 501. */
int session_ehlo_dsn_rcpt(struct session *s, const struct smtp_params *p);

/* session_bdat.c: the BDAT row, added to the table when the listener
   offers CHUNKING. */
void session_bdat_table_add(struct session *s);

/* session_tls.c: STARTTLS's argument check and handler (a row of the
   table when tls.mode offers it). */
int session_tls_syntax(struct session *s, const char *arg, const struct session_verb *row);
void session_tls_starttls(struct session *s, const char *arg, const struct session_verb *row);
/* The handshake of tls.mode "implicit", before the greeting: 0, or -1
   when it failed (logged; the session is closing, nothing was sent). */
int session_tls_implicit(struct session *s);
/* With tls.mode "required", may this row run now?  0 after the 530. */
int session_tls_allows(struct session *s, const struct session_verb *row);

/* session_lmtp.c: an LMTP session's rows, from session_cmd_table()'s
   (LHLO in HELO's place, no EHLO), in place. */
void session_lmtp_table(struct session_verb *t, size_t *count);
/* After the final dot of an LMTP transaction: the message hook with
   m->rcpt_replies, then one reply per recipient, in RCPT order.  *r is
   the message's own reply (for the log).  Returns 1: all replies sent. */
int session_lmtp_message(struct session *s, struct smtpgate_message *m, struct smtpgate_reply *r);
/* The same reply for every recipient (a message the core refused). */
void session_lmtp_each(struct session *s, const struct smtpgate_reply *r);
/* session_auth.c: AUTH's row and argument check (a row of the table
   when auth.backend is set). */
int session_auth_syntax(struct session *s, const char *arg, const struct session_verb *row);
void session_auth_command(struct session *s, const char *arg, const struct session_verb *row);
/* STARTTLS: an identity from before the handshake is forgotten (RFC
   3207 4.2: nothing learnt in plaintext counts after it). */
void session_auth_forget(struct session *s);
/* The EHLO line offering AUTH, when it is offered now. */
void session_auth_ehlo(struct session *s);
/* The longest command line to read: limit, or longer for an AUTH
   command with its initial response (where AUTH is offered). */
size_t session_auth_line_max(const struct session *s, size_t limit);
/* The -d trace of a command line, an AUTH's initial response hidden. */
void session_auth_trace(const struct session *s, const char *line, size_t len);
/* auth.required: may this row run before AUTH?  0 after the 530. */
int session_auth_allows(struct session *s, const struct session_verb *row);
/* MAIL: is parameter k AUTH= (RFC 4954 5), taken?  And may the client
   use this sender (auth.sender_must_match)?  0 after the 553. */
int session_auth_mail_param(const struct session *s, const struct smtp_params *p, size_t k);
int session_auth_sender_ok(struct session *s, const char *sender);

/* session_state.c: in a transaction (MAIL, RCPT or DATA)? */
int session_has_tx(const struct session *s);
/* Enter a state (logged at debug). */
void session_enter(struct session *s, enum session_state to);
/* End the session after the replies queued so far: the one way out.  The
   first reason stays; a transaction in progress is abandoned (on_reset). */
void session_close(struct session *s, enum session_end why);
/* Forget MAIL and RCPTs (back to SESSION_GREETED when in a transaction);
   abandoned: the plugin's on_reset runs.  Either way a transaction that
   began ends here: on_tx_end runs with its tx_data. */
void session_reset_transaction(struct session *s, int abandoned);
/* The plugins' view, refreshed before each hook. */
void session_sync_pub(struct session *s);
/* The RFC 3848 "with" word of the session now ("SMTP", "ESMTP",
   "ESMTPS"): the one place that makes it. */
const char *session_protocol(struct session *s);
/* The message hook's answer r has been sent (or the core's own refusal
   after the final dot): count it, and log the message line with its
   result.  size: the message's bytes as the client sent them;
   size_limited: refused for data_size_limit; delivered: the hook ran. */
void session_message_done(struct session *s, unsigned long long size, int size_limited,
			  const struct smtpgate_reply *r, int delivered, long long started_ms);
/* max_session_time is over: 421 and close. */
void session_time_exceeded(struct session *s);
/* A read from the client failed with rc (an enum conn_status): the 421
   a timeout or a stop gets, and the close with its reason. */
void session_read_failed(struct session *s, int rc);

/* The plugin's hooks, called through session_hook(). */
enum session_hook {
	SESSION_HOOK_CONNECT,
	SESSION_HOOK_HELO,
	SESSION_HOOK_MAIL,
	SESSION_HOOK_RCPT,
	SESSION_HOOK_DATA,
	SESSION_HOOK_MESSAGE,
	SESSION_HOOK_COMMAND
};

/* What a hook is given besides the session: text for HELO (the name),
   MAIL/RCPT (the address) and a plugin verb (its argument), msg for the
   message hook, command for a plugin verb.  caller_replies: the caller
   sends the replies itself (LMTP's, one per recipient), even a refusal's. */
struct session_hook_args {
	const char *text;
	const struct smtpgate_message *msg;
	const struct smtpgate_command *command;
	int caller_replies;
};

/* Call a hook (when the plugin has it), make its answer safe (a bad one
   becomes 451) and answer for it: a refusal is sent, a DISCONNECT sends
   its reply (default 421) and closes.  1 when the hook's reply was sent,
   0 when the caller goes on (*r then holds an ACCEPT's own reply, or
   code 0 for the default). */
int session_hook(struct session *s, enum session_hook h, const struct session_hook_args *a,
		 struct smtpgate_reply *r);
/* A hook's answer that breaks the rules (why) becomes a 451 in *r, with a
   log line naming the hook: never a 2xx the plugin did not mean. */
enum smtpgate_verdict session_bad_answer(struct session *s, const char *hook,
					 enum smtpgate_verdict v, struct smtpgate_reply *r,
					 const char *why);

#endif
