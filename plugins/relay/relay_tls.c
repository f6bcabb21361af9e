/*
 * relay_tls.c - STARTTLS on the relay's hop to the upstream: the
 * relay_tls and relay_ca_file settings of the proxy's and mailman's group
 * (not `tls`, which is the listener's own), the upstream connection
 * opened through the host's client_open_tls at that level, and the log
 * line that says for each relayed message whether its hop was encrypted.
 *
 * It uses only the public header.  It never relays over plaintext when
 * relay_tls is "encrypt" or "verify": the host then gives no connection,
 * and the client gets a 451.
 */
#include "relay.h"

#include <stddef.h>
#include <string.h>

int relay_tls_read(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		   struct relay_tls *out)
{
	static const char *const levels[] = { "none", "may", "encrypt", "verify" };
	const char *text = "may", *ca_file = NULL;
	if (host->cfg_string(cfg, "relay_tls", &text) < 0 ||
	    host->cfg_string(cfg, "relay_ca_file", &ca_file) < 0)
		return -1;
	out->level = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(text, levels[i]) == 0)
			out->level = i;
	if (out->level < 0) {
		host->cfg_error(cfg, "relay_tls", "expected \"none\", \"may\", \"encrypt\" or "
				"\"verify\", not \"%s\"", text);
		return -1;
	}
	out->ca_file[0] = '\0';
	if (ca_file && (!ca_file[0] || strlen(ca_file) >= sizeof(out->ca_file))) {
		host->cfg_error(cfg, "relay_ca_file", "expected a file name");
		return -1;
	}
	if (ca_file)
		memcpy(out->ca_file, ca_file, strlen(ca_file) + 1);
	return 0;
}

struct smtpgate_client *relay_tls_open(const struct smtpgate_host *host,
				       const struct relay_tls *t, const char *remote,
				       int connect_timeout_sec, int reply_timeout_sec,
				       struct smtpgate_upstream_reply *u)
{
	if (offsetof(struct smtpgate_host, client_tls) >= host->size) /* a 1.0 host */
		return host->client_open(remote, 0, connect_timeout_sec, reply_timeout_sec, u);
	return host->client_open_tls(remote, 0, connect_timeout_sec, reply_timeout_sec, t->level,
				     t->ca_file[0] ? t->ca_file : NULL, u);
}

void relay_tls_log(const struct smtpgate_host *host, const struct smtpgate_session *s,
		   const char *remote, const struct smtpgate_client *up,
		   const struct smtpgate_upstream_reply *u)
{
	const char *cipher = NULL, *protocol = NULL;
	if (offsetof(struct smtpgate_host, client_tls) < host->size)
		protocol = host->client_tls(up, &cipher);
	if (protocol)
		host->log(SMTPGATE_LOG_INFO, s, "upstream=%s relayed reply=%d hop=tls tls=%s "
			  "cipher=%s", remote, u->code, protocol, cipher);
	else
		host->log(SMTPGATE_LOG_INFO, s, "upstream=%s relayed reply=%d hop=plaintext", remote,
			  u->code);
}
