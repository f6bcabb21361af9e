/*
 * relay.c - the relaying half of the proxy and mailman handlers: smtpd's
 * PureProxy that tells the truth, compiled into each plugin that relays.
 *
 * Every transaction is relayed to the listener's `remote` as it happens:
 * MAIL checks what the upstream offers and goes out with the first RCPT
 * (pipelined when offered), each RCPT is answered with the upstream's own
 * reply for that recipient, the upstream's DATA goes out when the client's
 * comes and the message follows as it arrives (to an upstream offering
 * CHUNKING no DATA: the message goes as BDAT chunks, pipelined when
 * offered, a round trip less), DSN's parameters go on to
 * an upstream offering DSN (dropped and logged otherwise), and the reply
 * to the final dot is the upstream's reply to the message, which carries an X-Peer header where PureProxy put it.  When the
 * upstream cannot be reached, times out, answers garbage or drops the
 * connection, the client gets a 451 and retries: a 2xx is only ever the
 * upstream's 2xx.  The connection is kept per worker and reused.
 *
 * Relay control, which PureProxy lacked: `relay_networks` (CIDR list) and
 * `relay_domains`; a recipient is relayed when the client is in a network
 * or the recipient's domain is listed (with neither set: everyone, and a
 * warning when the listener is not on loopback).  As Postfix's
 * reject_unauth_destination with allow_untrusted_routing = no, a client
 * outside relay_networks gets no recipient with sender-specified routing
 * (a '%', '!' or '@' in the local part: u%evil.com@example.org,
 * "u@evil.com"@example.org, evil.com!u@example.org) even in relay_domains:
 * an upstream that honours the percent hack or a bang path would relay it
 * on to anywhere.  `allow_untrusted_routing` lets them through.  A client
 * that authenticated (AUTH) relays as one in relay_networks, unless
 * `relay_authenticated` is off (Postfix's permit_sasl_authenticated);
 * `hide_client` leaves its address out of X-Peer.
 *
 * It uses only the public header: the SMTP client is the host's.  It
 * never sends a 2xx the upstream did not send.
 */
#include "relay_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RELAY_DOMAINS_MAX 256

static int parse_network(const char *text, struct network *out)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	if (len >= sizeof(addr))
		return -1;
	memcpy(addr, text, len);
	addr[len] = '\0';
	memset(out, 0, sizeof(*out));
	unsigned int max_bits;
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max_bits = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max_bits = 128;
	} else {
		return -1;
	}
	out->prefix_bits = max_bits;
	if (slash) {
		char *end;
		long bits = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || bits < 0 || bits > (long)max_bits)
			return -1;
		out->prefix_bits = (unsigned int)bits;
	}
	return 0;
}

static int network_contains(const struct network *n, const char *ip_text)
{
	unsigned char ip[16];
	if (inet_pton(n->family, ip_text, ip) != 1)
		return 0;
	unsigned int bits = n->prefix_bits;
	size_t bytes = bits / 8;
	if (memcmp(ip, n->addr, bytes) != 0)
		return 0;
	if (bits % 8) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
		if ((ip[bytes] & mask) != (n->addr[bytes] & mask))
			return 0;
	}
	return 1;
}

int domain_list_read(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		     const char *name, size_t max, struct domain_list *out)
{
	int n = host->cfg_list_count(cfg, name);
	out->names = NULL;
	out->count = 0;
	if (n < 0)
		return -1;
	if ((size_t)n > max) {
		host->cfg_error(cfg, name, "at most %zu domains", max);
		return -1;
	}
	if (n && !(out->names = calloc((size_t)n, sizeof(*out->names))))
		return -1;
	for (int i = 0; i < n; i++) {
		const char *d = host->cfg_list_string(cfg, name, i);
		if (!d[0] || strchr(d, '@') || strchr(d, ' ')) {
			host->cfg_error(cfg, name, "\"%s\" is not a domain", d);
			return -1;
		}
		if (!(out->names[out->count++] = strdup(d)))
			return -1;
	}
	return 0;
}

void domain_list_free(struct domain_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->count = 0;
}

