/* auth_internal.h - what auth.c shares with its backends. */
#ifndef SMTPGATE_AUTH_INTERNAL_H
#define SMTPGATE_AUTH_INTERNAL_H

#include "auth.h"
#include "auth_util.h"

struct auth_file;
struct auth_dovecot;
struct auth_senders;

struct auth_backend {
	const struct listener_config *l;
	struct auth_file *file;       /* backend "file" */
	struct auth_dovecot *dovecot; /* backend "dovecot" */
	struct auth_senders *senders; /* sender_must_match, or NULL */
};

/* auth_file.c: the password file, read whole; NULL with err. */
struct auth_file *auth_file_load(const char *path, int report, char *err, size_t err_size);
void auth_file_free(struct auth_file *f);
/* AUTH_OK or AUTH_FAIL, in the same time for an unknown user. */
enum auth_result auth_file_verify(struct auth_file *f, const char *user, const char *password);

/* auth_dovecot.c: a client of Dovecot's auth-client socket. */
struct auth_dovecot *auth_dovecot_new(const char *socket_path);
void auth_dovecot_free(struct auth_dovecot *d);
/* Connect and read Dovecot's handshake: 0, or -1 with err. */
int auth_dovecot_probe(struct auth_dovecot *d, int timeout_ms, char *err, size_t err_size);
enum auth_result auth_dovecot_verify(struct auth_dovecot *d, const struct auth_request *r,
				     int timeout_ms, char *user_out, size_t user_size,
				     char *why_out, size_t why_size);

/* auth_senders.c: the sender map; NULL with err. */
struct auth_senders *auth_senders_load(const char *path, char *err, size_t err_size);
void auth_senders_free(struct auth_senders *m);
int auth_senders_allowed(const struct auth_senders *m, const char *user, const char *sender);

#endif
