/*
 * host.c - what smtpgate offers plugins: replies, logging, typed access
 * to the plugin's own config group with file:line in every error, the SMTP
 * client (smtp_client.c) and durable files (host_file.c).
 *
 * A worker serves one listener, so the table describes that listener.
 * Plugins never see core structures: struct smtpgate_cfg is a libconfig
 * setting behind an opaque pointer.
 */
#include "host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "host_file.h"
#include "log.h"
#include "plugin_settings.h"
#include "smtp_client.h"
#include "smtp_reply.h"

static const struct listener_config *host_listener;
static const char *host_fqdn = "localhost";
static const char *host_plugin_name = "?"; /* the descriptor's name, in log lines */
static int host_cfg_errors;

static void host_reply(struct smtpgate_reply *reply, int code, const char *enhanced,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void host_log(enum smtpgate_log_level level, const struct smtpgate_session *s,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const config_setting_t *member(const struct smtpgate_cfg *cfg, const char *name);
static void type_error(const struct smtpgate_cfg *cfg, const char *name, const char *expected);
static int cfg_string(const struct smtpgate_cfg *cfg, const char *name, const char **out);
static int cfg_int(const struct smtpgate_cfg *cfg, const char *name, long long *out);
static int cfg_bool(const struct smtpgate_cfg *cfg, const char *name, int *out);
static int cfg_list_count(const struct smtpgate_cfg *cfg, const char *name);
static const char *cfg_list_string(const struct smtpgate_cfg *cfg, const char *name, int index);
static void cfg_error(const struct smtpgate_cfg *cfg, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static const char *listener_remote(void);
static const char *listener_address(void);
static const char *fqdn(void);
static struct smtpgate_client *client_open(const char *hostport, int lmtp, int connect_timeout_sec,
					   int reply_timeout_sec, struct smtpgate_upstream_reply *r);
static int client_extension(const struct smtpgate_client *c, const char *keyword,
			    const char **param_out);
static int client_command(struct smtpgate_client *c, struct smtpgate_upstream_reply *r,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int client_send(struct smtpgate_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int client_flush(struct smtpgate_client *c);
static int client_read_reply(struct smtpgate_client *c, struct smtpgate_upstream_reply *r);
static int client_data(struct smtpgate_client *c, const struct smtpgate_data_part *parts,
		       size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies);
static int client_message(struct smtpgate_client *c, const struct smtpgate_data_part *parts,
			  size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies);
static int client_usable(const struct smtpgate_client *c);
static void client_close(struct smtpgate_client *c);
static int client_stream_begin(struct smtpgate_client *c);
static int client_stream_write(struct smtpgate_client *c, const char *data, size_t len);
static int client_stream_end(struct smtpgate_client *c, struct smtpgate_upstream_reply *replies,
			     size_t nreplies);
static struct smtpgate_client *client_open_tls(const char *hostport, int lmtp,
					       int connect_timeout_sec, int reply_timeout_sec,
					       int tls, const char *ca_file,
					       struct smtpgate_upstream_reply *r);
static const char *client_tls(const struct smtpgate_client *c, const char **cipher_out);
static int client_stream_begin_chunks(struct smtpgate_client *c);

static const struct smtpgate_host host_table = {
	.abi_major = SMTPGATE_ABI_MAJOR,
	.abi_minor = SMTPGATE_ABI_MINOR,
	.size = sizeof(struct smtpgate_host),
	.reply = host_reply,
	.log = host_log,
	.cfg_string = cfg_string,
	.cfg_int = cfg_int,
	.cfg_bool = cfg_bool,
	.cfg_list_count = cfg_list_count,
	.cfg_list_string = cfg_list_string,
	.cfg_error = cfg_error,
	.listener_remote = listener_remote,
	.listener_address = listener_address,
	.fqdn = fqdn,
	.client_open = client_open,
	.client_extension = client_extension,
	.client_command = client_command,
	.client_send = client_send,
	.client_flush = client_flush,
	.client_read_reply = client_read_reply,
	.client_data = client_data,
	.client_message = client_message,
	.client_usable = client_usable,
	.client_close = client_close,
	.file_create = host_file_create,
	.file_write = host_file_write,
	.file_commit = host_file_commit,
	.file_abort = host_file_abort,
	.file_close = host_file_close,
	.client_stream_begin = client_stream_begin,
	.client_stream_write = client_stream_write,
	.client_stream_end = client_stream_end,
	.client_open_tls = client_open_tls,
	.client_tls = client_tls,
	.client_stream_begin_chunks = client_stream_begin_chunks,
};

void host_set_fqdn(const char *name)
{
	host_fqdn = name;
}

const struct smtpgate_host *host_for_listener(const struct listener_config *l)
{
	host_listener = l;
	return &host_table;
}

const struct smtpgate_cfg *host_cfg(const struct listener_config *l)
{
	return (const struct smtpgate_cfg *)l->handler_group;
}

/* The listener whose plugin's init is running, for exit_in_init(). */
static const struct listener_config *listener_in_init;

/* A plugin's init that calls exit() ends the process with whatever status
   it chose, 0 too: a check would pass and a worker would look like one
   that ended normally (replaced at once, in a loop).  Made a failure. */
static void exit_in_init(void)
{
	if (!listener_in_init)
		return;
	log_fatal(EX_CONFIG, "listener=%s handler=%s plugin=%s msg=\"init called exit(); a "
		  "plugin that cannot start returns -1\"", log_quoted(listener_in_init->name),
		  log_quoted(listener_in_init->handler), log_quoted(host_plugin_name));
}

int host_plugin_init(const struct smtpgate_plugin *d, const struct listener_config *l,
		     void **priv_out)
{
	static int exit_guard;
	const struct smtpgate_host *host = host_for_listener(l);
	int errors_before = host_cfg_errors;
	char err[CONFIG_ERROR_MAX_BYTES];
	*priv_out = NULL;
	host_plugin_name = d->name;
	/* Declared settings are the core's to check, before init sees them. */
	struct plugin_settings_where w = { l->source, l->group_name, d->name };
	if (plugin_settings_check(d->settings, l->handler_group, &w, err, sizeof(err)) < 0) {
		log_err("%s listener=%s", err, log_quoted(l->name));
		return -1;
	}
	if (!d->init)
		return 0;
	if (!exit_guard)
		exit_guard = atexit(exit_in_init) == 0;
	listener_in_init = l;
	int rc = d->init(host, host_cfg(l), priv_out);
	listener_in_init = NULL;
	if (rc != 0 || host_cfg_errors != errors_before) {
		log_err("listener=%s handler=%s plugin=%s msg=\"init failed\"", log_quoted(l->name),
			log_quoted(l->handler), log_quoted(d->name));
		return -1;
	}
	return 0;
}

static void host_reply(struct smtpgate_reply *reply, int code, const char *enhanced,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_reply_vset(reply, code, enhanced, fmt, ap);
	va_end(ap);
}

/* A plugin's line: its free text is one quoted msg= field after the
   fields the core vouches for, so whatever address or reply text a plugin
   puts in it cannot add a field or a line. */
static void host_log(enum smtpgate_log_level level, const struct smtpgate_session *s,
		     const char *fmt, ...)
{
	char text[1024], msg[1792];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_quote(msg, sizeof(msg), text);
	enum log_level lv = (unsigned int)level <= SMTPGATE_LOG_ERROR ? (enum log_level)level
								 : LOG_LEVEL_ERROR;
	const char *plugin = log_quoted(host_plugin_name);
	if (s)
		log_msg(lv, "sid=%s listener=%s plugin=%s msg=%s", log_quoted(s->id),
			log_quoted(s->listener), plugin, msg);
	else
		log_msg(lv, "plugin=%s msg=%s", plugin, msg);
}

static const config_setting_t *member(const struct smtpgate_cfg *cfg, const char *name)
{
	return cfg ? config_setting_get_member((const config_setting_t *)cfg, name) : NULL;
}

static void type_error(const struct smtpgate_cfg *cfg, const char *name, const char *expected)
{
	cfg_error(cfg, name, "expected %s", expected);
}

static int cfg_string(const struct smtpgate_cfg *cfg, const char *name, const char **out)
{
	const config_setting_t *m = member(cfg, name);
	if (!m)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		type_error(cfg, name, "a string");
		return -1;
	}
	*out = config_setting_get_string(m);
	return 1;
}

static int cfg_int(const struct smtpgate_cfg *cfg, const char *name, long long *out)
{
	const config_setting_t *m = member(cfg, name);
	if (!m)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_INT && config_setting_type(m) != CONFIG_TYPE_INT64) {
		type_error(cfg, name, "an integer");
		return -1;
	}
	*out = config_setting_get_int64(m);
	return 1;
}

static int cfg_bool(const struct smtpgate_cfg *cfg, const char *name, int *out)
{
	const config_setting_t *m = member(cfg, name);
	if (!m)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
		type_error(cfg, name, "true or false");
		return -1;
	}
	*out = config_setting_get_bool(m);
	return 1;
}

static int cfg_list_count(const struct smtpgate_cfg *cfg, const char *name)
{
	const config_setting_t *m = member(cfg, name);
	if (!m)
		return 0;
	if (!config_setting_is_array(m) && !config_setting_is_list(m)) {
		type_error(cfg, name, "a list of strings [ \"...\", ... ]");
		return -1;
	}
	int n = config_setting_length(m);
	for (int i = 0; i < n; i++)
		if (config_setting_type(config_setting_get_elem(m, (unsigned int)i)) != CONFIG_TYPE_STRING) {
			type_error(cfg, name, "a list of strings [ \"...\", ... ]");
			return -1;
		}
	return n;
}

static const char *cfg_list_string(const struct smtpgate_cfg *cfg, const char *name, int index)
{
	const config_setting_t *m = member(cfg, name);
	if (!m || index < 0)
		return NULL;
	const config_setting_t *e = config_setting_get_elem(m, (unsigned int)index);
	return e ? config_setting_get_string(e) : NULL;
}

/* "file=FILE line=N listener=NAME setting=GROUP.SETTING error=...", as
   config_error.c writes the core's own config errors; and init fails. */
static void cfg_error(const struct smtpgate_cfg *cfg, const char *name, const char *fmt, ...)
{
	char text[1024], setting[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	host_cfg_errors++;

	const config_setting_t *group = (const config_setting_t *)cfg;
	const config_setting_t *at = member(cfg, name);
	if (!at)
		at = group;
	const char *file = at ? config_setting_source_file(at) : NULL;
	int line = at ? (int)config_setting_source_line(at) : 0;
	const char *lname = host_listener ? host_listener->name : "?";
	const char *gname = host_listener ? host_listener->group_name : "?";
	if (!line && host_listener)
		line = host_listener->line;
	if (!file)
		file = host_listener ? host_listener->source : "command line";
	snprintf(setting, sizeof(setting), "%s.%s", gname, name ? name : "");
	log_err("file=%s line=%d listener=%s setting=%s error=%s", log_quoted(file), line,
		log_quoted(lname), log_quoted(setting), log_quoted(text));
}

static const char *listener_remote(void)
{
	return host_listener ? host_listener->remote : "";
}

static const char *listener_address(void)
{
	return host_listener ? host_listener->address : "";
}

static const char *fqdn(void)
{
	return host_fqdn;
}

/* The client services: struct smtpgate_client is core's struct smtp_client. */
static struct smtpgate_client *client_open(const char *hostport, int lmtp, int connect_timeout_sec,
					   int reply_timeout_sec, struct smtpgate_upstream_reply *r)
{
	return (struct smtpgate_client *)smtp_client_open(hostport, lmtp, host_fqdn,
							  connect_timeout_sec * 1000,
							  reply_timeout_sec * 1000, r);
}

static int client_extension(const struct smtpgate_client *c, const char *keyword,
			    const char **param_out)
{
	return smtp_client_extension((const struct smtp_client *)c, keyword, param_out);
}

static int client_command(struct smtpgate_client *c, struct smtpgate_upstream_reply *r,
			  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int code = smtp_client_vcommand((struct smtp_client *)c, r, fmt, ap);
	va_end(ap);
	return code;
}

static int client_send(struct smtpgate_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = smtp_client_vsend((struct smtp_client *)c, fmt, ap);
	va_end(ap);
	return rc;
}

static int client_flush(struct smtpgate_client *c)
{
	return smtp_client_flush((struct smtp_client *)c);
}

static int client_read_reply(struct smtpgate_client *c, struct smtpgate_upstream_reply *r)
{
	return smtp_client_read_reply((struct smtp_client *)c, r);
}

static int client_data(struct smtpgate_client *c, const struct smtpgate_data_part *parts,
		       size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies)
{
	return smtp_client_data((struct smtp_client *)c, parts, nparts, replies, nreplies);
}

static int client_message(struct smtpgate_client *c, const struct smtpgate_data_part *parts,
			  size_t nparts, struct smtpgate_upstream_reply *replies, size_t nreplies)
{
	return smtp_client_message((struct smtp_client *)c, parts, nparts, replies, nreplies);
}

static int client_usable(const struct smtpgate_client *c)
{
	return smtp_client_usable((const struct smtp_client *)c);
}

static void client_close(struct smtpgate_client *c)
{
	smtp_client_close((struct smtp_client *)c);
}

/* A message to the upstream as it arrives: the client's streaming write. */
static int client_stream_begin(struct smtpgate_client *c)
{
	return smtp_client_stream_begin((struct smtp_client *)c);
}

static int client_stream_write(struct smtpgate_client *c, const char *data, size_t len)
{
	return smtp_client_stream_write((struct smtp_client *)c, data, len);
}

static int client_stream_end(struct smtpgate_client *c, struct smtpgate_upstream_reply *replies,
			     size_t nreplies)
{
	return smtp_client_stream_end((struct smtp_client *)c, replies, nreplies);
}

/* client_open with relay_tls's STARTTLS (smtp_client_tls.c). */
static struct smtpgate_client *client_open_tls(const char *hostport, int lmtp,
					       int connect_timeout_sec, int reply_timeout_sec,
					       int tls, const char *ca_file,
					       struct smtpgate_upstream_reply *r)
{
	return (struct smtpgate_client *)smtp_client_open_tls(hostport, lmtp, host_fqdn,
							      connect_timeout_sec * 1000,
							      reply_timeout_sec * 1000, tls,
							      ca_file, r);
}

static const char *client_tls(const struct smtpgate_client *c, const char **cipher_out)
{
	return smtp_client_tls((const struct smtp_client *)c, cipher_out);
}

/* BDAT chunks to a CHUNKING upstream instead of DATA (smtp_client.c). */
static int client_stream_begin_chunks(struct smtpgate_client *c)
{
	return smtp_client_stream_begin_chunks((struct smtp_client *)c);
}
