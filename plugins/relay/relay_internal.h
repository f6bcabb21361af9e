/* relay_internal.h - what relay.c and relay_message.c share: the relay's
   state and the upstream answer.  Not for the plugins that use relay.h. */
#ifndef SMTPGATE_PLUGIN_RELAY_INTERNAL_H
#define SMTPGATE_PLUGIN_RELAY_INTERNAL_H

#include "relay.h"

#define RELAY_NETWORKS_MAX 64
#define RELAY_MAIL_LINE_MAX_BYTES 1024

struct network {
	int family;
	unsigned char addr[16];
	unsigned int prefix_bits;
};

/* Where the upstream's side of the client's transaction is. */
enum upstream_txn {
	TXN_NONE = 0,     /* no transaction upstream */
	TXN_MAIL_PENDING, /* MAIL composed, to go out pipelined with the first RCPT */
	TXN_MAIL_REFUSED, /* the upstream refused MAIL: every RCPT gets that answer */
	TXN_OPEN,         /* MAIL accepted upstream */
	TXN_DATA_SENT,    /* DATA sent; its 354 is read at the final dot */
	TXN_DATA_READY,   /* the 354 read: the message goes next */
	TXN_CHUNKS_READY, /* CHUNKING: nothing sent at DATA; the message goes as BDAT */
	TXN_STREAMING     /* the message is going out as it arrives */
};

struct relay {
	const struct smtpgate_host *host;
	char remote[300];
	int connect_timeout_sec;
	int reply_timeout_sec;
	struct network networks[RELAY_NETWORKS_MAX];
	size_t nnetworks;
	struct domain_list domains;
	int allow_untrusted_routing;  /* relay_domains take u%x@, "u@x"@, x!u@ */
	struct relay_tls tls;         /* relay_tls: STARTTLS on the hop */
	int relay_authenticated;      /* an AUTH'd client relays anywhere */
	int hide_client;              /* no X-Peer for an AUTH'd client */
	int client_in_networks;       /* for the session in progress */
	struct smtpgate_client *up;   /* kept per worker, reused across sessions */
	int up_reused;                /* up served an earlier transaction */
	enum upstream_txn txn;
	char mail_line[RELAY_MAIL_LINE_MAX_BYTES];
	struct smtpgate_upstream_reply mail_refusal;
};

/* The upstream's answer as the client's reply (upstream_answer). */
enum smtpgate_verdict relay_answer(struct relay *st, const struct smtpgate_session *s,
				   const char *what, const struct smtpgate_upstream_reply *u,
				   struct smtpgate_reply *reply);
/* 1 if the message goes to the upstream as BDAT chunks: it offers
   CHUNKING and the host can send them. */
int relay_uses_chunks(const struct relay *st);
/* Close the upstream connection: its transaction, if any, is aborted. */
void relay_drop_upstream(struct relay *st);

#endif
