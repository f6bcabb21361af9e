/* mailman.h - what the mailman handler's files share: its state, the
   LMTP side (mailman_lmtp.c) and the list spool (mailman_spool.c). */
#ifndef SMTPGATE_PLUGIN_MAILMAN_H
#define SMTPGATE_PLUGIN_MAILMAN_H

#include <stddef.h>

#include <smtpgate/plugin.h>

#include "../relay/relay.h"

#define MAILMAN_DOMAINS_MAX 64
#define MAILMAN_ADDRESS_MAX_BYTES 600
/* From: <the longest sender>, Date: and a blank line. */
#define MAILMAN_EXTRA_HEADERS_MAX_BYTES (MAILMAN_ADDRESS_MAX_BYTES + 128)
/* The list copy stays in memory up to this, then goes to a temporary file. */
#define MAILMAN_SPOOL_MEMORY_MAX_BYTES (1024 * 1024)
/* One read of the temporary file, one write to Mailman. */
#define MAILMAN_SPOOL_PIECE_BYTES 65536

/* The message for the lists, kept from its first piece to the final dot:
   in memory up to MAILMAN_SPOOL_MEMORY_MAX_BYTES, then in an unnamed
   temporary file ($TMPDIR or /tmp). */
struct mailman_spool {
	char *buf;
	size_t len, cap;
	int fd;        /* the temporary file, or -1 */
	int error;     /* errno of the first failure, or 0 */
	const char *failed; /* what failed: "opened", "written", "read" */
};

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
	int body_started;                   /* the first piece came */
	char extra[MAILMAN_EXTRA_HEADERS_MAX_BYTES]; /* From:/Date: to add */
	size_t extra_len;
	struct mailman_spool spool;         /* the lists' copy */
};

/* What the lists' deliveries came to: which lists took the message (for
   the log), Mailman's first permanent refusal, and the kinds of failure. */
struct mailman_outcome {
	char delivered[1024];
	size_t dlen;
	struct smtpgate_upstream_reply refusal;
	int temporary, permanent;
};

/* mailman_lmtp.c */
/* Close the kept LMTP connection. */
void mailman_lmtp_drop(struct mailman_state *st);
/* Ask Mailman about one list address at RCPT (its answer in reply). */
enum smtpgate_verdict mailman_lmtp_ask(struct mailman_state *st, const struct smtpgate_session *s,
				       const char *address, struct smtpgate_reply *reply);
/* Close the probe transaction the RCPTs opened. */
void mailman_lmtp_end_probe(struct mailman_state *st);
/* From: and Date: when the header block d (the first piece) lacks them,
   into st->extra. */
void mailman_lmtp_missing_headers(struct mailman_state *st, const char *d, size_t len);
/* The spooled message to each list, one LMTP transaction per list. */
void mailman_lmtp_deliver(struct mailman_state *st, const struct smtpgate_session *s,
			  struct mailman_outcome *o);

/* mailman_spool.c */
void mailman_spool_init(struct mailman_spool *sp);
/* Where the temporary file goes: $TMPDIR, or /tmp (looked up after the
   worker's chroot and user switch, so inside the chroot). */
const char *mailman_spool_dir(void);
/* Append a piece: 0, or -1 with sp->error set (and kept). */
int mailman_spool_write(struct mailman_spool *sp, const char *data, size_t len);
/* All of it to c, an open client_stream: 0, or -1 (sp->error, or the
   stream failed: its end says how). */
int mailman_spool_send(struct mailman_spool *sp, const struct smtpgate_host *host,
		       struct smtpgate_client *c);
/* Forget the message: memory freed, the temporary file closed (it has no
   name, so it is gone). */
void mailman_spool_drop(struct mailman_spool *sp);

#endif
