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

/* relay_tls.c: the hop's STARTTLS level (enum smtpgate_relay_tls) and
   the CAs "verify" checks against ("": the system's). */
struct relay_tls {
	int level;
	char ca_file[4096];
};
/* relay_tls ("may" when unset) and relay_ca_file of cfg: 0, or -1 after
   a cfg_error. */
int relay_tls_read(const struct smtpgate_host *host, const struct smtpgate_cfg *cfg,
		   struct relay_tls *out);
/* A new upstream connection at t's level (NULL with *u saying why). */
struct smtpgate_client *relay_tls_open(const struct smtpgate_host *host,
				       const struct relay_tls *t, const char *remote,
				       int connect_timeout_sec, int reply_timeout_sec,
				       struct smtpgate_upstream_reply *u);
/* The relay's line for a message sent over up: the upstream's reply and
   whether the hop was encrypted (hop=tls tls= cipher=, or hop=plaintext). */
void relay_tls_log(const struct smtpgate_host *host, const struct smtpgate_session *s,
		   const char *remote, const struct smtpgate_client *up,
		   const struct smtpgate_upstream_reply *u);

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
/* The message with X-Peer, to the recipients accepted by relay_rcpt: the
   whole message, or the end of one streamed through relay_body. */
enum smtpgate_verdict relay_message(struct relay *r, const struct smtpgate_session *s,
				    const struct smtpgate_message *msg, struct smtpgate_reply *reply);
/* A piece of the message as it arrives (on_body with
   SMTPGATE_STREAM_WHOLE_HEADER: the first piece is the header block), on
   to the upstream at once; a refusal when it cannot go on. */
enum smtpgate_verdict relay_body(struct relay *r, const struct smtpgate_session *s,
				 const char *data, size_t len, struct smtpgate_reply *reply);
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

/* The relaying settings as rows of a plugin's declared settings table
   (proxy's and mailman's), so both declare them alike. */
#define RELAY_SETTINGS                                                              \
	{ "relay_networks", SMTPGATE_SETTING_LIST, 0, 0, "[ ] (everyone, with no "    \
	  "relay_domains either)", "clients that may relay anywhere (CIDR)" },         \
	{ "relay_domains", SMTPGATE_SETTING_LIST, 0, 0, "[ ]",                        \
	  "recipient domains relayed for any client" },                                 \
	{ "allow_untrusted_routing", SMTPGATE_SETTING_BOOL, 0, 0, "false",            \
	  "relay sender-specified routing in relay_domains for anyone" },               \
	{ "connect_timeout", SMTPGATE_SETTING_INT, 1, 3600, "30",                     \
	  "seconds to connect to remote" },                                             \
	{ "timeout", SMTPGATE_SETTING_INT, 1, 3600, "300",                            \
	  "seconds per reply of remote" },                                              \
	{ "relay_authenticated", SMTPGATE_SETTING_BOOL, 0, 0, "true",                 \
	  "a client that authenticated (AUTH) relays anywhere" },                       \
	{ "hide_client", SMTPGATE_SETTING_BOOL, 0, 0, "false",                        \
	  "no X-Peer for a client that authenticated" },                                \
	{ "relay_tls", SMTPGATE_SETTING_STRING, 0, 0, "\"may\"",                      \
	  "STARTTLS to remote: none, may, encrypt or verify" },                         \
	{ "relay_ca_file", SMTPGATE_SETTING_STRING, 0, 0, "the system's CAs",         \
	  "CA certificates for relay_tls \"verify\"" }

/* relay_dsn.c: a DSN parameter (RFC 3461) the core accepted, "KEY=VALUE":
   opt itself when the upstream up offers DSN; NULL, logged, otherwise
   (the upstream then reports as it always does). */
const char *relay_dsn_kept(const struct smtpgate_host *host, const struct smtpgate_client *up,
			   const char *remote, const struct smtpgate_session *s, const char *opt);
/* The DSN parameters of the RCPT being relayed (NOTIFY, ORCPT) as " K=V"
   each into out (size bytes): "" when up is NULL or offers no DSN. */
void relay_dsn_rcpt_parameters(const struct smtpgate_host *host,
			       const struct smtpgate_client *up, const char *remote,
			       const struct smtpgate_session *s, char *out, size_t size);

#endif
