/* smtp_client.h - SMTP/LMTP client for relaying plugins (a host service). */
#ifndef SMTPGATE_SMTP_CLIENT_H
#define SMTPGATE_SMTP_CLIENT_H

#include <stdarg.h>
#include <stddef.h>

#include "smtpgate/plugin.h"

struct smtp_client;
struct linebuf;

#define SMTP_CLIENT_EXTENSIONS_MAX 32
#define SMTP_CLIENT_EXTENSION_BYTES 128

/* The extensions an EHLO/LHLO reply announced, a line each, cut to fit:
   "SIZE 10240000". */
struct smtp_client_extensions {
	size_t count;
	char line[SMTP_CLIENT_EXTENSIONS_MAX][SMTP_CLIENT_EXTENSION_BYTES];
};

/* A connected blocking socket to hostport (smtp_client_connect.c), or -1
   with the reason in why. */
int smtp_client_connect(const char *hostport, int timeout_ms, char *why, size_t why_size);
/* Connect, read the greeting, EHLO/HELO (or LHLO).  NULL on failure with
   the reason in *r (code 0, or the server's refusal). */
struct smtp_client *smtp_client_open(const char *hostport, int lmtp, const char *fqdn,
				     int connect_timeout_ms, int reply_timeout_ms,
				     struct smtpgate_upstream_reply *r);
int smtp_client_extension(const struct smtp_client *c, const char *keyword,
			  const char **param_out);
int smtp_client_vsend(struct smtp_client *c, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
int smtp_client_flush(struct smtp_client *c);
int smtp_client_read_reply(struct smtp_client *c, struct smtpgate_upstream_reply *r);
int smtp_client_command(struct smtp_client *c, struct smtpgate_upstream_reply *r,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int smtp_client_vcommand(struct smtp_client *c, struct smtpgate_upstream_reply *r,
			 const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
int smtp_client_data(struct smtp_client *c, const struct smtpgate_data_part *parts,
		     size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies);
int smtp_client_message(struct smtp_client *c, const struct smtpgate_data_part *parts,
			size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies);
/* A message written as it arrives, after the caller's DATA and its 354:
   begin (0, or -1 if no 354 was read), write each piece (0, or -1 once it
   failed: a NUL byte, which closes the connection, or a lost one), end
   (the end of data, then the replies, as smtp_client_message()). */
int smtp_client_stream_begin(struct smtp_client *c);
int smtp_client_stream_write(struct smtp_client *c, const char *data, size_t len);
int smtp_client_stream_end(struct smtp_client *c, struct smtpgate_upstream_reply *replies,
			   size_t nreplies);
/* The same message as BDAT chunks (RFC 3030) instead, to a server that
   offers CHUNKING, with no DATA sent: 0, or -1 (no CHUNKING, a message in
   progress, the connection unusable; then DATA it is).  The writes'
   encoded octets are gathered into chunks of at most 64 KiB, pipelined
   when PIPELINING is offered; the end is "BDAT m LAST" with the rest and
   the last line end, then the replies (a short message: one BDAT).  A
   chunk refused fails the message with that refusal (end's reply). */
int smtp_client_stream_begin_chunks(struct smtp_client *c);
/* BDAT octets of a piece of message text (pure): LF, CR LF and a bare CR
   each become CR LF, no dot doubled; *cr_pending carries a CR that ended
   the piece before.  Into out (room for 2 * len + 2 bytes) unless it is
   NULL; returns the octet count. */
size_t smtp_client_chunk_encode(int *cr_pending, const char *in, size_t len, char *out);
/* One reply read from lb, all its lines (at most 100 of 2048 bytes): its
   code (200-599) with the lines' texts joined by a space in r->text, or 0
   with *why_out saying why there is none (timeout, closed, not an SMTP
   reply).  The lines after the first are appended to ext unless it is
   NULL.  Knows nothing of sockets or of the client's state. */
int smtp_client_reply_read(struct linebuf *lb, int timeout_ms, struct smtpgate_upstream_reply *r,
			   struct smtp_client_extensions *ext, const char **why_out);
/* 1 if ext holds keyword (case-insensitive), its parameters in *param_out. */
int smtp_client_extensions_find(const struct smtp_client_extensions *ext, const char *keyword,
				const char **param_out);
/* smtp_client_tls.c: smtp_client_open() with relay_tls's level
   (SMTPGATE_RELAY_TLS_*) of STARTTLS; ca_file for "verify" (NULL: the
   system's CAs).  "may" after a failed handshake connects once more
   without TLS (logged). */
struct smtp_client *smtp_client_open_tls(const char *hostport, int lmtp, const char *fqdn,
					 int connect_timeout_ms, int reply_timeout_ms, int level,
					 const char *ca_file, struct smtpgate_upstream_reply *r);
/* STARTTLS on an open connection to the server name (the host part of
   its address), then EHLO again (RFC 3207 4.2); with verify its
   certificate must verify against ca_file (NULL: the system's CAs) and
   be for name.  0, or -1 with *r saying why (the server's refusal, or
   code 0 when TLS failed: the connection is then unusable). */
int smtp_client_starttls(struct smtp_client *c, const char *fqdn, const char *name, int verify,
			 const char *ca_file, struct smtpgate_upstream_reply *r);
/* The TLS protocol ("TLSv1.3") and cipher of the connection; NULL in
   plaintext. */
const char *smtp_client_tls(const struct smtp_client *c, const char **cipher_out);
int smtp_client_usable(const struct smtp_client *c);
void smtp_client_close(struct smtp_client *c);

#endif
