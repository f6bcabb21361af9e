/*
 * auth.c - the backends of AUTH behind one interface: open them as root
 * (files are read then, before the chroot), check an attempt, check the
 * sender of an authenticated client, and the -t check that the worker
 * can still reach Dovecot after its chroot and user switch.
 *
 * It never logs a credential, never keeps a password past the call, and
 * never writes to a client: the dialogue is session_auth.c's.
 */
#include "auth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_util.h"
#include "mem.h"

const char *auth_result_name(enum auth_result r)
{
	static const char *const names[] = { "ok", "fail", "tempfail" };
	return (unsigned int)r < sizeof(names) / sizeof(names[0]) ? names[r] : "invalid";
}

struct auth_backend *auth_open(const struct listener_config *l, int report, char *err,
			       size_t err_size)
{
	struct auth_backend *b = mem_calloc(1, sizeof(*b));
	b->l = l;
	if (l->auth.backend == AUTH_BACKEND_FILE &&
	    !(b->file = auth_file_load(l->auth.file, report, err, err_size))) {
		auth_free(b);
		return NULL;
	}
	if (l->auth.backend == AUTH_BACKEND_DOVECOT)
		b->dovecot = auth_dovecot_new(l->auth.dovecot_socket);
	if (l->auth.sender_must_match &&
	    !(b->senders = auth_senders_load(l->auth.sender_must_match, err, err_size))) {
		auth_free(b);
		return NULL;
	}
	return b;
}

void auth_free(struct auth_backend *b)
{
	if (!b)
		return;
	auth_file_free(b->file);
	auth_dovecot_free(b->dovecot);
	auth_senders_free(b->senders);
	free(b);
}

int auth_check_reachable(struct auth_backend *b, char *err, size_t err_size)
{
	if (!b->dovecot)
		return 0;
	return auth_dovecot_probe(b->dovecot, b->l->auth.dovecot_timeout_sec * 1000, err,
				  err_size);
}

enum auth_result auth_verify(struct auth_backend *b, const struct auth_request *r,
			     int timeout_ms, char *user_out, size_t user_size, char *why_out,
			     size_t why_size)
{
	const char *identity = r->authzid[0] ? r->authzid : r->authcid;
	why_out[0] = '\0';
	if (b->dovecot)
		return auth_dovecot_verify(b->dovecot, r, timeout_ms, user_out, user_size, why_out,
					   why_size);
	if (!b->file) {
		snprintf(why_out, why_size, "no backend");
		return AUTH_TEMPFAIL;
	}
	enum auth_result res = auth_file_verify(b->file, r->authcid, r->password);
	if (res == AUTH_FAIL)
		snprintf(why_out, why_size, "credentials refused"); /* unknown user or password: alike */
	if (res == AUTH_OK && snprintf(user_out, user_size, "%s", identity) >= (int)user_size) {
		snprintf(why_out, why_size, "user name too long");
		return AUTH_FAIL;
	}
	return res;
}

int auth_sender_allowed(const struct auth_backend *b, const char *user, const char *sender)
{
	return !b->senders || auth_senders_allowed(b->senders, user, sender);
}
