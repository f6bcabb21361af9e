/*
 * smtp_bdat.c - the octets of BDAT chunks (RFC 3030) turned into the
 * message a plugin gets from DATA: lines joined by LF, no final line end.
 *
 * Pure: no I/O.  Entry points: smtp_bdat_parse_arg(), smtp_bdat_begin(),
 * smtp_bdat_decode(), smtp_bdat_finish().  BDAT has no transparency:
 * a line "." is content and no dot is ever removed (RFC 3030 2); only the
 * chunk sizes delimit the message, so nothing in it can end it early.
 * Bare CR and bare LF get the listener's bare_lf policy as in DATA
 * (smtp_data.c); a CR LF split between two chunks is one line end.  It
 * never decides whether the message is taken (size, policy "reject"):
 * the caller reads bare_seen and the size.
 */
#include "smtp_bdat.h"

#include <string.h>
#include <strings.h>

void smtp_bdat_begin(struct smtp_bdat *d, enum bare_lf_policy policy)
{
	memset(d, 0, sizeof(*d));
	d->policy = policy;
}

/* The held CR was bare: stored as CR, or as a line end with normalize. */
static size_t resolve_bare_cr(struct smtp_bdat *d, char *out)
{
	d->bare_seen = 1;
	d->held = 0;
	if (d->policy == BARE_LF_NORMALIZE) {
		d->held = '\n';
		return 0;
	}
	out[0] = '\r';
	return 1;
}

size_t smtp_bdat_decode(struct smtp_bdat *d, const char *in, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (d->held == '\r' && c == '\n') {
			d->held = '\n'; /* CR LF: a line end, perhaps the last */
			continue;
		}
		if (d->held == '\r')
			n += resolve_bare_cr(d, out + n);
		if (d->held == '\n') {
			out[n++] = '\n';
			d->held = 0;
		}
		if (c == '\r') {
			d->held = '\r';
		} else if (c == '\n') {
			d->bare_seen = 1; /* an LF without CR: a line end in every policy */
			d->held = '\n';
		} else {
			out[n++] = c;
		}
	}
	/* The last two octets of the message so far, across chunks. */
	if (len >= 2) {
		d->tail[0] = in[len - 2];
		d->tail[1] = in[len - 1];
	} else if (len == 1) {
		d->tail[0] = d->tail[1];
		d->tail[1] = in[0];
	}
	d->octets += len;
	return n;
}

size_t smtp_bdat_finish(struct smtp_bdat *d, char *out)
{
	size_t n = 0;
	if (d->held == '\r')
		n = resolve_bare_cr(d, out);
	d->held = 0; /* the final line end is dropped */
	return n;
}

unsigned long long smtp_bdat_size(const struct smtp_bdat *d)
{
	int crlf = d->octets >= 2 && d->tail[0] == '\r' && d->tail[1] == '\n';
	return crlf ? d->octets - 2 : d->octets;
}

int smtp_bdat_parse_arg(const char *arg, unsigned long long *size_out, int *last_out)
{
	if (!arg)
		return -1;
	size_t digits = strspn(arg, "0123456789");
	if (digits == 0 || digits > SMTP_BDAT_SIZE_MAX_DIGITS)
		return -1;
	unsigned long long v = 0;
	for (size_t i = 0; i < digits; i++)
		v = v * 10 + (unsigned long long)(arg[i] - '0');
	const char *rest = arg + digits;
	if (*rest == '\0')
		*last_out = 0;
	else if (rest[0] == ' ' && strcasecmp(rest + 1, "LAST") == 0)
		*last_out = 1;
	else
		return -1;
	*size_out = v;
	return 0;
}
