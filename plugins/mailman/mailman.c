/*
 * mailman.c - the "mailman" handler: smtpd.MailmanProxy for Mailman 3.
 *
 * Recipients in a list domain (`domains`) are Mailman's: whether the list
 * exists is Mailman's own answer, asked at RCPT time over LMTP
 * (mailman_lmtp.c), so an unknown list is refused with Mailman's 550
 * instead of bounced later.  Every other recipient is relayed to the
 * listener's `remote` exactly as the proxy handler does (plugins/relay,
 * relay control included).
 *
 * The message streams (on_body, the header block first and whole): the
 * relayed part goes to the upstream as it arrives, and the lists' copy
 * into a spool (mailman_spool.c: memory up to 1 MiB, then an unnamed
 * temporary file), so the worker never holds a large message.  At the
 * final dot the relayed part ends first: the upstream's answer to the
 * whole message (also a refused BDAT chunk) comes before Mailman is given
 * anything, and any refusal of it refuses the whole message, delivered
 * nowhere.  Then Mailman gets the spool, one recipient per LMTP
 * transaction, each list once however often it was named, with From: and
 * Date: added when missing.  The client gets 250 only if every
 * destination took every recipient.  A client gone mid-body, or a spool
 * that cannot be written (452 4.3.1 when out of room, else 451 4.3.0),
 * ends the transaction before the dot: the spool is dropped and the
 * upstream's transaction aborted.
 *
 * With `mixed_recipients = "split"` (the default) a transaction has one
 * kind of destination: once it has a list recipient, a relayed one gets
 * 452 4.5.3 (RFC 5321 4.5.3.1.10: the client sends it again in another
 * transaction), and the other way round, so each 250 means delivered
 * once.  With "accept" both go in one transaction; what is left of
 * at-least-once there: the upstream took the message and Mailman then
 * fails for a list (or one list took it and the next fails) - 451, and
 * the retry serves those that had it again.  It never answers 2xx for a
 * recipient no destination has taken.
 */
#include "mailman.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	mailman_spool_drop(&st->spool);
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
	mailman_spool_init(&st->spool);
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
	st->body_started = 0;
	st->extra_len = 0;
	mailman_spool_drop(&st->spool);
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
		enum smtpgate_verdict v = mailman_lmtp_ask(st, s, address, reply);
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
	enum smtpgate_verdict v = st->nrelayed ? relay_data(st->relay, s, reply)
					       : SMTPGATE_CONTINUE;
	/* The recipients are known: Mailman's probe transaction can go (the
	   relay's DATA is on its way meanwhile). */
	mailman_lmtp_end_probe(st);
	return v;
}

/* The lists' copy could not be kept: the client's 4xx, with why in the
   log (the core then drops the rest and calls on_reset). */
static enum smtpgate_verdict spool_failed(struct mailman_state *st,
					  const struct smtpgate_session *s,
					  struct smtpgate_reply *reply)
{
	int e = st->spool.error;
	st->host->log(SMTPGATE_LOG_ERROR, s, "destination=mailman list spool could not be %s "
		      "in %s: %s", st->spool.failed, mailman_spool_dir(), strerror(e));
	if (e == ENOSPC || e == EDQUOT)
		st->host->reply(reply, 452, "4.3.1", "Error: insufficient system storage");
	else
		st->host->reply(reply, 451, "4.3.0", "Error: local delivery failed");
	return SMTPGATE_TEMPFAIL;
}

/* A piece of the message: to the upstream at once for the relayed
   recipients, into the spool for the lists. */
static enum smtpgate_verdict mailman_body(void *priv, const struct smtpgate_session *s,
					  const char *data, size_t len, struct smtpgate_reply *reply)
{
	struct mailman_state *st = priv;
	int first = !st->body_started;
	st->body_started = 1;
	if (st->nlists) {
		if (first) /* the whole header block (SMTPGATE_STREAM_WHOLE_HEADER) */
			mailman_lmtp_missing_headers(st, data, len);
		if (mailman_spool_write(&st->spool, data, len) < 0)
			return spool_failed(st, s, reply);
	}
	if (st->nrelayed) {
		enum smtpgate_verdict v = relay_body(st->relay, s, data, len, reply);
		if (v != SMTPGATE_CONTINUE) {
			/* Before the final dot: Mailman has nothing yet. */
			st->host->log(SMTPGATE_LOG_INFO, s, "rcpts=%zu destination=relay verdict=%s "
				      "%s: nothing delivered", st->nrelayed,
				      v == SMTPGATE_REJECT ? "refused" : "failed",
				      first ? "at DATA" : "mid-message");
			return v;
		}
	}
	return SMTPGATE_CONTINUE;
}

