/*
 * config.c - libconfig file -> validated, immutable struct config.
 *
 * Entry points: config_load_file(), config_load_string() (the command line
 * is turned into config text by main.c, so both paths share one validator),
 * config_free().  Every error names the source, line and setting.  Unknown
 * settings are errors: a typo must not silently become a default.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "config_limits.h"
#include "log.h"
#include "scoreboard.h"

#ifndef PLUGINDIR
#define PLUGINDIR "/usr/local/lib/smtpgate/plugins"
#endif

struct loader {
	struct config *cfg;
	char *err;
	size_t err_size;
};

static int fail(struct loader *ld, const config_setting_t *s, const char *name,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int check_known(struct loader *ld, const config_setting_t *group,
		       const char *const *known, const char *extra);
static int get_string(struct loader *ld, const config_setting_t *g, const char *name,
		      const char **out);
static int get_int(struct loader *ld, const config_setting_t *g, const char *name,
		   long long min, long long max, long long *out);
static int get_bool(struct loader *ld, const config_setting_t *g, const char *name, int *out);
static int load_global(struct loader *ld);
static int load_pool(struct loader *ld, const config_setting_t *s, struct listener_config *l);
static int load_listener(struct loader *ld, const config_setting_t *s, struct listener_config *l);
static int resolve_plugin(struct loader *ld, const config_setting_t *s, struct listener_config *l);
static int validate(struct config *cfg, char *err, size_t err_size);

static const char *const global_settings[] = {
	"user", "plugin_dir", "log", "log_facility", "shutdown_timeout", "worker_scheduling",
	"listeners", NULL
};
static const char *const listener_settings[] = {
	"name", "address", "handler", "remote", "data_size_limit", "smtputf8", "decode_data",
	"bare_lf", "command_timeout", "data_timeout", "workers", "min_spare", "max_spare",
	"max_workers", "max_idle", "stress_timeout", "max_sessions_per_worker",
	"max_sessions_per_client", "max_recipients", "soft_error_limit", "hard_error_limit",
	"error_sleep", "max_session_time", "max_idle_commands", "greet_pause", "pregreet", "chroot",
	NULL
};

const char *config_handler_alias(const char *name)
{
	static const char *const aliases[][2] = {
		{ "DebuggingServer", "debug" },
		{ "PureProxy", "proxy" },
		{ "MailmanProxy", "mailman" },
	};
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(name, aliases[i][0]) == 0)
			return aliases[i][1];
	return name;
}

/* Append key=value to out (at *used), the value quoted when it needs
   to be, so that a record keeps exactly the fields written. */
static void put_field(char *out, size_t size, size_t *used, const char *key, const char *value)
{
	int plain = value[0] != '\0';
	for (const unsigned char *p = (const unsigned char *)value; *p && plain; p++)
		plain = *p > ' ' && *p < 0x7f && *p != '"' && *p != '\\' && *p != '=';
	size_t n = *used;
	n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s=%s", n ? " " : "", key,
			      plain ? value : "\"");
	for (const unsigned char *p = (const unsigned char *)value; *p && !plain; p++) {
		if (n + 5 >= size)
			break;
		if (*p == '"' || *p == '\\')
			n += (size_t)snprintf(out + n, size - n, "\\%c", *p);
		else if (*p < ' ' || *p >= 0x7f)
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", *p);
		else
			out[n++] = (char)*p;
	}
	if (!plain && n + 1 < size)
		out[n++] = '"';
	if (n >= size)
		n = size - 1;
	out[n] = '\0';
	*used = n;
}

int config_format_error(char *out, size_t size, const char *source, int line,
			const char *setting, const char *fmt, ...)
{
	char msg[CONFIG_ERROR_MAX_BYTES], num[16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t used = 0;
	if (size == 0)
		return -1;
	out[0] = '\0';
	put_field(out, size, &used, "file", source);
	snprintf(num, sizeof(num), "%d", line);
	if (line > 0)
		put_field(out, size, &used, "line", num);
	if (setting)
		put_field(out, size, &used, "setting", setting);
	put_field(out, size, &used, "error", msg);
	return -1;
}

/* The error about setting name of group s (or s itself) into the loader's
   buffer, with the line of the setting, else of the group. */
static int fail(struct loader *ld, const config_setting_t *s, const char *name,
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
	return config_format_error(ld->err, ld->err_size, ld->cfg->source, line, name, "%s", msg);
}

/* Refuse any member of group not in known (or equal to extra). */
static int check_known(struct loader *ld, const config_setting_t *group,
		       const char *const *known, const char *extra)
{
	int n = config_setting_length(group);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned int)i);
		const char *name = config_setting_name(m);
		int ok = extra && strcmp(name, extra) == 0;
		for (const char *const *k = known; !ok && *k; k++)
			ok = strcmp(name, *k) == 0;
		if (!ok) {
			return config_format_error(ld->err, ld->err_size, ld->cfg->source,
						   (int)config_setting_source_line(m), name,
						   "unknown setting");
		}
	}
	return 0;
}