int domain_list_match(const struct domain_list *l, const char *address)
{
	const char *at = strrchr(address, '@');
	if (!at)
		return 0;
	const char *domain = at + 1;
	size_t dlen = strlen(domain);
	for (size_t i = 0; i < l->count; i++) {
		const char *d = l->names[i];
		size_t len = strlen(d);
		if (d[0] == '.') {
			if (strcasecmp(domain, d + 1) == 0 ||
			    (dlen > len && strcasecmp(domain + dlen - len, d) == 0))
				return 1;
		} else if (strcasecmp(domain, d) == 0) {
			return 1;
		}
	}
	return 0;
}

static int is_loopback_listener(const char *address)
{
	return strncmp(address, "127.", 4) == 0 || strncmp(address, "[::1]:", 6) == 0 ||
	       strncmp(address, "localhost:", 10) == 0;
}

static int read_settings(struct relay *st, const struct smtpgate_cfg *cfg)
{
	const struct smtpgate_host *host = st->host;
	long long connect_timeout = 30, timeout = 300;
	if (host->cfg_int(cfg, "connect_timeout", &connect_timeout) < 0 ||
	    host->cfg_int(cfg, "timeout", &timeout) < 0 ||
	    host->cfg_bool(cfg, "allow_untrusted_routing", &st->allow_untrusted_routing) < 0 ||
	    host->cfg_bool(cfg, "relay_authenticated", &st->relay_authenticated) < 0 ||
	    host->cfg_bool(cfg, "hide_client", &st->hide_client) < 0)
		return -1;
	if (connect_timeout < 1 || connect_timeout > 3600) {
		host->cfg_error(cfg, "connect_timeout", "expected 1..3600 seconds");
		return -1;
	}
	if (timeout < 1 || timeout > 3600) {
		host->cfg_error(cfg, "timeout", "expected 1..3600 seconds");
		return -1;
	}
	st->connect_timeout_sec = (int)connect_timeout;
	st->reply_timeout_sec = (int)timeout;

	int n = host->cfg_list_count(cfg, "relay_networks");
	if (n < 0 || n > RELAY_NETWORKS_MAX) {
		if (n > 0)
			host->cfg_error(cfg, "relay_networks", "at most %d networks", RELAY_NETWORKS_MAX);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *text = host->cfg_list_string(cfg, "relay_networks", i);
		if (parse_network(text, &st->networks[st->nnetworks++]) < 0) {
			host->cfg_error(cfg, "relay_networks", "\"%s\" is not an address or CIDR network",
					text);
			return -1;
		}
	}
	if (relay_tls_read(host, cfg, &st->tls) < 0)
		return -1;
	return domain_list_read(host, cfg, "relay_domains", RELAY_DOMAINS_MAX, &st->domains);
}

static void free_state(struct relay *st)
{
	domain_list_free(&st->domains);
	free(st);
}

struct relay *relay_new(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
			const char *group)
{
	struct relay *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->host = host;
	st->relay_authenticated = 1;
	snprintf(st->remote, sizeof(st->remote), "%s", host->listener_remote());
	if (read_settings(st, cfg) < 0) {
		free_state(st);
		return NULL;
	}
	if (!st->nnetworks && !st->domains.count && !is_loopback_listener(host->listener_address()))
		host->log(SMTPGATE_LOG_WARNING, NULL,
			  "listener %s relays for everyone: set relay_networks or relay_domains in "
			  "its %s group", host->listener_address(), group);
	return st;
}

void relay_free(struct relay *st)
{
	if (st->up)
		st->host->client_close(st->up);
	free_state(st);
}

/* Pass an upstream's answer on: its code and text, or a 451 when it gave
   none.  A 2xx stays a 2xx only because the upstream said so. */
enum smtpgate_verdict upstream_answer(const struct smtpgate_host *host,
				      const struct smtpgate_session *s, const char *upstream,
				      const char *what, const struct smtpgate_upstream_reply *u,
				      struct smtpgate_reply *reply)
{
	if (u->code == 0) {
		host->log(SMTPGATE_LOG_WARNING, s, "upstream=%s %s: no answer: %s", upstream, what,
			  u->text);
		host->reply(reply, 451, "4.4.2", "Error: upstream %s: %s", what, u->text);
		return SMTPGATE_TEMPFAIL;
	}
	/* The text may start with the upstream's enhanced code; keep it as text. */
	host->reply(reply, u->code, NULL, "%s", u->text);
	switch (u->code / 100) {
	case 2:
		return SMTPGATE_ACCEPT;
	case 4:
		return SMTPGATE_TEMPFAIL;
	case 5:
		return SMTPGATE_REJECT;
	}
	host->log(SMTPGATE_LOG_WARNING, s, "upstream=%s %s: unexpected reply %d %s", upstream, what,
		  u->code, u->text);
	host->reply(reply, 451, "4.4.2", "Error: upstream %s: unexpected reply %d", what, u->code);
	return SMTPGATE_TEMPFAIL;
}

