/*
 * config_table.c - every setting as one row of a table: its name, type,
 * default, range and where its value lives in struct config (global) or
 * struct listener_config.  One generic loader reads a libconfig group
 * through a table (defaults, type and range checks, unknown names
 * refused), and -t lists a listener's values from the same rows, so a
 * new setting is one row.  What involves several settings (the pool's
 * sizes, the address specs, the plugin) is config.c's.  It never opens a
 * file and never logs.
 */
#include "config_table.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config_error.h"
#include "log.h"
#include "smtp_ext.h"

#ifndef PLUGINDIR
#define PLUGINDIR "/usr/local/lib/smtpgate/plugins"
#endif

enum setting_type {
	SET_STRING,  /* const char * */
	SET_INT,     /* int, within min..max */
	SET_LLONG,   /* long long, within min..max */
	SET_BOOL,    /* int, 0 or 1 */
	SET_CHOICE,  /* int: the index of the name in choices */
	SET_NETS,    /* struct config_nets: a list of networks */
	SET_STRINGS, /* struct config_strings: a string, or a list of up to max */
	SET_FLAGS    /* unsigned int: bit i for choices[i], from a list of names */
};

/* One setting: its name, its type, where its value lives (in struct
   config for the global table, in struct listener_config for the
   listener's), its default and range.  The loader, the range checks,
   the unknown-setting check and -t's listing all read these tables. */
struct setting {
	const char *name;
	enum setting_type type;
	size_t offset;
	long long min, max;        /* SET_INT, SET_LLONG */
	long long def;             /* SET_INT, SET_LLONG, SET_BOOL, SET_CHOICE, SET_FLAGS */
	const char *def_str;       /* SET_STRING; SET_NETS: networks, space-separated */
	const char *const *choices; /* SET_CHOICE, SET_FLAGS, NULL-terminated */
};

static const char *const log_targets[] = { "stderr", "syslog", NULL };
static const char *const schedulings[] = { "normal", "batch", NULL };
static const char *const pregreet_choices[] = { "log", "reject", NULL };
/* In the order of enum proxy_proto_versions: the index is the set of versions. */
static const char *const proxy_choices[] = { "off", "v1", "v2", "any", NULL };
/* In the order of enum tls_mode. */
static const char *const tls_mode_choices[] = { "off", "may", "required", "implicit", NULL };
/* The index is listener_config.lmtp. */
static const char *const protocol_choices[] = { "smtp", "lmtp", NULL };
/* In the order of enum tls_verify. */
static const char *const tls_verify_choices[] = { "none", "optional", "required", NULL };
/* In the order of enum auth_backend_type. */
static const char *const auth_backend_choices[] = { "none", "dovecot", "file", "plugin", NULL };

#define G(field) offsetof(struct config, field)
#define L(field) offsetof(struct listener_config, field)
#define DAY 86400

static const struct setting global_table[] = {
	{ "user", SET_STRING, G(user), 0, 0, 0, "nobody", NULL },
	{ "plugin_dir", SET_STRING, G(plugin_dir), 0, 0, 0, PLUGINDIR, NULL },
	{ "log", SET_CHOICE, G(log_syslog), 0, 0, 0, NULL, log_targets },
	{ "log_facility", SET_STRING, G(log_facility_name), 0, 0, 0, "mail", NULL },
	{ "shutdown_timeout", SET_INT, G(shutdown_timeout_sec), 1, DAY, 30, NULL, NULL },
	{ "worker_scheduling", SET_CHOICE, G(worker_sched_batch), 0, 0, 1, NULL, schedulings },
	{ "metrics", SET_STRING, G(metrics), 0, 0, 0, NULL, NULL }, /* NULL: off */
	/* a key lives two rotations: one to issue tickets, one to read them */
	{ "tls_ticket_rotation", SET_INT, G(tls_ticket_rotation_sec), 1, 7 * DAY, 3600, NULL,
	  NULL },
};

