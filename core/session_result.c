/*
 * session_result.c - what became of a message after its final dot: the
 * result word (accepted, refused, tempfailed, size-limited), the count of
 * messages accepted in the session that plugins see, and the message's
 * log line with the reply exactly as the client got it.
 *
 * Called by the message's delivery (session_body.c) once the answer is queued.
 * It never sends anything to the client and never calls a plugin hook;
 * everything the client or a plugin wrote goes into the line quoted, so
 * no sender address or reply text can add a field or a line.
 */
#include "session_internal.h"

#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "log.h"

static const char *result_name(int size_limited, const struct smtpgate_reply *r);
static const char *enhanced_sent(const struct smtpgate_reply *r, char *buf, size_t size);

/* The word for the line: a 2xx is accepted whoever gave it, the core's
   552 for too much data is size-limited, otherwise the reply's class. */
static const char *result_name(int size_limited, const struct smtpgate_reply *r)
{
	if (r->code / 100 == 2)
		return "accepted";
	if (size_limited)
		return "size-limited";
	return r->code / 100 == 4 ? "tempfailed" : "refused";
}

/* The enhanced code the client got: the reply's own, or the one a
   relayed upstream's text starts with ("2.0.0 Ok"), of the code's class
   (RFC 3463: class.subject.detail, 1-3 digits each); "-" when none. */
static const char *enhanced_sent(const struct smtpgate_reply *r, char *buf, size_t size)
{
	if (r->enhanced[0])
		return r->enhanced;
	const char *t = r->text;
	if (t[0] - '0' != r->code / 100 || t[1] != '.')
		return "-";
	size_t n = 2;
	for (int part = 0; part < 2; part++) {
		size_t digits = strspn(t + n, "0123456789");
		if (digits < 1 || digits > 3 || (part == 0 && t[n + digits] != '.'))
			return "-";
		n += digits + (part == 0);
	}
	if ((t[n] != ' ' && t[n] != '\0') || n >= size)
		return "-";
	memcpy(buf, t, n);
	buf[n] = '\0';
	return buf;
}

void session_message_done(struct session *s, unsigned long long size, int size_limited,
			  const struct smtpgate_reply *r, int delivered, long long started_ms)
{
	char line[SMTP_REPLY_TEXT_MAX_BYTES + 32], enhanced[16];
	size_t n = smtp_reply_format(r, line, sizeof(line));
	line[n] = '\0'; /* 0: it did not fit (a reply is at most 512 bytes) */
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		line[--n] = '\0';
	/* Only a message its plugin took counts: the core's own refusals
	   after the final dot never reach a 2xx. */
	if (delivered && r->code / 100 == 2)
		s->messages_accepted++;
	counters_message(counters_result_of(r->code, size_limited), size, s->rcpt_count);
	log_info("sid=%s listener=%s event=message plugin=%s from=%s nrcpt=%zu size=%llu "
		 "result=%s code=%d enhanced=%s reply=%s ms=%lld%s%s", s->sid, s->l->name,
		 log_quoted(s->env->plugin->name), log_quoted(s->mailfrom), s->rcpt_count,
		 size, result_name(size_limited, r), r->code, enhanced_sent(r, enhanced, sizeof(enhanced)),
		 log_quoted(line), clock_ms() - started_ms, s->tls_log, s->auth_log);
}
