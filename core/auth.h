/* auth.h - AUTH's verdicts from a backend: Dovecot's auth socket
   (auth_dovecot.c) or a crypt(3) password file (auth_file.c), and the
   sender map of auth.sender_must_match (auth_senders.c).  The plugin
   backend is the session's (session_auth.c): it needs the session. */
#ifndef SMTPGATE_AUTH_H
#define SMTPGATE_AUTH_H

#include <stddef.h>

#include "config.h"

/* What a backend says of one attempt. */
enum auth_result {
	AUTH_OK,       /* the credentials are good: 235 */
	AUTH_FAIL,     /* unknown user or wrong password, alike: 535 */
	AUTH_TEMPFAIL  /* the backend is down, slow or confused: 454 */
};

const char *auth_result_name(enum auth_result r);

/* One attempt, decoded.  The password is the caller's to wipe. */
struct auth_request {
	const char *authzid;     /* "" if none */
	const char *authcid;
	const char *password;
	const char *client_addr; /* for Dovecot's rip= (and its penalty) */
	const char *local_addr;
	int secured;             /* over TLS */
};

#define AUTH_USER_MAX_BYTES 256

struct auth_backend;

/* Read what the listener's auth group names, as root before the chroot:
   the password file, the sender map.  report: also warn about a file
   that others may read (-t).  NULL with the reason in err. */
struct auth_backend *auth_open(const struct listener_config *l, int report, char *err,
			       size_t err_size);
void auth_free(struct auth_backend *b);

/* After the chroot and the user switch (-t): can this worker reach what
   it needs (Dovecot's socket)?  0, or -1 with the reason in err. */
int auth_check_reachable(struct auth_backend *b, char *err, size_t err_size);

/* Check one attempt within timeout_ms.  On AUTH_OK, user_out holds the
   authenticated name (the authzid when one was given and allowed).
   why_out says what went wrong for the log: never a credential. */
enum auth_result auth_verify(struct auth_backend *b, const struct auth_request *r,
			     int timeout_ms, char *user_out, size_t user_size, char *why_out,
			     size_t why_size);

/* sender_must_match: may user send as sender ("" for <>)?  1 or 0; 1
   when the listener has no map. */
int auth_sender_allowed(const struct auth_backend *b, const char *user, const char *sender);

#endif