/* Defaults from smtpd.py, RFC 5321 and Postfix, as the comments say. */
static const struct setting listener_table[] = {
	{ "name", SET_STRING, L(name), 0, 0, 0, NULL, NULL }, /* NULL: the address */
	{ "address", SET_STRING, L(address), 0, 0, 0, NULL, NULL },
	{ "handler", SET_STRING, L(handler), 0, 0, 0, "debug", NULL },
	{ "remote", SET_STRING, L(remote), 0, 0, 0, "localhost:25", NULL },
	{ "data_size_limit", SET_LLONG, L(data_size_limit), 0, LLONG_MAX / 2,
	  CONFIG_DEFAULT_DATA_SIZE_LIMIT, NULL, NULL },
	{ "smtputf8", SET_BOOL, L(smtputf8), 0, 0, 0, NULL, NULL },
	{ "decode_data", SET_BOOL, L(decode_data), 0, 0, 0, NULL, NULL },
	{ "bare_lf", SET_CHOICE, L(bare_lf), 0, 0, BARE_LF_KEEP, NULL, bare_lf_names },
	/* RFC 5321 4.5.3.2.7 server timeout, 4.5.3.2.5 data block */
	{ "command_timeout", SET_INT, L(command_timeout_sec), 1, DAY, 300, NULL, NULL },
	{ "data_timeout", SET_INT, L(data_timeout_sec), 1, DAY, 180, NULL, NULL },
	{ "workers", SET_INT, L(workers), 1, POOL_WORKERS_MAX, 0, NULL, NULL },
	{ "min_spare", SET_INT, L(min_spare), 1, POOL_WORKERS_MAX, 2, NULL, NULL },
	{ "max_spare", SET_INT, L(max_spare), 1, POOL_WORKERS_MAX, 8, NULL, NULL },
	/* Postfix's default_process_limit, max_idle, smtpd_timeout under stress */
	{ "max_workers", SET_INT, L(max_workers), 1, POOL_WORKERS_MAX, 100, NULL, NULL },
	{ "max_idle", SET_INT, L(max_idle_sec), 1, DAY, 100, NULL, NULL },
	{ "stress_timeout", SET_INT, L(stress_timeout_sec), 1, DAY, 10, NULL, NULL },
	{ "max_sessions_per_worker", SET_LLONG, L(max_sessions_per_worker), 0, LLONG_MAX, 1000,
	  NULL, NULL },
	/* smtpd_client_connection_count_limit; mynetworks spared, as anvil does */
	{ "max_sessions_per_client", SET_INT, L(max_sessions_per_client), 0, 1000000, 50, NULL,
	  NULL },
	{ "client_limit_exceptions", SET_NETS, L(client_limit_exceptions), 0, 0, 0,
	  "127.0.0.0/8 ::1", NULL },
	{ "max_recipients", SET_LLONG, L(max_recipients), 1, 1000000, 1000, NULL, NULL },
	/* smtpd_soft_error_limit, smtpd_hard_error_limit, smtpd_error_sleep_time */
	{ "soft_error_limit", SET_INT, L(soft_error_limit), 0, 1000000, 10, NULL, NULL },
	{ "hard_error_limit", SET_INT, L(hard_error_limit), 1, 1000000, 20, NULL, NULL },
	{ "error_sleep", SET_INT, L(error_sleep_sec), 0, 60, 1, NULL, NULL },
	{ "max_session_time", SET_INT, L(max_session_time_sec), 1, 7 * DAY, 3600, NULL, NULL },
	/* smtpd_junk_command_limit */
	{ "max_idle_commands", SET_INT, L(max_idle_commands), 1, 1000000, 100, NULL, NULL },
	{ "greet_pause", SET_INT, L(greet_pause_ms), 0, 60000, 0, NULL, NULL },
	{ "pregreet", SET_CHOICE, L(pregreet_reject), 0, 0, 0, NULL, pregreet_choices },
	{ "chroot", SET_STRING, L(chroot_dir), 0, 0, 0, NULL, NULL },
	/* Postfix's smtpd_upstream_proxy_protocol and _timeout (5s) */
	{ "proxy_protocol", SET_CHOICE, L(proxy_protocol), 0, 0, 0, NULL, proxy_choices },
	{ "proxy_trusted", SET_NETS, L(proxy_trusted), 0, 0, 0, "", NULL },
	{ "proxy_timeout", SET_INT, L(proxy_timeout_sec), 1, 300, 5, NULL, NULL },
	/* issue 18: what EHLO offers beyond smtpd.py's set; Postfix's
	   reject_unauth_pipelining */
	{ "extensions", SET_FLAGS, L(extensions), 0, 0, SMTP_EXT_CONFIG_DEFAULT, NULL,
	  smtp_ext_names },
	{ "reject_unauth_pipelining", SET_BOOL, L(reject_unauth_pipelining), 0, 0, 0, NULL, NULL },
	/* RFC 2033; a unix: address's socket file, opened as Dovecot's lmtp
	   listener is by default (config_unix.c checks them) */
	{ "protocol", SET_CHOICE, L(lmtp), 0, 0, 0, NULL, protocol_choices },
	{ "socket_mode", SET_STRING, L(socket_mode_text), 0, 0, 0, "0666", NULL },
	{ "socket_user", SET_STRING, L(socket_user), 0, 0, 0, NULL, NULL },
	{ "socket_group", SET_STRING, L(socket_group), 0, 0, 0, NULL, NULL },
};

