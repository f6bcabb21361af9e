/*
 * mailman.c - the "mailman" handler: smtpd.MailmanProxy for Mailman 3.
 *
 * Recipients in a list domain (`domains`) are Mailman's: whether the list
 * exists is Mailman's own answer, asked at RCPT time over LMTP (MAIL once,
 * then RCPT for each list address in an open probe transaction), so an
 * unknown list is refused with Mailman's 550 instead of bounced later.
 * Every other recipient is relayed to the listener's `remote` exactly as
 * the proxy handler does (plugins/relay, relay control included).
 *
 * After the final dot Mailman gets the message first, one recipient per
 * LMTP transaction (Mailman answers only once when it rejects a whole
 * multi-recipient message), each list once however often it was named,
 * with From: and Date: added when missing; then the relay part goes out.
 * The client gets 250 only if every destination took every recipient.
 * With `mixed_recipients = "split"` (the default) a transaction has one
 * kind of destination: once it has a list recipient, a relayed one gets
 * 452 4.5.3 (RFC 5321 4.5.3.1.10: the client sends it again in another
 * transaction), and the other way round, so each 250 means delivered
 * once.  With "accept" both go in one transaction, and a temporary
 * failure of one destination after the other took the message is 451:
 * at-least-once, the retry serves that one again.  It never answers 2xx
 * for a recipient no destination has taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <smtpgate/plugin.h>

#include "../relay/relay.h"

#define MAILMAN_DOMAINS_MAX 64
#define MAILMAN_ADDRESS_MAX_BYTES 600
/* From: <the longest sender>, Date: and a blank line. */
#define MAILMAN_EXTRA_HEADERS_MAX_BYTES (MAILMAN_ADDRESS_MAX_BYTES + 128)

struct mailman_state {
	const struct smtpgate_host *host;
	struct relay *relay;
	char lmtp[300];
	int connect_timeout_sec, timeout_sec;
	int split;                          /* mixed_recipients = "split" */
	struct domain_list domains;

	struct smtpgate_client *lmtp_conn; /* kept per worker */
	int lmtp_reused;
	int probing;                        /* MAIL sent on lmtp_conn */
	/* The transaction in progress. */
	char mailfrom[MAILMAN_ADDRESS_MAX_BYTES];
	char **lists;                       /* list recipients Mailman accepted */
	size_t nlists, lists_cap;
	int relay_mail_sent;                /* relay_mail() accepted */
	size_t nrelayed;                    /* recipients the relay accepted */
};

static int read_settings(struct mailman_state *st, const struct smtpgate_cfg *cfg)
{
	const struct smtpgate_host *host = st->host;
	const char *lmtp = "127.0.0.1:8024", *mixed = "split";
	long long connect_timeout = 30, timeout = 300;
	if (host->cfg_string(cfg, "mixed_recipients", &mixed) < 0)
		return -1;
	if (strcmp(mixed, "split") != 0 && strcmp(mixed, "accept") != 0) {
		host->cfg_error(cfg, "mixed_recipients", "expected \"split\" or \"accept\", not \"%s\"",
				mixed);
		return -1;
	}
	st->split = strcmp(mixed, "split") == 0;
	if (host->cfg_string(cfg, "lmtp", &lmtp) < 0 ||
	    host->cfg_int(cfg, "lmtp_connect_timeout", &connect_timeout) < 0 ||
	    host->cfg_int(cfg, "lmtp_timeout", &timeout) < 0)
		return -1;
	if (connect_timeout < 1 || connect_timeout > 3600 || timeout < 1 || timeout > 3600) {
		host->cfg_error(cfg, connect_timeout < 1 || connect_timeout > 3600
					     ? "lmtp_connect_timeout" : "lmtp_timeout",
				"expected 1..3600 seconds");
		return -1;
	}
	snprintf(st->lmtp, sizeof(st->lmtp), "%s", lmtp);
	st->connect_timeout_sec = (int)connect_timeout;
	st->timeout_sec = (int)timeout;
	if (domain_list_read(host, cfg, "domains", MAILMAN_DOMAINS_MAX, &st->domains) < 0)
		return -1;
	if (st->domains.count == 0) {
		host->cfg_error(cfg, "domains", "at least one list domain is needed, e.g. "
				"domains = [ \"lists.example.org\" ];");
		return -1;
	}
	return 0;
}