/* The answer once the relay (if any) took the message and Mailman was
   given it: 250 only if every list took it too. */
static enum smtpgate_verdict lists_answer(struct mailman_state *st,
					  const struct smtpgate_session *s, size_t nrelayed,
					  const struct mailman_outcome *o,
					  struct smtpgate_reply *reply)
{
	if (o->temporary) {
		if (o->dlen)
			st->host->log(SMTPGATE_LOG_WARNING, s,
				      "answering 451 although Mailman already has the message for %s: "
				      "a retry delivers it again there", o->delivered);
		if (nrelayed)
			st->host->log(SMTPGATE_LOG_WARNING, s, "answering 451 although the upstream "
				      "already has the message for %zu relayed recipient(s): a retry "
				      "delivers it again there", nrelayed);
		st->host->reply(reply, 451, "4.3.0",
				"Error: not every destination took the message; try again later");
		return SMTPGATE_TEMPFAIL;
	}
	if (o->permanent) {
		if (o->dlen)
			st->host->log(SMTPGATE_LOG_WARNING, s, "refused for some recipients, delivered "
				      "to Mailman for %s", o->delivered);
		if (nrelayed)
			st->host->log(SMTPGATE_LOG_WARNING, s, "refused for some recipients, delivered "
				      "to the upstream for %zu relayed recipient(s)", nrelayed);
		return upstream_answer(st->host, s, st->lmtp, "LMTP DATA", &o->refusal, reply);
	}
	if (!nrelayed) /* else the upstream's 250 is in reply */
		st->host->reply(reply, 250, "2.0.0", "OK: delivered to Mailman");
	return SMTPGATE_ACCEPT;
}

static enum smtpgate_verdict mailman_message(void *priv, const struct smtpgate_session *s,
					     const struct smtpgate_message *m,
					     struct smtpgate_reply *reply)
{
	struct mailman_state *st = priv;
	struct mailman_outcome o = { .dlen = 0 };
	size_t nrelayed = st->nrelayed;

	mailman_lmtp_end_probe(st);
	if (st->nlists && !st->body_started) /* an empty message: no piece came */
		mailman_lmtp_missing_headers(st, "", 0);
	/* The relayed part ends first: its upstream answers for the whole
	   message (a refused BDAT chunk too) before Mailman has anything, so
	   a refusal there refuses the message for everyone, delivered
	   nowhere, and the retry serves nobody twice. */
	if (nrelayed) {
		enum smtpgate_verdict v = relay_message(st->relay, s, m, reply);
		st->host->log(SMTPGATE_LOG_INFO, s, "rcpts=%zu destination=relay verdict=%s%s",
			      nrelayed, v == SMTPGATE_ACCEPT ? "accepted"
				      : v == SMTPGATE_REJECT ? "refused" : "failed",
			      v == SMTPGATE_ACCEPT ? "" : ": nothing delivered");
		if (v != SMTPGATE_ACCEPT) {
			forget_transaction(st);
			return v;
		}
	}
	mailman_lmtp_deliver(st, s, &o);
	forget_transaction(st);
	return lists_answer(st, s, nrelayed, &o, reply);
}

static void mailman_reset(void *priv, const struct smtpgate_session *s)
{
	struct mailman_state *st = priv;
	(void)s;
	mailman_lmtp_end_probe(st);
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
	/* From: and Date: are added after a look at the whole header block. */
	.stream_flags = SMTPGATE_STREAM_WHOLE_HEADER,
	.on_body = mailman_body,
	.ehlo_keywords = mailman_keywords,
};

const struct smtpgate_plugin *smtpgate_plugin_entry(void)
{
	return &mailman_plugin;
}
