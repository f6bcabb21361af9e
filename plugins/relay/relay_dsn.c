/*
 * relay_dsn.c - DSN (RFC 3461) on the relaying side of proxy and mailman:
 * the parameters the core accepted from the client (RET, ENVID on MAIL;
 * NOTIFY, ORCPT on RCPT) go on to an upstream that offers DSN, and are
 * dropped, with a log line, for one that does not (it then reports as it
 * always does: failures to the sender).
 *
 * Entry points: relay_dsn_kept(), relay_dsn_rcpt_parameters().  It uses
 * only the public header, never checks the parameters' syntax (the core
 * did) and never sends anything itself.
 */
#include "relay.h"

#include <stdio.h>
#include <string.h>

const char *relay_dsn_kept(const struct smtpgate_host *host, const struct smtpgate_client *up,
			   const char *remote, const struct smtpgate_session *s, const char *opt)
{
	if (up && host->client_extension(up, "DSN", NULL))
		return opt;
	host->log(SMTPGATE_LOG_INFO, s, "upstream=%s offers no DSN: %.*s dropped", remote,
		  (int)strcspn(opt, "="), opt);
	return NULL;
}

void relay_dsn_rcpt_parameters(const struct smtpgate_host *host,
			       const struct smtpgate_client *up, const char *remote,
			       const struct smtpgate_session *s, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; up && i < s->rcpt_option_count; i++) {
		const char *keep = relay_dsn_kept(host, up, remote, s, s->rcpt_options[i]);
		int n = keep ? snprintf(out + used, size - used, " %s", keep) : 0;
		if (n < 0 || (size_t)n >= size - used)
			break; /* the client's line was shorter than out: cannot happen */
		used += (size_t)n;
	}
}