static void free_state(struct mailman_state *st)
{
	domain_list_free(&st->domains);
	for (size_t i = 0; i < st->nlists; i++)
		free(st->lists[i]);
	free(st->lists);
	if (st->relay)
		relay_free(st->relay);
	if (st->lmtp_conn)
		st->host->client_close(st->lmtp_conn);
	free(st);
}

static int mailman_init(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
			void **priv_out)
{
	struct mailman_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	st->host = host;
	if (read_settings(st, cfg) < 0 || !(st->relay = relay_new(host, cfg, "mailman"))) {
		free_state(st);
		return -1;
	}
	*priv_out = st;
	return 0;
}

static void mailman_fini(void *priv)
{
	free_state(priv);
}

static void drop_lmtp(struct mailman_state *st)
{
	if (st->lmtp_conn)
		st->host->client_close(st->lmtp_conn);
	st->lmtp_conn = NULL;
	st->lmtp_reused = 0;
	st->probing = 0;
}

/* Mailman's LMTP connection: the kept one, or a new one. */
static struct smtpgate_client *lmtp(struct mailman_state *st, struct smtpgate_upstream_reply *u)
{
	if (st->lmtp_conn && st->host->client_usable(st->lmtp_conn)) {
		st->lmtp_reused = 1;
		return st->lmtp_conn;
	}
	drop_lmtp(st);
	st->lmtp_conn = st->host->client_open(st->lmtp, 1, st->connect_timeout_sec, st->timeout_sec,
					      u);
	return st->lmtp_conn;
}

/* MAIL for Mailman: the client's BODY=8BITMIME and SIZE when offered, but
   never SMTPUTF8 or DSN parameters, which Mailman refuses (501, 555). */
static int lmtp_mail(struct mailman_state *st, const struct smtpgate_session *s,
		     struct smtpgate_upstream_reply *u)
{
	char params[128] = "";
	size_t used = 0;
	for (size_t i = 0; i < s->mail_option_count; i++) {
		const char *o = s->mail_options[i];
		int keep = (strncmp(o, "SIZE=", 5) == 0 &&
			    st->host->client_extension(st->lmtp_conn, "SIZE", NULL)) ||
			   (strncmp(o, "BODY=", 5) == 0 &&
			    st->host->client_extension(st->lmtp_conn, "8BITMIME", NULL));
		if (keep && used + strlen(o) + 2 < sizeof(params))
			used += (size_t)snprintf(params + used, sizeof(params) - used, " %s", o);
	}
	return st->host->client_command(st->lmtp_conn, u, "MAIL FROM:<%s>%s", st->mailfrom, params);
}

/* Ask Mailman about one list address: RCPT in the open probe transaction
   (opened with MAIL on first use; a kept connection found closed is
   replaced once). */
static enum smtpgate_verdict ask_mailman(struct mailman_state *st, const struct smtpgate_session *s,
					 const char *address, struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u;
	for (;;) {
		if (!lmtp(st, &u))
			return upstream_answer(st->host, s, st->lmtp, "LMTP connection", &u, reply);
		if (!st->probing) {
			int code = lmtp_mail(st, s, &u);
			if (connection_gone(code) && st->lmtp_reused) {
				drop_lmtp(st); /* closed while kept: once more on a new one */
				continue;
			}
			if (code / 100 != 2) {
				if (connection_gone(code))
					drop_lmtp(st);
				return upstream_answer(st->host, s, st->lmtp, "LMTP MAIL", &u, reply);
			}
			st->probing = 1;
		}
		int code = st->host->client_command(st->lmtp_conn, &u, "RCPT TO:<%s>", address);
		if (connection_gone(code))
			drop_lmtp(st);
		return upstream_answer(st->host, s, st->lmtp, "LMTP RCPT", &u, reply);
	}
}

static void end_probe(struct mailman_state *st)
{
	struct smtpgate_upstream_reply u;
	if (st->probing && st->host->client_command(st->lmtp_conn, &u, "RSET") / 100 != 2)
		drop_lmtp(st);
	st->probing = 0;
}

static void forget_transaction(struct mailman_state *st)
{
	for (size_t i = 0; i < st->nlists; i++)
		free(st->lists[i]);
	st->nlists = 0;
	/* The relay may hold an open upstream transaction (MAIL accepted, no
	   recipient relayed): close it, or the next MAIL on the kept
	   connection would be refused as nested. */
	if (st->relay_mail_sent)
		relay_reset(st->relay);
	st->relay_mail_sent = 0;
	st->nrelayed = 0;
}

