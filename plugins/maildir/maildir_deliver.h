/* maildir_deliver.h - one message into its Maildirs as it arrives: tmp/
   files written piece by piece, new/ at the final dot, all or nothing
   (on LMTP, each recipient's copy on its own). */
#ifndef SMTPGATE_MAILDIR_DELIVER_H
#define SMTPGATE_MAILDIR_DELIVER_H

#include <stddef.h>

#include "maildir.h"

/* The first piece: every copy's Maildir found or made, its tmp/ file
   created and its headers written; st->tx is set either way.  0, or -1
   when something failed (kept for maildir_tx_finish's answer). */
int maildir_tx_begin(struct maildir_state *st, const struct smtpgate_session *s);
/* A piece of the message, to every tmp/ file of it. */
void maildir_tx_write(struct maildir_state *st, const char *p, size_t len);
/* The final dot: each copy fsync'd and linked into its new/, each new/
   fsync'd; any failure takes back what was shown (4xx).  On LMTP, each
   copy on its own: a failed one's recipients get its 4xx through
   m->rcpt_replies, the others keep their copies.  Ends st->tx. */
enum smtpgate_verdict maildir_tx_finish(struct maildir_state *st,
					const struct smtpgate_session *s,
					const struct smtpgate_message *m,
					struct smtpgate_reply *reply);
/* Abandoned: every tmp/ file of it removed.  Ends st->tx (if any). */
void maildir_tx_abort(struct maildir_state *st);

#endif
