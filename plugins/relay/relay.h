/* relay.h - relaying to the listener's `remote`, shared by the proxy and
   mailman plugins (compiled into each; uses only the public header). */
#ifndef SMTPGATE_PLUGIN_RELAY_H
#define SMTPGATE_PLUGIN_RELAY_H

#include <smtpgate/plugin.h>

struct relay;

/* Domains from a plugin setting (a list of strings): "example.org" matches
   that domain, ".example.org" its subdomains too; case-insensitive. */
struct domain_list {
	char **names;
	size_t count;
};

int domain_list_read(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		     const char *name, size_t max, struct domain_list *out);
int domain_list_match(const struct domain_list *l, const char *address);
void domain_list_free(struct domain_list *l);

/* Read relay_networks, relay_domains, allow_untrusted_routing,
   relay_authenticated, hide_client, connect_timeout and timeout from
   cfg (the plugin's group, named `group` in messages).  NULL after a
   cfg_error. */
struct relay *relay_new(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
			const char *group);
void relay_free(struct relay *r);

/* A client connected: decide whether it is in relay_networks. */
void relay_session_start(struct relay *r, const struct smtpgate_session *s);
/* 1 if this client may relay to address: in relay_networks, or
   authenticated (AUTH) with relay_authenticated on, or address in
   relay_domains without sender-specified routing in its local part (unless
   allow_untrusted_routing). */
int relay_allowed(const struct relay *r, const struct smtpgate_session *s, const char *address);

/* The hooks' work: each answers as the upstream did (451 when it could
   not be asked). */
enum smtpgate_verdict relay_mail(struct relay *r, const struct smtpgate_session *s,
				 const char *address, struct smtpgate_reply *reply);
enum smtpgate_verdict relay_rcpt(struct relay *r, const struct smtpgate_session *s,
				 const char *address, struct smtpgate_reply *reply);
enum smtpgate_verdict relay_data(struct relay *r, const struct smtpgate_session *s,
				 struct smtpgate_reply *reply);
/* The upstream's answer to the DATA relay_data sent: CONTINUE for its 354
   (the message can go), or its refusal (451 when it gave none) with the
   upstream connection dropped.  relay_message asks it when nobody did. */
enum smtpgate_verdict relay_data_answer(struct relay *r, const struct smtpgate_session *s,
					struct smtpgate_reply *reply);
/* The message with X-Peer, to the recipients accepted by relay_rcpt. */
enum smtpgate_verdict relay_message(struct relay *r, const struct smtpgate_session *s,
				    const struct smtpgate_message *msg, struct smtpgate_reply *reply);
/* The client's transaction was abandoned. */
void relay_reset(struct relay *r);

/* A reply after which the connection carries nothing more: 0 (lost, timed
   out, garbled) or 421 (the server is closing it). */
static inline int connection_gone(int code)
{
	return code == 0 || code == 421;
}

/* An upstream answer as the client's reply (code 0 -> 451 4.4.2);
   upstream names the server in the log. */
enum smtpgate_verdict upstream_answer(const struct smtpgate_host *host,
				      const struct smtpgate_session *s, const char *upstream,
				      const char *what, const struct smtpgate_upstream_reply *u,
				      struct smtpgate_reply *reply);

#endif
