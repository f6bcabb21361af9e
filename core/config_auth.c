/*
 * config_auth.c - what the auth table (config_table.c) cannot say alone:
 * the mechanism names, the setting each backend needs, settings that mean
 * nothing without a backend.  Files are not opened here (the password
 * file is read by the worker as root, the Dovecot socket is tried by -t
 * after the privilege drop: core/auth.c); it never logs.
 */
#include "config_auth.h"

#include <string.h>
#include <strings.h>

static int mechanisms(struct config_loader *ld, const config_setting_t *g,
		      struct auth_config *a);

/* The listed mechanisms as a mask; none listed: PLAIN and LOGIN. */
static int mechanisms(struct config_loader *ld, const config_setting_t *g,
		      struct auth_config *a)
{
	a->mech_mask = a->mechanisms.count ? 0 : AUTH_MECH_PLAIN | AUTH_MECH_LOGIN;
	for (size_t i = 0; i < a->mechanisms.count; i++) {
		const char *m = a->mechanisms.items[i];
		if (strcasecmp(m, "PLAIN") == 0)
			a->mech_mask |= AUTH_MECH_PLAIN;
		else if (strcasecmp(m, "LOGIN") == 0)
			a->mech_mask |= AUTH_MECH_LOGIN;
		else
			return config_table_fail(ld, g, "mechanisms",
						 "\"%s\": expected \"PLAIN\" or \"LOGIN\"", m);
	}
	return 0;
}

int config_auth_check(struct config_loader *ld, const config_setting_t *s,
		      struct listener_config *l)
{
	struct auth_config *a = &l->auth;
	const config_setting_t *g = config_setting_get_member(s, "auth");
	if (a->sender_must_match && !a->sender_must_match[0])
		a->sender_must_match = NULL;
	if (mechanisms(ld, g ? g : s, a) < 0)
		return -1;
	if (a->backend == AUTH_BACKEND_NONE) {
		if (a->required || a->sender_must_match)
			return config_table_fail(ld, g, a->required ? "required" : "sender_must_match",
						 "needs an authentication backend: set auth.backend");
		return 0;
	}
	if (a->backend == AUTH_BACKEND_FILE && !a->file[0])
		return config_table_fail(ld, g, "backend",
					 "backend \"file\" needs auth.file, the password file");
	if (a->backend == AUTH_BACKEND_DOVECOT && a->dovecot_socket[0] != '/')
		return config_table_fail(ld, g, "dovecot_socket",
					 "\"%s\": expected the absolute path of Dovecot's "
					 "auth-client socket", a->dovecot_socket);
	return 0;
}
