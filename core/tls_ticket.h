/*
 * tls_ticket.h - the session-ticket keys every worker shares, so a client
 * resumes its TLS session on whichever worker accepts it next.  The
 * master makes the keys and rotates them; workers only read them.
 */
#ifndef SMTPGATE_TLS_TICKET_H
#define SMTPGATE_TLS_TICKET_H

#include <stddef.h>

struct ssl_ctx_st;

/* Master, before the first fork: one page shared with every worker to
   come, holding a fresh key; rotation_sec is tls_ticket_rotation.
   0, or -1 (logged: workers then keep OpenSSL's keys of their own). */
int tls_ticket_init(int rotation_sec);
/* Master: a new key issues tickets from now on, the one before it still
   reads them (one rotation), the one before that is forgotten.  why is
   logged ("schedule", "reload"). */
void tls_ticket_rotate(const char *why);
/* Master, from its loop: rotate once rotation_sec have passed since the
   last rotation (rotation_sec may change with a reload). */
void tls_ticket_tick(int rotation_sec);
/* Worker, at its start: the page becomes read-only for it. */
void tls_ticket_readonly(void);
/* ctx (made by the master for its workers) issues one ticket per
   handshake and reads tickets with the shared keys; without the page
   (smtpgate -t, tests) OpenSSL's own keys stay.  0, or -1 with a message
   in err. */
int tls_ticket_setup(struct ssl_ctx_st *ctx, char *err, size_t err_size);

#endif