static enum smtpgate_verdict mailman_connect(void *priv, const struct smtpgate_session *s,
					     struct smtpgate_reply *reply)
{
	struct mailman_state *st = priv;
	(void)reply;
	relay_session_start(st->relay, s);
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict mailman_mail(void *priv, const struct smtpgate_session *s,
					  const char *address, struct smtpgate_reply *reply)
{
	struct mailman_state *st = priv;
	(void)s;
	forget_transaction(st);
	if (snprintf(st->mailfrom, sizeof(st->mailfrom), "%s", address) >= (int)sizeof(st->mailfrom)) {
		st->host->reply(reply, 501, "5.1.7", "Error: sender address too long");
		return SMTPGATE_REJECT;
	}
	/* Nobody is asked yet: which destinations a message has is known at
	   RCPT, and each is asked then. */
	return SMTPGATE_CONTINUE;
}

/* As the core does: allocation failure ends the worker, logged first
   (a plugin cannot reach the core's log_panic, only the host's log). */
__attribute__((noreturn)) static void out_of_memory(struct mailman_state *st,
						   const struct smtpgate_session *s,
						   const char *call, size_t bytes)
{
	st->host->log(SMTPGATE_LOG_ERROR, s, "event=panic reason=out-of-memory call=%s bytes=%zu",
		      call, bytes);
	abort();
}

static enum smtpgate_verdict mailman_rcpt(void *priv, const struct smtpgate_session *s,
					  const char *address, struct smtpgate_reply *reply)
{
	struct mailman_state *st = priv;
	int list = domain_list_match(&st->domains, address);
	/* One kind of destination per transaction: the other kind waits for
	   the client's next one (RFC 5321 4.5.3.1.10's reply). */
	if (st->split && (list ? st->nrelayed > 0 : st->nlists > 0)) {
		st->host->reply(reply, 452, "4.5.3", "Error: too many recipients");
		return SMTPGATE_TEMPFAIL;
	}
	if (list) {
		/* Mailman's LMTP takes no DSN: a list's own bounces go to the
		   list owner, never to the sender. */
		if (s->rcpt_option_count)
			st->host->log(SMTPGATE_LOG_INFO, s,
				      "list recipient: DSN parameters not passed to Mailman");
		/* test@ and TEST@ are one list: Mailman gets it once. */
		for (size_t i = 0; i < st->nlists; i++)
			if (strcasecmp(st->lists[i], address) == 0)
				return SMTPGATE_CONTINUE;
		enum smtpgate_verdict v = ask_mailman(st, s, address, reply);
		if (v == SMTPGATE_ACCEPT) {
			if (st->nlists == st->lists_cap) {
				st->lists_cap = st->lists_cap ? st->lists_cap * 2 : 8;
				st->lists = realloc(st->lists, st->lists_cap * sizeof(*st->lists));
				if (!st->lists)
					out_of_memory(st, s, "realloc",
						      st->lists_cap * sizeof(*st->lists));
			}
			if (!(st->lists[st->nlists++] = strdup(address)))
				out_of_memory(st, s, "strdup", strlen(address) + 1);
		}
		return v;
	}
	if (!st->relay_mail_sent && relay_allowed(st->relay, s, address)) {
		enum smtpgate_verdict v = relay_mail(st->relay, s, st->mailfrom, reply);
		if (v != SMTPGATE_CONTINUE && v != SMTPGATE_ACCEPT)
			return v;
		st->relay_mail_sent = 1;
	}
	enum smtpgate_verdict v = relay_rcpt(st->relay, s, address, reply);
	if (v == SMTPGATE_CONTINUE || v == SMTPGATE_ACCEPT)
		st->nrelayed++;
	return v;
}

static enum smtpgate_verdict mailman_data(void *priv, const struct smtpgate_session *s,
					  struct smtpgate_reply *reply)
{
	struct mailman_state *st = priv;
	return st->nrelayed ? relay_data(st->relay, s, reply) : SMTPGATE_CONTINUE;
}

/* 1 if the header block names the field (case-insensitive, line starts). */
static int has_header(const char *d, size_t header_len, const char *field)
{
	size_t flen = strlen(field);
	for (size_t p = 0; p + flen <= header_len;) {
		if (strncasecmp(d + p, field, flen) == 0)
			return 1;
		const char *lf = memchr(d + p, '\n', header_len - p);
		if (!lf)
			break;
		p = (size_t)(lf - d) + 1;
	}
	return 0;
}

/* A header line "Name: ..." starts the message (rather than body text). */
static int starts_with_header(const char *d, size_t len)
{
	size_t i = 0;
	while (i < len && d[i] > ' ' && d[i] < 0x7f && d[i] != ':')
		i++;
	return i > 0 && i < len && d[i] == ':';
}

/* What Mailman needs and MailmanProxy added: From: and Date: when the
   message has none (and a blank line after them when it has no header at
   all).  Fills extra (to go first; MAILMAN_EXTRA_HEADERS_MAX_BYTES holds
   the longest sender) and returns its length. */
static size_t missing_headers(const struct mailman_state *st, const struct smtpgate_message *m,
			      char *extra, size_t size)
{
	const char *d = m->data;
	size_t header_len = 0;
	int headers = starts_with_header(d, m->len);
	if (headers) {
		const char *end = NULL;
		for (size_t p = 0; p < m->len && !end; p++)
			if (d[p] == '\n' && (p + 1 == m->len || d[p + 1] == '\n'))
				end = d + p + 1;
		header_len = end ? (size_t)(end - d) : m->len;
	}
	size_t n = 0;
	if (!has_header(d, header_len, "From:"))
		n += (size_t)snprintf(extra + n, size - n, "From: %s\n",
				      st->mailfrom[0] ? st->mailfrom : "MAILER-DAEMON");
	if (!has_header(d, header_len, "Date:")) {
		char date[64];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		n += (size_t)snprintf(extra + n, size - n, "Date: %s\n", date);
	}
	if (n && !headers)
		n += (size_t)snprintf(extra + n, size - n, "\n");
	return n;
}

/* The message to one list, in its own LMTP transaction; Mailman's answer. */
static void deliver_to_list(struct mailman_state *st, const struct smtpgate_session *s,
			    const char *list, const struct smtpgate_data_part *parts,
			    struct smtpgate_upstream_reply *u)
{
	for (;;) {
		if (!lmtp(st, u))
			return;
		int code = lmtp_mail(st, s, u);
		if (connection_gone(code) && st->lmtp_reused) {
			drop_lmtp(st); /* closed while kept: once more on a new one */
			continue;
		}
		if (code / 100 == 2 &&
		    st->host->client_command(st->lmtp_conn, u, "RCPT TO:<%s>", list) / 100 == 2)
			st->host->client_data(st->lmtp_conn, parts, 2, u, 1);
		if (u->code / 100 != 2 && st->host->client_usable(st->lmtp_conn)) {
			struct smtpgate_upstream_reply r;
			if (st->host->client_command(st->lmtp_conn, &r, "RSET") / 100 != 2)
				drop_lmtp(st);
		}
		if (!st->host->client_usable(st->lmtp_conn))
			drop_lmtp(st);
		return;
	}
}

/* What the lists' deliveries came to: which lists took the message (for
   the log), Mailman's first permanent refusal, and the kinds of failure. */
struct list_outcome {
	char delivered[1024];
	size_t dlen;
	struct smtpgate_upstream_reply refusal;
	int temporary, permanent;
};

/* The message to each list over LMTP, one transaction per list. */
static void deliver_lists(struct mailman_state *st, const struct smtpgate_session *s,
			  const struct smtpgate_message *m, struct list_outcome *o)
{
	struct smtpgate_upstream_reply u;
	char extra[MAILMAN_EXTRA_HEADERS_MAX_BYTES];
	struct smtpgate_data_part parts[2] = {
		{ extra, missing_headers(st, m, extra, sizeof(extra)) },
		{ m->data, m->len },
	};
	for (size_t i = 0; i < st->nlists; i++) {
		deliver_to_list(st, s, st->lists[i], parts, &u);
		st->host->log(SMTPGATE_LOG_INFO, s, "rcpt=<%s> destination=mailman answer=\"%d %s\"",
			      st->lists[i], u.code, u.text);
		if (u.code / 100 == 2) {
			if (o->dlen + strlen(st->lists[i]) + 4 < sizeof(o->delivered))
				o->dlen += (size_t)snprintf(o->delivered + o->dlen,
							    sizeof(o->delivered) - o->dlen, "%s<%s>",
							    o->dlen ? "," : "", st->lists[i]);
		} else if (u.code / 100 == 5) {
			if (!o->permanent)
				o->refusal = u;
			o->permanent = 1;
		} else {
			o->temporary = 1;
		}
	}
}

static enum smtpgate_verdict mailman_message(void *priv, const struct smtpgate_session *s,
					     const struct smtpgate_message *m,
					     struct smtpgate_reply *reply)
{
	struct mailman_state *st = priv;
	struct list_outcome o = { .dlen = 0 };