/* The listener's tls group (names shown as tls.NAME by -t).  The
   defaults: TLS 1.2 and 1.3 only; for TLS 1.2 OpenSSL's strong ciphers
   (no anonymous, no MD5: an MX must still talk to old senders, so no
   narrower list); for TLS 1.3 OpenSSL's own three suites. */
static const struct setting tls_table[] = {
	{ "mode", SET_CHOICE, L(tls.mode), 0, 0, TLS_MODE_OFF, NULL, tls_mode_choices },
	{ "cert", SET_STRINGS, L(tls.cert), 0, TLS_PAIRS_MAX, 0, NULL, NULL },
	{ "key", SET_STRINGS, L(tls.key), 0, TLS_PAIRS_MAX, 0, NULL, NULL },
	{ "protocols", SET_STRING, L(tls.protocols), 0, 0, 0, "TLSv1.2 TLSv1.3", NULL },
	{ "ciphers", SET_STRING, L(tls.ciphers), 0, 0, 0, "HIGH:!aNULL:!MD5", NULL },
	{ "ciphersuites", SET_STRING, L(tls.ciphersuites), 0, 0, 0,
	  "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", NULL },
	{ "handshake_timeout", SET_INT, L(tls.handshake_timeout_sec), 1, 3600, 30, NULL, NULL },
	{ "verify_client", SET_CHOICE, L(tls.verify_client), 0, 0, TLS_VERIFY_NONE, NULL,
	  tls_verify_choices },
	{ "ca_file", SET_STRING, L(tls.ca_file), 0, 0, 0, NULL, NULL },
};

/* The listener's auth group (auth.NAME).  Limits as Postfix's
   smtpd_sasl defaults and anvil's spirit: a few tries per session, ten
   per client address in ten minutes. */
static const struct setting auth_table[] = {
	{ "backend", SET_CHOICE, L(auth.backend), 0, 0, AUTH_BACKEND_NONE, NULL,
	  auth_backend_choices },
	{ "mechanisms", SET_STRINGS, L(auth.mechanisms), 0, TLS_PAIRS_MAX, 0, NULL, NULL },
	{ "dovecot_socket", SET_STRING, L(auth.dovecot_socket), 0, 0, 0,
	  "/run/dovecot/auth-client", NULL },
	{ "dovecot_timeout", SET_INT, L(auth.dovecot_timeout_sec), 1, 300, 10, NULL, NULL },
	{ "file", SET_STRING, L(auth.file), 0, 0, 0, "", NULL },
	{ "required", SET_BOOL, L(auth.required), 0, 0, 0, NULL, NULL },
	{ "plaintext_allowed", SET_BOOL, L(auth.plaintext_allowed), 0, 0, 0, NULL, NULL },
	{ "authzid_allowed", SET_BOOL, L(auth.authzid_allowed), 0, 0, 0, NULL, NULL },
	{ "max_failures", SET_INT, L(auth.max_failures), 1, 1000, 3, NULL, NULL },
	{ "client_failure_limit", SET_INT, L(auth.client_failure_limit), 0, 1000000, 10, NULL,
	  NULL },
	{ "client_failure_window", SET_INT, L(auth.client_failure_window_sec), 1, DAY, 600, NULL,
	  NULL },
	{ "sender_must_match", SET_STRING, L(auth.sender_must_match), 0, 0, 0, "", NULL },
};

