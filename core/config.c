/*
 * config.c - libconfig file -> validated, immutable struct config.
 *
 * Entry points: config_load_file(), config_load_string() (the command line
 * is turned into config text by main.c, so both paths share one validator),
 * config_free().  Each setting is a row of config_table.c; this file
 * reads the listeners list and checks what involves several settings (the
 * pool, the address specs, names unique, the plugin file).  Every error
 * names the source, line and setting (config_error.c).  Unknown settings
 * are errors: a typo must not silently become a default.  It never runs
 * plugin code: the plugin file is only found here.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "config_auth.h"
#include "config_error.h"
#include "config_limits.h"
#include "config_table.h"
#include "config_unix.h"
#include "config_tls.h"
#include "scoreboard.h"

static const char *name_setting(const config_setting_t *s);
static int load_pool(struct config_loader *ld, const config_setting_t *s,
		     struct listener_config *l);
static int check_chroot(struct config_loader *ld, const config_setting_t *s, const char *dir);
static int protocol_index(const char *name, size_t len);
static int check_protocols(struct config_loader *ld, const config_setting_t *g,
			   struct tls_config *t);
static int check_tls(struct config_loader *ld, const config_setting_t *s, struct tls_config *t);
static int check_listener(struct config_loader *ld, const config_setting_t *s,
			  struct listener_config *l);
static int load_listener(struct config_loader *ld, const config_setting_t *s,
			 struct listener_config *l);
static int resolve_plugin(struct config_loader *ld, const config_setting_t *s,
			  struct listener_config *l);
static int validate(struct config *cfg, char *err, size_t err_size);

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

/* Find the handler's .so: a path as given, or PLUGIN_DIR/NAME.so. */
static int resolve_plugin(struct config_loader *ld, const config_setting_t *s,
			  struct listener_config *l)
{
	char path[PATH_MAX];
	const char *base;
	if (strchr(l->handler, '/')) {
		if (snprintf(path, sizeof(path), "%s", l->handler) >= (int)sizeof(path))
			return config_table_fail(ld, s, "handler", "path too long");
		base = strrchr(l->handler, '/') + 1;
	} else {
		if (snprintf(path, sizeof(path), "%s/%s.so", ld->cfg->plugin_dir, l->handler) >=
		    (int)sizeof(path))
			return config_table_fail(ld, s, "handler", "path too long");
		base = l->handler;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return config_table_fail(ld, s, "handler", "no plugin \"%s\": %s: %s", l->handler, path,
			    strerror(errno));

	memcpy(l->plugin_path_buf, path, strlen(path) + 1);
	l->plugin_path = l->plugin_path_buf;
	size_t blen = strcspn(base, ".");
	if (blen >= sizeof(l->group_name_buf))
		return config_table_fail(ld, s, "handler", "plugin name too long");
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
static int load_pool(struct config_loader *ld, const config_setting_t *s, struct listener_config *l)
{
	static const char *const names[] = { "min_spare", "max_spare", "max_workers" };
	if (l->workers) {
		for (size_t i = 0; i < 3; i++)
			if (config_setting_get_member(s, names[i]))
				return config_table_fail(ld, s, names[i],
					    "not with workers (a fixed pool); drop one of the two");
		l->min_spare = l->max_spare = l->max_workers = l->workers;
		return 0;
	}
	if (l->max_spare < l->min_spare)
		return config_table_fail(ld, s, "max_spare", "%d is below min_spare (%d)", l->max_spare,
			    l->min_spare);
	if (l->max_workers < l->min_spare)
		return config_table_fail(ld, s, "max_workers", "%d is below min_spare (%d)", l->max_workers,
			    l->min_spare);
	return 0;
}

/* A chroot directory must be an absolute path to a directory. */
static int check_chroot(struct config_loader *ld, const config_setting_t *s, const char *dir)
{
	struct stat st;
	if (!dir)
		return 0;
	if (dir[0] != '/')
		return config_table_fail(ld, s, "chroot", "\"%s\" is not an absolute path", dir);
	if (stat(dir, &st) < 0)
		return config_table_fail(ld, s, "chroot", "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return config_table_fail(ld, s, "chroot", "%s: not a directory", dir);
	return 0;
}

const char *const config_tls_protocols[] = { "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL };

/* The index of a protocol name (len bytes) in config_tls_protocols; -1. */
static int protocol_index(const char *name, size_t len)
{
	for (int i = 0; config_tls_protocols[i]; i++)
		if (strlen(config_tls_protocols[i]) == len && !memcmp(name, config_tls_protocols[i], len))
			return i;
	return -1;
}

/* tls.protocols: names separated by spaces, without a gap (OpenSSL sets
   a lowest and a highest version, nothing between can be left out). */
static int check_protocols(struct config_loader *ld, const config_setting_t *g,
			   struct tls_config *t)
{
	unsigned int seen = 0;
	for (const char *p = t->protocols; *p;) {
		size_t len = strcspn(p, " ");
		int i = protocol_index(p, len);
		if (len && i < 0)
			return config_table_fail(ld, g, "protocols",
				    "unknown protocol \"%.*s\" (known: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)",
				    (int)len, p);
		if (len)
			seen |= 1u << i;
		p += len + (p[len] == ' ');
	}
	if (!seen)
		return config_table_fail(ld, g, "protocols", "no protocol named");
	t->min_version = __builtin_ctz(seen);
	t->max_version = 31 - __builtin_clz(seen);
	for (int i = t->min_version; i <= t->max_version; i++)
		if (!(seen & (1u << i)))
			return config_table_fail(ld, g, "protocols",
				    "%s is missing between %s and %s: name a range without gaps",
				    config_tls_protocols[i], config_tls_protocols[t->min_version],
				    config_tls_protocols[t->max_version]);
	return 0;
}

/* The tls group: a mode other than "off" needs certificates and their
   keys, as many of one as of the other (whether they load and match is
   the worker's check, tls.c). */
static int check_tls(struct config_loader *ld, const config_setting_t *s, struct tls_config *t)
{
	const config_setting_t *g = config_setting_get_member(s, "tls");
	if (g && check_protocols(ld, g, t) < 0)
		return -1;
	if (!g) {
		t->min_version = protocol_index("TLSv1.2", 7);
		t->max_version = protocol_index("TLSv1.3", 7);
	}
	if (t->mode == TLS_MODE_OFF)
		return 0;
	if (config_tls_check(ld, g, t) < 0)
		return -1;
	if (t->cert.count == 0)
		return config_table_fail(ld, g, "mode", "mode \"%s\" needs a certificate: set tls.cert",
			    t->mode == TLS_MODE_MAY ? "may" : t->mode == TLS_MODE_REQUIRED ? "required" : "implicit");
	if (t->key.count == 0)
		return config_table_fail(ld, g, "cert", "a certificate needs its key: set tls.key");
	if (t->key.count != t->cert.count)
		return config_table_fail(ld, g, "key",
			    "tls.key lists %zu, tls.cert %zu: one key per certificate, in the same order",
			    t->key.count, t->cert.count);
	return 0;
}

/* What the table cannot say: settings checked against each other, the
   address specs, the name's room in the scoreboard. */
static int check_listener(struct config_loader *ld, const config_setting_t *s,
			  struct listener_config *l)
{
	struct hostport hp;
	const char *why;
	if (check_chroot(ld, s, l->chroot_dir) < 0 || check_tls(ld, s, &l->tls) < 0 ||
	    config_auth_check(ld, s, l) < 0)
		return -1;
	if (config_unix_check(ld, s, l) < 0)
		return -1;
	if (!l->unix_path && addr_split(l->address, &hp, &why) < 0)
		return config_table_fail(ld, s, "address", "\"%s\": %s", l->address, why);
	/* The name is the listener's key in the scoreboard (sessions per
	   client, stress).  Cut to fit there, it would no longer equal the
	   listener's own name, and names alike in their first bytes would
	   share one key. */
	if (strlen(l->name) >= SCOREBOARD_LISTENER_MAX_BYTES)
		return config_table_fail(ld, s, name_setting(s),
			    "the listener's name is %zu bytes long; the maximum is %d%s", strlen(l->name),
			    SCOREBOARD_LISTENER_MAX_BYTES - 1,
			    strcmp(name_setting(s), "address") == 0
				    ? " (the address is the name by default: set a name)" : "");
	/* The name stands bare in every log line (listener=NAME): a byte that
	   would need quoting there is refused rather than quoted everywhere. */
	for (const char *c = l->name; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f || strchr("\"\\=", *c))
			return config_table_fail(ld, s, name_setting(s),
				"the listener's name may not hold spaces, control bytes, '\"', "
				"'\\', '=' or non-ASCII bytes");
	if (addr_split(l->remote, &hp, &why) < 0)
		return config_table_fail(ld, s, "remote", "\"%s\": %s", l->remote, why);
	/* smtpd.SMTPServer raises ValueError for this combination. */
	if (l->smtputf8 && l->decode_data)
		return config_table_fail(ld, s, "decode_data", "decode_data and smtputf8 cannot both be true");
	if (l->handler[0] == '\0')
		return config_table_fail(ld, s, "handler", "empty handler name");
	/* Without a list, anyone could claim any client address. */
	if (l->proxy_protocol && l->proxy_trusted.count == 0)
		return config_table_fail(ld, s, "proxy_protocol",
			    "needs proxy_trusted: the balancers' addresses or networks");
	return 0;
}

static int load_listener(struct config_loader *ld, const config_setting_t *s,
			 struct listener_config *l)
{
	memset(l, 0, sizeof(*l));
	l->line = (int)config_setting_source_line(s);
	l->source = ld->cfg->source;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return config_table_fail(ld, s, NULL, "each listener must be a group { ... }");
	if (config_table_load_listener(ld, s, l) < 0)
		return -1;
	if (!l->address)
		return config_table_fail(ld, s, NULL, "listener without an address");
	if (!l->name)
		l->name = l->address;
	if (load_pool(ld, s, l) < 0 || check_listener(ld, s, l) < 0)
		return -1;
	l->handler = config_handler_alias(l->handler);
	if (resolve_plugin(ld, s, l) < 0 ||
	    config_table_check_listener_known(ld, s, l->group_name) < 0)
		return -1;
	const config_setting_t *g = config_setting_get_member(s, l->group_name);
	if (g && config_setting_type(g) != CONFIG_TYPE_GROUP)
		return config_table_fail(ld, s, l->group_name, "the handler's settings must be a group { ... }");
	l->handler_group = g;
	return 0;
}

static int validate(struct config *cfg, char *err, size_t err_size)
{
	struct config_loader ld = { cfg, err, err_size };
	if (config_table_load_global(&ld) < 0)
		return -1;
	const config_setting_t *list = config_lookup(&cfg->lc, "listeners");
	if (!list)
		return config_table_fail(&ld, NULL, "listeners", "no listeners: nothing to serve");
	if (!config_setting_is_aggregate(list) || config_setting_length(list) == 0)
		return config_table_fail(&ld, list, NULL, "listeners must be a non-empty list ( { ... }, ... )");
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
				return config_table_fail(&ld, s, "address", "\"%s\" is already used by another listener",
					    cfg->listeners[i].address);
		/* Listeners sharing a name would share their scoreboard
		   counts: one client limit, one stress flag for both. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->listeners[j].name, cfg->listeners[i].name) == 0)
				return config_table_fail(&ld, s, name_setting(s),
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
		config_error_format(err, err_size, file ? file : cfg->source,
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
		config_error_format(err, err_size, path, 0, NULL, "cannot open: %s", strerror(errno));
		config_free(cfg);
		return -1;
	}
	fclose(f);
	if (config_limits_check(path, err, err_size) < 0) {
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
	for (size_t i = 0; cfg->listeners && i < cfg->listener_count; i++) {
		free(cfg->listeners[i].client_limit_exceptions.nets);
		free(cfg->listeners[i].proxy_trusted.nets);
	}
	free(cfg->listeners);
	free(cfg->source);
	free(cfg);
}
