/*
 * test_session.c - the SMTP channel end to end, without a socket:
 * session_run() over struct conn_mem with a hand-filled listener_config
 * and a fake plugin that records what it is given.
 *
 * One row per behaviour of smtpd.SMTPChannel (the rows of Python 3.11's
 * test_smtpd.py and the rules in STYLE.md/plugin.h where smtpd.py crashed
 * or misbehaved).  A row is the client's bytes, the exact replies after
 * the greeting, and what the plugin must have received (and, for every
 * row, that each transaction's tx_data comes back once in on_tx_end and
 * session_data lives from connect to disconnect).  Every row runs
 * with the input delivered whole, one byte at a time, and in 7-byte
 * pieces; the replies must be identical.
 *
 * In the templates, "{N*c}" stands for N copies of the character c, and
 * in expected replies "\n" stands for CR LF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "conn.h"
#include "session.h"
#include "smtp_ext.h"
#include "smtp_reply.h"
#include "unit.h"

#define FQDN "mx.test"
#define GREETING "220 " FQDN " smtpgate " PACKAGE_VERSION " ESMTP\r\n"

/* Listener settings a row changes from config.c's defaults. */
enum {
	CFG_NO_LIMIT = 1 << 0,   /* data_size_limit 0 */
	CFG_LIMIT_32 = 1 << 1,   /* data_size_limit 32 */
	CFG_LIMIT_1048 = 1 << 2, /* data_size_limit 1048 */
	CFG_SMTPUTF8 = 1 << 3,
	CFG_DECODE = 1 << 4,
	CFG_NORMALIZE = 1 << 5,  /* bare_lf normalize */
	CFG_REJECT_LF = 1 << 6,  /* bare_lf reject */
	CFG_MAX_RCPT_2 = 1 << 7,
	CFG_ERRORS_1_3 = 1 << 8,  /* soft_error_limit 1, hard_error_limit 3 */
	CFG_IDLE_3 = 1 << 9,      /* max_idle_commands 3 */
	CFG_SESSION_OVER = 1 << 10, /* max_session_time 0: over at once */
	CFG_PREGREET_REJECT = 1 << 11, /* greet_pause 1 ms, pregreet reject */
	CFG_PREGREET_LOG = 1 << 12,    /* greet_pause 1 ms, pregreet log */
	CFG_TLS_MAY = 1 << 13,         /* tls.mode "may" (a memory conn has no TLS) */
	CFG_TLS_REQUIRED = 1 << 14,    /* tls.mode "required" */
	CFG_ESMTP = 1 << 15,           /* extensions PIPELINING ENHANCEDSTATUSCODES CHUNKING */
	CFG_LMTP = 1 << 16,            /* protocol "lmtp" */
	CFG_AUTH = 1 << 17,            /* auth.backend "plugin", plaintext_allowed */
	CFG_AUTH_REQUIRED = 1 << 18,   /* ... and auth.required */
	CFG_AUTH_TLS_ONLY = 1 << 19,   /* auth.backend "plugin", not without TLS */
};

/* What the fake plugin answers. */
enum fake_mode {
	FAKE_PLAIN = 0,
	FAKE_CONNECT_REJECT,   /* REJECT 554 5.7.1 */
	FAKE_CONNECT_BANNER,   /* ACCEPT with its own 220 */
	FAKE_CONNECT_250,      /* bad: ACCEPT with a 250 as the greeting */
	FAKE_HELO_REJECT,      /* REJECT 550 for HELO/EHLO "bad" */
	FAKE_MAIL_REJECT,      /* REJECT 550 for senders "spammer..." */
	FAKE_MAIL_REPLY,       /* ACCEPT 250 2.1.0 Sender ok */
	FAKE_RCPT_REJECT,      /* REJECT 550 5.1.1 for recipients "bad..." */
	FAKE_RCPT_TEMPFAIL,    /* TEMPFAIL 451 4.7.1 for every recipient */
	FAKE_RCPT_REPLY,       /* ACCEPT 251 */
	FAKE_RCPT_ACCEPT_550,  /* bad: ACCEPT with a 5xx */
	FAKE_RCPT_REJECT_250,  /* bad: REJECT with a 2xx */
	FAKE_RCPT_REJECT_NONE, /* bad: REJECT without a reply */
	FAKE_RCPT_CONTINUE_550, /* bad: CONTINUE with a 5xx */
	FAKE_RCPT_BAD_VERDICT, /* bad: a verdict that does not exist */
	FAKE_RCPT_DISCONNECT,  /* DISCONNECT without a reply */
	FAKE_MSG_REPLY,        /* ACCEPT 250 Okish */
	FAKE_MSG_REJECT,       /* REJECT 554 5.7.1 */
	FAKE_MSG_TEMPFAIL,     /* TEMPFAIL 452 4.3.1 */
	FAKE_MSG_ACCEPT_451,   /* bad: ACCEPT with a 4xx */
	FAKE_MSG_DISCONNECT,   /* DISCONNECT without a reply */
	FAKE_MSG_PER_RCPT,     /* LMTP: recipients "t..." 452, "p..." 550, "b..." a
				  bad 354; the others the message's CONTINUE */
	FAKE_MSG_DISCONNECT_PER_RCPT, /* the same replies, then DISCONNECT */
};

struct fake {
	enum fake_mode mode;
	int connects, messages, resets, disconnects;
	char *msg;
	size_t msg_len;
	char mailfrom[600];
	char rcpts[2048];
	char options[512];
	int smtputf8;
	int state_at_message;
	int state_at_reset, state_at_disconnect; /* -1: not called */
	char peer[64];
	/* ABI 1.1 state: every MAIL hook begins a transaction whose tx_data
	   comes back once in on_tx_end; session_data lives to disconnect. */
	int mail_hooks, tx_ends, bad_state;
	char tx_token, session_token;
	char auth_user[64];    /* s->auth_user at on_message, "-" for NULL */
};

static struct fake fake;

static void join(char *out, size_t size, const char *const *items, size_t n, const char *sep)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(out);
		snprintf(out + used, size - used, "%s%s", i ? sep : "", items[i]);
	}
}

