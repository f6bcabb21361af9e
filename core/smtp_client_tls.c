/*
 * smtp_client_tls.c - a relay's STARTTLS policy over the SMTP client
 * (relay_tls in the proxy's and mailman's group): "none" never asks;
 * "may" uses TLS when the upstream offers it and, when the handshake
 * fails, connects once more in plaintext as Postfix does (logged);
 * "encrypt" and "verify" refuse a plaintext hop, "verify" also checks the
 * upstream's certificate against a CA file or the system's CAs and its
 * name.
 *
 * It only chooses; the protocol is smtp_client.c's and the TLS tls.c's.
 * A failure comes back as a reply with code 0 (the plugin answers 451),
 * never as a plaintext hop that "encrypt" or "verify" forbade.
 */
#include "smtp_client_internal.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "tls.h"

static const char *level_name(int level);

/* The relay_tls word of a level, for messages. */
static const char *level_name(int level)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify" };
	return level >= 0 && level <= SMTPGATE_RELAY_TLS_VERIFY ? names[level] : "?";
}

struct smtp_client *smtp_client_open_tls(const char *hostport, int lmtp, const char *fqdn,
					 int connect_timeout_ms, int reply_timeout_ms, int level,
					 const char *ca_file, struct smtpgate_upstream_reply *r)
{
	struct smtp_client *c = smtp_client_open(hostport, lmtp, fqdn, connect_timeout_ms,
						 reply_timeout_ms, r);
	if (!c || level == SMTPGATE_RELAY_TLS_NONE)
		return c;
	if (!smtp_client_extension(c, "STARTTLS", NULL)) {
		if (level == SMTPGATE_RELAY_TLS_MAY)
			return c;
		smtp_client_close(c);
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "%s: STARTTLS not offered (relay_tls \"%s\")",
			 hostport, level_name(level));
		return NULL;
	}
	struct hostport hp;
	const char *err;
	if (addr_split(hostport, &hp, &err) < 0) /* smtp_client_open() took it: cannot happen */
		log_panic("what=relay_address value=%s", log_quoted(hostport));
	if (smtp_client_starttls(c, fqdn, hp.host, level == SMTPGATE_RELAY_TLS_VERIFY, ca_file,
				 r) == 0)
		return c;
	smtp_client_close(c);
	if (r->code != 0) { /* a refusal of STARTTLS (454): no TLS either */
		char text[1024];
		snprintf(text, sizeof(text), "%s: STARTTLS refused: %d %s", hostport, r->code, r->text);
		size_t n = strnlen(text, sizeof(r->text) - 1);
		memcpy(r->text, text, n);
		r->text[n] = '\0';
		r->code = 0;
	}
	if (level != SMTPGATE_RELAY_TLS_MAY)
		return NULL;
	log_warn("upstream=%s event=starttls-failed reason=%s action=retry-plaintext",
		 log_quoted(hostport), log_quoted(r->text));
	return smtp_client_open(hostport, lmtp, fqdn, connect_timeout_ms, reply_timeout_ms, r);
}

/* STARTTLS on an open connection, then EHLO again (RFC 3207 4.2). */
int smtp_client_starttls(struct smtp_client *c, const char *fqdn, const char *name, int verify,
			 const char *ca_file, struct smtpgate_upstream_reply *r)
{
	char why[256];
	if (smtp_client_command(c, r, "STARTTLS") != 220)
		return -1;
	/* Bytes after the 220 came before TLS: read as replies later, they
	   would be a plaintext injection (CVE-2011-0411, seen from here). */
	if (linebuf_discard(&c->lb) > 0) {
		smtp_client_failure(c, r, "plaintext after the 220 to STARTTLS");
		return -1;
	}
	struct ssl_st *ssl = tls_client_conn_new(c->fd, name, verify, ca_file, why, sizeof(why));
	if (!ssl) {
		smtp_client_failure(c, r, "%s", why);
		return -1;
	}
	if (conn_fd_start_tls_client(&c->conn, ssl, c->reply_timeout_ms, why, sizeof(why)) < 0) {
		smtp_client_failure(c, r, "TLS handshake failed: %s", why);
		return -1;
	}
	struct tls_info info;
	tls_conn_info(ssl, &info);
	c->tls_protocol = info.protocol;
	c->tls_cipher = info.cipher;
	c->extensions.count = 0; /* RFC 3207 4.2: what the server said before is void */
	if (smtp_client_introduce(c, fqdn, r) < 0) {
		c->usable = 0;
		return -1;
	}
	return 0;
}

/* The hop's TLS protocol and cipher; NULL in plaintext. */
const char *smtp_client_tls(const struct smtp_client *c, const char **cipher_out)
{
	*cipher_out = c->tls_cipher;
	return c->tls_protocol;
}
