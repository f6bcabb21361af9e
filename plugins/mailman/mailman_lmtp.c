/*
 * mailman_lmtp.c - the mailman handler's side of Mailman's LMTP runner.
 *
 * At RCPT: whether a list exists is Mailman's own answer (MAIL once, then
 * RCPT for each list address in an open probe transaction, reset when the
 * recipients are done).  After the final dot: the message, from the spool
 * (mailman_spool.c), to each list in its own LMTP transaction (Mailman
 * answers only once when it rejects a whole multi-recipient message),
 * streamed in pieces with From: and Date: first when the message has
 * none.  The connection is kept per worker; a kept one found closed is
 * replaced once.
 *
 * It never passes SMTPUTF8 or DSN parameters to Mailman (it refuses
 * them), never counts a list as delivered without Mailman's 2xx for it,
 * and never leaves a failed transaction open on a kept connection.
 */
#include "mailman.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct smtpgate_client *lmtp_conn(struct mailman_state *st,
					 struct smtpgate_upstream_reply *u);
static int lmtp_mail(struct mailman_state *st, const struct smtpgate_session *s,
		     struct smtpgate_upstream_reply *u);
static int has_header(const char *d, size_t header_len, const char *field);
static int starts_with_header(const char *d, size_t len);
static void lmtp_message(struct mailman_state *st, struct smtpgate_upstream_reply *u);
static void deliver_to_list(struct mailman_state *st, const struct smtpgate_session *s,
			    const char *list, struct smtpgate_upstream_reply *u);

void mailman_lmtp_drop(struct mailman_state *st)
{
	if (st->lmtp_conn)
		st->host->client_close(st->lmtp_conn);
	st->lmtp_conn = NULL;
	st->lmtp_reused = 0;
	st->probing = 0;
}

/* Mailman's LMTP connection: the kept one, or a new one. */
static struct smtpgate_client *lmtp_conn(struct mailman_state *st,
					 struct smtpgate_upstream_reply *u)
{
	if (st->lmtp_conn && st->host->client_usable(st->lmtp_conn)) {
		st->lmtp_reused = 1;
		return st->lmtp_conn;
	}
	mailman_lmtp_drop(st);
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

/* RCPT in the open probe transaction (opened with MAIL on first use; a
   kept connection found closed is replaced once). */
enum smtpgate_verdict mailman_lmtp_ask(struct mailman_state *st, const struct smtpgate_session *s,
				       const char *address, struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u;
	for (;;) {
		if (!lmtp_conn(st, &u))
			return upstream_answer(st->host, s, st->lmtp, "LMTP connection", &u, reply);
		if (!st->probing) {
			int code = lmtp_mail(st, s, &u);
			if (connection_gone(code) && st->lmtp_reused) {
				mailman_lmtp_drop(st); /* closed while kept: once more on a new one */
				continue;
			}
			if (code / 100 != 2) {
				if (connection_gone(code))
					mailman_lmtp_drop(st);
				return upstream_answer(st->host, s, st->lmtp, "LMTP MAIL", &u, reply);
			}
			st->probing = 1;
		}
		int code = st->host->client_command(st->lmtp_conn, &u, "RCPT TO:<%s>", address);
		if (connection_gone(code))
			mailman_lmtp_drop(st);
		return upstream_answer(st->host, s, st->lmtp, "LMTP RCPT", &u, reply);
	}
}

void mailman_lmtp_end_probe(struct mailman_state *st)
{
	struct smtpgate_upstream_reply u;
	if (st->probing && st->host->client_command(st->lmtp_conn, &u, "RSET") / 100 != 2)
		mailman_lmtp_drop(st);
	st->probing = 0;
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
   all).  d is the first piece: the whole header block (or the whole
   message when it has no empty line), as SMTPGATE_STREAM_WHOLE_HEADER
   gives it. */
void mailman_lmtp_missing_headers(struct mailman_state *st, const char *d, size_t len)
{
	size_t header_len = 0, size = sizeof(st->extra), n = 0;
	char *extra = st->extra;
	int headers = starts_with_header(d, len);
	if (headers) {
		const char *end = NULL;
		for (size_t p = 0; p < len && !end; p++)
			if (d[p] == '\n' && (p + 1 == len || d[p + 1] == '\n'))
				end = d + p + 1;
		header_len = end ? (size_t)(end - d) : len;
	}
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
	st->extra_len = n;
}

/* DATA, then the added headers and the spooled message as a stream;
   Mailman's answer in *u (a spool that cannot be read closes the
   connection, which aborts Mailman's transaction). */
static void lmtp_message(struct mailman_state *st, struct smtpgate_upstream_reply *u)
{
	const struct smtpgate_host *h = st->host;
	int code = h->client_command(st->lmtp_conn, u, "DATA");
	if (code != 354) {
		if (code / 100 == 2 || code / 100 == 3) {
			u->code = 0;
			snprintf(u->text, sizeof(u->text), "unexpected reply %d to DATA", code);
			mailman_lmtp_drop(st);
		}
		return;
	}
	if (h->client_stream_begin(st->lmtp_conn) < 0 ||
	    h->client_stream_write(st->lmtp_conn, st->extra, st->extra_len) < 0 ||
	    mailman_spool_send(&st->spool, h, st->lmtp_conn) < 0) {
		if (st->spool.error) {
			mailman_lmtp_drop(st);
			u->code = 0;
			snprintf(u->text, sizeof(u->text), "the list spool could not be %s: %s",
				 st->spool.failed, strerror(st->spool.error));
			return;
		}
	}
	h->client_stream_end(st->lmtp_conn, u, 1);
}

/* The message to one list, in its own LMTP transaction; Mailman's answer. */
static void deliver_to_list(struct mailman_state *st, const struct smtpgate_session *s,
			    const char *list, struct smtpgate_upstream_reply *u)
{
	for (;;) {
		if (!lmtp_conn(st, u))
			return;
		int code = lmtp_mail(st, s, u);
		if (connection_gone(code) && st->lmtp_reused) {
			mailman_lmtp_drop(st); /* closed while kept: once more on a new one */
			continue;
		}
		if (code / 100 == 2 &&
		    st->host->client_command(st->lmtp_conn, u, "RCPT TO:<%s>", list) / 100 == 2)
			lmtp_message(st, u);
		if (st->lmtp_conn && u->code / 100 != 2 && st->host->client_usable(st->lmtp_conn)) {
			struct smtpgate_upstream_reply r;
			if (st->host->client_command(st->lmtp_conn, &r, "RSET") / 100 != 2)
				mailman_lmtp_drop(st);
		}
		if (st->lmtp_conn && !st->host->client_usable(st->lmtp_conn))
			mailman_lmtp_drop(st);
		return;
	}
}

void mailman_lmtp_deliver(struct mailman_state *st, const struct smtpgate_session *s,
			  struct mailman_outcome *o)
{
	struct smtpgate_upstream_reply u;
	for (size_t i = 0; i < st->nlists; i++) {
		deliver_to_list(st, s, st->lists[i], &u);
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
