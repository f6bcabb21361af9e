/* smtp_client_internal.h - the SMTP client's connection, shared by
   smtp_client.c (the protocol) and smtp_client_tls.c (STARTTLS).  Not for
   use outside the client. */
#ifndef SMTPGATE_SMTP_CLIENT_INTERNAL_H
#define SMTPGATE_SMTP_CLIENT_INTERNAL_H

#include "conn.h"
#include "linebuf.h"
#include "smtp_client.h"

#define CLIENT_OUT_BUF_BYTES 65536
#define CLIENT_LATE_REPLY_MS 1000 /* for a reply sent before the server closed */
#define CLIENT_CHUNK_BYTES 65536    /* the most octets of one BDAT chunk */
#define CLIENT_CHUNKS_IN_FLIGHT 8   /* BDAT chunks pipelined before a reply is read */

struct smtp_client {
	struct conn_fd conn;
	struct linebuf lb;
	int fd;
	int usable;
	int lmtp;
	int reply_timeout_ms;
	int collect_extensions; /* store the lines of the next reply after its first */
	int unanswered;         /* commands sent whose replies are not read yet */
	int in_data;            /* a 354 was read and the end of data not yet sent */
	int line_start;         /* message text: the next byte starts a line */
	int cr_pending;         /* ... a CR came last; the next byte says if bare */
	enum { STREAM_OK = 0, STREAM_LOST, STREAM_NUL, STREAM_REFUSED } stream_failed;
	int chunking;           /* the message streams as BDAT chunks */
	int chunk_window;       /* chunks that may await a reply: 1 without PIPELINING */
	int chunks_in_flight;   /* chunks sent whose replies are not read yet */
	struct smtpgate_upstream_reply chunk_refusal; /* STREAM_REFUSED: the reason */
	char peer[300];
	const char *tls_protocol, *tls_cipher; /* after STARTTLS; NULL before */
	struct smtp_client_extensions extensions; /* of the EHLO/LHLO reply */
	char out[CLIENT_OUT_BUF_BYTES];
	size_t out_len;
	char chunk[CLIENT_CHUNK_BYTES]; /* the next chunk's octets, gathered */
	size_t chunk_len;
};

/* Mark c unusable (when given) and put "peer: why" with code 0 in *r. */
void smtp_client_failure(struct smtp_client *c, struct smtpgate_upstream_reply *r,
			 const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* EHLO (HELO if refused) or LHLO, collecting the extensions: 0, or -1. */
int smtp_client_introduce(struct smtp_client *c, const char *fqdn,
			  struct smtpgate_upstream_reply *r);

#endif