/* 1 if set, 0 if absent, -1 on a type error (err filled). */
static int get_string(struct loader *ld, const config_setting_t *g, const char *name,
		      const char **out)
{
	const config_setting_t *m = config_setting_get_member(g, name);
	if (!m)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_STRING)
		return fail(ld, g, name, "expected a string");
	*out = config_setting_get_string(m);
	return 1;
}

static int get_int(struct loader *ld, const config_setting_t *g, const char *name,
		   long long min, long long max, long long *out)
{
	const config_setting_t *m = config_setting_get_member(g, name);
	if (!m)
		return 0;
	int t = config_setting_type(m);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return fail(ld, g, name, "expected an integer");
	long long v = config_setting_get_int64(m);
	if (v < min || v > max)
		return fail(ld, g, name, "%lld is outside %lld..%lld", v, min, max);
	*out = v;
	return 1;
}

static int get_bool(struct loader *ld, const config_setting_t *g, const char *name, int *out)
{
	const config_setting_t *m = config_setting_get_member(g, name);
	if (!m)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_BOOL)
		return fail(ld, g, name, "expected true or false");
	*out = config_setting_get_bool(m);
	return 1;
}

static int load_global(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const config_setting_t *root = config_root_setting(&cfg->lc);
	const char *log_target = "stderr", *facility = "mail", *scheduling = "batch";
	long long shutdown = 30;

	cfg->user = "nobody";
	cfg->plugin_dir = PLUGINDIR;
	cfg->log_facility = -1;
	if (check_known(ld, root, global_settings, NULL) < 0 ||
	    get_string(ld, root, "user", &cfg->user) < 0 ||
	    get_string(ld, root, "plugin_dir", &cfg->plugin_dir) < 0 ||
	    get_string(ld, root, "log", &log_target) < 0 ||
	    get_string(ld, root, "log_facility", &facility) < 0 ||
	    get_int(ld, root, "shutdown_timeout", 1, 86400, &shutdown) < 0 ||
	    get_string(ld, root, "worker_scheduling", &scheduling) < 0)
		return -1;
	cfg->shutdown_timeout_sec = (int)shutdown;
	if (strcmp(scheduling, "batch") == 0)
		cfg->worker_sched_batch = 1;
	else if (strcmp(scheduling, "normal") == 0)
		cfg->worker_sched_batch = 0;
	else
		return fail(ld, root, "worker_scheduling", "expected \"normal\" or \"batch\", not \"%s\"",
			    scheduling);
	if (cfg->user[0] == '\0')
		cfg->user = NULL;
	/* The facility is checked with either target: a typo must not wait
	   for the day the log is switched to syslog. */
	int facility_code = log_facility_from_name(facility);
	if (facility_code < 0)
		return fail(ld, root, "log_facility", "unknown syslog facility \"%s\"", facility);
	if (strcmp(log_target, "syslog") == 0)
		cfg->log_facility = facility_code;
	else if (strcmp(log_target, "stderr") != 0)
		return fail(ld, root, "log", "expected \"stderr\" or \"syslog\", not \"%s\"", log_target);
	return 0;
}

