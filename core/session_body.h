/* session_body.h - the message of a transaction, from the first decoded
   byte to the reply to its end: to the plugin's on_body as it arrives, or
   gathered for on_message (part of the channel: session_internal.h). */
#ifndef SMTPGATE_SESSION_BODY_H
#define SMTPGATE_SESSION_BODY_H

#include "smtp_body.h"
#include "smtp_reply.h"

/* Why the message is refused, in the order the reply is chosen: the
   plugin's own refusal first, then the core's checks as smtpd.py's
   successor made them before streaming. */
enum session_body_refusal {
	SESSION_BODY_TAKEN = 0,   /* nothing refused so far */
	SESSION_BODY_PLUGIN,      /* on_body refused (its reply) */
	SESSION_BODY_TOO_BIG,     /* data_size_limit */
	SESSION_BODY_BARE_LF,     /* bare_lf "reject" */
	SESSION_BODY_BAD_UTF8,    /* decode_data and not UTF-8 */
	SESSION_BODY_HEADER_BIG   /* the header block a plugin wanted whole */
};

/* One message being received (a member of struct session). */
struct session_body {
	int streaming;             /* the plugin has on_body */
	struct smtp_body body;     /* pieces, held header, UTF-8 */
	enum session_body_refusal refusal;
	struct smtpgate_reply reply;        /* on_body's refusal */
	enum smtpgate_verdict verdict;      /* ... and its verdict */
	unsigned long long size_bytes;      /* for the log line */
	long long started_ms;
};

#endif