static enum smtpgate_verdict fake_connect(void *priv, const struct smtpgate_session *s,
					  struct smtpgate_reply *reply)
{
	struct fake *f = priv;
	f->connects++;
	f->bad_state += *s->session_data != NULL;
	*s->session_data = &f->session_token;
	snprintf(f->peer, sizeof(f->peer), "%s", s->peer_addr);
	if (f->mode == FAKE_CONNECT_REJECT) {
		smtp_reply_set(reply, 554, "5.7.1", "Go away");
		return SMTPGATE_REJECT;
	}
	if (f->mode == FAKE_CONNECT_BANNER || f->mode == FAKE_CONNECT_250) {
		smtp_reply_set(reply, f->mode == FAKE_CONNECT_BANNER ? 220 : 250, NULL, "custom banner");
		return SMTPGATE_ACCEPT;
	}
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict fake_helo(void *priv, const struct smtpgate_session *s,
				       const char *greeting, struct smtpgate_reply *reply)
{
	struct fake *f = priv;
	(void)s;
	if (f->mode == FAKE_HELO_REJECT && strcmp(greeting, "bad") == 0) {
		smtp_reply_set(reply, 550, "5.7.1", "Bad HELO %s", greeting);
		return SMTPGATE_REJECT;
	}
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict fake_mail(void *priv, const struct smtpgate_session *s,
				       const char *address, struct smtpgate_reply *reply)
{
	struct fake *f = priv;
	f->mail_hooks++;
	f->bad_state += *s->tx_data != NULL || f->tx_ends != f->mail_hooks - 1;
	*s->tx_data = &f->tx_token;
	if (f->mode == FAKE_MAIL_REJECT && strncmp(address, "spammer", 7) == 0) {
		smtp_reply_set(reply, 550, "5.7.1", "Sender rejected");
		return SMTPGATE_REJECT;
	}
	if (f->mode == FAKE_MAIL_REPLY) {
		smtp_reply_set(reply, 250, "2.1.0", "Sender ok");
		return SMTPGATE_ACCEPT;
	}
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict fake_rcpt(void *priv, const struct smtpgate_session *s,
				       const char *address, struct smtpgate_reply *reply)
{
	struct fake *f = priv;
	(void)s;
	switch (f->mode) {
	case FAKE_RCPT_REJECT:
		if (strncmp(address, "bad", 3) != 0)
			return SMTPGATE_CONTINUE;
		smtp_reply_set(reply, 550, "5.1.1", "No such user: %s", address);
		return SMTPGATE_REJECT;
	case FAKE_RCPT_TEMPFAIL:
		smtp_reply_set(reply, 451, "4.7.1", "Greylisted");
		return SMTPGATE_TEMPFAIL;
	case FAKE_RCPT_REPLY:
		smtp_reply_set(reply, 251, "2.1.5", "User not local; will forward");
		return SMTPGATE_ACCEPT;
	case FAKE_RCPT_ACCEPT_550:
		smtp_reply_set(reply, 550, "5.1.1", "Accepted?");
		return SMTPGATE_ACCEPT;
	case FAKE_RCPT_REJECT_250:
		smtp_reply_set(reply, 250, NULL, "Rejected?");
		return SMTPGATE_REJECT;
	case FAKE_RCPT_REJECT_NONE:
		return SMTPGATE_REJECT;
	case FAKE_RCPT_CONTINUE_550:
		smtp_reply_set(reply, 550, "5.1.1", "Continue?");
		return SMTPGATE_CONTINUE;
	case FAKE_RCPT_BAD_VERDICT:
		smtp_reply_set(reply, 250, NULL, "What?");
		return (enum smtpgate_verdict)77;
	case FAKE_RCPT_DISCONNECT:
		return SMTPGATE_DISCONNECT;
	default:
		return SMTPGATE_CONTINUE;
	}
}

static enum smtpgate_verdict fake_message(void *priv, const struct smtpgate_session *s,
					  const struct smtpgate_message *msg,
					  struct smtpgate_reply *reply)
{
	struct fake *f = priv;
	f->messages++;
	free(f->msg);
	f->msg = malloc(msg->len + 1);
	if (!f->msg)
		abort();
	memcpy(f->msg, msg->data, msg->len);
	f->msg_len = msg->len;
	snprintf(f->mailfrom, sizeof(f->mailfrom), "%s", s->mailfrom ? s->mailfrom : "(null)");
	join(f->rcpts, sizeof(f->rcpts), s->rcpttos, s->rcpt_count, ",");
	join(f->options, sizeof(f->options), s->mail_options, s->mail_option_count, " ");
	f->smtputf8 = s->smtputf8;
	f->state_at_message = (int)s->state;
	snprintf(f->auth_user, sizeof(f->auth_user), "%s", s->auth_user ? s->auth_user : "-");
	switch (f->mode) {
	case FAKE_MSG_REPLY:
		smtp_reply_set(reply, 250, NULL, "Okish");
		return SMTPGATE_ACCEPT;
	case FAKE_MSG_REJECT:
		smtp_reply_set(reply, 554, "5.7.1", "Rejected");
		return SMTPGATE_REJECT;
	case FAKE_MSG_TEMPFAIL:
		smtp_reply_set(reply, 452, "4.3.1", "Insufficient storage");
		return SMTPGATE_TEMPFAIL;
	case FAKE_MSG_ACCEPT_451:
		smtp_reply_set(reply, 451, NULL, "Accepted?");
		return SMTPGATE_ACCEPT;
	case FAKE_MSG_DISCONNECT:
		return SMTPGATE_DISCONNECT;
	case FAKE_MSG_PER_RCPT:
	case FAKE_MSG_DISCONNECT_PER_RCPT:
		for (size_t i = 0; i < msg->rcpt_reply_count; i++) {
			char c = s->rcpttos[i][0];
			if (c == 't')
				smtp_reply_set(msg->rcpt_replies[i], 452, "4.2.2", "full");
			else if (c == 'p')
				smtp_reply_set(msg->rcpt_replies[i], 550, "5.1.1", "unknown");
			else if (c == 'b')
				smtp_reply_set(msg->rcpt_replies[i], 354, NULL, "go on");
		}
		return f->mode == FAKE_MSG_PER_RCPT ? SMTPGATE_CONTINUE : SMTPGATE_DISCONNECT;
	default:
		return SMTPGATE_CONTINUE;
	}
}

static void fake_reset(void *priv, const struct smtpgate_session *s)
{
	struct fake *f = priv;
	f->resets++;
	f->state_at_reset = (int)s->state;
}

/* The transaction's end: the pointer fake_mail stored, once. */
static void fake_tx_end(void *priv, const struct smtpgate_session *s, void *tx_data)
{
	struct fake *f = priv;
	f->tx_ends++;
	f->bad_state += tx_data != &f->tx_token || *s->tx_data != tx_data;
}

static void fake_disconnect(void *priv, const struct smtpgate_session *s)
{
	struct fake *f = priv;
	f->disconnects++;
	f->bad_state += *s->session_data != &f->session_token;
	f->state_at_disconnect = (int)s->state;
}

static enum smtpgate_verdict cmd_xfoo(void *priv, const struct smtpgate_session *s,
				      const char *arg, struct smtpgate_reply *reply)
{
	(void)priv;
	smtp_reply_set(reply, 250, NULL, "XFOO %s%s greeting=%s", arg ? "arg=" : "no arg",
		       arg ? arg : "", s->seen_greeting[0] ? s->seen_greeting : "-");
	return SMTPGATE_ACCEPT;
}

static enum smtpgate_verdict cmd_xbad(void *priv, const struct smtpgate_session *s,
				      const char *arg, struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	(void)arg;
	smtp_reply_set(reply, 250, NULL, "not with REJECT");
	return SMTPGATE_REJECT;
}

static enum smtpgate_verdict cmd_xnop(void *priv, const struct smtpgate_session *s,
				      const char *arg, struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	(void)arg;
	(void)reply;
	return SMTPGATE_CONTINUE;
}

/* on_auth: user "u" with password "p" is accepted, user "t" gets a
   temporary failure, anyone else is refused (with a reply that must not
   be sent). */
static enum smtpgate_verdict fake_auth(void *priv, const struct smtpgate_session *s,
				       const struct smtpgate_auth *cred, struct smtpgate_reply *reply)
{
	(void)priv;
	(void)s;
	(void)reply;
	if (strcmp(cred->authcid, "t") == 0)
		return SMTPGATE_TEMPFAIL;
	return strcmp(cred->authcid, "u") == 0 && strcmp(cred->password, "p") == 0
		       ? SMTPGATE_ACCEPT : SMTPGATE_REJECT;
}

static const struct smtpgate_command fake_commands[] = {
	{ "XFOO", cmd_xfoo },
	{ "XBAD", cmd_xbad },
	{ "XNOP", cmd_xnop },
	{ NULL, NULL },
};

static const struct smtpgate_plugin fake_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "fake",
	.version = "test",
	.on_connect = fake_connect,
	.on_helo = fake_helo,
	.on_mail = fake_mail,
	.on_rcpt = fake_rcpt,
	.on_message = fake_message,
	.on_reset = fake_reset,
	.on_disconnect = fake_disconnect,
	.commands = fake_commands,
	.on_tx_end = fake_tx_end,
	.on_auth = fake_auth,
};

/* config.c's defaults (but error_sleep 0: no row sleeps), then the
   row's changes. */
static void make_listener(struct listener_config *l, unsigned int cfg)
{
	memset(l, 0, sizeof(*l));
	l->name = "test";
	l->address = "127.0.0.1:2525";
	l->handler = "fake";
	l->group_name = "fake";
	l->plugin_path = "(linked in)";
	l->remote = "localhost:25";
	l->data_size_limit = CONFIG_DEFAULT_DATA_SIZE_LIMIT;
	l->bare_lf = BARE_LF_KEEP;
	l->command_timeout_sec = 300;
	l->data_timeout_sec = 180;
	l->min_spare = l->max_spare = l->max_workers = 4;
	l->max_sessions_per_worker = 1000;
	l->max_recipients = 1000;
	l->soft_error_limit = 10;
	l->hard_error_limit = 20;
	l->error_sleep_sec = 0;
	l->max_session_time_sec = 3600;
	l->max_idle_commands = 100;
	if (cfg & CFG_ERRORS_1_3) {
		l->soft_error_limit = 1;
		l->hard_error_limit = 3;
	}
	if (cfg & CFG_IDLE_3)
		l->max_idle_commands = 3;
	if (cfg & CFG_SESSION_OVER)
		l->max_session_time_sec = 0; /* config.c refuses it: here it means "already over" */
	if (cfg & (CFG_PREGREET_REJECT | CFG_PREGREET_LOG))
		l->greet_pause_ms = 1;
	l->pregreet_reject = (cfg & CFG_PREGREET_REJECT) != 0;
	if (cfg & CFG_NO_LIMIT)
		l->data_size_limit = 0;
	if (cfg & CFG_LIMIT_32)
		l->data_size_limit = 32;
	if (cfg & CFG_LIMIT_1048)
		l->data_size_limit = 1048;
	l->smtputf8 = (cfg & CFG_SMTPUTF8) != 0;
	l->decode_data = (cfg & CFG_DECODE) != 0;
	if (cfg & CFG_NORMALIZE)
		l->bare_lf = BARE_LF_NORMALIZE;
	if (cfg & CFG_REJECT_LF)
		l->bare_lf = BARE_LF_REJECT;
	if (cfg & CFG_MAX_RCPT_2)
		l->max_recipients = 2;
	if (cfg & CFG_ESMTP)
		l->extensions = SMTP_EXT_CONFIG_DEFAULT;
	l->tls.mode = cfg & CFG_TLS_MAY ? TLS_MODE_MAY
		      : cfg & CFG_TLS_REQUIRED ? TLS_MODE_REQUIRED : TLS_MODE_OFF;
	l->tls.handshake_timeout_sec = 30;
	l->lmtp = (cfg & CFG_LMTP) != 0;
	if (cfg & (CFG_AUTH | CFG_AUTH_REQUIRED | CFG_AUTH_TLS_ONLY)) {
		l->auth.backend = AUTH_BACKEND_PLUGIN;
		l->auth.mech_mask = AUTH_MECH_PLAIN | AUTH_MECH_LOGIN;
		l->auth.plaintext_allowed = !(cfg & CFG_AUTH_TLS_ONLY);
		l->auth.required = (cfg & CFG_AUTH_REQUIRED) != 0;
		l->auth.max_failures = 3;
		l->auth.client_failure_window_sec = 600;
	}
}

/* Expand "{N*c}"; with crlf, "\n" becomes "\r\n".  malloc'd. */
static char *expand(const char *t, size_t len, int crlf, size_t *len_out)
{
	size_t cap = len * 2 + 64, n = 0;
	char *out = malloc(cap);
	if (!out)
		abort();
	for (size_t i = 0; i < len;) {
		size_t count = 0, j = i + 1;
		while (t[i] == '{' && j < len && t[j] >= '0' && t[j] <= '9')
			count = count * 10 + (size_t)(t[j++] - '0');
		int is_fill = t[i] == '{' && j > i + 1 && j + 2 < len && t[j] == '*' && t[j + 2] == '}';
		size_t need = is_fill ? count : 2;
		if (n + need + 1 > cap) {
			while (n + need + 1 > cap)
				cap *= 2;
			char *bigger = realloc(out, cap);
			if (!bigger)
				abort();
			out = bigger;
		}
		if (is_fill) {
			memset(out + n, t[j + 1], count);
			n += count;
			i = j + 3;
		} else {
			if (crlf && t[i] == '\n')
				out[n++] = '\r';
			out[n++] = t[i++];
		}
	}
	out[n] = '\0';
	*len_out = n;
	return out;
}

struct session_row {
	const char *name;
	const char *input;
	size_t input_len;
	const char *replies;   /* after the greeting; "\n" is CR LF */
	unsigned int cfg;
	enum fake_mode mode;
	int no_greeting;       /* the replies include the first line */
	int timeout;           /* the input ends in a timeout, not EOF */
	int end;               /* enum session_end + 1; 0: not checked */
	int messages;          /* on_message calls */
	int resets;            /* on_reset calls */
	const char *message;   /* the last message (template); NULL: not checked */
	size_t message_len;
	const char *from, *rcpts, *options; /* at on_message; NULL: not checked */
	const char *auth_user; /* s->auth_user at on_message; NULL: not checked */
	int smtputf8;
};

#define IN(lit) .input = (lit), .input_len = sizeof(lit) - 1
#define MSG(lit) .message = (lit), .message_len = sizeof(lit) - 1
#define END(e) .end = (e) + 1

#define HELO_OK "250 " FQDN "\n"
#define EHLO_OK "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250 HELP\n"
#define GO_AHEAD "354 End data with <CR><LF>.<CR><LF>\n"
/* smtpd.py's list, then the plugin's verbs (issue 16 item 5) */
#define SUPPORTED "Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY XFOO XBAD XNOP\n"
#define MAIL_SYNTAX "501 Syntax: MAIL FROM: <address>\n"
#define MAIL_SYNTAX_EXT "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\n"
#define RCPT_SYNTAX "501 Syntax: RCPT TO: <address>\n"
#define RCPT_SYNTAX_EXT "501 Syntax: RCPT TO: <address> [SP <mail-parameters>]\n"
#define INTERNAL "451 4.3.0 Error: internal error in the message handler\n"
/* LMTP: LHLO, MAIL, four RCPTs, DATA; and their replies. */
#define LHLO_OK "250-" FQDN "\n250-PIPELINING\n250-SIZE 33554432\n250-8BITMIME\n" \
		"250-ENHANCEDSTATUSCODES\n250 HELP\n"
#define LMTP_TX4 "LHLO c\r\nMAIL FROM:<f@x>\r\nRCPT TO:<a@x>\r\nRCPT TO:<t@x>\r\n" \
		 "RCPT TO:<p@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"
#define LMTP_TX4_REST "250 2.1.0 OK\n250 2.1.5 OK\n250 2.1.5 OK\n250 2.1.5 OK\n250 2.1.5 OK\n" \
		      GO_AHEAD
#define LMTP_TX4_OK LHLO_OK LMTP_TX4_REST
#define LMTP_TX4_OK_32 "250-" FQDN "\n250-PIPELINING\n250-SIZE 32\n250-8BITMIME\n" \
		       "250-ENHANCEDSTATUSCODES\n250 HELP\n" LMTP_TX4_REST
/* HELO, MAIL, RCPT, DATA as test_smtpd.py's dialogs write them. */
#define EHLO_TLS "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-STARTTLS\n250 HELP\n"
#define MUST_TLS "530 5.7.0 Must issue a STARTTLS command first\n"
#define EHLO_AUTH "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-AUTH PLAIN LOGIN\n250 HELP\n"
#define AUTH_OK "235 2.7.0 Authentication successful\n"
#define AUTH_BAD "535 5.7.8 Authentication credentials invalid\n"
#define TX "HELO example\r\nMAIL From:eggs@example\r\nRCPT To:spam@example\r\nDATA\r\n"
#define TX_OK HELO_OK "250 OK\n250 OK\n" GO_AHEAD
#define ETX "EHLO example\r\nMAIL From:eggs@example\r\nRCPT To:spam@example\r\nDATA\r\n"
#define ETX_OK EHLO_OK "250 OK\n250 OK\n" GO_AHEAD

#define EHLO_ESMTP                                                                  \
	"250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-PIPELINING\n250-CHUNKING\n"  \
	"250-ENHANCEDSTATUSCODES\n250 HELP\n"
#define EMT "EHLO e\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
#define EMT_OK EHLO_ESMTP "250 2.1.0 OK\n250 2.1.5 OK\n"
#define EMT32_OK                                                                     \
	"250-" FQDN "\n250-SIZE 32\n250-8BITMIME\n250-PIPELINING\n250-CHUNKING\n"         \
	"250-ENHANCEDSTATUSCODES\n250 HELP\n250 2.1.0 OK\n250 2.1.5 OK\n"

static const struct session_row session_rows[] = {
	/* --- STARTTLS (the handshake itself: tests/integration/test_tls.py) - */
	{ "STARTTLS unknown with tls off", IN("EHLO example\r\nSTARTTLS\r\n"),
	  EHLO_OK "500 Error: command \"STARTTLS\" not recognized\n" },
	{ "EHLO offers STARTTLS", IN("EHLO example\r\n"), EHLO_TLS, CFG_TLS_MAY },
	{ "HELO offers nothing", IN("HELO example\r\n"), HELO_OK, CFG_TLS_MAY },
	{ "STARTTLS before EHLO", IN("STARTTLS\r\n"), "503 Error: send HELO first\n", CFG_TLS_MAY },
	{ "STARTTLS with an argument", IN("EHLO example\r\nSTARTTLS x\r\n"),
	  EHLO_TLS "501 5.5.4 Syntax: STARTTLS\n", CFG_TLS_MAY },
	{ "STARTTLS in a transaction", IN("EHLO example\r\nMAIL FROM:<a@example>\r\nSTARTTLS\r\n"),
	  EHLO_TLS "250 OK\n503 5.5.1 Error: MAIL transaction in progress\n", CFG_TLS_MAY,
	  .resets = 1 },
	{ "STARTTLS: what follows is never answered",
	  IN("EHLO example\r\nSTARTTLS\r\nRSET\r\nQUIT\r\n"),
	  EHLO_TLS "220 2.0.0 Ready to start TLS\n", CFG_TLS_MAY, END(SESSION_END_TLS) },
	{ "required: 530 but for NOOP, EHLO, STARTTLS, QUIT",
	  IN("NOOP\r\nHELO x\r\nEHLO example\r\nMAIL FROM:<a@example>\r\nVRFY a\r\nHELP\r\n"
	     "RSET\r\nQUIT\r\n"),
	  "250 OK\n" MUST_TLS EHLO_TLS MUST_TLS MUST_TLS MUST_TLS MUST_TLS "221 Bye\n",
	  CFG_TLS_REQUIRED, END(SESSION_END_QUIT) },
	{ "required: unknown verbs stay 500", IN("FOO\r\n"),
	  "500 Error: command \"FOO\" not recognized\n", CFG_TLS_REQUIRED },
	{ "required: STARTTLS", IN("EHLO example\r\nSTARTTLS\r\n"),
	  EHLO_TLS "220 2.0.0 Ready to start TLS\n", CFG_TLS_REQUIRED, END(SESSION_END_TLS) },
	/* --- greeting, HELO/EHLO ------------------------------------------ */
	{ "greeting, then EOF", IN(""), "", END(SESSION_END_EOF) },
	{ "QUIT", IN("QUIT\r\n"), "221 Bye\n", END(SESSION_END_QUIT) },
	{ "QUIT argument ignored", IN("QUIT bye bye\r\n"), "221 Bye\n", END(SESSION_END_QUIT) },
	{ "nothing read after QUIT", IN("QUIT\r\nNOOP\r\n"), "221 Bye\n", END(SESSION_END_QUIT) },
	{ "HELO", IN("HELO example\r\n"), HELO_OK },
	{ "HELO then QUIT", IN("HELO example\r\nQUIT\r\n"), HELO_OK "221 Bye\n" },
	{ "HELO without hostname", IN("HELO\r\n"), "501 Syntax: HELO hostname\n" },
	{ "HELO with only a space", IN("HELO \r\n"), "501 Syntax: HELO hostname\n" },
	{ "EHLO without hostname", IN("EHLO\r\n"), "501 Syntax: EHLO hostname\n" },
	{ "EHLO", IN("EHLO example\r\n"), EHLO_OK },
	{ "ehlo in lower case", IN("ehlo example\r\n"), EHLO_OK },
	{ "EHLO without SIZE when no limit", IN("EHLO example\r\n"),
	  "250-" FQDN "\n250-8BITMIME\n250 HELP\n", CFG_NO_LIMIT },
	{ "EHLO with another limit", IN("EHLO example\r\n"),
	  "250-" FQDN "\n250-SIZE 1048\n250-8BITMIME\n250 HELP\n", CFG_LIMIT_1048 },
	{ "EHLO without 8BITMIME when decode_data", IN("EHLO example\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250 HELP\n", CFG_DECODE },
	{ "EHLO with SMTPUTF8", IN("EHLO example\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-SMTPUTF8\n250 HELP\n", CFG_SMTPUTF8 },
	{ "EHLO, SMTPUTF8, no limit", IN("EHLO example\r\n"),
	  "250-" FQDN "\n250-8BITMIME\n250-SMTPUTF8\n250 HELP\n", CFG_SMTPUTF8 | CFG_NO_LIMIT },
	{ "duplicate HELO", IN("HELO example\r\nHELO example\r\n"),
	  HELO_OK "503 Duplicate HELO/EHLO\n" },
	{ "duplicate EHLO", IN("EHLO example\r\nEHLO example\r\n"),
	  EHLO_OK "503 Duplicate HELO/EHLO\n" },
	{ "EHLO then HELO", IN("EHLO example\r\nHELO example\r\n"),
	  EHLO_OK "503 Duplicate HELO/EHLO\n" },
	{ "HELO then EHLO", IN("HELO example\r\nEHLO example\r\n"),
	  HELO_OK "503 Duplicate HELO/EHLO\n" },
	{ "HELO with UTF-8", IN("HELO ex\xc3\xa4mple\r\n"), HELO_OK },
	/* --- NOOP, HELP, VRFY, EXPN ------------------------------------------ */
	{ "NOOP", IN("NOOP\r\n"), "250 OK\n" },
	{ "NOOP after HELO", IN("HELO example\r\nNOOP\r\n"), HELO_OK "250 OK\n" },
	{ "NOOP with argument", IN("NOOP hi\r\n"), "501 Syntax: NOOP\n" },
	{ "HELP", IN("HELP\r\n"), "250 " SUPPORTED },
	{ "HELP MAIL", IN("HELP MAIL\r\n"), "250 Syntax: MAIL FROM: <address>\n" },
	{ "HELP RCPT", IN("HELP RCPT\r\n"), "250 Syntax: RCPT TO: <address>\n" },
	{ "HELP MAIL after EHLO", IN("EHLO example\r\nHELP MAIL\r\n"),
	  EHLO_OK "250 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\n" },
	{ "HELP rcpt after EHLO", IN("EHLO example\r\nHELP rcpt\r\n"),
	  EHLO_OK "250 Syntax: RCPT TO: <address> [SP <mail-parameters>]\n" },
	{ "HELP for each command",
	  IN("HELP EHLO\r\nHELP HELO\r\nHELP DATA\r\nHELP RSET\r\nHELP NOOP\r\nHELP QUIT\r\n"
	     "HELP VRFY\r\nhelp helo\r\n"),
	  "250 Syntax: EHLO hostname\n250 Syntax: HELO hostname\n250 Syntax: DATA\n"
	  "250 Syntax: RSET\n250 Syntax: NOOP\n250 Syntax: QUIT\n250 Syntax: VRFY <address>\n"
	  "250 Syntax: HELO hostname\n" },
	{ "HELP for an unknown command", IN("HELP SPAM\r\n"), "501 " SUPPORTED },
	{ "HELP EXPN", IN("HELP EXPN\r\n"), "501 " SUPPORTED },
	{ "VRFY", IN("VRFY eggs@example\r\n"),
	  "252 Cannot VRFY user, but will accept message and attempt delivery\n" },
	{ "VRFY with brackets", IN("VRFY <eggs@example>\r\n"),
	  "252 Cannot VRFY user, but will accept message and attempt delivery\n" },
	{ "VRFY of junk", IN("VRFY @@\r\n"), "502 Could not VRFY @@\n" },
	{ "VRFY of an empty quoted string", IN("VRFY \"\"\r\nVRFY <\"\">\r\n"),
	  "502 Could not VRFY \"\"\n"
	  "252 Cannot VRFY user, but will accept message and attempt delivery\n" },
	{ "VRFY without argument", IN("VRFY\r\n"), "501 Syntax: VRFY <address>\n" },
	{ "EXPN", IN("EXPN\r\n"), "502 EXPN not implemented\n" },
	{ "EXPN with argument", IN("EXPN list\r\n"), "502 EXPN not implemented\n" },
	/* --- unknown, empty, bad bytes, long lines ---------------------------- */
	{ "unknown command", IN("UNKNOWN_CMD\r\n"),
	  "500 Error: command \"UNKNOWN_CMD\" not recognized\n" },
	{ "unknown command, upper-cased", IN("foo bar\r\n"),
	  "500 Error: command \"FOO\" not recognized\n" },
	{ "empty line", IN("\r\n"), "500 Error: bad syntax\n" },
	{ "empty line, bare LF, keep: not a line", IN("\n"), "", END(SESSION_END_EOF) },
	{ "empty line, bare LF, normalize", IN("\n"), "500 Error: bad syntax\n", CFG_NORMALIZE },
	{ "empty line, bare LF, reject", IN("\nNOOP\r\n"),
	  "500 5.5.2 Error: bare <LF> received\n250 OK\n", CFG_REJECT_LF },
	{ "NOOP LF NOOP CR LF is one command, keep", IN("NOOP\nNOOP\r\n"),
	  "500 Error: command \"NOOP?NOOP\" not recognized\n" },
	{ "NOOP LF NOOP CR LF is two, normalize", IN("NOOP\nNOOP\r\n"), "250 OK\n250 OK\n",
	  CFG_NORMALIZE },
	{ "NOOP LF NOOP CR LF, reject: the first refused", IN("NOOP\nNOOP\r\n"),
	  "500 5.5.2 Error: bare <LF> received\n250 OK\n", CFG_REJECT_LF },
	{ "a bare LF command runs nothing, reject", IN("HELO x\nMAIL FROM:<a@b>\r\n"),
	  "500 5.5.2 Error: bare <LF> received\n503 Error: send HELO first\n", CFG_REJECT_LF },
	{ "a bare CR command runs nothing, reject", IN("HELO x\rMAIL FROM:<a@b>\r\nNOOP\r\n"),
	  "500 5.5.2 Error: bare <CR> received\n250 OK\n", CFG_REJECT_LF },
	{ "a bare CR is part of the line, keep", IN("HELO x\rMAIL FROM:<a@b>\r\nRSET\r\n"),
	  "250 " FQDN "\n250 OK\n" },
	{ "a session of bare LF lines, keep: 421 at the timeout",
	  IN("HELO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nQUIT\n"),
	  "421 4.4.2 " FQDN " Error: timeout exceeded\n", .timeout = 1, END(SESSION_END_TIMEOUT) },
	{ "a session of bare LF lines, normalize",
	  IN("HELO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nQUIT\n"),
	  HELO_OK "250 OK\n250 OK\n221 Bye\n", CFG_NORMALIZE, END(SESSION_END_QUIT), .resets = 1 },
	{ "NUL in a command", IN("NO\0OP\r\nNOOP\r\n"), "500 Error: bad syntax\n250 OK\n" },
	{ "NUL in an argument", IN("HELO a\0b\r\nHELO ok\r\n"), "500 Error: bad syntax\n" HELO_OK },
	{ "invalid UTF-8 in a command", IN("HELO \xff\xfe\r\nNOOP\r\n"),
	  "500 Error: bad syntax\n250 OK\n" },
	{ "overlong UTF-8 in MAIL", IN("HELO x\r\nMAIL FROM:<\xc0\xaf@x>\r\nNOOP\r\n"),
	  HELO_OK "500 Error: bad syntax\n250 OK\n" },
	{ "line of 512 bytes", IN("HELO {507*x}\r\n"), HELO_OK },
	{ "line of 513 bytes, then NOOP", IN("HELO {508*x}\r\nNOOP\r\n"),
	  "500 Error: line too long\n250 OK\n" },
	{ "line of 513 bytes, bare LF, normalize", IN("HELO {508*x}\nNOOP\n"),
	  "500 Error: line too long\n250 OK\n", CFG_NORMALIZE },
	{ "line of 513 bytes, bare LF, reject", IN("HELO {508*x}\nNOOP\n"),
	  "500 Error: line too long\n500 5.5.2 Error: bare <LF> received\n", CFG_REJECT_LF },
	{ "line of 518 bytes through a bare LF, keep", IN("HELO {508*x}\nNOOP\r\nNOOP\r\n"),
	  "500 Error: line too long\n250 OK\n" },
	{ "line of 20000 bytes, then NOOP", IN("{20000*y}\r\nNOOP\r\n"),
	  "500 Error: line too long\n250 OK\n" },
	{ "MAIL of 513 bytes after HELO", IN("HELO example\r\nMAIL from: {494*a}@example\r\n"),
	  HELO_OK "500 Error: line too long\n" },
	{ "MAIL +26 after EHLO with SIZE",
	  IN("EHLO example\r\nMAIL from:<{492*a}@example> SIZE=1234\r\n"
	     "RSET\r\nMAIL from:<{518*a}@example> SIZE=1234\r\n"),
	  EHLO_OK "250 OK\n250 OK\n500 Error: line too long\n", .resets = 1 },
	{ "MAIL +26 exactly", IN("EHLO example\r\nMAIL from:<{518*a}@example>\r\n"),
	  EHLO_OK "250 OK\n", .resets = 1 },
	{ "no extra bytes without SIZE", IN("EHLO example\r\nMAIL from:<{493*a}@example>\r\n"),
	  "250-" FQDN "\n250-8BITMIME\n250 HELP\n500 Error: line too long\n", CFG_NO_LIMIT },
	{ "MAIL +26+10 with SMTPUTF8",
	  IN("ehlo example\r\nMAIL from:<{529*a}@example>\r\nMAIL from:<{528*a}@example>\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-SMTPUTF8\n250 HELP\n"
	  "500 Error: line too long\n250 OK\n", CFG_SMTPUTF8, .resets = 1 },
	{ "other commands stay at 512 after EHLO", IN("EHLO example\r\nNOOP {508*x}\r\nNOOP\r\n"),
	  EHLO_OK "500 Error: line too long\n250 OK\n" },
	{ "multiple messages with long MAIL",
	  IN("ehlo example\r\n"
	     "MAIL from:<{528*a}a@example>\r\nMAIL from:<{528*a}@example>\r\n"
	     "rcpt to:<hans@example.com>\r\ndata\r\ntest\r\n.\r\n"
	     "MAIL from:<{528*b}a@example>\r\nMAIL from:<{528*b}@example>\r\n"
	     "rcpt to:<hans@example.com>\r\ndata\r\ntest\r\n.\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-SMTPUTF8\n250 HELP\n"
	  "500 Error: line too long\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n"
	  "500 Error: line too long\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n",
	  CFG_SMTPUTF8, .messages = 2, MSG("test"), .from = "{528*b}@example" },
	/* --- MAIL ----------------------------------------------------------------- */
	{ "MAIL before HELO", IN("MAIL from:<foo@example.com>\r\n"), "503 Error: send HELO first\n" },
	{ "RCPT before HELO", IN("RCPT to eggs@example\r\n"), "503 Error: send HELO first\n" },
	{ "DATA before HELO", IN("DATA spam\r\n"), "503 Error: send HELO first\n" },
	{ "MAIL without argument", IN("HELO example\r\nMAIL\r\n"), HELO_OK MAIL_SYNTAX },
	{ "MAIL without argument after EHLO", IN("EHLO example\r\nMAIL\r\n"),
	  EHLO_OK MAIL_SYNTAX_EXT },
	{ "MAIL without colon", IN("HELO example\r\nMAIL from eggs@example\r\n"),
	  HELO_OK MAIL_SYNTAX },
	{ "MAIL without colon after EHLO", IN("EHLO example\r\nMAIL from eggs@example\r\n"),
	  EHLO_OK MAIL_SYNTAX_EXT },
	{ "MAIL without address", IN("HELO example\r\nMAIL from:\r\n"), HELO_OK MAIL_SYNTAX },
	{ "MAIL of an empty quoted string", IN("HELO x\r\nMAIL FROM:\"\"\r\nMAIL FROM:<\"\">\r\n"
						 "RCPT TO:\"\"\r\n"),
	  HELO_OK MAIL_SYNTAX "250 OK\n" RCPT_SYNTAX, .resets = 1 },
	{ "MAIL with missing >", IN("EHLO example\r\nMAIL from:<a@b\r\n"),
	  EHLO_OK MAIL_SYNTAX_EXT },
	{ "MAIL parameters after HELO",
	  IN("HELO example\r\nMAIL from:<foo@example.com> SIZE=1234\r\n"), HELO_OK MAIL_SYNTAX },
	{ "MAIL, spaces after colon", IN("HELO example\r\nMAIL from:   <foo@example.com>\r\n"),
	  HELO_OK "250 OK\n", .resets = 1 },
	{ "MAIL, spaces after colon, EHLO",
	  IN("EHLO example\r\nMAIL from:   <foo@example.com> size=20\r\n"), EHLO_OK "250 OK\n",
	  .resets = 1 },
	{ "nested MAIL", IN("HELO example\r\nMAIL from:eggs@example\r\nMAIL from:spam@example\r\n"),
	  HELO_OK "250 OK\n503 Error: nested MAIL command\n", .resets = 1 },
	{ "nested MAIL after <>", IN("EHLO example\r\nMAIL from:<>\r\nMAIL from:<a@b>\r\n"),
	  EHLO_OK "250 OK\n503 Error: nested MAIL command\n", .resets = 1 },
	{ "BODY=UNKNOWN",
	  IN("EHLO example\r\nMAIL from: <foo@example.com> size=20 SMTPUTF8 BODY=UNKNOWN\r\n"),
	  EHLO_OK "501 Error: BODY can only be one of 7BIT, 8BITMIME\n" },
	{ "BODY without value", IN("EHLO example\r\nMAIL from:<a@b> BODY\r\n"),
	  EHLO_OK "501 Error: BODY can only be one of 7BIT, 8BITMIME\n" },
	{ "body=8bitmime", IN("EHLO example\r\nMAIL from: <foo@example.com> size=20 body=8bitmime\r\n"),
	  EHLO_OK "250 OK\n", .resets = 1 },
	{ "BODY=7BIT", IN("EHLO example\r\nMAIL from:<a@b> BODY=7BIT\r\n"), EHLO_OK "250 OK\n",
	  .resets = 1 },
	{ "SMTPUTF8 refused by default",
	  IN("EHLO example\r\nMAIL from: <naive@example.com> BODY=8BITMIME SMTPUTF8\r\n"),
	  EHLO_OK "555 MAIL FROM parameters not recognized or not implemented\n" },
	{ "SMTPUTF8 accepted when enabled",
	  IN("EHLO example\r\nMAIL from: <foo@example.com> size=20 body=8bitmime smtputf8\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-SMTPUTF8\n250 HELP\n250 OK\n",
	  CFG_SMTPUTF8, .resets = 1 },
	{ "SMTPUTF8 with an argument", IN("EHLO example\r\nMAIL from:<a@b> SMTPUTF8=yes\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-SMTPUTF8\n250 HELP\n"
	  "501 Error: SMTPUTF8 takes no arguments\n", CFG_SMTPUTF8 },
	{ "decode_data: BODY not recognized",
	  IN("EHLO example\r\nMAIL from: <foo@example.com> size=20 body=8bitmime\r\n"
	     "MAIL from: <foo@example.com> size=20 BODY=UNKNOWN\r\n"
	     "MAIL from: <foo@example.com> size=20 SMTPUTF8\r\n"
	     "MAIL from: <foo@example.com> size=20\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250 HELP\n"
	  "555 MAIL FROM parameters not recognized or not implemented\n"
	  "555 MAIL FROM parameters not recognized or not implemented\n"
	  "555 MAIL FROM parameters not recognized or not implemented\n250 OK\n",
	  CFG_DECODE, .resets = 1 },
	{ "SIZE within the limit", IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE=512\r\n"),
	  EHLO_OK "250 OK\n", .resets = 1 },
	{ "SIZE not a number", IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE=invalid\r\n"),
	  EHLO_OK MAIL_SYNTAX_EXT },
	{ "SIZE without value", IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE\r\n"),
	  EHLO_OK MAIL_SYNTAX_EXT },
	{ "SIZE negative", IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE=-1\r\n"),
	  EHLO_OK MAIL_SYNTAX_EXT },
	{ "SIZE over the limit", IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE=2096\r\n"),
	  "250-" FQDN "\n250-SIZE 1048\n250-8BITMIME\n250 HELP\n"
	  "552 Error: message size exceeds fixed maximum message size\n", CFG_LIMIT_1048 },
	{ "SIZE at the limit", IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE=1048\r\n"),
	  "250-" FQDN "\n250-SIZE 1048\n250-8BITMIME\n250 HELP\n250 OK\n", CFG_LIMIT_1048,
	  .resets = 1 },
	{ "SIZE at the limit, leading zeros",
	  IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE=000000000000000000000001048\r\n"),
	  "250-" FQDN "\n250-SIZE 1048\n250-8BITMIME\n250 HELP\n250 OK\n", CFG_LIMIT_1048,
	  .resets = 1 },
	{ "SIZE of 30 digits", IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE={30*9}\r\n"),
	  EHLO_OK "552 Error: message size exceeds fixed maximum message size\n" },
	{ "SIZE of 30 digits, no limit",
	  IN("EHLO example\r\nMAIL FROM:<eggs@example> SIZE={30*9}\r\n"),
	  "250-" FQDN "\n250-8BITMIME\n250 HELP\n250 OK\n", CFG_NO_LIMIT, .resets = 1 },
	{ "unknown MAIL parameter", IN("EHLO example\r\nMAIL FROM:<eggs@example> ham=green\r\n"),
	  EHLO_OK "555 MAIL FROM parameters not recognized or not implemented\n" },
	{ "MAIL parameter syntax", IN("EHLO example\r\nMAIL FROM:<eggs@example> =x\r\n"),
	  EHLO_OK MAIL_SYNTAX_EXT },
	{ "refused MAIL leaves no sender",
	  IN("EHLO example\r\nMAIL FROM:<a@b> ham=green\r\nRCPT TO:<c@d>\r\n"),
	  EHLO_OK "555 MAIL FROM parameters not recognized or not implemented\n"
	  "503 Error: need MAIL command\n" },
	/* --- RCPT ----------------------------------------------------------------- */
	{ "RCPT before MAIL", IN("HELO example\r\nRCPT to:spam@example\r\n"),
	  HELO_OK "503 Error: need MAIL command\n" },
	{ "RCPT without colon", IN("HELO example\r\nMAIL From: eggs@example\r\nRCPT to eggs@example\r\n"),
	  HELO_OK "250 OK\n" RCPT_SYNTAX, .resets = 1 },
	{ "RCPT without colon after EHLO",
	  IN("EHLO example\r\nMAIL From: eggs@example\r\nRCPT to eggs@example\r\n"),
	  EHLO_OK "250 OK\n" RCPT_SYNTAX_EXT, .resets = 1 },
	{ "RCPT without argument", IN("HELO example\r\nMAIL From: eggs@example\r\nRCPT\r\n"),
	  HELO_OK "250 OK\n" RCPT_SYNTAX, .resets = 1 },
	{ "RCPT to <>", IN("HELO example\r\nMAIL From: eggs@example\r\nRCPT TO:<>\r\n"),
	  HELO_OK "250 OK\n" RCPT_SYNTAX, .resets = 1 },
	{ "RCPT lower-case to:", IN("HELO example\r\nMAIL From: eggs@example\r\nRCPT to: <eggs@example>\r\n"),
	  HELO_OK "250 OK\n250 OK\n", .resets = 1 },
	{ "RCPT parameters", IN("EHLO example\r\nMAIL FROM:<eggs@example>\r\nRCPT TO:<eggs@example> ham=green\r\n"),
	  EHLO_OK "250 OK\n555 RCPT TO parameters not recognized or not implemented\n", .resets = 1 },
	{ "RCPT parameters after HELO",
	  IN("HELO example\r\nMAIL FROM:<eggs@example>\r\nRCPT TO:<eggs@example> X=1\r\n"),
	  HELO_OK "250 OK\n" RCPT_SYNTAX, .resets = 1 },
	{ "RCPT after MAIL FROM:<>",
	  IN("EHLO example\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\nbounce\r\n.\r\n"),
	  EHLO_OK "250 OK\n250 OK\n" GO_AHEAD "250 OK\n", .messages = 1, MSG("bounce"),
	  .from = "", .rcpts = "a@b" },
	{ "too many recipients",
	  IN("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r1@x>\r\nRCPT TO:<r2@x>\r\nRCPT TO:<r3@x>\r\n"
	     "DATA\r\nm\r\n.\r\n"),
	  "250 " FQDN "\n250 OK\n250 OK\n250 OK\n452 4.5.3 Error: too many recipients\n"
	  GO_AHEAD "250 OK\n", CFG_MAX_RCPT_2, .messages = 1, MSG("m"), .rcpts = "r1@x,r2@x" },
	{ "UTF-8 recipient with SMTPUTF8",
	  IN("EHLO example\r\nMAIL From:<a@example> BODY=8BITMIME SMTPUTF8\r\n"
	     "RCPT To:sp\xc3\xa4m@exampl\xc3\xa9\r\nDATA\r\nutf8 enriched text: \xc5\xbc\xc5\xba\xc4\x87\r\n.\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250-SMTPUTF8\n250 HELP\n250 OK\n250 OK\n"
	  GO_AHEAD "250 OK\n", CFG_SMTPUTF8, .messages = 1,
	  MSG("utf8 enriched text: \xc5\xbc\xc5\xba\xc4\x87"), .from = "a@example",
	  .rcpts = "sp\xc3\xa4m@exampl\xc3\xa9", .options = "BODY=8BITMIME SMTPUTF8", .smtputf8 = 1 },
	/* --- DATA, RSET -------------------------------------------------------- */
	{ "DATA without RCPT", IN("HELO example\r\nMAIL From:eggs@example\r\nDATA\r\n"),
	  HELO_OK "250 OK\n503 Error: need RCPT command\n", .resets = 1 },
	{ "DATA with argument",
	  IN("HELO example\r\nMAIL From:eggs@example\r\nRCPT To:spam@example\r\nDATA spam\r\n"),
	  HELO_OK "250 OK\n250 OK\n501 Syntax: DATA\n", .resets = 1 },
	{ "data dialog", IN(TX "data\r\nmore\r\n.\r\n"), TX_OK "250 OK\n", .messages = 1,
	  MSG("data\nmore"), .from = "eggs@example", .rcpts = "spam@example", .options = "" },
	{ "multiple RCPT", IN("HELO example\r\nMAIL From:eggs@example\r\nRCPT To:spam@example\r\n"
			      "RCPT To:ham@example\r\nDATA\r\ndata\r\n.\r\n"),
	  HELO_OK "250 OK\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n", .messages = 1, MSG("data"),
	  .rcpts = "spam@example,ham@example" },
	{ "empty message", IN(TX ".\r\n"), TX_OK "250 OK\n", .messages = 1, MSG("") },
	{ "de-transparency", IN(TX "..\r\n.\r\n"), TX_OK "250 OK\n", .messages = 1, MSG(".") },
	{ "de-transparency of leading dots", IN(TX "..a\r\n...b\r\nc.\r\n.d\r\n.\r\n"),
	  TX_OK "250 OK\n", .messages = 1, MSG(".a\n..b\nc.\nd") },
	{ "lines joined with LF", IN(TX "a\r\n\r\nb\r\n\r\n.\r\n"), TX_OK "250 OK\n",
	  .messages = 1, MSG("a\n\nb\n") },
	{ "body line over 8192 bytes kept", IN(TX "{10000*b}\r\nend\r\n.\r\n"), TX_OK "250 OK\n",
	  .messages = 1, MSG("{10000*b}\nend") },
	{ "body line of 30000 bytes with dots", IN(TX "x{8191*.}{21808*z}\r\n.\r\n"),
	  TX_OK "250 OK\n", .messages = 1, MSG("x{8191*.}{21808*z}") },
	{ "binary body bytes kept", IN(TX "\0\xff\x80\r\r\n.\r\n"), TX_OK "250 OK\n",
	  .messages = 1, MSG("\0\xff\x80\r") },
	{ "commands after the final dot", IN(TX "m\r\n.\r\nNOOP\r\nQUIT\r\n"),
	  TX_OK "250 OK\n250 OK\n221 Bye\n", END(SESSION_END_QUIT), .messages = 1, MSG("m") },
	{ "LF . CR LF does not end DATA", IN(TX "hi\n.\r\nRCPT TO:<evil@x>\r\n.\r\n"),
	  TX_OK "250 OK\n", .messages = 1, MSG("hi\n.\nRCPT TO:<evil@x>"), .rcpts = "spam@example" },
	{ "CR . CR LF does not end DATA", IN(TX "hi\r.\r\nRCPT TO:<evil@x>\r\n.\r\n"),
	  TX_OK "250 OK\n", .messages = 1, MSG("hi\r.\nRCPT TO:<evil@x>") },
	{ "LF . LF does not end DATA", IN(TX "hi\n.\nNOOP\r\n.\r\n"), TX_OK "250 OK\n",
	  .messages = 1, MSG("hi\n.\nNOOP") },
	{ "bare LF kept", IN(TX "a\nb\r\n.\r\n"), TX_OK "250 OK\n", .messages = 1, MSG("a\nb") },
	{ "bare LF kept, dot after it kept", IN(TX "a\n..b\r\n.\r\n"), TX_OK "250 OK\n",
	  .messages = 1, MSG("a\n..b") },
	{ "bare LF normalized", IN(TX "a\n..b\r\n.\r\n"), TX_OK "250 OK\n", CFG_NORMALIZE,
	  .messages = 1, MSG("a\n.b") },
	{ "bare LF normalized, LF . CR LF still content", IN(TX "a\n.\r\nb\r\n.\r\n"),
	  TX_OK "250 OK\n", CFG_NORMALIZE, .messages = 1, MSG("a\n\nb") },
	{ "bare LF rejected after the final dot", IN(TX "a\nb\r\n.\r\nNOOP\r\n"),
	  TX_OK "550 5.5.2 Error: bare <LF> received\n250 OK\n", CFG_REJECT_LF, .resets = 1 },
	{ "reject policy, no bare LF", IN(TX "a\r\nb\r\n.\r\n"), TX_OK "250 OK\n", CFG_REJECT_LF,
	  .messages = 1, MSG("a\nb") },
	{ "too much mail data",
	  IN(TX "This message is longer than 32 bytes\r\n.\r\nNOOP\r\n"),
	  HELO_OK "250 OK\n250 OK\n" GO_AHEAD "552 Error: Too much mail data\n250 OK\n",
	  CFG_LIMIT_32, .resets = 1 },
	{ "data at the limit", IN(TX "{32*d}\r\n.\r\n"), TX_OK "250 OK\n", CFG_LIMIT_32,
	  .messages = 1, MSG("{32*d}") },
	{ "data one over the limit", IN(TX "{30*d}\r\nd\r\n.\r\n"),
	  TX_OK "552 Error: Too much mail data\n", CFG_LIMIT_32, .resets = 1 },
	{ "data over the default limit as test_smtpd",
	  IN(TX "{1048*A}A\r\n.\r\n"), TX_OK "552 Error: Too much mail data\n", CFG_LIMIT_1048,
	  .resets = 1 },
	{ "transaction after a refused message",
	  IN(TX "{33*d}\r\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@y>\r\nDATA\r\nok\r\n.\r\n"),
	  TX_OK "552 Error: Too much mail data\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n",
	  CFG_LIMIT_32, .messages = 1, .resets = 1, MSG("ok"), .from = "x@y", .rcpts = "z@y" },
	{ "mail options passed", IN("EHLO example\r\nMAIL FROM:<a@b> body=8bitmime SIZE=20\r\n"
				    "RCPT TO:<c@d>\r\nDATA\r\nm\r\n.\r\n"),
	  EHLO_OK "250 OK\n250 OK\n" GO_AHEAD "250 OK\n", .messages = 1, MSG("m"),
	  .options = "BODY=8BITMIME SIZE=20", .smtputf8 = 0 },
	{ "decode_data: no mail options", IN("EHLO example\r\nMAIL FROM:<a@b> SIZE=20\r\n"
					     "RCPT TO:<c@d>\r\nDATA\r\nm\r\n.\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250 HELP\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n",
	  CFG_DECODE, .messages = 1, MSG("m"), .options = "" },
	{ "decode_data: UTF-8 delivered", IN(TX "utf8 enriched text: \xc5\xbc\xc5\xba\xc4\x87\r\n"
					     "and some plain ascii\r\n.\r\n"),
	  TX_OK "250 OK\n", CFG_DECODE, .messages = 1,
	  MSG("utf8 enriched text: \xc5\xbc\xc5\xba\xc4\x87\nand some plain ascii") },
	{ "decode_data: invalid UTF-8 refused", IN(TX "caf\xe9\r\n.\r\nNOOP\r\n"),
	  TX_OK "554 5.6.0 Error: message data is not valid UTF-8\n250 OK\n", CFG_DECODE,
	  .resets = 1 },
	{ "decode_data: NUL is valid UTF-8", IN(TX "a\0b\r\n.\r\n"), TX_OK "250 OK\n", CFG_DECODE,
	  .messages = 1, MSG("a\0b") },
	{ "EOF in the middle of DATA", IN(TX "partial\r\nmessage"), TX_OK, END(SESSION_END_EOF),
	  .resets = 1 },
	{ "EOF right after DATA", IN(TX), TX_OK, END(SESSION_END_EOF), .resets = 1 },
	{ "EOF mid-transaction", IN("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
	  HELO_OK "250 OK\n250 OK\n", END(SESSION_END_EOF), .resets = 1 },
	{ "timeout waiting for a command", IN("HELO x\r\n"),
	  HELO_OK "421 4.4.2 " FQDN " Error: timeout exceeded\n", .timeout = 1,
	  END(SESSION_END_TIMEOUT) },
	{ "timeout in the middle of DATA", IN(TX "partial\r\n"),
	  TX_OK "421 4.4.2 " FQDN " Error: timeout exceeded\n", .timeout = 1,
	  END(SESSION_END_TIMEOUT), .resets = 1 },
	{ "two messages", IN(TX "one\r\n.\r\nMAIL FROM:<b@c>\r\nRCPT TO:<d@e>\r\nDATA\r\ntwo\r\n.\r\n"),
	  TX_OK "250 OK\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n", .messages = 2, MSG("two"),
	  .from = "b@c", .rcpts = "d@e" },
	{ "RSET", IN("HELO example\r\nMAIL From:eggs@example\r\nRCPT To:spam@example\r\nRSET\r\n"
		     "MAIL From:foo@example\r\nRCPT To:eggs@example\r\nDATA\r\ndata\r\n.\r\n"),
	  HELO_OK "250 OK\n250 OK\n250 OK\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n", .messages = 1,
	  .resets = 1, MSG("data"), .from = "foo@example", .rcpts = "eggs@example" },
	{ "RSET keeps the greeting", IN("HELO example\r\nRSET\r\nMAIL From:a@b\r\n"),
	  HELO_OK "250 OK\n250 OK\n", .resets = 1 },
	{ "RSET with argument", IN("RSET hi\r\n"), "501 Syntax: RSET\n" },
	{ "RSET without transaction", IN("RSET\r\n"), "250 OK\n" },
	{ "quoted local part delivered",
	  IN("EHLO example\r\nMAIL from: <\"Fred Blogs\"@example.com>\r\nRCPT TO:<a@b>\r\n"
	     "DATA\r\nm\r\n.\r\n"),
	  EHLO_OK "250 OK\n250 OK\n" GO_AHEAD "250 OK\n", .messages = 1, MSG("m"),
	  .from = "\"Fred Blogs\"@example.com" },
	{ "quoted local part without brackets, SIZE",
	  IN("EHLO example\r\nMAIL from: \"Fred Blogs\"@example.com SIZE=1000\r\nRCPT TO:<a@b>\r\n"
	     "DATA\r\nm\r\n.\r\n"),
	  EHLO_OK "250 OK\n250 OK\n" GO_AHEAD "250 OK\n", .messages = 1, MSG("m"),
	  .from = "\"Fred Blogs\"@example.com", .options = "SIZE=1000" },
	{ "pipelined commands answered in order",
	  IN("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bad@x>\r\nRCPT TO:<c@d>\r\nNOOP\r\nDATA\r\n"
	     "m\r\n.\r\nRSET\r\nVRFY a@b\r\nQUIT\r\n"),
	  "250-" FQDN "\n250-SIZE 33554432\n250-8BITMIME\n250 HELP\n250 OK\n"
	  "550 5.1.1 No such user: bad@x\n250 OK\n250 OK\n" GO_AHEAD "250 OK\n250 OK\n"
	  "252 Cannot VRFY user, but will accept message and attempt delivery\n221 Bye\n",
	  0, FAKE_RCPT_REJECT, END(SESSION_END_QUIT), .messages = 1, MSG("m"), .rcpts = "c@d" },
	/* --- limits ------------------------------------------------------- */
	{ "hard error limit: 421 after the 3rd error",
	  IN("FOO\r\nHELO\r\nMAIL FROM:<a@b>\r\nNOOP\r\n"),
	  "500 Error: command \"FOO\" not recognized\n501 Syntax: HELO hostname\n"
	  "503 Error: send HELO first\n421 4.7.0 " FQDN " Error: too many errors\n",
	  CFG_ERRORS_1_3, END(SESSION_END_LIMIT) },
	{ "good replies do not count as errors",
	  IN("FOO\r\nNOOP\r\nHELO x\r\nVRFY a@b\r\nFOO\r\nQUIT\r\n"),
	  "500 Error: command \"FOO\" not recognized\n250 OK\n" HELO_OK
	  "252 Cannot VRFY user, but will accept message and attempt delivery\n"
	  "500 Error: command \"FOO\" not recognized\n221 Bye\n",
	  CFG_ERRORS_1_3, END(SESSION_END_QUIT) },
	{ "plugin rejections count as errors",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<bad1@x>\r\nRCPT TO:<ok@x>\r\n"
	     "RCPT TO:<bad2@x>\r\nRCPT TO:<bad3@x>\r\nRCPT TO:<ok2@x>\r\n"),
	  HELO_OK "250 OK\n550 5.1.1 No such user: bad1@x\n250 OK\n"
	  "550 5.1.1 No such user: bad2@x\n550 5.1.1 No such user: bad3@x\n"
	  "421 4.7.0 " FQDN " Error: too many errors\n",
	  CFG_ERRORS_1_3, FAKE_RCPT_REJECT, END(SESSION_END_LIMIT), .resets = 1 },
	{ "too long lines and bad syntax count as errors",
	  IN("{600*a}\r\n\r\n{600*c}\r\nNOOP\r\n"),
	  "500 Error: line too long\n500 Error: bad syntax\n500 Error: line too long\n"
	  "421 4.7.0 " FQDN " Error: too many errors\n", CFG_ERRORS_1_3, END(SESSION_END_LIMIT) },
	{ "a message refused after DATA counts as an error",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nm\r\n.\r\n"
	     "FOO\r\nFOO\r\nNOOP\r\n"),
	  HELO_OK "250 OK\n250 OK\n" GO_AHEAD "554 5.7.1 Rejected\n"
	  "500 Error: command \"FOO\" not recognized\n500 Error: command \"FOO\" not recognized\n"
	  "421 4.7.0 " FQDN " Error: too many errors\n",
	  CFG_ERRORS_1_3, FAKE_MSG_REJECT, END(SESSION_END_LIMIT), .messages = 1, MSG("m") },
	{ "idle commands: NOOP RSET HELP, the 4th is refused",
	  IN("NOOP\r\nRSET\r\nHELP\r\nVRFY a@b\r\nNOOP\r\n"),
	  "250 OK\n250 OK\n250 " SUPPORTED "421 4.7.0 " FQDN " Error: too many commands without mail\n",
	  CFG_IDLE_3, END(SESSION_END_LIMIT) },
	{ "idle commands: EXPN counts, HELO does not",
	  IN("EXPN\r\nHELO x\r\nNOOP\r\nNOOP\r\nNOOP\r\n"),
	  "502 EXPN not implemented\n" HELO_OK "250 OK\n250 OK\n"
	  "421 4.7.0 " FQDN " Error: too many commands without mail\n",
	  CFG_IDLE_3, END(SESSION_END_LIMIT) },
	{ "idle commands: MAIL resets the count",
	  IN("HELO x\r\nNOOP\r\nNOOP\r\nNOOP\r\nMAIL FROM:<a@x>\r\nNOOP\r\nRSET\r\n"
	     "VRFY a@b\r\nQUIT\r\n"),
	  HELO_OK "250 OK\n250 OK\n250 OK\n250 OK\n250 OK\n250 OK\n"
	  "252 Cannot VRFY user, but will accept message and attempt delivery\n221 Bye\n",
	  CFG_IDLE_3, END(SESSION_END_QUIT), .resets = 1 },
	{ "idle commands: unknown and erroneous commands count",
	  IN("FOO\r\nHELO\r\n\r\nNOOP\r\n"),
	  "500 Error: command \"FOO\" not recognized\n501 Syntax: HELO hostname\n"
	  "500 Error: bad syntax\n421 4.7.0 " FQDN " Error: too many commands without mail\n",
	  CFG_IDLE_3, END(SESSION_END_LIMIT) },
	{ "idle commands: a failed MAIL counts, resets nothing",
	  IN("HELO x\r\nNOOP\r\nNOOP\r\nMAIL FROM:<>x\r\nNOOP\r\n"),
	  HELO_OK "250 OK\n250 OK\n" MAIL_SYNTAX
	  "421 4.7.0 " FQDN " Error: too many commands without mail\n",
	  CFG_IDLE_3, END(SESSION_END_LIMIT) },
	{ "session time over: 421 at the next command",
	  IN("HELO x\r\n"), "421 4.4.2 " FQDN " Error: session time limit exceeded\n",
	  CFG_SESSION_OVER, END(SESSION_END_LIMIT) },
	{ "session time over while waiting: 421",
	  IN(""), "421 4.4.2 " FQDN " Error: session time limit exceeded\n",
	  CFG_SESSION_OVER, .timeout = 1, END(SESSION_END_LIMIT) },
	{ "pregreet reject: 554 instead of the greeting", IN("EHLO x\r\n"),
	  "554 5.5.1 " FQDN " Error: talking before the greeting\n", CFG_PREGREET_REJECT,
	  .no_greeting = 1, END(SESSION_END_LIMIT) },
	{ "pregreet reject: a client that waits is greeted", IN(""), "", CFG_PREGREET_REJECT,
	  END(SESSION_END_EOF) },
	{ "pregreet log: the session goes on", IN("EHLO example\r\nQUIT\r\n"),
	  EHLO_OK "221 Bye\n", CFG_PREGREET_LOG, END(SESSION_END_QUIT) },
	/* --- plugin hooks -------------------------------------------------------- */
	{ "on_connect REJECT replaces the greeting", IN("HELO x\r\n"), "554 5.7.1 Go away\n", 0,
	  FAKE_CONNECT_REJECT, .no_greeting = 1, END(SESSION_END_PLUGIN) },
	{ "on_connect banner", IN("NOOP\r\n"), "220 custom banner\n250 OK\n", 0,
	  FAKE_CONNECT_BANNER, .no_greeting = 1 },
	{ "on_connect greeting that is not 220: 451, session over", IN("NOOP\r\n"),
	  "451 4.3.0 Error: internal error in the message handler\n", 0, FAKE_CONNECT_250,
	  .no_greeting = 1, END(SESSION_END_PLUGIN) },
	{ "on_helo REJECT", IN("HELO bad\r\nHELO good\r\n"),
	  "550 5.7.1 Bad HELO bad\n" HELO_OK, 0, FAKE_HELO_REJECT },
	{ "on_helo REJECT at EHLO", IN("EHLO bad\r\nMAIL FROM:<a@b>\r\n"),
	  "550 5.7.1 Bad HELO bad\n503 Error: send HELO first\n", 0, FAKE_HELO_REJECT },
	{ "on_mail REJECT", IN("HELO x\r\nMAIL FROM:<spammer@x>\r\nMAIL FROM:<ok@x>\r\n"),
	  HELO_OK "550 5.7.1 Sender rejected\n250 OK\n", 0, FAKE_MAIL_REJECT, .resets = 1 },
	{ "on_mail reply", IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n"),
	  HELO_OK "250 2.1.0 Sender ok\n250 OK\n", 0, FAKE_MAIL_REPLY, .resets = 1 },
	{ "on_rcpt REJECT with its code and text",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<bad@x>\r\nDATA\r\nRCPT TO:<good@x>\r\nDATA\r\nm\r\n.\r\n"),
	  HELO_OK "250 OK\n550 5.1.1 No such user: bad@x\n503 Error: need RCPT command\n250 OK\n"
	  GO_AHEAD "250 OK\n", 0, FAKE_RCPT_REJECT, .messages = 1, MSG("m"), .rcpts = "good@x" },
	{ "on_rcpt TEMPFAIL", IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
	  HELO_OK "250 OK\n451 4.7.1 Greylisted\n503 Error: need RCPT command\n", 0,
	  FAKE_RCPT_TEMPFAIL, .resets = 1 },
	{ "on_rcpt ACCEPT with its reply",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nm\r\n.\r\n"),
	  HELO_OK "250 OK\n251 2.1.5 User not local; will forward\n" GO_AHEAD "250 OK\n", 0,
	  FAKE_RCPT_REPLY, .messages = 1, MSG("m"), .rcpts = "b@x" },
	{ "on_rcpt ACCEPT with 550 becomes 451",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
	  HELO_OK "250 OK\n" INTERNAL "503 Error: need RCPT command\n", 0, FAKE_RCPT_ACCEPT_550,
	  .resets = 1 },
	{ "on_rcpt REJECT with 250 becomes 451",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
	  HELO_OK "250 OK\n" INTERNAL "503 Error: need RCPT command\n", 0, FAKE_RCPT_REJECT_250,
	  .resets = 1 },
	{ "on_rcpt REJECT without reply becomes 451",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
	  HELO_OK "250 OK\n" INTERNAL "503 Error: need RCPT command\n", 0, FAKE_RCPT_REJECT_NONE,
	  .resets = 1 },
	{ "on_rcpt CONTINUE with 550 becomes 451",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
	  HELO_OK "250 OK\n" INTERNAL "503 Error: need RCPT command\n", 0, FAKE_RCPT_CONTINUE_550,
	  .resets = 1 },
	{ "on_rcpt unknown verdict becomes 451",
	  IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
	  HELO_OK "250 OK\n" INTERNAL "503 Error: need RCPT command\n", 0, FAKE_RCPT_BAD_VERDICT,
	  .resets = 1 },
	{ "on_rcpt DISCONNECT", IN("HELO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nNOOP\r\n"),
	  HELO_OK "250 OK\n421 4.3.0 " FQDN " Error: closing connection\n", 0,
	  FAKE_RCPT_DISCONNECT, END(SESSION_END_PLUGIN), .resets = 1 },
	{ "on_message reply", IN(TX "return status\r\n.\r\n"), TX_OK "250 Okish\n", 0,
	  FAKE_MSG_REPLY, .messages = 1, MSG("return status") },
	{ "on_message REJECT", IN(TX "m\r\n.\r\nNOOP\r\n"), TX_OK "554 5.7.1 Rejected\n250 OK\n", 0,
	  FAKE_MSG_REJECT, .messages = 1, MSG("m") },
	{ "on_message TEMPFAIL", IN(TX "m\r\n.\r\n"), TX_OK "452 4.3.1 Insufficient storage\n", 0,
	  FAKE_MSG_TEMPFAIL, .messages = 1, MSG("m") },
	{ "on_message ACCEPT with 451 becomes 451 4.3.0", IN(TX "m\r\n.\r\n"), TX_OK INTERNAL, 0,
	  FAKE_MSG_ACCEPT_451, .messages = 1, MSG("m") },
	{ "on_message DISCONNECT", IN(TX "m\r\n.\r\nNOOP\r\n"),
	  TX_OK "421 4.3.0 " FQDN " Error: closing connection\n", 0, FAKE_MSG_DISCONNECT,
	  END(SESSION_END_PLUGIN), .messages = 1, MSG("m") },
	{ "LMTP: HELO and EHLO unknown, LHLO offers its extensions",
	  IN("HELO x\r\nEHLO x\r\nMAIL FROM:<a@x>\r\nLHLO c\r\nLHLO c\r\nHELO x\r\nQUIT\r\n"),
	  "500 Error: command \"HELO\" not recognized\n500 Error: command \"EHLO\" not recognized\n"
	  "503 5.5.1 Error: send LHLO first\n" LHLO_OK "503 5.5.1 Error: duplicate LHLO\n"
	  "500 5.5.2 Error: command \"HELO\" not recognized\n221 2.0.0 Bye\n", CFG_LMTP,
	  END(SESSION_END_QUIT) },
	{ "LMTP: a reply per recipient, in RCPT order", IN(LMTP_TX4 "m\r\n.\r\nNOOP\r\n"),
	  LMTP_TX4_OK "250 2.0.0 OK\n452 4.2.2 full\n550 5.1.1 unknown\n" INTERNAL "250 2.0.0 OK\n",
	  CFG_LMTP, FAKE_MSG_PER_RCPT, .messages = 1, MSG("m"), .rcpts = "a@x,t@x,p@x,b@x" },
	{ "LMTP: one verdict for every recipient", IN(LMTP_TX4 "m\r\n.\r\n"),
	  LMTP_TX4_OK "554 5.7.1 Rejected\n554 5.7.1 Rejected\n554 5.7.1 Rejected\n"
	  "554 5.7.1 Rejected\n", CFG_LMTP, FAKE_MSG_REJECT, .messages = 1, MSG("m") },
	{ "LMTP: the message too big, each recipient told", IN(LMTP_TX4 "{40*x}\r\n.\r\n"),
	  LMTP_TX4_OK_32 "552 5.3.4 Error: Too much mail data\n552 5.3.4 Error: Too much mail data\n"
	  "552 5.3.4 Error: Too much mail data\n552 5.3.4 Error: Too much mail data\n",
	  CFG_LMTP | CFG_LIMIT_32, .resets = 1 },
	{ "LMTP: DISCONNECT, its reply to each recipient", IN(LMTP_TX4 "m\r\n.\r\nNOOP\r\n"),
	  LMTP_TX4_OK "421 4.3.0 " FQDN " Error: closing connection\n452 4.2.2 full\n"
	  "550 5.1.1 unknown\n" INTERNAL, CFG_LMTP, FAKE_MSG_DISCONNECT_PER_RCPT,
	  END(SESSION_END_PLUGIN), .messages = 1, MSG("m") },
	{ "plugin command", IN("XFOO hello world\r\nHELO h\r\nxfoo\r\nXFOO \r\n"),
	  "250 XFOO arg=hello world greeting=-\n" HELO_OK "250 XFOO no arg greeting=h\n"
	  "250 XFOO no arg greeting=h\n" },
	{ "plugin command with a bad answer", IN("XBAD\r\n"), INTERNAL },
	{ "plugin command CONTINUE", IN("XNOP x\r\n"), "250 OK\n" },
	/* AUTH (RFC 4954) with the plugin backend: "\0u\0p" is AHUAcA==,
	   "\0u\0x" AHUAeA==, "\0t\0p" AHQAcA==, "z\0u\0p" egB1AHA=, "u" dQ==,
	   "p" cA==. */
	{ "AUTH PLAIN, initial response, then a message with AUTH=<>",
	  IN("EHLO e\r\nAUTH PLAIN AHUAcA==\r\nMAIL FROM:<a@b> AUTH=<>\r\nRCPT TO:<c@d>\r\n"
	     "DATA\r\nm\r\n.\r\n"),
	  EHLO_AUTH AUTH_OK "250 OK\n250 OK\n" GO_AHEAD "250 OK\n", CFG_AUTH, .messages = 1,
	  MSG("m"), .options = "AUTH=<>", .auth_user = "u" },
	{ "AUTH PLAIN after a 334", IN("EHLO e\r\nAUTH PLAIN\r\nAHUAcA==\r\n"),
	  EHLO_AUTH "334 \n" AUTH_OK, CFG_AUTH },
	{ "AUTH LOGIN", IN("EHLO e\r\nAUTH LOGIN\r\ndQ==\r\ncA==\r\n"),
	  EHLO_AUTH "334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n" AUTH_OK, CFG_AUTH },
	{ "AUTH LOGIN, the user as initial response", IN("EHLO e\r\nauth login dQ==\r\ncA==\r\n"),
	  EHLO_AUTH "334 UGFzc3dvcmQ6\n" AUTH_OK, CFG_AUTH },
	{ "AUTH failures: 535, 535, then 421",
	  IN("EHLO e\r\nAUTH PLAIN AHUAeA==\r\nAUTH PLAIN AHUAeA==\r\nAUTH PLAIN AHUAeA==\r\nNOOP\r\n"),
	  EHLO_AUTH AUTH_BAD AUTH_BAD "421 4.7.0 " FQDN " Error: too many failed authentication "
	  "attempts\n", CFG_AUTH, END(SESSION_END_LIMIT) },
	{ "AUTH TEMPFAIL: 454", IN("EHLO e\r\nAUTH PLAIN AHQAcA==\r\n"),
	  EHLO_AUTH "454 4.7.0 Temporary authentication failure\n", CFG_AUTH },
	{ "AUTH cancelled", IN("EHLO e\r\nAUTH PLAIN\r\n*\r\nNOOP\r\n"),
	  EHLO_AUTH "334 \n501 5.0.0 Authentication cancelled\n250 OK\n", CFG_AUTH },
	{ "AUTH bad base64", IN("EHLO e\r\nAUTH PLAIN ab$c\r\n"),
	  EHLO_AUTH "501 5.5.2 Cannot decode response\n", CFG_AUTH },
	{ "AUTH authzid not the user", IN("EHLO e\r\nAUTH PLAIN egB1AHA=\r\n"), EHLO_AUTH AUTH_BAD,
	  CFG_AUTH },
	{ "AUTH twice", IN("EHLO e\r\nAUTH PLAIN AHUAcA==\r\nAUTH PLAIN AHUAcA==\r\n"),
	  EHLO_AUTH AUTH_OK "503 5.5.1 Error: already authenticated\n", CFG_AUTH },
	{ "AUTH in a transaction", IN("EHLO e\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN AHUAcA==\r\n"),
	  EHLO_AUTH "250 OK\n503 5.5.1 Error: MAIL transaction in progress\n", CFG_AUTH,
	  .resets = 1 },
	{ "AUTH before HELO", IN("AUTH PLAIN AHUAcA==\r\n"), "503 Error: send HELO first\n",
	  CFG_AUTH },
	{ "AUTH mechanism unknown", IN("EHLO e\r\nAUTH CRAM-MD5\r\n"),
	  EHLO_AUTH "504 5.5.4 Unrecognized authentication type\n", CFG_AUTH },
	{ "auth.required: MAIL before AUTH",
	  IN("EHLO e\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN AHUAcA==\r\nMAIL FROM:<a@b>\r\n"),
	  EHLO_AUTH "530 5.7.0 Authentication required\n" AUTH_OK "250 OK\n", CFG_AUTH_REQUIRED,
	  .resets = 1 },
	{ "AUTH not offered without TLS", IN("EHLO e\r\nAUTH PLAIN AHUAcA==\r\n"),
	  EHLO_OK "538 5.7.11 Encryption required for requested authentication mechanism\n",
	  CFG_AUTH_TLS_ONLY },
	{ "AUTH unknown where no backend is set", IN("EHLO e\r\nAUTH PLAIN AHUAcA==\r\n"),
	  EHLO_OK "500 Error: command \"AUTH\" not recognized\n" },
	{ "MAIL AUTH= refused where no backend is set", IN("EHLO e\r\nMAIL FROM:<a@b> AUTH=<>\r\n"),
	  EHLO_OK "555 MAIL FROM parameters not recognized or not implemented\n" },
	{ "AUTH: no answer to the 334", IN("EHLO e\r\nAUTH LOGIN\r\n"),
	  EHLO_AUTH "334 VXNlcm5hbWU6\n421 4.4.2 " FQDN " Error: timeout exceeded\n", CFG_AUTH,
	  .timeout = 1, END(SESSION_END_TIMEOUT) },
	{ "AUTH response of 12289 octets", IN("EHLO e\r\nAUTH PLAIN\r\n{12289*A}\r\nNOOP\r\n"),
	  EHLO_AUTH "334 \n500 5.5.6 Authentication Exchange line is too long\n250 OK\n", CFG_AUTH },
	{ "plugin command prefix is not the command", IN("XFOOBAR\r\n"),
	  "500 Error: command \"XFOOBAR\" not recognized\n" },

	/* --- issue 18: extensions, enhanced codes, BDAT ------------------ */
	{ "extensions offered", IN("EHLO example\r\n"), EHLO_ESMTP, CFG_ESMTP },
	{ "no extensions: BDAT unknown, as smtpd.py", IN("EHLO e\r\nBDAT 1 LAST\r\n"),
	  EHLO_OK "500 Error: command \"BDAT\" not recognized\n" },
	{ "enhanced codes after EHLO", IN(ETX "m\r\n.\r\nRSET x\r\nFOO\r\nQUIT\r\n"),
	  EHLO_ESMTP "250 2.1.0 OK\n250 2.1.5 OK\n" GO_AHEAD "250 2.0.0 OK\n"
	  "501 5.5.4 Syntax: RSET\n500 5.5.2 Error: command \"FOO\" not recognized\n"
	  "221 2.0.0 Bye\n", CFG_ESMTP, .messages = 1, MSG("m") },
	{ "no enhanced codes after HELO", IN(TX "m\r\n.\r\n"), TX_OK "250 OK\n", CFG_ESMTP,
	  .messages = 1, MSG("m") },
	{ "plugin reply gets its class's code", IN(ETX "m\r\n.\r\n"),
	  EHLO_ESMTP "250 2.1.0 OK\n250 2.1.5 OK\n" GO_AHEAD "554 5.7.1 Rejected\n", CFG_ESMTP,
	  FAKE_MSG_REJECT, .messages = 1, MSG("m") },
	{ "HELP lists BDAT", IN("HELP\r\nHELP bdat\r\n"),
	  "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY XFOO XBAD XNOP "
	  "BDAT\n250 Syntax: BDAT chunk-size [LAST]\n", CFG_ESMTP },
	{ "HELP of a plugin verb", IN("HELP xfoo\r\n"), "250 Syntax: XFOO [SP <argument>]\n" },
	{ "BDAT in two chunks", IN(EMT "BDAT 5\r\nab\r\ncBDAT 3 LAST\r\nd\r\n"),
	  EMT_OK "250 2.0.0 OK: 5 octets received\n250 2.0.0 OK\n", CFG_ESMTP, .messages = 1,
	  MSG("ab\ncd") },
	{ "BDAT 0 LAST", IN(EMT "BDAT 0 LAST\r\nNOOP\r\n"), EMT_OK "250 2.0.0 OK\n250 2.0.0 OK\n",
	  CFG_ESMTP, .messages = 1, MSG("") },
	{ "BDAT keeps dots and DATA's terminator",
	  IN(EMT "BDAT 13 LAST\r\n.\r\n..\r\n.\r\nx\r\n"), EMT_OK "250 2.0.0 OK\n", CFG_ESMTP,
	  .messages = 1, MSG(".\n..\n.\nx") },
	{ "BDAT chunk ending inside CR LF", IN(EMT "BDAT 2\r\na\rBDAT 2 LAST\r\n\nb"),
	  EMT_OK "250 2.0.0 OK: 2 octets received\n250 2.0.0 OK\n", CFG_ESMTP, .messages = 1,
	  MSG("a\nb") },
	{ "BDAT chunk over the limit: read, 552, then RSET",
	  IN(EMT "BDAT 40 LAST\r\n0123456789012345678901234567890123456789RSET\r\n"),
	  EMT32_OK "552 5.3.4 Error: Too much mail data\n250 2.0.0 OK\n", CFG_ESMTP | CFG_LIMIT_32,
	  .resets = 1 },
	{ "BDAT limit across chunks: later chunks refused too",
	  IN(EMT "BDAT 30\r\n012345678901234567890123456789BDAT 10\r\n0123456789"
	     "BDAT 1 LAST\r\nxNOOP\r\n"),
	  EMT32_OK "250 2.0.0 OK: 30 octets received\n552 5.3.4 Error: Too much mail data\n"
	  "552 5.3.4 Error: Too much mail data\n250 2.0.0 OK\n", CFG_ESMTP | CFG_LIMIT_32,
	  .resets = 1 },
	{ "BDAT without a size", IN(EMT "BDAT\r\nNOOP\r\n"),
	  EMT_OK "501 5.5.4 Syntax: BDAT chunk-size [LAST]\n421 4.5.0 " FQDN
	  " Error: BDAT without a size, closing\n", CFG_ESMTP, END(SESSION_END_LIMIT), .resets = 1 },
	{ "BDAT before MAIL is read and refused", IN("EHLO e\r\nBDAT 6\r\nQUIT\r\nNOOP\r\n"),
	  EHLO_ESMTP "503 5.5.1 Error: need MAIL command\n250 2.0.0 OK\n", CFG_ESMTP },
	{ "BDAT before HELO is read and refused", IN("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"),
	  "503 Error: send HELO first\n250 OK\n", CFG_ESMTP },
	{ "DATA after BDAT", IN(EMT "BDAT 1\r\naDATA\r\nBDAT 1 LAST\r\nb"),
	  EMT_OK "250 2.0.0 OK: 1 octets received\n503 5.5.1 Error: DATA in a BDAT transaction\n"
	  "250 2.0.0 OK\n", CFG_ESMTP, .messages = 1, MSG("ab") },
	{ "BDAT after DATA", IN("EHLO e\r\nMAIL FROM:<a@b>\r\nDATA\r\nRCPT TO:<c@d>\r\nDATA x\r\n"
				"BDAT 4 LAST\r\nQUIT"),
	  EHLO_ESMTP "250 2.1.0 OK\n503 5.5.1 Error: need RCPT command\n250 2.1.5 OK\n"
	  "501 5.5.4 Syntax: DATA\n503 5.5.1 Error: BDAT after DATA in one transaction\n", CFG_ESMTP,
	  .resets = 1 },
	{ "BDAT chunk cut by the client's close", IN(EMT "BDAT 100 LAST\r\nabc"), EMT_OK,
	  CFG_ESMTP, END(SESSION_END_EOF), .resets = 1 },
	{ "BDAT bare LF with reject: 550 at LAST", IN(EMT "BDAT 5 LAST\r\na\nb\r\n"),
	  EMT_OK "550 5.5.2 Error: bare <LF> received\n", CFG_ESMTP | CFG_REJECT_LF, .resets = 1 },
	{ "BDAT bare CR normalized", IN(EMT "BDAT 5 LAST\r\na\rb\r\n"), EMT_OK "250 2.0.0 OK\n",
	  CFG_ESMTP | CFG_NORMALIZE, .messages = 1, MSG("a\nb") },
};

static void check_row(const struct session_row *r, size_t chunk)
{
	char row[200];
	snprintf(row, sizeof(row), "%s [chunk %zu]", r->name, chunk);

	struct listener_config l;
	make_listener(&l, r->cfg);
	free(fake.msg);
	memset(&fake, 0, sizeof(fake));
	fake.mode = r->mode;

	size_t in_len, exp_len;
	char *in = expand(r->input, r->input_len, 0, &in_len);
	char *exp = expand(r->replies, strlen(r->replies), 1, &exp_len);
	struct conn_mem cm;
	conn_mem_init(&cm, in, in_len, chunk);
	cm.eof_is_timeout = r->timeout;
	struct session_env env = { &l, &fake_plugin, &fake, FQDN, NULL, NULL, NULL, NULL };
	struct session_peer peer = { .addr = "127.0.0.1", .port = 40025, .local_addr = "127.0.0.2",
				     .local_port = 25 };

	unit_log_quiet();
	enum session_end end = session_run(&env, &cm.base, &peer, "00c0ffee");
	unit_log_restore();

	const char *out = cm.output.data ? cm.output.data : "";
	size_t out_len = cm.output.len;
	if (!r->no_greeting) {
		size_t gl = strlen(GREETING);
		if (UNIT_CHECK(row, out_len >= gl && memcmp(out, GREETING, gl) == 0)) {
			out += gl;
			out_len -= gl;
		}
	}
	UNIT_CHECK_BYTES(row, out, out_len, exp, exp_len);
	if (r->end)
		UNIT_CHECK(row, (int)end == r->end - 1);
	UNIT_CHECK(row, fake.connects == 1);
	UNIT_CHECK(row, fake.disconnects == 1);
	UNIT_CHECK(row, fake.messages == r->messages);
	UNIT_CHECK(row, fake.resets == r->resets);
	UNIT_CHECK(row, fake.tx_ends == fake.mail_hooks); /* each one ended, once */
	UNIT_CHECK(row, fake.bad_state == 0);
	UNIT_CHECK_STR(row, fake.peer, "127.0.0.1");
	if (r->message && fake.messages) {
		size_t ml;
		char *m = expand(r->message, r->message_len, 0, &ml);
		UNIT_CHECK_BYTES(row, fake.msg, fake.msg_len, m, ml);
		UNIT_CHECK(row, fake.state_at_message == SMTPGATE_STATE_DATA);
		free(m);
	}
	if (fake.messages) {
		if (r->from) {
			size_t fl;
			char *f = expand(r->from, strlen(r->from), 0, &fl);
			UNIT_CHECK_STR(row, fake.mailfrom, f);
			free(f);
		}
		if (r->rcpts)
			UNIT_CHECK_STR(row, fake.rcpts, r->rcpts);
		if (r->options)
			UNIT_CHECK_STR(row, fake.options, r->options);
		if (r->auth_user)
			UNIT_CHECK_STR(row, fake.auth_user, r->auth_user);
		UNIT_CHECK(row, fake.smtputf8 == r->smtputf8);
	}
	conn_mem_free(&cm);
	free(in);
	free(exp);
}

static void test_session_table(void)
{
	static const size_t chunks[] = { 0, 1, 7 };
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
		for (size_t i = 0; i < sizeof(session_rows) / sizeof(session_rows[0]); i++)
			check_row(&session_rows[i], chunks[c]);
	free(fake.msg);
	fake.msg = NULL;
}

/* The whole greeting line, which the table strips. */
static void test_session_greeting(void)
{
	struct listener_config l;
	make_listener(&l, 0);
	memset(&fake, 0, sizeof(fake));
	struct conn_mem cm;
	conn_mem_init(&cm, "", 0, 0);
	struct session_env env = { &l, &fake_plugin, &fake, FQDN, NULL, NULL, NULL, NULL };
	struct session_peer peer = { .addr = "127.0.0.1", .port = 40025, .local_addr = "127.0.0.2",
				     .local_port = 25 };
	unit_log_quiet();
	session_run(&env, &cm.base, &peer, "00c0ffee");
	unit_log_restore();
	UNIT_CHECK_BYTES("greeting", cm.output.data, cm.output.len, GREETING, strlen(GREETING));
	UNIT_CHECK("greeting is 220", cm.output.len > 4 && memcmp(cm.output.data, "220 ", 4) == 0);
	conn_mem_free(&cm);
}

/* Past soft_error_limit an error reply waits error_sleep seconds. */
static void test_session_error_sleep(void)
{
	struct listener_config l;
	make_listener(&l, 0);
	l.soft_error_limit = 1;
	l.error_sleep_sec = 1;
	memset(&fake, 0, sizeof(fake));
	static const char in[] = "FOO\r\nFOO\r\nQUIT\r\n";
	struct conn_mem cm;
	conn_mem_init(&cm, in, sizeof(in) - 1, 0);
	struct session_env env = { &l, &fake_plugin, &fake, FQDN, NULL, NULL, NULL, NULL };
	struct session_peer peer = { .addr = "127.0.0.1", .port = 40025, .local_addr = "127.0.0.2",
				     .local_port = 25 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unit_log_quiet();
	enum session_end end = session_run(&env, &cm.base, &peer, "00c0ffee");
	unit_log_restore();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	static const char exp[] = GREETING "500 Error: command \"FOO\" not recognized\r\n"
				  "500 Error: command \"FOO\" not recognized\r\n221 Bye\r\n";
	UNIT_CHECK_BYTES("error sleep", cm.output.data, cm.output.len, exp, sizeof(exp) - 1);
	UNIT_CHECK("error sleep: session ended by QUIT", end == SESSION_END_QUIT);
	/* One delay of 1 s (the second error); a generous upper bound. */
	UNIT_CHECK("error sleep: delayed >= 1 s", ms >= 990);
	UNIT_CHECK("error sleep: delayed < 30 s", ms < 30000);
	conn_mem_free(&cm);
}

/* A stop request (SIGTERM in the worker) ends an idle session with 421. */
static void test_session_stop_flag(void)
{
	struct listener_config l;
	make_listener(&l, 0);
	memset(&fake, 0, sizeof(fake));
	static const char in[] = "HELO x\r\n";
	struct conn_mem cm;
	conn_mem_init(&cm, in, sizeof(in) - 1, 0);
	volatile sig_atomic_t stop = 1;
	struct session_env env = { &l, &fake_plugin, &fake, FQDN, &stop, NULL, NULL, NULL };
	struct session_peer peer = { .addr = "127.0.0.1", .port = 40025, .local_addr = "127.0.0.2",
				     .local_port = 25 };
	unit_log_quiet();
	enum session_end end = session_run(&env, &cm.base, &peer, "00c0ffee");
	unit_log_restore();
	static const char exp[] = GREETING "421 4.3.2 " FQDN " Error: server shutting down\r\n";
	UNIT_CHECK_BYTES("stop", cm.output.data, cm.output.len, exp, sizeof(exp) - 1);
	UNIT_CHECK("stop", end == SESSION_END_STOPPED);
	UNIT_CHECK("stop", fake.disconnects == 1);
	conn_mem_free(&cm);
}

/* The public state each hook sees: the channel's states as plugin.h
   maps them (rcpt shows as MAIL; closing as GREETED after a HELO). */
static void test_session_public_states(void)
{
	static const struct {
		const char *name, *input;
		int at_reset, at_disconnect; /* -1: the hook did not run */
	} rows[] = {
		{ "QUIT before HELO", "QUIT\r\n", -1, SMTPGATE_STATE_CONNECTED },
		{ "QUIT after HELO", "HELO x\r\nQUIT\r\n", -1, SMTPGATE_STATE_GREETED },
		{ "RSET after MAIL", "HELO x\r\nMAIL FROM:<a@b>\r\nRSET\r\n", SMTPGATE_STATE_MAIL,
		  SMTPGATE_STATE_GREETED },
		{ "EOF after RCPT", "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n",
		  SMTPGATE_STATE_MAIL, SMTPGATE_STATE_GREETED },
		{ "EOF in DATA", "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nm\r\n",
		  SMTPGATE_STATE_DATA, SMTPGATE_STATE_GREETED },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct listener_config l;
		make_listener(&l, 0);
		memset(&fake, 0, sizeof(fake));
		fake.state_at_reset = fake.state_at_disconnect = -1;
		struct conn_mem cm;
		conn_mem_init(&cm, rows[i].input, strlen(rows[i].input), 0);
		struct session_env env = { &l, &fake_plugin, &fake, FQDN, NULL, NULL, NULL, NULL };
		struct session_peer peer = { .addr = "127.0.0.1", .port = 40025,
					     .local_addr = "127.0.0.2", .local_port = 25 };
		unit_log_quiet();
		session_run(&env, &cm.base, &peer, "00c0ffee");
		unit_log_restore();
		UNIT_CHECK(rows[i].name, fake.state_at_reset == rows[i].at_reset);
		UNIT_CHECK(rows[i].name, fake.state_at_disconnect == rows[i].at_disconnect);
		conn_mem_free(&cm);
	}
}

static void test_session_end_names(void)
{
	static const struct { enum session_end end; const char *name; } rows[] = {
		{ SESSION_END_QUIT, "quit" }, { SESSION_END_EOF, "eof" },
		{ SESSION_END_TIMEOUT, "timeout" }, { SESSION_END_IO_ERROR, "io-error" },
		{ SESSION_END_STOPPED, "stopped" }, { SESSION_END_PLUGIN, "plugin" },
		{ SESSION_END_LIMIT, "limit" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		UNIT_CHECK_STR(rows[i].name, session_end_name(rows[i].end), rows[i].name);
}

int test_session_register(void)
{
	CU_pSuite s = CU_add_suite("session", NULL, NULL);
	if (!s || !CU_add_test(s, "greeting", test_session_greeting) ||
	    !CU_add_test(s, "channel table (chunks 0, 1, 7)", test_session_table) ||
	    !CU_add_test(s, "stop flag", test_session_stop_flag) ||
	    !CU_add_test(s, "error sleep past the soft limit", test_session_error_sleep) ||
	    !CU_add_test(s, "public states seen by the hooks", test_session_public_states) ||
	    !CU_add_test(s, "session_end names", test_session_end_names))
		return -1;
	return 0;
}
