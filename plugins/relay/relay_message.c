/*
 * relay_message.c - the message to the upstream, with PureProxy's X-Peer
 * header: whole (relay_message, for a plugin given the whole message) or
 * as it arrives (relay_body for each piece, then relay_message at the
 * final dot, for a plugin with on_body and SMTPGATE_STREAM_WHOLE_HEADER:
 * its first piece is the header block, so X-Peer goes where it would in
 * the whole message).
 *
 * To an upstream offering CHUNKING the message goes as BDAT chunks, no
 * DATA before it (relay_data sent none); a refused chunk is the refusal.
 *
 * The reply to the final dot is the upstream's reply to the message; a
 * connection lost on the way is a 451 (the upstream's own refusal when it
 * sent one first).  It never sends a 2xx the upstream did not send, and
 * never holds more of the message than the piece it was given.
 */
#include "relay_internal.h"

#include <stdio.h>
#include <string.h>

static size_t x_peer(const struct relay *st, const struct smtpgate_session *s, const char *d,
		     size_t len, char *peer, size_t size);
static enum smtpgate_verdict first_piece(struct relay *st, const struct smtpgate_session *s,
					 const char *d, size_t len, struct smtpgate_reply *reply);
static void whole_as_chunks(struct relay *st, const struct smtpgate_data_part *parts,
			    size_t nparts, struct smtpgate_upstream_reply *u);
static enum smtpgate_verdict stream_failed(struct relay *st, const struct smtpgate_session *s,
					   struct smtpgate_reply *reply);

/* PureProxy's X-Peer: before the first empty line (the headers' end), or
   as a last line when there is none.  The X-Peer text in peer, and where
   in d it goes; none (hide_client) for a client that authenticated: a
   roaming user's address stays out of the mail. */
static size_t x_peer(const struct relay *st, const struct smtpgate_session *s, const char *d,
		     size_t len, char *peer, size_t size)
{
	size_t p;
	for (p = 0; p <= len; p++)
		if ((p == 0 || d[p - 1] == '\n') && (p == len || d[p] == '\n'))
			break;
	if (st->hide_client && s->auth_user)
		peer[0] = '\0';
	else if (p <= len)
		snprintf(peer, size, "X-Peer: %s\n", s->peer_addr);
	else
		snprintf(peer, size, "\nX-Peer: %s", s->peer_addr);
	return p <= len ? p : len;
}

enum smtpgate_verdict relay_message(struct relay *st, const struct smtpgate_session *s,
				    const struct smtpgate_message *msg, struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u = { 0, "connection lost" };
	if (msg->streamed) {
		/* An empty message gives no piece: it starts and ends here. */
		if (st->txn != TXN_STREAMING) {
			enum smtpgate_verdict v = first_piece(st, s, "", 0, reply);
			if (v != SMTPGATE_CONTINUE)
				return v;
		}
		st->txn = TXN_NONE;
		st->host->client_stream_end(st->up, &u, 1);
	} else {
		enum smtpgate_verdict ready = relay_data_answer(st, s, reply);
		if (ready != SMTPGATE_CONTINUE)
			return ready;
		int chunks = st->txn == TXN_CHUNKS_READY;
		st->txn = TXN_NONE;
		char peer[96];
		size_t split = x_peer(st, s, msg->data, msg->len, peer, sizeof(peer));
		struct smtpgate_data_part parts[3] = {
			{ msg->data, split },
			{ peer, strlen(peer) },
			{ msg->data + split, msg->len - split },
		};
		if (chunks)
			whole_as_chunks(st, parts, 3, &u);
		else
			st->host->client_message(st->up, parts, 3, &u, 1);
	}
	relay_tls_log(st->host, s, st->remote, st->up, &u);
	if (!st->host->client_usable(st->up))
		relay_drop_upstream(st);
	return relay_answer(st, s, "message", &u, reply);
}

/* A whole message as BDAT chunks: its parts streamed, then the end,
   whose reply (the refusal of a chunk if one was) is in *u. */
static void whole_as_chunks(struct relay *st, const struct smtpgate_data_part *parts,
			    size_t nparts, struct smtpgate_upstream_reply *u)
{
	if (st->host->client_stream_begin_chunks(st->up) == 0)
		for (size_t i = 0; i < nparts; i++)
			if (st->host->client_stream_write(st->up, parts[i].data, parts[i].len) < 0)
				break;
	st->host->client_stream_end(st->up, u, 1);
}

/* The message could not go on: the upstream's reply to it (its refusal
   when it closed the connection with one, else 451); the connection is
   dropped, which aborts the upstream's transaction. */
static enum smtpgate_verdict stream_failed(struct relay *st, const struct smtpgate_session *s,
					   struct smtpgate_reply *reply)
{
	struct smtpgate_upstream_reply u = { 0, "connection lost" };
	st->host->client_stream_end(st->up, &u, 1);
	relay_drop_upstream(st);
	if (u.code / 100 == 2) { /* never taken for a delivery: the message was cut short */
		u.code = 0;
		snprintf(u.text, sizeof(u.text), "connection lost while sending the message");
	}
	return relay_answer(st, s, "message", &u, reply);
}

/* The header block (or the whole message when it has no empty line):
   the upstream's 354, then the block with X-Peer where it belongs. */
static enum smtpgate_verdict first_piece(struct relay *st, const struct smtpgate_session *s,
					 const char *d, size_t len, struct smtpgate_reply *reply)
{
	enum smtpgate_verdict ready = relay_data_answer(st, s, reply);
	if (ready != SMTPGATE_CONTINUE)
		return ready;
	if ((st->txn == TXN_CHUNKS_READY ? st->host->client_stream_begin_chunks(st->up)
					 : st->host->client_stream_begin(st->up)) < 0)
		return stream_failed(st, s, reply);
	st->txn = TXN_STREAMING;
	char peer[96];
	size_t split = x_peer(st, s, d, len, peer, sizeof(peer));
	if (st->host->client_stream_write(st->up, d, split) < 0 ||
	    st->host->client_stream_write(st->up, peer, strlen(peer)) < 0 ||
	    st->host->client_stream_write(st->up, d + split, len - split) < 0)
		return stream_failed(st, s, reply);
	return SMTPGATE_CONTINUE;
}

enum smtpgate_verdict relay_body(struct relay *st, const struct smtpgate_session *s,
				 const char *data, size_t len, struct smtpgate_reply *reply)
{
	if (st->txn != TXN_STREAMING)
		return first_piece(st, s, data, len, reply);
	if (st->host->client_stream_write(st->up, data, len) < 0)
		return stream_failed(st, s, reply);
	return SMTPGATE_CONTINUE;
}
