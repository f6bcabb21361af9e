/*
 * session_bdat.c - BDAT (RFC 3030 CHUNKING, without BINARYMIME): the
 * message in chunks of exactly counted octets, as another way to DATA.
 *
 * Entry points: session_bdat_table_add() (the row, on a listener that
 * offers CHUNKING) and the row's handler; DATA's side of the mixing rule
 * is session_cmd.c's, the reset of struct session_bdat session_state.c's.
 * The rules:
 *  - Every BDAT reads exactly its octets, whatever its answer (a 503 in
 *    the wrong state, a refusal, a transaction that failed earlier): a
 *    chunk's bytes are never parsed as commands.  A BDAT whose size
 *    cannot be read leaves the stream unknowable: 501, then 421 and close.
 *  - data_size_limit is checked as the octets arrive: past it nothing is
 *    kept, the chunk gets 552 and so does every later chunk of the
 *    transaction.  A chunk cut by the client's close delivers nothing.
 *  - The first chunk runs the plugin's DATA hook; the plugin then gets
 *    the message through session_bdat_append() and, at BDAT LAST, its
 *    end (session_body.c's, as DATA's): exactly what DATA gives.
 * It replies through session_chat.c, reads only through linebuf, and
 * never calls back into session.c.
 */
#include "session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

#define IN(st) SESSION_IN(SESSION_##st)

static void session_bdat_append(struct session *s, const char *data, size_t len);
static int read_chunk(struct session *s, unsigned long long octets, int keep);
static const char *refusal_text(const struct session *s);
static int begin_message(struct session *s);
static void end_message(struct session *s);
static void refuse_chunk(struct session *s, unsigned long long octets, int last,
			 const char *text);
static void smtp_bdat(struct session *s, const char *arg, const struct session_verb *row);

/* Runs in every state and before HELO (and STARTTLS): its handler reads
   the chunk first, then answers as the state allows. */
static const struct session_verb bdat_verb = {
	"BDAT", smtp_bdat, NULL, SESSION_ANY_COMMAND_STATE, NULL, 1, 0, NULL, 1
};

void session_bdat_table_add(struct session *s)
{
	if (!(s->l->extensions & SMTP_EXT_CHUNKING))
		return;
	s->verbs = mem_realloc(s->verbs, (s->verb_count + 1) * sizeof(*s->verbs));
	s->verbs[s->verb_count++] = bdat_verb;
}

/* The one way decoded message bytes reach the message: what DATA's
   reader stores, so the plugin cannot tell BDAT from DATA. */
static void session_bdat_append(struct session *s, const char *data, size_t len)
{
	session_body_feed(s, data, len); /* -1 once refused: the rest is dropped there */
}

/* Read exactly octets bytes of a chunk; keep: decode them into the
   message.  0, or -1 when the client went (the session is closing). */
static int read_chunk(struct session *s, unsigned long long octets, int keep)
{
	char out[LINEBUF_SIZE_BYTES + 1];
	while (octets > 0) {
		const char *piece;
		size_t len, want = octets < LINEBUF_SIZE_BYTES ? (size_t)octets : LINEBUF_SIZE_BYTES;
		int r = linebuf_read_octets(&s->lb, want,
					    session_chat_timeout_ms(&s->chat, s->l->data_timeout_sec),
					    &piece, &len);
		if (r < 0) {
			session_read_failed(s, r);
			return -1;
		}
		if (log_trace_enabled())
			log_trace(s->sid, "<", piece, len);
		octets -= len;
		if (keep)
			session_bdat_append(s, out, smtp_bdat_decode(&s->bdat.dec, piece, len, out));
	}
	return 0;
}

/* Why a chunk is refused before it is read; NULL if it is not. */
static const char *refusal_text(const struct session *s)
{
	if (s->state == SESSION_CONNECTED)
		return "503 Error: send HELO first";
	if (s->state == SESSION_GREETED)
		return "503 Error: need MAIL command";
	if (s->state == SESSION_MAIL)
		return "503 Error: need RCPT command";
	if (s->bdat.data_used)
		return "503 5.5.1 Error: BDAT after DATA in one transaction";
	return NULL;
}

/* The first chunk of a message: the plugin's DATA hook, as for DATA.  0,
   or -1 when it refused (its reply sent; the transaction has failed). */