enum smtpgate_verdict relay_answer(struct relay *st, const struct smtpgate_session *s,
					  const char *what, const struct smtpgate_upstream_reply *u,
					  struct smtpgate_reply *reply)
{
	return upstream_answer(st->host, s, st->remote, what, u, reply);
}

void relay_drop_upstream(struct relay *st)
{
	if (st->up)
		st->host->client_close(st->up);
	st->up = NULL;
	st->up_reused = 0;
	st->txn = TXN_NONE;
}

/* An upstream connection for a new transaction: the kept one, or a new
   one.  NULL with *u saying why. */
static struct smtpgate_client *upstream(struct relay *st, struct smtpgate_upstream_reply *u)
{
	if (st->up && st->host->client_usable(st->up)) {
		st->up_reused = 1;
		return st->up;
	}
	relay_drop_upstream(st);
	st->up = relay_tls_open(st->host, &st->tls, st->remote, st->connect_timeout_sec,
				st->reply_timeout_sec, u);
	return st->up;
}

void relay_session_start(struct relay *st, const struct smtpgate_session *s)
{
	st->client_in_networks = 0;
	for (size_t i = 0; i < st->nnetworks && !st->client_in_networks; i++)
		st->client_in_networks = network_contains(&st->networks[i], s->peer_addr);
}

/* The MAIL parameters the upstream gets: the client's SIZE and BODY when
   the upstream offers them; SMTPUTF8 when needed.  -1 with a reply when
   the upstream cannot take this message as it is. */
static int mail_parameters(struct relay *st, const struct smtpgate_session *s, char *out,
			   size_t size, struct smtpgate_reply *reply)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < s->mail_option_count; i++) {
		const char *opt = s->mail_options[i];
		const char *keep = NULL;
		if (strncmp(opt, "SIZE=", 5) == 0) {
			if (st->host->client_extension(st->up, "SIZE", NULL))
				keep = opt;
		} else if (strcmp(opt, "BODY=8BITMIME") == 0) {
			/* RFC 6152: no silent downgrade of 8-bit data. */
			if (!st->host->client_extension(st->up, "8BITMIME", NULL)) {
				st->host->reply(reply, 554, "5.6.3",
						"Error: the upstream does not accept 8-bit data (no 8BITMIME)");
				return -1;
			}
			keep = opt;
		} else if (strcmp(opt, "BODY=7BIT") == 0) {
			if (st->host->client_extension(st->up, "8BITMIME", NULL))
				keep = opt;
		} else if (strncmp(opt, "RET=", 4) == 0 || strncmp(opt, "ENVID=", 6) == 0) {
			keep = relay_dsn_kept(st->host, st->up, st->remote, s, opt);
		}
		if (keep) {
			int n = snprintf(out + used, size - used, " %s", keep);
			if (n < 0 || (size_t)n >= size - used)
				goto too_long;
			used += (size_t)n;
		}
	}
	if (s->smtputf8) {
		/* RFC 6531 3.4: not to be relayed to a server without SMTPUTF8. */
		if (!st->host->client_extension(st->up, "SMTPUTF8", NULL)) {
			st->host->reply(reply, 554, "5.6.7",
					"Error: the upstream does not support SMTPUTF8");
			return -1;
		}
		int n = snprintf(out + used, size - used, " SMTPUTF8");
		if (n < 0 || (size_t)n >= size - used)
			goto too_long;
	}
	return 0;
too_long:
	st->host->reply(reply, 501, "5.5.4", "Error: MAIL parameters too long to relay");
	return -1;
}

/* MAIL is checked against what the upstream offers now, but sent with the
   first RCPT: one round trip less per message (RFC 2920 pipelining, when
   offered).  A refusal of MAIL then answers the RCPTs, as Postfix's
   smtpd_delay_reject does. */