#define TABLE_SIZE(t) (sizeof(t) / sizeof((t)[0]))

static int check_known(struct config_loader *ld, const config_setting_t *group,
		       const struct setting *table, size_t n, const char *extra,
		       const char *extra2);
static int default_nets(const char *text, struct config_nets *out);
static int set_default(const struct setting *row, char *base);
static int parse_nets(struct config_loader *ld, const config_setting_t *g,
		      const struct setting *row, const config_setting_t *m, struct config_nets *out);
static int parse_strings(struct config_loader *ld, const config_setting_t *g,
			 const struct setting *row, const config_setting_t *m,
			 struct config_strings *out);
static int parse_choice(struct config_loader *ld, const config_setting_t *g,
			const struct setting *row, const char *text);
static int parse_flags(struct config_loader *ld, const config_setting_t *g,
		       const struct setting *row, const config_setting_t *m, unsigned int *out);
static int load_row(struct config_loader *ld, const config_setting_t *g,
		    const struct setting *row, char *base);
static int load_table(struct config_loader *ld, const config_setting_t *g,
		      const struct setting *table, size_t n, void *base);
static void describe_row(const struct setting *row, const char *base, char *out, size_t size,
			 size_t *used, const char *prefix);
static int load_subgroup(struct config_loader *ld, const config_setting_t *s, const char *name,
			 const struct setting *table, size_t n, const char *extra,
			 struct listener_config *l);

/* The error about setting name of group s (or s itself) into the loader's
   buffer, with the line of the setting, else of the group. */
int config_table_fail(struct config_loader *ld, const config_setting_t *s, const char *name,
		const char *fmt, ...)
{
	char msg[CONFIG_ERROR_MAX_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const config_setting_t *at = s && name ? config_setting_get_member(s, name) : s;
	if (!at)
		at = s;
	int line = at ? (int)config_setting_source_line(at) : 0;
	return config_error_format(ld->err, ld->err_size, ld->cfg->source, line, name, "%s", msg);
}

/* Refuse any member of group not in the table (nor equal to extra or
   extra2, the subgroups). */
static int check_known(struct config_loader *ld, const config_setting_t *group,
		       const struct setting *table, size_t n, const char *extra,
		       const char *extra2)
{
	int count = config_setting_length(group);
	for (int i = 0; i < count; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned int)i);
		const char *name = config_setting_name(m);
		int ok = (extra && strcmp(name, extra) == 0) || (extra2 && strcmp(name, extra2) == 0) ||
			 (extra2 && strcmp(name, "auth") == 0); /* the listener's other group */
		for (size_t k = 0; !ok && k < n; k++)
			ok = strcmp(name, table[k].name) == 0;
		if (!ok)
			return config_error_format(ld->err, ld->err_size, ld->cfg->source,
						   (int)config_setting_source_line(m), name,
						   "unknown setting");
	}
	return 0;
}

/* The networks of a SET_NETS default, space-separated; -1 if one is bad
   (a mistake in the table). */