static int begin_message(struct session *s)
{
	struct smtpgate_reply r;
	if (session_hook(s, SESSION_HOOK_DATA, &(struct session_hook_args){ 0 }, &r)) {
		s->bdat.failed = 1;
		s->bdat.refusal = r; /* the answer of each chunk after it too */
		return -1;
	}
	s->bdat.started_ms = clock_ms();
	smtp_bdat_begin(&s->bdat.dec, s->l->bare_lf);
	session_enter(s, SESSION_BDAT);
	session_body_begin(s);
	return 0;
}

/* BDAT LAST received whole: the message's end, as DATA's, with the
   figures DATA checks. */
static void end_message(struct session *s)
{
	char tail[1];
	session_bdat_append(s, tail, smtp_bdat_finish(&s->bdat.dec, tail));
	unsigned long long raw = smtp_bdat_size(&s->bdat.dec);
	if (s->l->data_size_limit && raw > (unsigned long long)s->l->data_size_limit)
		session_body_refuse(s, SESSION_BODY_TOO_BIG);
	else if (s->bdat.dec.bare_seen && s->l->bare_lf == BARE_LF_REJECT)
		session_body_refuse(s, SESSION_BODY_BARE_LF);
	if (session_chat_time_left_ms(&s->chat) == 0) {
		session_time_exceeded(s); /* LAST came after the session's end */
		return;
	}
	s->body.size_bytes = raw;
	s->body.started_ms = s->bdat.started_ms;
	session_body_end(s);
}

/* A chunk that is refused: its reply, its octets read and dropped; at
   LAST the transaction it failed ends (abandoned: on_reset). */
static void refuse_chunk(struct session *s, unsigned long long octets, int last,
			 const char *text)
{
	if (text)
		session_chat_reply(&s->chat, "%s", text);
	else
		session_chat_send(&s->chat, &s->bdat.refusal);
	if (read_chunk(s, octets, 0) < 0)
		return;
	if (!(s->ext & SMTP_EXT_PIPELINING) && linebuf_pending(&s->lb) > 0 &&
	    session_ehlo_pipelining_violation(s, "BDAT"))
		return;
	if (last && !text)
		session_reset_transaction(s, 1);
}

/* BDAT n [LAST]: the chunk read, then its answer. */
static void smtp_bdat(struct session *s, const char *arg, const struct session_verb *row)
{
	unsigned long long octets, limit = (unsigned long long)s->l->data_size_limit;
	int last;
	(void)row;
	if (smtp_bdat_parse_arg(arg, &octets, &last) < 0) {
		/* Where the next command starts is unknown now. */
		session_chat_reply(&s->chat, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
		session_chat_notify(&s->chat, "421 4.5.0 %s Error: BDAT without a size, closing",
				    s->env->fqdn);
		session_close(s, SESSION_END_LIMIT);
		return;
	}
	const char *refused = refusal_text(s);
	if (refused || s->bdat.failed) {
		refuse_chunk(s, octets, last, refused);
		return;
	}
	if (s->state == SESSION_RCPT && begin_message(s) < 0) {
		/* The hook's refusal is sent: the chunk is read and dropped. */
		if (s->state != SESSION_CLOSING && read_chunk(s, octets, 0) == 0 && last)
			session_reset_transaction(s, 1);
		return;
	}
	/* A message ending in CR LF may reach limit + 2 octets, as DATA's. */
	if (limit && s->bdat.dec.octets + octets > limit + 2) {
		s->bdat.failed = 1;
		smtp_reply_set(&s->bdat.refusal, 552, "5.3.4", "Error: Too much mail data");
		session_body_refuse(s, SESSION_BODY_TOO_BIG);
		refuse_chunk(s, octets, last, NULL);
		return;
	}
	if (read_chunk(s, octets, 1) < 0)
		return; /* cut by the client: nothing is delivered */
	if (!(s->ext & SMTP_EXT_PIPELINING) && linebuf_pending(&s->lb) > 0 &&
	    session_ehlo_pipelining_violation(s, "BDAT"))
		return;
	if (last)
		end_message(s);
	else
		session_chat_reply(&s->chat, "250 2.0.0 OK: %llu octets received", octets);
}