enum smtpgate_verdict relay_mail(struct relay *st, const struct smtpgate_session *s,
				 const char *address, struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u;
	char params[RELAY_MAIL_LINE_MAX_BYTES];
	if (!upstream(st, &u))
		return relay_answer(st, s, "connection", &u, reply);
	if (mail_parameters(st, s, params, sizeof(params), reply) < 0)
		return SMTPGATE_REJECT;
	int n = snprintf(st->mail_line, sizeof(st->mail_line), "MAIL FROM:<%s>%s", address, params);
	if (n < 0 || (size_t)n >= sizeof(st->mail_line)) {
		st->host->reply(reply, 501, "5.5.4", "Error: MAIL too long to relay");
		return SMTPGATE_REJECT;
	}
	st->txn = TXN_MAIL_PENDING;
	if (st->host->client_extension(st->up, "PIPELINING", NULL))
		return SMTPGATE_CONTINUE;

	/* No pipelining: MAIL now, so its answer is the answer to MAIL. */
	for (;;) {
		int code = st->host->client_command(st->up, &u, "%s", st->mail_line);
		if (st->up_reused && connection_gone(code)) {
			relay_drop_upstream(st); /* closed by the upstream while kept */
			if (!upstream(st, &u))
				return relay_answer(st, s, "connection", &u, reply);
			continue; /* a new connection: not retried again */
		}
		st->txn = code / 100 == 2 ? TXN_OPEN : TXN_NONE;
		if (connection_gone(code))
			relay_drop_upstream(st);
		return relay_answer(st, s, "MAIL", &u, reply);
	}
}

/* The pipelined MAIL and first RCPT; a kept connection that turns out to
   be closed is replaced once. */
static void send_mail_and_rcpt(struct relay *st, const char *address, const char *params,
			       struct smtpgate_upstream_reply *mail_u,
			       struct smtpgate_upstream_reply *rcpt_u)
{
	for (;;) {
		rcpt_u->code = 0;
		snprintf(rcpt_u->text, sizeof(rcpt_u->text), "connection lost");
		if (st->host->client_send(st->up, "%s", st->mail_line) < 0 ||
		    st->host->client_send(st->up, "RCPT TO:<%s>%s", address, params) < 0) {
			mail_u->code = 0;
			snprintf(mail_u->text, sizeof(mail_u->text), "connection lost while sending");
		} else if (st->host->client_read_reply(st->up, mail_u) != 0) {
			/* Read the RCPT's answer even after a refused MAIL: in step. */
			st->host->client_read_reply(st->up, rcpt_u);
		}
		if (!st->up_reused || !connection_gone(mail_u->code))
			return; /* answered, or already a new connection */
		relay_drop_upstream(st);
		if (!upstream(st, mail_u))
			return;
	}
}

/* 1 if the local part routes on by itself: a '%', '!' or '@' in it, quoted
   or not (Postfix's user[@%!]remote[@%!]site). */
static int has_routing(const char *address)
{
	const char *at = strrchr(address, '@');
	size_t len = at ? (size_t)(at - address) : strlen(address);
	for (size_t i = 0; i < len; i++)
		if (address[i] == '%' || address[i] == '!' || address[i] == '@')
			return 1;
	return 0;
}

int relay_allowed(const struct relay *st, const struct smtpgate_session *s, const char *address)
{
	if ((!st->nnetworks && !st->domains.count) || st->client_in_networks ||
	    (st->relay_authenticated && s->auth_user))
		return 1;
	return domain_list_match(&st->domains, address) &&
	       (st->allow_untrusted_routing || !has_routing(address));
}