static int default_nets(const char *text, struct config_nets *out)
{
	char buf[256];
	const char *why;
	snprintf(buf, sizeof(buf), "%s", text);
	out->count = 0;
	out->nets = calloc(1 + strlen(text) / 2, sizeof(*out->nets));
	if (!out->nets)
		abort();
	for (char *save, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		if (addr_net_parse(t, &out->nets[out->count++], &why) < 0)
			return -1;
	return 0;
}

/* Put the row's default into its field. */
static int set_default(const struct setting *row, char *base)
{
	void *field = base + row->offset;
	switch (row->type) {
	case SET_STRING: *(const char **)field = row->def_str; return 0;
	case SET_LLONG: *(long long *)field = row->def; return 0;
	case SET_NETS: return default_nets(row->def_str, field);
	case SET_STRINGS: memset(field, 0, sizeof(struct config_strings)); return 0;
	case SET_FLAGS: *(unsigned int *)field = (unsigned int)row->def; return 0;
	default: *(int *)field = (int)row->def; return 0;
	}
}

/* A list or array of network strings, each checked, into out. */
static int parse_nets(struct config_loader *ld, const config_setting_t *g,
		      const struct setting *row, const config_setting_t *m, struct config_nets *out)
{
	const char *why;
	if (config_setting_type(m) != CONFIG_TYPE_ARRAY && config_setting_type(m) != CONFIG_TYPE_LIST)
		return config_table_fail(ld, g, row->name, "expected a list of networks [ \"a.b.c.d/n\", ... ]");
	int n = config_setting_length(m);
	free(out->nets);
	out->nets = calloc((size_t)n + 1, sizeof(*out->nets));
	out->count = 0;
	if (!out->nets)
		abort();
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned int)i);
		const char *text = config_setting_get_string(e);
		if (!text)
			return config_table_fail(ld, g, row->name, "element %d: expected a string", i + 1);
		if (addr_net_parse(text, &out->nets[out->count++], &why) < 0)
			return config_table_fail(ld, g, row->name, "\"%s\": %s", text, why);
	}
	return 0;
}

/* A string, or a list or array of at most row->max non-empty strings. */
static int parse_strings(struct config_loader *ld, const config_setting_t *g,
			 const struct setting *row, const config_setting_t *m,
			 struct config_strings *out)
{
	int t = config_setting_type(m);
	int n = t == CONFIG_TYPE_STRING ? 1 : config_setting_length(m);
	if (t != CONFIG_TYPE_STRING && t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return config_table_fail(ld, g, row->name, "expected a string or a list of strings");
	if (n < 1 || n > row->max)
		return config_table_fail(ld, g, row->name, "expected 1 to %lld strings, not %d",
					 row->max, n);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e =
			t == CONFIG_TYPE_STRING ? m : config_setting_get_elem(m, (unsigned int)i);
		const char *text = config_setting_get_string(e);
		if (!text || !text[0])
			return config_table_fail(ld, g, row->name, "element %d: expected a file name", i + 1);
		out->items[i] = text;
	}
	out->count = (size_t)n;
	return 0;
}

/* A choice's value: the index of text in the row's choices, or -1 after
   an error listing them. */
static int parse_choice(struct config_loader *ld, const config_setting_t *g,
			const struct setting *row, const char *text)
{
	char list[256] = "";
	size_t n = 0, used = 0;
	for (; row->choices[n]; n++)
		if (strcmp(text, row->choices[n]) == 0)
			return (int)n;
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
					 i == 0 ? "" : i + 1 == n ? " or " : ", ", row->choices[i]);
	return config_table_fail(ld, g, row->name, "expected %s, not \"%s\"", list, text);
}

/* A list or array of choice names (each at most once) as a bit set. */
static int parse_flags(struct config_loader *ld, const config_setting_t *g,
		       const struct setting *row, const config_setting_t *m, unsigned int *out)
{
	int t = config_setting_type(m);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return config_table_fail(ld, g, row->name, "expected a list of names [ \"%s\", ... ]",
					 row->choices[0]);
	*out = 0;
	for (int i = 0; i < config_setting_length(m); i++) {
		const char *text = config_setting_get_string(config_setting_get_elem(m, (unsigned int)i));
		if (!text)
			return config_table_fail(ld, g, row->name, "element %d: expected a string", i + 1);
		int v = parse_choice(ld, g, row, text);
		if (v < 0)
			return -1;
		if (*out & (1u << v))
			return config_table_fail(ld, g, row->name, "\"%s\" is listed twice", text);
		*out |= 1u << v;
	}
	return 0;
}

/* One setting of group g into base: its default, or its value checked
   for type and range. */
