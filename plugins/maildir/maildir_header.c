/*
 * maildir_header.c - the lines the maildir handler puts above a message:
 * Return-Path, Delivered-To or X-Original-To, and a Received line whose
 * "with" says the protocol (RFC 3848: ESMTP, LMTP, ...) and, for a client
 * on a UNIX socket, "via UNIX socket" and its uid instead of an address.
 *
 * Pure but for the clock: it never touches a file.  What the client chose
 * (the HELO name) is made printable ASCII first: it can never add a
 * header line or break the Received comment.
 */
#include "maildir_header.h"

#include <stdio.h>
#include <time.h>

static void header_safe(char *out, size_t size, const char *in);
static const char *with_word(const struct maildir_header_opts *o,
			     const struct smtpgate_session *s);

/* Printable ASCII of a client-chosen string for a header (the HELO name). */
static void header_safe(char *out, size_t size, const char *in)
{
	size_t n = 0;
	for (; *in && n + 1 < size && n < 255; in++) {
		unsigned char c = (unsigned char)*in;
		out[n++] = (c > 0x20 && c < 0x7f && c != '(' && c != ')') ? (char)c : '?';
	}
	out[n] = '\0';
}

/* The Received line's protocol: the session's own on an LMTP listener
   (RFC 6531's UTF8LMTP with SMTPUTF8), else as smtpgate always wrote it. */
static const char *with_word(const struct maildir_header_opts *o,
			     const struct smtpgate_session *s)
{
	if (o->abi_minor >= 1 && s->lmtp)
		return s->smtputf8 ? "UTF8LMTP" : s->protocol ? s->protocol : "LMTP";
	return s->smtputf8 ? "UTF8SMTP" : s->extended_smtp ? "ESMTP" : "SMTP";
}

size_t maildir_header_build(const struct maildir_header_opts *o,
			    const struct smtpgate_session *s, const char *rcpt, char *out,
			    size_t size)
{
	size_t n = 0;
/* A line that does not fit whole is left out, never cut in two. */
#define ADD(...)                                                         \
	do {                                                             \
		int k_ = snprintf(out + n, size - n, __VA_ARGS__);       \
		if (k_ >= 0 && (size_t)k_ < size - n)                    \
			n += (size_t)k_;                                 \
		out[n] = '\0';                                          \
	} while (0)
	if (o->return_path)
		ADD("Return-Path: <%s>\n", s->mailfrom);
	if (rcpt && o->delivered_to)
		ADD("Delivered-To: %s\n", rcpt);
	if (!rcpt && o->original_to)
		for (size_t i = 0; i < s->rcpt_count; i++)
			ADD("X-Original-To: %s\n", s->rcpttos[i]);
	if (o->received) {
		char helo[256], date[64], from[80];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		header_safe(helo, sizeof(helo), s->seen_greeting[0] ? s->seen_greeting : "unknown");
		/* A UNIX socket's client has no address: its uid says who. */
		int local = o->abi_minor >= 1 && s->peer_uid >= 0;
		if (local)
			snprintf(from, sizeof(from), "uid %ld", s->peer_uid);
		else
			snprintf(from, sizeof(from), "[%s]", s->peer_addr);
		const char *one = rcpt ? rcpt : s->rcpt_count == 1 ? s->rcpttos[0] : NULL;
		ADD("Received: from %s (%s)\n\tby %s (smtpgate)%s with %s id %s%s%s%s;\n\t%s\n",
		    helo, from, s->fqdn, local ? " via UNIX socket" : "", with_word(o, s), s->id,
		    one ? "\n\tfor <" : "", one ? one : "", one ? ">" : "", date);
	}
#undef ADD
	return n;
}