enum smtpgate_verdict relay_rcpt(struct relay *st, const struct smtpgate_session *s,
				 const char *address, struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u, mail_u;
	char params[RELAY_MAIL_LINE_MAX_BYTES];
	if (!relay_allowed(st, s, address)) {
		st->host->log(SMTPGATE_LOG_INFO, s, "relay refused: client=%s rcpt=<%s>%s", s->peer_addr,
			      address,
			      /* refused although its domain is listed: only its routing */
			      domain_list_match(&st->domains, address) ? " reason=sender-routing" : "");
		/* Postfix's codes: 554 when only the client decides, 550 for a
		   recipient outside the relay domains. */
		st->host->reply(reply, st->domains.count ? 550 : 554, "5.7.1", "<%s>: Relay access denied",
				address);
		return SMTPGATE_REJECT;
	}
	relay_dsn_rcpt_parameters(st->host, st->up, st->remote, s, params, sizeof(params));
	switch (st->txn) {
	case TXN_MAIL_PENDING:
		send_mail_and_rcpt(st, address, params, &mail_u, &u);
		if (mail_u.code / 100 != 2) {
			if (connection_gone(mail_u.code))
				relay_drop_upstream(st);
			st->txn = TXN_MAIL_REFUSED;
			st->mail_refusal = mail_u;
			return relay_answer(st, s, "MAIL", &mail_u, reply);
		}
		st->txn = TXN_OPEN;
		break;
	case TXN_MAIL_REFUSED:
		return relay_answer(st, s, "MAIL", &st->mail_refusal, reply);
	case TXN_OPEN:
		st->host->client_command(st->up, &u, "RCPT TO:<%s>%s", address, params);
		break;
	default:
		u.code = 0;
		snprintf(u.text, sizeof(u.text), "connection lost");
		break;
	}
	if (connection_gone(u.code))
		relay_drop_upstream(st);
	return relay_answer(st, s, "RCPT", &u, reply);
}

int relay_uses_chunks(const struct relay *st)
{
	const struct smtpgate_host *h = st->host;
	return h->size >= offsetof(struct smtpgate_host, client_stream_begin_chunks) +
				  sizeof(h->client_stream_begin_chunks) &&
	       h->client_stream_begin_chunks && h->client_extension(st->up, "CHUNKING", NULL);
}

/* The upstream's DATA goes out now; its 354 is read at the final dot, so
   its round trip overlaps the client sending the message.  To an upstream
   offering CHUNKING nothing goes yet: BDAT needs no 354. */
enum smtpgate_verdict relay_data(struct relay *st, const struct smtpgate_session *s,
				 struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u = { 0, "connection lost" };
	if (st->txn == TXN_OPEN && relay_uses_chunks(st)) {
		st->txn = TXN_CHUNKS_READY;
		return SMTPGATE_CONTINUE;
	}
	if (st->txn != TXN_OPEN || st->host->client_send(st->up, "DATA") < 0 ||
	    st->host->client_flush(st->up) < 0) {
		relay_drop_upstream(st);
		return relay_answer(st, s, "DATA", &u, reply);
	}
	st->txn = TXN_DATA_SENT;
	return SMTPGATE_CONTINUE;
}

enum smtpgate_verdict relay_data_answer(struct relay *st, const struct smtpgate_session *s,
					struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u = { 0, "connection lost" };
	if (st->txn == TXN_DATA_READY || st->txn == TXN_CHUNKS_READY)
		return SMTPGATE_CONTINUE; /* the 354 read, or none to read (BDAT) */
	if (st->txn != TXN_DATA_SENT) {
		relay_drop_upstream(st);
		return relay_answer(st, s, "DATA", &u, reply);
	}
	int code = st->host->client_read_reply(st->up, &u);
	if (code != 354) {
		/* DATA refused: the upstream's answer; its transaction is left
		   behind, so the connection is not kept. */
		relay_drop_upstream(st);
		if (code / 100 == 2 || code / 100 == 3) {
			u.code = 0;
			snprintf(u.text, sizeof(u.text), "unexpected reply %d to DATA", code);
		}
		return relay_answer(st, s, "DATA", &u, reply);
	}
	st->txn = TXN_DATA_READY;
	return SMTPGATE_CONTINUE;
}

void relay_reset(struct relay *st)
{
	struct smtpgate_upstream_reply u;
	if (st->txn == TXN_DATA_SENT || st->txn == TXN_DATA_READY || st->txn == TXN_STREAMING)
		relay_drop_upstream(st); /* no way back from DATA: dropping aborts it */
	else if ((st->txn == TXN_OPEN || st->txn == TXN_CHUNKS_READY) &&
		 st->host->client_command(st->up, &u, "RSET") / 100 != 2)
		relay_drop_upstream(st);
	st->txn = TXN_NONE;
}