static int load_row(struct config_loader *ld, const config_setting_t *g,
		    const struct setting *row, char *base)
{
	void *field = base + row->offset;
	const config_setting_t *m = config_setting_get_member(g, row->name);
	if (!m)
		return 0;
	int t = config_setting_type(m);
	if (row->type == SET_NETS)
		return parse_nets(ld, g, row, m, field);
	if (row->type == SET_STRINGS)
		return parse_strings(ld, g, row, m, field);
	if (row->type == SET_FLAGS)
		return parse_flags(ld, g, row, m, field);
	if ((row->type == SET_STRING || row->type == SET_CHOICE) && t != CONFIG_TYPE_STRING)
		return config_table_fail(ld, g, row->name, "expected a string");
	if (row->type == SET_BOOL && t != CONFIG_TYPE_BOOL)
		return config_table_fail(ld, g, row->name, "expected true or false");
	if ((row->type == SET_INT || row->type == SET_LLONG) && t != CONFIG_TYPE_INT &&
	    t != CONFIG_TYPE_INT64)
		return config_table_fail(ld, g, row->name, "expected an integer");
	if (row->type == SET_STRING) {
		*(const char **)field = config_setting_get_string(m);
	} else if (row->type == SET_CHOICE) {
		int v = parse_choice(ld, g, row, config_setting_get_string(m));
		if (v < 0)
			return -1;
		*(int *)field = v;
	} else if (row->type == SET_BOOL) {
		*(int *)field = config_setting_get_bool(m);
	} else {
		long long v = config_setting_get_int64(m);
		if (v < row->min || v > row->max)
			return config_table_fail(ld, g, row->name, "%lld is outside %lld..%lld", v, row->min, row->max);
		if (row->type == SET_INT)
			*(int *)field = (int)v;
		else
			*(long long *)field = v;
	}
	return 0;
}

/* Every row of the table: defaults first, then the group's values (g
   NULL: the defaults only). */
static int load_table(struct config_loader *ld, const config_setting_t *g,
		      const struct setting *table, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++)
		if (set_default(&table[i], base) < 0)
			abort(); /* a bad default network in the table */
	for (size_t i = 0; g && i < n; i++)
		if (load_row(ld, g, &table[i], base) < 0)
			return -1;
	return 0;
}

/* Append one setting's value as name=value to out at *used (the name
   after prefix: a subgroup's). */
static void describe_row(const struct setting *row, const char *base, char *out, size_t size,
			 size_t *used, const char *prefix)
{
	char name[64];
	const void *field = base + row->offset;
	char value[512] = "";
	size_t n = 0;
	if (row->type == SET_STRING)
		snprintf(value, sizeof(value), "%s",
			 *(const char *const *)field ? *(const char *const *)field : "");
	else if (row->type == SET_LLONG)
		snprintf(value, sizeof(value), "%lld", *(const long long *)field);
	else if (row->type == SET_CHOICE)
		snprintf(value, sizeof(value), "%s", row->choices[*(const int *)field]);
	else if (row->type == SET_BOOL)
		snprintf(value, sizeof(value), "%s", *(const int *)field ? "true" : "false");
	else if (row->type == SET_INT)
		snprintf(value, sizeof(value), "%d", *(const int *)field);
	for (unsigned int i = 0; row->type == SET_FLAGS && row->choices[i]; i++)
		if (*(const unsigned int *)field & (1u << i))
			n += (size_t)snprintf(value + n, n < sizeof(value) ? sizeof(value) - n : 0, "%s%s",
					      n ? "," : "", row->choices[i]);
	for (size_t i = 0; row->type == SET_STRINGS && i < ((const struct config_strings *)field)->count; i++)
		n += (size_t)snprintf(value + n, n < sizeof(value) ? sizeof(value) - n : 0, "%s%s",
				      i ? "," : "", ((const struct config_strings *)field)->items[i]);
	for (size_t i = 0; row->type == SET_NETS && i < ((const struct config_nets *)field)->count; i++) {
		const struct addr_net *net = &((const struct config_nets *)field)->nets[i];
		char text[64];
		inet_ntop(net->family, net->bytes, text, sizeof(text));
		n += (size_t)snprintf(value + n, n < sizeof(value) ? sizeof(value) - n : 0, "%s%s/%u",
				      i ? "," : "", text, net->prefix);
	}
	snprintf(name, sizeof(name), "%s%s", prefix, row->name);
	config_error_field(out, size, used, name, value);
}

