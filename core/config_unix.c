/*
 * config_unix.c - the settings of a listener on a UNIX-domain socket
 * (address "unix:/path", for LMTP and SMTP alike): the path, the socket
 * file's socket_mode, socket_user and socket_group, and the settings such
 * a listener cannot have.  The PROXY protocol and TLS are refused there:
 * the client is a local process, known by its credentials (SO_PEERCRED),
 * with no balancer in front and no wire to protect.
 *
 * Called by config.c's listener check.  It never creates, binds or
 * removes a file (master_unix.c does, at start) and never logs.
 */
#include "config_unix.h"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

static int unix_path(struct config_loader *ld, const config_setting_t *s,
		     struct listener_config *l);
static int unix_owner(struct config_loader *ld, const config_setting_t *s,
		      struct listener_config *l);

/* The path after "unix:": absolute, and short enough for sun_path. */
static int unix_path(struct config_loader *ld, const config_setting_t *s,
		     struct listener_config *l)
{
	const char *path = l->address + strlen(CONFIG_UNIX_PREFIX);
	if (path[0] != '/')
		return config_table_fail(ld, s, "address",
					 "\"%s\": a UNIX socket needs an absolute path: unix:/dir/name",
					 l->address);
	if (strlen(path) >= CONFIG_UNIX_PATH_MAX_BYTES)
		return config_table_fail(ld, s, "address",
					 "\"%s\": the path is %zu bytes long; a UNIX socket's "
					 "is at most %d", l->address, strlen(path),
					 CONFIG_UNIX_PATH_MAX_BYTES - 1);
	if (path[strlen(path) - 1] == '/')
		return config_table_fail(ld, s, "address", "\"%s\": names a directory, not a socket",
					 l->address);
	l->unix_path = path;
	return 0;
}

/* socket_mode (octal text), socket_user and socket_group as numbers. */
static int unix_owner(struct config_loader *ld, const config_setting_t *s,
		      struct listener_config *l)
{
	char *end;
	const char *m = l->socket_mode_text;
	long mode = strtol(m, &end, 8);
	if (!*m || *end || mode < 0 || mode > 0777)
		return config_table_fail(ld, s, "socket_mode",
					 "\"%s\" is not an octal mode like \"0660\"", m);
	l->socket_mode = (int)mode;
	l->socket_uid = l->socket_gid = -1;
	if (l->socket_user) {
		struct passwd *pw = getpwnam(l->socket_user);
		if (!pw)
			return config_table_fail(ld, s, "socket_user", "no such user \"%s\"",
						 l->socket_user);
		l->socket_uid = (long)pw->pw_uid;
	}
	if (l->socket_group) {
		struct group *gr = getgrnam(l->socket_group);
		if (!gr)
			return config_table_fail(ld, s, "socket_group", "no such group \"%s\"",
						 l->socket_group);
		l->socket_gid = (long)gr->gr_gid;
	}
	return 0;
}

int config_unix_check(struct config_loader *ld, const config_setting_t *s,
		      struct listener_config *l)
{
	static const char *const socket_only[] = { "socket_mode", "socket_user", "socket_group" };
	l->unix_path = NULL;
	if (strncmp(l->address, CONFIG_UNIX_PREFIX, strlen(CONFIG_UNIX_PREFIX)) != 0) {
		for (size_t i = 0; i < sizeof(socket_only) / sizeof(socket_only[0]); i++)
			if (config_setting_get_member(s, socket_only[i]))
				return config_table_fail(ld, s, socket_only[i],
							 "only for a UNIX socket (address = "
							 "\"unix:/path\")");
		return 0;
	}
	if (unix_path(ld, s, l) < 0 || unix_owner(ld, s, l) < 0)
		return -1;
	if (l->proxy_protocol)
		return config_table_fail(ld, s, "proxy_protocol",
					 "not on a UNIX socket: no balancer stands in front of a "
					 "local client, whose credentials identify it");
	if (l->tls.mode != TLS_MODE_OFF)
		return config_table_fail(ld, s, "tls",
					 "tls.mode must be \"off\" on a UNIX socket: the connection "
					 "never leaves this host");
	return 0;
}
