/*
 * smtp_data.c - turns the bytes after "354" into smtpd.py's `data`.
 *
 * Pure: no I/O.  Entry points: smtp_data_begin(), smtp_data_feed(),
 * smtp_data_finish().  The rules:
 *  - Only CR LF "." CR LF ends the message.  A "." line after a bare LF or a
 *    bare CR is content, never the end (SMTP smuggling, CVE-2023-51764).
 *  - A bare CR (one not followed by LF) gets what the policy gives a bare LF:
 *    keep stores it as sent (smtpd.py), normalize makes it a line end,
 *    reject has the message refused (bare_lf_seen).  Either way it is
 *    never a line end that may end DATA.  NUL bytes are content, as in
 *    smtpd.py and Postfix; the SMTP client never relays one.
 *  - De-transparency (RFC 5321 §4.5.2): a leading dot of a line is removed.
 *  - Line ends become LF; the bytes of a line are kept exactly, however long.
 *  - Bytes are counted as smtpd.py counts them; past the limit nothing more
 *    is stored, but reading goes on to the terminator so the 552 lands after it.
 */
#include "smtp_data.h"

#include <string.h>

/* In the order of enum bare_lf_policy; NULL-ended for the config table. */
const char *const bare_lf_names[] = { "keep", "normalize", "reject", NULL };
#define BARE_LF_POLICIES (sizeof(bare_lf_names) / sizeof(bare_lf_names[0]) - 1)

const char *bare_lf_policy_name(enum bare_lf_policy policy)
{
	if ((unsigned int)policy >= BARE_LF_POLICIES)
		return "?";
	return bare_lf_names[policy];
}

int bare_lf_policy_from_name(const char *name, enum bare_lf_policy *out)
{
	for (size_t i = 0; i < BARE_LF_POLICIES; i++)
		if (strcmp(name, bare_lf_names[i]) == 0) {
			*out = (enum bare_lf_policy)i;
			return 0;
		}
	return -1;
}

void smtp_data_begin(struct smtp_data *d, struct msgbuf *out,
		     enum bare_lf_policy policy, unsigned long long size_limit_bytes)
{
	memset(d, 0, sizeof(*d));
	d->policy = policy;
	d->size_limit_bytes = size_limit_bytes;
	d->out = out;
	d->at_line_start = d->logical_start = d->may_terminate = 1;
	msgbuf_reset(out);
}

/* Count a piece's bytes as smtpd.py does; past the limit stop storing.
   smtpd.py does not count the CR LF before the terminating dot. */
static void count_bytes(struct smtp_data *d, size_t len)
{
	d->raw_bytes += len;
	if (d->size_limit_bytes && d->raw_bytes > d->size_limit_bytes + 2 && !d->over_limit) {
		d->over_limit = 1;
		msgbuf_free(d->out);
	}
}

/* After a bare CR (or LF): normalize makes it a line end, so the next
   byte starts a line for de-transparency; never one that may end DATA. */
static void after_bare_end(struct smtp_data *d)
{
	d->bare_lf_seen = 1;
	d->at_line_start = d->logical_start = d->policy == BARE_LF_NORMALIZE;
	d->may_terminate = 0;
	d->prev_cr = 0;
}

/* The previous piece ended with a CR and this one does not start with LF:
   that CR was bare.  It is in the buffer already; normalize makes it LF. */
static void bare_cr_at_piece_end(struct smtp_data *d)
{
	if (d->policy == BARE_LF_NORMALIZE && !d->over_limit && d->out->len > 0)
		d->out->data[d->out->len - 1] = '\n';
	after_bare_end(d);
}

/* A segment of a piece that ends with a bare CR (a CR followed by
   anything but LF): kept with its CR, or with normalize a line. */
static void feed_bare_cr(struct smtp_data *d, const char *seg, size_t len)
{
	size_t skip = d->at_line_start && d->logical_start && seg[0] == '.';
	count_bytes(d, len);
	if (!d->over_limit) {
		int normalize = d->policy == BARE_LF_NORMALIZE;
		msgbuf_append(d->out, seg + skip, len - skip - (size_t)normalize);
		if (normalize)
			msgbuf_append(d->out, "\n", 1);
	}
	after_bare_end(d);
}

/* The rest of a piece, without bare CRs but perhaps a CR at its end: up
   to its LF, or part of a line longer than the buffer. */
static void feed_line(struct smtp_data *d, const char *piece, size_t len)
{
	size_t skip = d->at_line_start && d->logical_start && piece[0] == '.';
	count_bytes(d, len);
	size_t keep = len - skip;
	const char *text = piece + skip;
	if (piece[len - 1] != '\n') {
		/* Part of a line longer than the buffer: the line goes on. */
		if (!d->over_limit)
			msgbuf_append(d->out, text, keep);
		d->at_line_start = 0;
		d->prev_cr = piece[len - 1] == '\r';
		return;
	}

	int crlf = (len >= 2 && piece[len - 2] == '\r') || (len == 1 && d->prev_cr);
	if (crlf && len >= 2)
		keep -= keep >= 2 ? 2 : keep; /* drop CR LF */
	else
		keep -= 1; /* drop the LF; a CR that ended the last piece goes below */
	if (!d->over_limit) {
		if (crlf && len == 1 && d->out->len > 0)
			d->out->len--; /* the CR of this CR LF came in the previous piece */
		msgbuf_append(d->out, text, keep);
		msgbuf_append(d->out, "\n", 1);
	}
	if (crlf) {
		d->at_line_start = d->logical_start = d->may_terminate = 1;
		d->prev_cr = 0;
	} else {
		after_bare_end(d);
		d->at_line_start = 1; /* an LF ends a physical line in every mode */
	}
}

int smtp_data_feed(struct smtp_data *d, const char *piece, size_t len)
{
	if (len == 0)
		return 0;
	if (d->prev_cr && piece[0] != '\n')
		bare_cr_at_piece_end(d);
	if (d->at_line_start && d->may_terminate && len == 3 && memcmp(piece, ".\r\n", 3) == 0)
		return 1;
	/* A piece ends at its only LF: a CR before the last byte that is not
	   the CR of a final CR LF is bare and ends a segment of its own. */
	for (const char *cr; (cr = memchr(piece, '\r', len)) && (size_t)(cr - piece) + 1 < len;) {
		size_t n = (size_t)(cr - piece) + 1;
		if (piece[n] == '\n')
			break;
		feed_bare_cr(d, piece, n);
		piece += n;
		len -= n;
	}
	feed_line(d, piece, len);
	return 0;
}

void smtp_data_finish(struct smtp_data *d)
{
	if (!d->over_limit && d->out->len > 0 && d->out->data[d->out->len - 1] == '\n')
		d->out->len--;
	if (d->raw_bytes >= 2)
		d->raw_bytes -= 2;
	if (d->size_limit_bytes && d->raw_bytes > d->size_limit_bytes)
		d->over_limit = 1;
}