void config_table_describe_listener(const struct listener_config *l, char *out, size_t size)
{
	size_t used = 0;
	if (size)
		out[0] = '\0';
	for (size_t i = 0; i < TABLE_SIZE(listener_table); i++)
		describe_row(&listener_table[i], (const char *)l, out, size, &used, "");
	for (size_t i = 0; i < TABLE_SIZE(tls_table); i++)
		describe_row(&tls_table[i], (const char *)l, out, size, &used, "tls.");
	/* tls.sni, a list of groups, as its names. */
	char names[1024] = "";
	for (size_t i = 0, n = 0; i < l->tls.sni_count && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? "," : "",
				      l->tls.sni[i].name);
	config_error_field(out, size, &used, "tls.sni", names);
	for (size_t i = 0; i < TABLE_SIZE(auth_table); i++)
		describe_row(&auth_table[i], (const char *)l, out, size, &used, "auth.");
}

int config_table_load_global(struct config_loader *ld)
{
	struct config *cfg = ld->cfg;
	const config_setting_t *root = config_root_setting(&cfg->lc);
	if (check_known(ld, root, global_table, TABLE_SIZE(global_table), "listeners", NULL) < 0 ||
	    load_table(ld, root, global_table, TABLE_SIZE(global_table), cfg) < 0)
		return -1;
	if (cfg->user[0] == '\0')
		cfg->user = NULL;
	/* The facility is checked with either target: a typo must not wait
	   for the day the log is switched to syslog. */
	int facility_code = log_facility_from_name(cfg->log_facility_name);
	if (facility_code < 0)
		return config_table_fail(ld, root, "log_facility", "unknown syslog facility \"%s\"",
			    cfg->log_facility_name);
	cfg->log_facility = cfg->log_syslog ? facility_code : -1;
	/* "" is off, as no setting; an address is checked now, not at bind. */
	struct hostport hp;
	const char *why;
	if (cfg->metrics && cfg->metrics[0] == '\0')
		cfg->metrics = NULL;
	if (cfg->metrics && addr_split(cfg->metrics, &hp, &why) < 0)
		return config_table_fail(ld, root, "metrics", "\"%s\": %s", cfg->metrics, why);
	return 0;
}

/* A subgroup of the listener (tls, auth) through its table: defaults
   when absent, unknown names refused but extra (a group of its own,
   read elsewhere: tls.sni). */
static int load_subgroup(struct config_loader *ld, const config_setting_t *s, const char *name,
			 const struct setting *table, size_t n, const char *extra,
			 struct listener_config *l)
{
	const config_setting_t *g = config_setting_get_member(s, name);
	if (!g)
		return load_table(ld, NULL, table, n, l);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return config_table_fail(ld, s, name, "the %s settings must be a group { ... }", name);
	if (check_known(ld, g, table, n, extra, NULL) < 0)
		return -1;
	return load_table(ld, g, table, n, l);
}

int config_table_load_listener(struct config_loader *ld, const config_setting_t *s,
			       struct listener_config *l)
{
	if (load_table(ld, s, listener_table, TABLE_SIZE(listener_table), l) < 0 ||
	    load_subgroup(ld, s, "tls", tls_table, TABLE_SIZE(tls_table), "sni", l) < 0)
		return -1;
	return load_subgroup(ld, s, "auth", auth_table, TABLE_SIZE(auth_table), NULL, l);
}

int config_table_strings(struct config_loader *ld, const config_setting_t *g, const char *name,
			 int max, struct config_strings *out)
{
	const struct setting row = { name, SET_STRINGS, 0, 0, max, 0, NULL, NULL };
	const config_setting_t *m = config_setting_get_member(g, name);
	memset(out, 0, sizeof(*out));
	return m ? parse_strings(ld, g, &row, m, out) : 0;
}

int config_table_check_listener_known(struct config_loader *ld, const config_setting_t *s,
				      const char *extra)
{
	return check_known(ld, s, listener_table, TABLE_SIZE(listener_table), extra, "tls");
}
