/* smtp_client.h - SMTP/LMTP client for relaying plugins (a host service). */
#ifndef SMTPGATE_SMTP_CLIENT_H
#define SMTPGATE_SMTP_CLIENT_H

#include <stdarg.h>
#include <stddef.h>

#include "smtpgate/plugin.h"

struct smtp_client;

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
int smtp_client_usable(const struct smtp_client *c);
void smtp_client_close(struct smtp_client *c);

#endif