	end_probe(st);
	/* An upstream that refuses the relayed part at DATA does so before
	   Mailman has anything: the whole message is refused, nothing is
	   delivered twice. */
	if (st->nrelayed) {
		enum smtpgate_verdict ready = relay_data_answer(st->relay, s, reply);
		if (ready != SMTPGATE_CONTINUE) {
			st->host->log(SMTPGATE_LOG_INFO, s, "rcpts=%zu destination=relay verdict=%s at "
				      "DATA: nothing delivered", st->nrelayed,
				      ready == SMTPGATE_REJECT ? "refused" : "failed");
			forget_transaction(st);
			return ready;
		}
	}
	deliver_lists(st, s, m, &o);

	/* The relay's answer goes into reply; Mailman's refusal, if any, is
	   kept aside and wins (it came first). */
	enum smtpgate_verdict relayed = SMTPGATE_ACCEPT;
	if (st->nrelayed) {
		relayed = relay_message(st->relay, s, m, reply);
		st->host->log(SMTPGATE_LOG_INFO, s, "rcpts=%zu destination=relay verdict=%s",
			      st->nrelayed, relayed == SMTPGATE_ACCEPT ? "accepted"
					    : relayed == SMTPGATE_REJECT ? "refused" : "failed");
		o.temporary |= relayed == SMTPGATE_TEMPFAIL;
		o.permanent |= relayed == SMTPGATE_REJECT;
	}
	size_t nrelayed = st->nrelayed;
	forget_transaction(st);

