/* smtp_data.h - DATA decoding: terminator, de-transparency, size, bare LF. */
#ifndef SMTPGATE_SMTP_DATA_H
#define SMTPGATE_SMTP_DATA_H

#include <stddef.h>

#include "msgbuf.h"

/* What a bare LF (an LF without CR before it) or a bare CR (a CR without
   LF after it) in DATA gets. */
enum bare_lf_policy {
	BARE_LF_KEEP = 0,  /* kept as sent, as smtpd.py does */
	BARE_LF_NORMALIZE, /* treated as a line end, like CR LF */
	BARE_LF_REJECT     /* the message is refused after the final dot */
};

const char *bare_lf_policy_name(enum bare_lf_policy policy);
int bare_lf_policy_from_name(const char *name, enum bare_lf_policy *out);
/* The policies' names in enum order, NULL-ended (the config's choices). */
extern const char *const bare_lf_names[];


struct smtp_data {
	enum bare_lf_policy policy;
	unsigned long long size_limit_bytes; /* 0 = none */
	struct msgbuf *out;
	unsigned long long raw_bytes;  /* as smtpd.py counts num_bytes */
	int at_line_start;   /* the next piece starts a physical line */
	int logical_start;   /* ... which is also a line for de-transparency */
	int may_terminate;   /* ... after CR LF (or first): "." may end DATA */
	int prev_cr;         /* the previous piece ended with CR (bare unless LF comes) */
	int over_limit;      /* stopped storing: too much mail data */
	int bare_lf_seen;    /* a bare LF or a bare CR */
};

void smtp_data_begin(struct smtp_data *d, struct msgbuf *out,
		     enum bare_lf_policy policy, unsigned long long size_limit_bytes);
/* Feed one piece from linebuf_read_data(); returns 1 when the piece was
   the end-of-data line (CR LF . CR LF), 0 otherwise. */
int smtp_data_feed(struct smtp_data *d, const char *piece, size_t len);
/* After the terminator: drop the line end that belongs to it. */
void smtp_data_finish(struct smtp_data *d);

#endif
