/*
 * smtp_data.c - turns the bytes after "354" into smtpd.py's `data`.
 *
 * Pure: no I/O.  Entry points: smtp_data_begin(), smtp_data_feed(),
 * smtp_data_finish().  The rules:
 *  - Only CR LF "." CR LF ends the message.  A "." line after a bare LF or a
 *    bare CR is content, never the end (SMTP smuggling, CVE-2023-51764).
 *  - De-transparency (RFC 5321 §4.5.2): a leading dot of a line is removed.
 *  - Line ends become LF; the bytes of a line are kept exactly, however long.
 *  - Bytes are counted as smtpd.py counts them; past the limit nothing more
 *    is stored, but reading goes on to the terminator so the 552 lands after it.
 */
#include "smtp_data.h"

#include <string.h>

static const char *const bare_lf_names[] = { "keep", "normalize", "reject" };

const char *bare_lf_policy_name(enum bare_lf_policy policy)
{
	return bare_lf_names[policy];
}

int bare_lf_policy_from_name(const char *name, enum bare_lf_policy *out)
{
	for (size_t i = 0; i < sizeof(bare_lf_names) / sizeof(bare_lf_names[0]); i++)
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

int smtp_data_feed(struct smtp_data *d, const char *piece, size_t len)
{
	size_t skip = 0;
	if (len == 0)
		return 0;
	if (d->at_line_start) {
		if (d->may_terminate && len == 3 && memcmp(piece, ".\r\n", 3) == 0)
			return 1;
		if (d->logical_start && piece[0] == '.')
			skip = 1;
	}
	d->raw_bytes += len;
	/* smtpd.py does not count the CR LF before the terminating dot. */
	if (d->size_limit_bytes && d->raw_bytes > d->size_limit_bytes + 2 && !d->over_limit) {
		d->over_limit = 1;
		msgbuf_free(d->out);
	}

	size_t keep = len - skip;
	const char *text = piece + skip;
	if (piece[len - 1] != '\n') {
		/* Part of a line longer than the buffer: the line goes on. */
		if (!d->over_limit)
			msgbuf_append(d->out, text, keep);
		d->at_line_start = 0;
		d->prev_cr = piece[len - 1] == '\r';
		return 0;
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
	d->at_line_start = 1;
	d->prev_cr = 0;
	if (crlf) {
		d->logical_start = d->may_terminate = 1;
	} else {
		d->bare_lf_seen = 1;
		d->logical_start = d->policy == BARE_LF_NORMALIZE;
		d->may_terminate = 0;
	}
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