/* Find the handler's .so: a path as given, or PLUGIN_DIR/NAME.so. */
static int resolve_plugin(struct loader *ld, const config_setting_t *s, struct listener_config *l)
{
	char path[PATH_MAX];
	const char *base;
	if (strchr(l->handler, '/')) {
		if (snprintf(path, sizeof(path), "%s", l->handler) >= (int)sizeof(path))
			return fail(ld, s, "handler", "path too long");
		base = strrchr(l->handler, '/') + 1;
	} else {
		if (snprintf(path, sizeof(path), "%s/%s.so", ld->cfg->plugin_dir, l->handler) >=
		    (int)sizeof(path))
			return fail(ld, s, "handler", "path too long");
		base = l->handler;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return fail(ld, s, "handler", "no plugin \"%s\": %s: %s", l->handler, path,
			    strerror(errno));

	memcpy(l->plugin_path_buf, path, strlen(path) + 1);
	l->plugin_path = l->plugin_path_buf;
	size_t blen = strcspn(base, ".");
	if (blen >= sizeof(l->group_name_buf))
		return fail(ld, s, "handler", "plugin name too long");
	memcpy(l->group_name_buf, base, blen);
	l->group_name_buf[blen] = '\0';
	l->group_name = l->group_name_buf;
	return 0;
}

/* The setting a listener's name comes from: `name`, or the address it
   defaults to - the one an error about the name points at. */
static const char *name_setting(const config_setting_t *s)
{
	return config_setting_get_member(s, "name") ? "name" : "address";
}

/* `workers = N` is a fixed pool of N; otherwise min_spare, max_spare and
   max_workers size it.  Mixing the two would leave one of them ignored. */
static int load_pool(struct loader *ld, const config_setting_t *s, struct listener_config *l)
{
	static const char *const names[] = { "min_spare", "max_spare", "max_workers" };
	int *fields[] = { &l->min_spare, &l->max_spare, &l->max_workers };
	long long fixed = 0, v;
	int found = get_int(ld, s, "workers", 1, POOL_WORKERS_MAX, &fixed);
	if (found < 0)
		return -1;
	if (found) {
		for (size_t i = 0; i < 3; i++)
			if (config_setting_get_member(s, names[i]))
				return fail(ld, s, names[i],
					    "not with workers (a fixed pool); drop one of the two");
		l->min_spare = l->max_spare = l->max_workers = (int)fixed;
		return 0;
	}
	for (size_t i = 0; i < 3; i++) {
		v = *fields[i];
		if (get_int(ld, s, names[i], 1, POOL_WORKERS_MAX, &v) < 0)
			return -1;
		*fields[i] = (int)v;
	}
	if (l->max_spare < l->min_spare)
		return fail(ld, s, "max_spare", "%d is below min_spare (%d)", l->max_spare,
			    l->min_spare);
	if (l->max_workers < l->min_spare)
		return fail(ld, s, "max_workers", "%d is below min_spare (%d)", l->max_workers,
			    l->min_spare);
	return 0;
}

static int load_listener(struct loader *ld, const config_setting_t *s, struct listener_config *l)
{
	long long v;
	const char *bare_lf = "keep", *pregreet = "log";
	memset(l, 0, sizeof(*l));
	l->line = (int)config_setting_source_line(s);
	l->source = ld->cfg->source;
	l->handler = "debug";
	l->remote = "localhost:25";
	l->data_size_limit = CONFIG_DEFAULT_DATA_SIZE_LIMIT;
	l->command_timeout_sec = 300; /* RFC 5321 §4.5.3.2.7 server timeout */
	l->data_timeout_sec = 180;    /* §4.5.3.2.5 data block */
	l->min_spare = 2;
	l->max_spare = 8;
	l->max_workers = 100;       /* Postfix's default_process_limit */
	l->max_idle_sec = 100;      /* Postfix's max_idle */
	l->stress_timeout_sec = 10; /* Postfix's smtpd_timeout under stress */
	l->max_sessions_per_worker = 1000;
	l->max_sessions_per_client = 50; /* smtpd_client_connection_count_limit */
	l->max_recipients = 1000;
	l->soft_error_limit = 10; /* Postfix smtpd_soft_error_limit */
	l->hard_error_limit = 20; /* smtpd_hard_error_limit */
	l->error_sleep_sec = 1;   /* smtpd_error_sleep_time */
	l->max_session_time_sec = 3600;
	l->max_idle_commands = 100; /* smtpd_junk_command_limit */
	l->greet_pause_ms = 0;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return fail(ld, s, NULL, "each listener must be a group { ... }");
	int found = get_string(ld, s, "address", &l->address);
	if (found < 0)
		return -1; /* wrong type: err names the setting */
	if (found == 0)
		return fail(ld, s, NULL, "listener without an address");
	l->name = l->address;
	if (get_string(ld, s, "name", &l->name) < 0 ||
	    get_string(ld, s, "handler", &l->handler) < 0 ||
	    get_string(ld, s, "remote", &l->remote) < 0 ||
	    get_bool(ld, s, "smtputf8", &l->smtputf8) < 0 ||
	    get_bool(ld, s, "decode_data", &l->decode_data) < 0 ||
	    get_string(ld, s, "bare_lf", &bare_lf) < 0 ||
	    get_string(ld, s, "pregreet", &pregreet) < 0 ||
	    get_string(ld, s, "chroot", &l->chroot_dir) < 0)
		return -1;
	if (get_int(ld, s, "data_size_limit", 0, LLONG_MAX / 2, &l->data_size_limit) < 0)
		return -1;
	v = l->command_timeout_sec;
	if (get_int(ld, s, "command_timeout", 1, 86400, &v) < 0)
		return -1;
	l->command_timeout_sec = (int)v;
	v = l->data_timeout_sec;
	if (get_int(ld, s, "data_timeout", 1, 86400, &v) < 0)
		return -1;
	l->data_timeout_sec = (int)v;
	if (load_pool(ld, s, l) < 0)
		return -1;
	if (get_int(ld, s, "max_sessions_per_worker", 0, LLONG_MAX, &l->max_sessions_per_worker) < 0 ||
	    get_int(ld, s, "max_recipients", 1, 1000000, &l->max_recipients) < 0)
		return -1;
	static const struct {
		const char *name;
		long long min, max;
		size_t off;
	} ints[] = {
		{ "soft_error_limit", 0, 1000000, offsetof(struct listener_config, soft_error_limit) },
		{ "hard_error_limit", 1, 1000000, offsetof(struct listener_config, hard_error_limit) },
		{ "error_sleep", 0, 60, offsetof(struct listener_config, error_sleep_sec) },
		{ "max_session_time", 1, 604800,
		  offsetof(struct listener_config, max_session_time_sec) },
		{ "max_idle_commands", 1, 1000000,
		  offsetof(struct listener_config, max_idle_commands) },
		{ "greet_pause", 0, 60000, offsetof(struct listener_config, greet_pause_ms) },
		{ "max_idle", 1, 86400, offsetof(struct listener_config, max_idle_sec) },
		{ "stress_timeout", 1, 86400, offsetof(struct listener_config, stress_timeout_sec) },
		{ "max_sessions_per_client", 0, 1000000,
		  offsetof(struct listener_config, max_sessions_per_client) },
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		int *field = (int *)((char *)l + ints[i].off);
		v = *field;
		if (get_int(ld, s, ints[i].name, ints[i].min, ints[i].max, &v) < 0)
			return -1;
		*field = (int)v;
	}

	struct hostport hp;
	const char *why;
	if (l->chroot_dir) {
		struct stat st;
		if (l->chroot_dir[0] != '/')
			return fail(ld, s, "chroot", "\"%s\" is not an absolute path", l->chroot_dir);
		if (stat(l->chroot_dir, &st) < 0)
			return fail(ld, s, "chroot", "%s: %s", l->chroot_dir, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return fail(ld, s, "chroot", "%s: not a directory", l->chroot_dir);
	}
	if (addr_split(l->address, &hp, &why) < 0)
		return fail(ld, s, "address", "\"%s\": %s", l->address, why);
	/* The name is the listener's key in the scoreboard (sessions per
	   client, stress).  Cut to fit there, it would no longer equal the
	   listener's own name, and names alike in their first bytes would
	   share one key. */
	if (strlen(l->name) >= SCOREBOARD_LISTENER_MAX_BYTES)
		return fail(ld, s, name_setting(s),
			    "the listener's name is %zu bytes long; the maximum is %d%s", strlen(l->name),
			    SCOREBOARD_LISTENER_MAX_BYTES - 1,
			    strcmp(name_setting(s), "address") == 0
				    ? " (the address is the name by default: set a name)" : "");
	if (addr_split(l->remote, &hp, &why) < 0)
		return fail(ld, s, "remote", "\"%s\": %s", l->remote, why);
	if (bare_lf_policy_from_name(bare_lf, &l->bare_lf) < 0)
		return fail(ld, s, "bare_lf", "expected \"keep\", \"normalize\" or \"reject\", not \"%s\"",
			    bare_lf);
	if (strcmp(pregreet, "log") && strcmp(pregreet, "reject"))
		return fail(ld, s, "pregreet", "expected \"log\" or \"reject\", not \"%s\"", pregreet);
	l->pregreet_reject = strcmp(pregreet, "reject") == 0;
	/* smtpd.SMTPServer raises ValueError for this combination. */
	if (l->smtputf8 && l->decode_data)
		return fail(ld, s, "decode_data", "decode_data and smtputf8 cannot both be true");
	if (l->handler[0] == '\0')
		return fail(ld, s, "handler", "empty handler name");
	l->handler = config_handler_alias(l->handler);
	if (resolve_plugin(ld, s, l) < 0)
		return -1;
	if (check_known(ld, s, listener_settings, l->group_name) < 0)
		return -1;
	const config_setting_t *g = config_setting_get_member(s, l->group_name);
	if (g && config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(ld, s, l->group_name, "the handler's settings must be a group { ... }");
	l->handler_group = g;
	return 0;
}

static int validate(struct config *cfg, char *err, size_t err_size)
{
	struct loader ld = { cfg, err, err_size };
	if (load_global(&ld) < 0)
		return -1;
	const config_setting_t *list = config_lookup(&cfg->lc, "listeners");
	if (!list)
		return fail(&ld, NULL, "listeners", "no listeners: nothing to serve");
	if (!config_setting_is_aggregate(list) || config_setting_length(list) == 0)
		return fail(&ld, list, NULL, "listeners must be a non-empty list ( { ... }, ... )");
	cfg->listener_count = (size_t)config_setting_length(list);
	cfg->listeners = calloc(cfg->listener_count, sizeof(*cfg->listeners));
	if (!cfg->listeners)
		abort();
	for (size_t i = 0; i < cfg->listener_count; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned int)i);
		if (load_listener(&ld, s, &cfg->listeners[i]) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->listeners[j].address, cfg->listeners[i].address) == 0)
				return fail(&ld, s, "address", "\"%s\" is already used by another listener",
					    cfg->listeners[i].address);
		/* Listeners sharing a name would share their scoreboard
		   counts: one client limit, one stress flag for both. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->listeners[j].name, cfg->listeners[i].name) == 0)
				return fail(&ld, s, name_setting(s),
					    "the listener's name \"%s\" is already used by the listener at "
					    "line %d; each listener needs its own name",
					    cfg->listeners[i].name, cfg->listeners[j].line);
	}
	return 0;
}

static int finish_load(struct config *cfg, int ok, struct config **out, char *err, size_t err_size)
{
	if (!ok) {
		const char *file = config_error_file(&cfg->lc);
		config_format_error(err, err_size, file ? file : cfg->source,
				    config_error_line(&cfg->lc), NULL, "%s", config_error_text(&cfg->lc));
		config_free(cfg);
		return -1;
	}
	if (validate(cfg, err, err_size) < 0) {
		config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

static struct config *config_new(const char *source)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->source = strdup(source)))
		abort();
	config_init(&cfg->lc);
	return cfg;
}

int config_load_file(const char *path, struct config **out, char *err, size_t err_size)
{
	struct config *cfg = config_new(path);
	FILE *f = fopen(path, "r");
	if (!f) {
		config_format_error(err, err_size, path, 0, NULL, "cannot open: %s", strerror(errno));
		config_free(cfg);
		return -1;
	}
	fclose(f);
	char limits_err[CONFIG_ERROR_MAX_BYTES];
	if (config_limits_check(path, limits_err, sizeof(limits_err)) < 0) {
		snprintf(err, err_size, "%s", limits_err);
		config_free(cfg);
		return -1;
	}
	/* By name, so libconfig records the file of each setting (errors of
	   plugins' settings name it). */
	int ok = config_read_file(&cfg->lc, path) == CONFIG_TRUE;
	return finish_load(cfg, ok, out, err, err_size);
}

int config_load_string(const char *text, const char *source, struct config **out,
		       char *err, size_t err_size)
{
	struct config *cfg = config_new(source);
	int ok = config_read_string(&cfg->lc, text) == CONFIG_TRUE;
	return finish_load(cfg, ok, out, err, err_size);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	config_destroy(&cfg->lc);
	free(cfg->listeners);
	free(cfg->source);
	free(cfg);
}