	if (o.temporary) {
		if (o.dlen)
			st->host->log(SMTPGATE_LOG_WARNING, s,
				      "answering 451 although Mailman already has the message for %s: "
				      "a retry delivers it again there", o.delivered);
		st->host->reply(reply, 451, "4.3.0",
				"Error: not every destination took the message; try again later");
		return SMTPGATE_TEMPFAIL;
	}
	if (o.permanent) {
		if (o.dlen)
			st->host->log(SMTPGATE_LOG_WARNING, s, "refused for some recipients, delivered "
				      "to Mailman for %s", o.delivered);
		if (o.refusal.code)
			return upstream_answer(st->host, s, st->lmtp, "LMTP DATA", &o.refusal, reply);
		return SMTPGATE_REJECT; /* the relay's refusal is in reply */
	}
	if (!nrelayed)
		st->host->reply(reply, 250, "2.0.0", "OK: delivered to Mailman");
	return SMTPGATE_ACCEPT;
}

static void mailman_reset(void *priv, const struct smtpgate_session *s)
{
	struct mailman_state *st = priv;
	(void)s;
	end_probe(st);
	forget_transaction(st);
}

/* The group's settings, checked by the core before init reads them. */
static const struct smtpgate_setting mailman_settings[] = {
	{ "lmtp", SMTPGATE_SETTING_STRING, 0, 0, "\"127.0.0.1:8024\"", "Mailman's LMTP runner" },
	{ "domains", SMTPGATE_SETTING_LIST, 0, 0, NULL, "the list domains (required)" },
	{ "lmtp_connect_timeout", SMTPGATE_SETTING_INT, 1, 3600, "30", "seconds to connect" },
	{ "lmtp_timeout", SMTPGATE_SETTING_INT, 1, 3600, "300", "seconds per LMTP reply" },
	{ "mixed_recipients", SMTPGATE_SETTING_STRING, 0, 0, "\"split\"",
	  "\"split\": lists and others in separate transactions; \"accept\": together" },
	RELAY_SETTINGS,
	{ NULL, 0, 0, 0, NULL, NULL },
};

/* Its relayed part relays (DSN is offered where the listener lists it). */
static const char *const mailman_keywords[] = { "DSN", NULL };

static const struct smtpgate_plugin mailman_plugin = {
	SMTPGATE_PLUGIN_HEADER,
	.name = "mailman",
	.version = "1.0",
	.init = mailman_init,
	.fini = mailman_fini,
	.on_connect = mailman_connect,
	.on_mail = mailman_mail,
	.on_rcpt = mailman_rcpt,
	.on_data = mailman_data,
	.on_message = mailman_message,
	.on_reset = mailman_reset,
	.settings = mailman_settings,
	.ehlo_keywords = mailman_keywords,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &mailman_plugin;
}
