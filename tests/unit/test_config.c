/*
 * test_config.c - config_load_string()/config_load_file(): good configs
 * with every default checked, and bad ones whose single error message must
 * name the source and line and say what is wrong.  plugin_dir points at a
 * temporary directory holding a copy of the built debug plugin, so handler
 * resolution runs for real.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "config_limits.h"
#include "unit.h"

static char plugin_dir[512];

static int config_suite_init(void)
{
	const char *so = unit_build_file("plugins/debug/.libs/debug.so");
	if (!so) {
		fprintf(stderr, "test_config: plugins/debug/.libs/debug.so not found: run make\n");
		return -1;
	}
	unit_tmppath(plugin_dir, sizeof(plugin_dir), "plugins");
	if (mkdir(plugin_dir, 0700) != 0 || unit_copy_file(so, "plugins/debug.so", 0755) != 0)
		return -1;
	return 0;
}

/* The text with a first line setting plugin_dir: row line N is line N+1. */
static int load(const char *body, struct config **cfg_out, char *err, size_t err_size)
{
	char text[4096];
	snprintf(text, sizeof(text), "plugin_dir = \"%s\";\n%s", plugin_dir, body);
	*cfg_out = NULL;
	err[0] = '\0';
	return config_load_string(text, "command line", cfg_out, err, err_size);
}

static void test_defaults(void)
{
	struct config *cfg;
	char err[CONFIG_ERROR_MAX_BYTES];
	const char *row = "defaults";
	int rc = load("listeners = ( { address = \"127.0.0.1:8025\"; } );\n", &cfg, err,
		      sizeof(err));
	if (!UNIT_CHECK(row, rc == 0)) {
		printf("    error: %s\n", err);
		return;
	}
	UNIT_CHECK_STR(row, cfg->source, "command line");
	UNIT_CHECK_STR(row, cfg->user, "nobody");
	UNIT_CHECK_STR(row, cfg->plugin_dir, plugin_dir);
	UNIT_CHECK(row, cfg->log_facility == -1);
	UNIT_CHECK(row, cfg->shutdown_timeout_sec == 30);
	UNIT_CHECK(row, cfg->worker_sched_batch == 1);
	UNIT_CHECK(row, cfg->listener_count == 1);
	const struct listener_config *l = &cfg->listeners[0];
	UNIT_CHECK_STR(row, l->address, "127.0.0.1:8025");
	UNIT_CHECK_STR(row, l->name, "127.0.0.1:8025");
	UNIT_CHECK_STR(row, l->handler, "debug");
	UNIT_CHECK_STR(row, l->group_name, "debug");
	char so[600];
	snprintf(so, sizeof(so), "%s/debug.so", plugin_dir);
	UNIT_CHECK_STR(row, l->plugin_path, so);
	UNIT_CHECK_STR(row, l->remote, "localhost:25");
	UNIT_CHECK(row, l->data_size_limit == 33554432);
	UNIT_CHECK(row, l->smtputf8 == 0);
	UNIT_CHECK(row, l->decode_data == 0);
	UNIT_CHECK(row, l->bare_lf == BARE_LF_KEEP);
	UNIT_CHECK(row, l->command_timeout_sec == 300);
	UNIT_CHECK(row, l->data_timeout_sec == 180);
	UNIT_CHECK(row, l->min_spare == 2);
	UNIT_CHECK(row, l->max_spare == 8);
	UNIT_CHECK(row, l->max_workers == 100);
	UNIT_CHECK(row, l->max_idle_sec == 100);
	UNIT_CHECK(row, l->stress_timeout_sec == 10);
	UNIT_CHECK(row, l->max_sessions_per_client == 50);
	UNIT_CHECK(row, l->max_sessions_per_worker == 1000);
	UNIT_CHECK(row, l->max_recipients == 1000);
	UNIT_CHECK(row, l->handler_group == NULL);
	UNIT_CHECK(row, l->proxy_protocol == 0);
	UNIT_CHECK(row, l->proxy_trusted.count == 0);
	UNIT_CHECK(row, l->proxy_timeout_sec == 5);
	UNIT_CHECK(row, l->tls.mode == TLS_MODE_OFF);
	UNIT_CHECK(row, l->tls.cert.count == 0 && l->tls.key.count == 0);
	UNIT_CHECK_STR(row, l->tls.protocols, "TLSv1.2 TLSv1.3");
	UNIT_CHECK_STR(row, config_tls_protocols[l->tls.min_version], "TLSv1.2");
	UNIT_CHECK_STR(row, config_tls_protocols[l->tls.max_version], "TLSv1.3");
	UNIT_CHECK_STR(row, l->tls.ciphers, "HIGH:!aNULL:!MD5");
	UNIT_CHECK(row, l->tls.handshake_timeout_sec == 30);
	UNIT_CHECK(row, l->line == 2);
	config_free(cfg);
}

static void test_every_setting(void)
{
	struct config *cfg;
	char err[CONFIG_ERROR_MAX_BYTES];
	const char *row = "every setting";
	int rc = load("user = \"\";\nlog = \"syslog\";\nlog_facility = \"local3\";\n"
		      "shutdown_timeout = 5; worker_scheduling = \"normal\"; tls_ticket_rotation = 60;\n"
		      "listeners = ( {\n"
		      "  name = \"mx\"; address = \"[::1]:2525\"; handler = \"DebuggingServer\";\n"
		      "  remote = \"relay.example:587\"; data_size_limit = 0; smtputf8 = true;\n"
		      "  bare_lf = \"reject\"; command_timeout = 10; data_timeout = 20;\n"
		      "  workers = 2; max_sessions_per_worker = 0; max_recipients = 50;\n"
		      "  debug = { output = \"/dev/null\"; };\n"
		      "  tls = { mode = \"implicit\"; cert = [\"/rsa.pem\", \"/ec.pem\"];\n"
		      "    key = (\"/rsa.key\", \"/ec.key\");\n"
		      "    protocols = \"TLSv1.1 TLSv1.2\"; ciphers = \"ECDHE+AESGCM\";\n"
		      "    ciphersuites = \"TLS_AES_128_GCM_SHA256\"; handshake_timeout = 5;\n"
		      "    verify_client = \"required\"; ca_file = \"/ca.pem\";\n"
		      "    sni = ( { name = \"mx.a.example\"; cert = \"/a.pem\"; key = \"/a.key\"; },\n"
		      "      { name = \"*.b.example\"; cert = [\"/b1\", \"/b2\"]; key = [\"/k1\", \"/k2\"]; } ); };\n"
		      "}, {\n"
		      "  address = \":2526\"; decode_data = true; bare_lf = \"normalize\";\n"
		      "  data_size_limit = 1048576L; min_spare = 3; max_spare = 5; max_workers = 7;\n"
		      "  max_idle = 9; stress_timeout = 4; max_sessions_per_client = 0;\n"
		      "  client_limit_exceptions = [];\n"
		      "  proxy_protocol = \"any\"; proxy_timeout = 2;\n"
		      "  proxy_trusted = [ \"10.0.0.0/8\", \"2001:db8::1\" ];\n"
		      "} );\n",
		      &cfg, err, sizeof(err));
	if (!UNIT_CHECK(row, rc == 0)) {
		printf("    error: %s\n", err);
		return;
	}
	UNIT_CHECK(row, cfg->user == NULL);
	UNIT_CHECK(row, cfg->log_facility >= 0);
	UNIT_CHECK(row, cfg->shutdown_timeout_sec == 5);
	UNIT_CHECK(row, cfg->worker_sched_batch == 0);
	UNIT_CHECK(row, cfg->listener_count == 2);
	const struct listener_config *l = &cfg->listeners[0];
	UNIT_CHECK_STR(row, l->name, "mx");
	UNIT_CHECK_STR(row, l->address, "[::1]:2525");
	UNIT_CHECK_STR(row, l->handler, "debug");
	UNIT_CHECK_STR(row, l->group_name, "debug");
	UNIT_CHECK_STR(row, l->remote, "relay.example:587");
	UNIT_CHECK(row, l->data_size_limit == 0);
	UNIT_CHECK(row, l->smtputf8 == 1);
	UNIT_CHECK(row, l->decode_data == 0);
	UNIT_CHECK(row, l->bare_lf == BARE_LF_REJECT);
	UNIT_CHECK(row, l->command_timeout_sec == 10);
	UNIT_CHECK(row, l->data_timeout_sec == 20);
	/* workers = N: a fixed pool of N. */
	UNIT_CHECK(row, l->min_spare == 2 && l->max_spare == 2 && l->max_workers == 2);
	UNIT_CHECK(row, l->max_sessions_per_worker == 0);
	UNIT_CHECK(row, l->max_recipients == 50);
	UNIT_CHECK(row, l->handler_group != NULL);
	UNIT_CHECK(row, l->tls.mode == TLS_MODE_IMPLICIT);
	UNIT_CHECK(row, l->tls.cert.count == 2 && l->tls.key.count == 2);
	UNIT_CHECK_STR(row, l->tls.cert.items[0], "/rsa.pem");
	UNIT_CHECK_STR(row, l->tls.cert.items[1], "/ec.pem");
	UNIT_CHECK_STR(row, l->tls.key.items[0], "/rsa.key");
	UNIT_CHECK_STR(row, l->tls.key.items[1], "/ec.key");
	UNIT_CHECK_STR(row, config_tls_protocols[l->tls.min_version], "TLSv1.1");
	UNIT_CHECK_STR(row, config_tls_protocols[l->tls.max_version], "TLSv1.2");
	UNIT_CHECK_STR(row, l->tls.ciphers, "ECDHE+AESGCM");
	UNIT_CHECK_STR(row, l->tls.ciphersuites, "TLS_AES_128_GCM_SHA256");
	UNIT_CHECK(row, l->tls.handshake_timeout_sec == 5);
	UNIT_CHECK(row, l->tls.verify_client == TLS_VERIFY_REQUIRED);
	UNIT_CHECK_STR(row, l->tls.ca_file, "/ca.pem");
	UNIT_CHECK(row, l->tls.sni_count == 2);
	UNIT_CHECK_STR(row, l->tls.sni[0].name, "mx.a.example");
	UNIT_CHECK_STR(row, l->tls.sni[0].key.items[0], "/a.key");
	UNIT_CHECK_STR(row, l->tls.sni[1].name, "*.b.example");
	UNIT_CHECK(row, l->tls.sni[1].cert.count == 2 && l->tls.sni[1].key.count == 2);
	UNIT_CHECK_STR(row, l->tls.sni[1].cert.items[1], "/b2");
	UNIT_CHECK(row, cfg->tls_ticket_rotation_sec == 60);
	l = &cfg->listeners[1];
	UNIT_CHECK_STR(row, l->name, ":2526");
	UNIT_CHECK(row, l->decode_data == 1);
	UNIT_CHECK(row, l->bare_lf == BARE_LF_NORMALIZE);
	UNIT_CHECK(row, l->data_size_limit == 1048576);
	UNIT_CHECK(row, l->min_spare == 3 && l->max_spare == 5 && l->max_workers == 7);
	UNIT_CHECK(row, l->max_idle_sec == 9 && l->stress_timeout_sec == 4);
	UNIT_CHECK(row, l->max_sessions_per_client == 0);
	UNIT_CHECK(row, l->client_limit_exceptions.count == 0);
	UNIT_CHECK(row, l->proxy_protocol == 3 && l->proxy_timeout_sec == 2);
	UNIT_CHECK(row, l->proxy_trusted.count == 2);
	UNIT_CHECK(row, addr_net_list_contains(l->proxy_trusted.nets, l->proxy_trusted.count,
					       "10.1.2.3"));
	UNIT_CHECK(row, !addr_net_list_contains(l->proxy_trusted.nets, l->proxy_trusted.count,
						"2001:db8::2"));
	UNIT_CHECK(row, l->line == 19); /* where its "{" is */
	config_free(cfg);
}

/* A handler given as a path: used as is, the group is its base name. */
static void test_handler_path(void)
{
	struct config *cfg;
	char err[CONFIG_ERROR_MAX_BYTES], body[1024];
	snprintf(body, sizeof(body),
		 "listeners = ( { address = \"127.0.0.1:8025\"; handler = \"%s/debug.so\";\n"
		 "  debug = { output = \"/dev/null\"; }; } );\n", plugin_dir);
	int rc = load(body, &cfg, err, sizeof(err));
	if (!UNIT_CHECK("handler path", rc == 0)) {
		printf("    error: %s\n", err);
		return;
	}
	char so[600];
	snprintf(so, sizeof(so), "%s/debug.so", plugin_dir);
	UNIT_CHECK_STR("handler path", cfg->listeners[0].plugin_path, so);
	UNIT_CHECK_STR("handler path", cfg->listeners[0].group_name, "debug");
	UNIT_CHECK("handler path", cfg->listeners[0].handler_group != NULL);
	config_free(cfg);
}

/* Listener names: the scoreboard holds 63 bytes and a NUL. */
#define N16 "name-of-16-bytes"
#define N64 N16 N16 N16 N16
#define H60 "host-name-of-20-byte" "host-name-of-20-byte" "host-name-of-20-byte"

static const struct {
	const char *name;
	const char *body;
	const char *err1, *err2; /* both must appear in the message */
} bad_rows[] = {
	{ "syntax error", "listeners = (\n  { address = ; }\n);\n", "file=\"command line\" line=3 ", NULL },
	{ "syntax error, missing semicolon", "user = \"a\"\nlisteners = ();\n", "file=\"command line\" line=3 ",
	  NULL },
	{ "unknown listener setting",
	  "listeners = ( {\n  address = \"127.0.0.1:1\";\n  colour = \"red\";\n} );\n",
	  "file=\"command line\" line=4 ", "setting=colour error=\"unknown setting\"" },
	{ "unknown global setting", "foo = 1;\nlisteners = ( { address = \"127.0.0.1:1\"; } );\n",
	  "file=\"command line\" line=2 ", "setting=foo error=\"unknown setting\"" },
	{ "group for another handler",
	  "listeners = ( { address = \"127.0.0.1:1\"; proxy = { x = 1; }; } );\n",
	  "file=\"command line\" line=2 ", "setting=proxy error=\"unknown setting\"" },
	{ "smtputf8 and decode_data",
	  "listeners = ( { address = \"127.0.0.1:1\";\n smtputf8 = true;\n decode_data = true; } );\n",
	  "file=\"command line\" line=4 ", "decode_data and smtputf8 cannot both be true" },
	{ "address without port", "listeners = ( { address = \"nonsense\"; } );\n",
	  "file=\"command line\" line=2 ", "expected host:port" },
	{ "address with port 0", "listeners = ( { address = \"127.0.0.1:0\"; } );\n",
	  "address", "port out of range" },
	{ "address with a name for a port", "listeners = ( { address = \"127.0.0.1:smtp\"; } );\n",
	  "address", "port is not a number" },
	{ "IPv6 address without brackets", "listeners = ( { address = \"::1:25\"; } );\n",
	  "address", "brackets" },
	{ "bad remote", "listeners = ( { address = \"127.0.0.1:1\"; remote = \"x\"; } );\n",
	  "remote", "expected host:port" },
	{ "bad bare_lf", "listeners = ( { address = \"127.0.0.1:1\";\n bare_lf = \"strip\"; } );\n",
	  "file=\"command line\" line=3 ",
	  "setting=bare_lf error=\"expected \\\"keep\\\", \\\"normalize\\\" or \\\"reject\\\", not \\\"strip\\\"\"" },
	{ "missing plugin file", "listeners = ( { address = \"127.0.0.1:1\"; handler = \"nosuch\"; } );\n",
	  "handler", "no plugin \\\"nosuch\\\"" },
	{ "missing plugin path",
	  "listeners = ( { address = \"127.0.0.1:1\"; handler = \"/nonexistent/x.so\"; } );\n",
	  "handler", "No such file" },
	{ "empty handler", "listeners = ( { address = \"127.0.0.1:1\"; handler = \"\"; } );\n",
	  "handler", "empty handler name" },
	{ "string for an integer",
	  "listeners = ( { address = \"127.0.0.1:1\"; data_size_limit = \"big\"; } );\n",
	  "data_size_limit", "expected an integer" },
	{ "negative limit", "listeners = ( { address = \"127.0.0.1:1\"; data_size_limit = -1; } );\n",
	  "data_size_limit", "outside" },
	{ "zero timeout", "listeners = ( { address = \"127.0.0.1:1\"; command_timeout = 0; } );\n",
	  "command_timeout", "outside" },
	{ "zero max_recipients", "listeners = ( { address = \"127.0.0.1:1\"; max_recipients = 0; } );\n",
	  "max_recipients", "outside" },
	{ "too many workers", "listeners = ( { address = \"127.0.0.1:1\"; workers = 5000; } );\n",
	  "workers", "outside" },
	{ "fixed and self-sizing pool",
	  "listeners = ( { address = \"127.0.0.1:1\"; workers = 4; max_workers = 10; } );\n",
	  "max_workers", "not with workers" },
	{ "max_spare below min_spare",
	  "listeners = ( { address = \"127.0.0.1:1\"; min_spare = 5; max_spare = 4; } );\n",
	  "max_spare", "4 is below min_spare (5)" },
	{ "max_workers below min_spare",
	  "listeners = ( { address = \"127.0.0.1:1\"; min_spare = 5; max_workers = 4; } );\n",
	  "max_workers", "4 is below min_spare (5)" },
	{ "no spare worker", "listeners = ( { address = \"127.0.0.1:1\"; min_spare = 0; } );\n",
	  "min_spare", "outside" },
	{ "negative client limit",
	  "listeners = ( { address = \"127.0.0.1:1\"; max_sessions_per_client = -1; } );\n",
	  "max_sessions_per_client", "outside" },
	{ "client_limit_exceptions not a list",
	  "listeners = ( { address = \"127.0.0.1:1\"; client_limit_exceptions = \"::1\"; } );\n",
	  "setting=client_limit_exceptions ", "expected a list of networks" },
	{ "client_limit_exceptions with a bad network",
	  "listeners = ( { address = \"127.0.0.1:1\";\n client_limit_exceptions = [ \"::1\", \"10.0.0.0/33\" ]; } );\n",
	  "file=\"command line\" line=3 setting=client_limit_exceptions ",
	  "10.0.0.0/33\\\": prefix length is not 0..32" },
	{ "client_limit_exceptions with a host name",
	  "listeners = ( { address = \"127.0.0.1:1\"; client_limit_exceptions = [ \"localhost\" ]; } );\n",
	  "setting=client_limit_exceptions ", "not an IPv4 address" },
	{ "client_limit_exceptions with a number",
	  "listeners = ( { address = \"127.0.0.1:1\"; client_limit_exceptions = [ 10 ]; } );\n",
	  "setting=client_limit_exceptions ", "expected a string" },
	{ "proxy_protocol without proxy_trusted",
	  "listeners = ( { address = \"127.0.0.1:1\";\n proxy_protocol = \"v2\"; } );\n",
	  "file=\"command line\" line=3 setting=proxy_protocol ", "needs proxy_trusted" },
	{ "proxy_protocol with an empty proxy_trusted",
	  "listeners = ( { address = \"127.0.0.1:1\"; proxy_protocol = \"v1\";\n"
	  " proxy_trusted = [ ]; } );\n",
	  "setting=proxy_protocol ", "needs proxy_trusted" },
	{ "bad proxy_protocol",
	  "listeners = ( { address = \"127.0.0.1:1\"; proxy_protocol = \"v3\"; } );\n",
	  "setting=proxy_protocol ",
	  "expected \\\"off\\\", \\\"v1\\\", \\\"v2\\\" or \\\"any\\\", not \\\"v3\\\"" },
	{ "proxy_trusted with a host name",
	  "listeners = ( { address = \"127.0.0.1:1\"; proxy_protocol = \"any\";\n"
	  " proxy_trusted = [ \"lb.example\" ]; } );\n",
	  "line=3 setting=proxy_trusted ", "not an IPv4 address" },
	{ "proxy_timeout of 0",
	  "listeners = ( { address = \"127.0.0.1:1\"; proxy_timeout = 0; } );\n",
	  "proxy_timeout", "0 is outside 1..300" },
	{ "integer for a bool", "listeners = ( { address = \"127.0.0.1:1\"; smtputf8 = 1; } );\n",
	  "smtputf8", "expected true or false" },
	{ "integer for a string", "listeners = ( { address = 25; } );\n", "address",
	  "expected a string" },
	{ "handler group not a group",
	  "listeners = ( { address = \"127.0.0.1:1\"; debug = 5; } );\n", "debug",
	  "must be a group" },
	{ "listener without address", "listeners = ( { name = \"x\"; } );\n",
	  "listener without an address", NULL },
	{ "listener not a group", "listeners = ( 5 );\n", "must be a group", NULL },
	{ "no listeners", "user = \"nobody\";\n", "no listeners", NULL },
	{ "empty listener list", "listeners = ( );\n", "non-empty", NULL },
	{ "duplicate address",
	  "listeners = ( { address = \"127.0.0.1:1\"; },\n { address = \"127.0.0.1:1\"; } );\n",
	  "file=\"command line\" line=3 ", "already used" },
	{ "duplicate name",
	  "listeners = ( { name = \"mx\"; address = \"127.0.0.1:1\"; },\n"
	  " { address = \"127.0.0.1:2\";\n name = \"mx\"; } );\n",
	  "file=\"command line\" line=4 ", "name \\\"mx\\\" is already used by the listener at line 2" },
	{ "name equal to another listener's address",
	  "listeners = ( { address = \"127.0.0.1:1\"; },\n"
	  " { address = \"127.0.0.1:2\"; name = \"127.0.0.1:1\"; } );\n",
	  "file=\"command line\" line=3 ", "already used by the listener at line 2" },
	{ "address equal to another listener's name",
	  "listeners = ( { address = \"127.0.0.1:1\"; name = \"127.0.0.1:2\"; },\n"
	  " { address = \"127.0.0.1:2\"; } );\n",
	  "file=\"command line\" line=3 setting=address ", "already used by the listener at line 2" },
	{ "name of 64 bytes",
	  "listeners = ( { address = \"127.0.0.1:1\";\n"
	  " name = \"" N64 "\"; } );\n",
	  "line=3 setting=name ", "64 bytes long; the maximum is 63" },
	{ "name of 70 bytes",
	  "listeners = ( { address = \"127.0.0.1:1\"; name = \"" N64 "abcdef\"; } );\n",
	  "setting=name ", "70 bytes long; the maximum is 63" },
	{ "name with a space",
	  "listeners = ( { address = \"127.0.0.1:1\"; name = \"mx event=stress\"; } );\n",
	  "setting=name ", "may not hold spaces" },
	{ "name with a quote",
	  "listeners = ( { address = \"127.0.0.1:1\"; name = \"mx\\\"\"; } );\n",
	  "setting=name ", "may not hold spaces" },
	{ "address of 64 bytes as the name",
	  "listeners = ( { address = \"" H60 ":253\"; } );\n",
	  "setting=address ", "64 bytes long; the maximum is 63 (the address is the name by default" },
	{ "bad log target", "log = \"file\";\nlisteners = ( { address = \"127.0.0.1:1\"; } );\n",
	  "file=\"command line\" line=2 ", "setting=log error=\"expected \\\"stderr\\\" or \\\"syslog\\\"" },
	{ "bad syslog facility",
	  "log = \"syslog\";\nlog_facility = \"kern9\";\nlisteners = ( { address = \"127.0.0.1:1\"; } );\n",
	  "file=\"command line\" line=3 ", "unknown syslog facility" },
	{ "bad syslog facility while logging to stderr",
	  "log_facility = \"mial\";\nlisteners = ( { address = \"127.0.0.1:1\"; } );\n",
	  "file=\"command line\" line=2 ", "unknown syslog facility \\\"mial\\\"" },
	{ "shutdown_timeout out of range",
	  "shutdown_timeout = 0;\nlisteners = ( { address = \"127.0.0.1:1\"; } );\n",
	  "shutdown_timeout", "outside" },
	{ "tls not a group", "listeners = ( { address = \"127.0.0.1:1\";\n tls = 1; } );\n",
	  "line=3 setting=tls ", "must be a group" },
	{ "unknown tls setting",
	  "listeners = ( { address = \"127.0.0.1:1\";\n tls = { verify = true; }; } );\n",
	  "line=3 setting=verify ", "unknown setting" },
	{ "bad tls mode", "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"on\"; }; } );\n",
	  "setting=mode ", "not \\\"on\\\"" },
	{ "tls mode without a certificate",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; }; } );\n",
	  "setting=mode ", "set tls.cert" },
	{ "tls certificate without a key",
	  "listeners = ( { address = \"127.0.0.1:1\";\n tls = { mode = \"required\"; cert = \"/c\"; }; } );\n",
	  "line=3 setting=cert ", "set tls.key" },
	{ "tls keys fewer than certificates",
	  "listeners = ( { address = \"127.0.0.1:1\";\n tls = { mode = \"may\"; cert = [\"/a\", \"/b\"];\n"
	  " key = \"/k\"; }; } );\n",
	  "line=4 setting=key ", "tls.key lists 1, tls.cert 2" },
	{ "tls too many certificates",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { cert = [\"1\", \"2\", \"3\", \"4\", \"5\"]; }; } );\n",
	  "setting=cert ", "expected 1 to 4 strings, not 5" },
	{ "tls empty certificate list",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { cert = []; }; } );\n",
	  "setting=cert ", "expected 1 to 4 strings, not 0" },
	{ "tls certificate not a string",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { cert = 5; }; } );\n",
	  "setting=cert ", "expected a string or a list of strings" },
	{ "tls empty key name",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { key = [\"/k\", \"\"]; }; } );\n",
	  "setting=key ", "element 2: expected a file name" },
	{ "tls protocol unknown",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { protocols = \"TLSv1.3 SSLv3\"; }; } );\n",
	  "setting=protocols ", "unknown protocol \\\"SSLv3\\\"" },
	{ "tls protocols with a gap",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { protocols = \"TLSv1 TLSv1.3\"; }; } );\n",
	  "setting=protocols ", "TLSv1.1 is missing between TLSv1 and TLSv1.3" },
	{ "tls protocols empty",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { protocols = \" \"; }; } );\n",
	  "setting=protocols ", "no protocol named" },
	{ "tls handshake_timeout 0",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { handshake_timeout = 0; }; } );\n",
	  "setting=handshake_timeout ", "outside" },
	{ "bad protocol", "listeners = ( { address = \"127.0.0.1:1\"; protocol = \"esmtp\"; } );\n",
	  "setting=protocol ", "expected \\\"smtp\\\" or \\\"lmtp\\\"" },
	{ "unix: relative path", "listeners = ( { address = \"unix:run/x.sock\"; } );\n",
	  "setting=address ", "absolute path" },
	{ "unix: empty path", "listeners = ( { address = \"unix:\"; } );\n",
	  "setting=address ", "absolute path" },
	{ "unix: a directory", "listeners = ( { address = \"unix:/run/\"; } );\n",
	  "setting=address ", "names a directory" },
	{ "unix: path too long",
	  "listeners = ( { name = \"u\"; address = \"unix:/" N64 N64 "\"; } );\n",
	  "setting=address ", "at most 107" },
	{ "unix: mode not octal", "listeners = ( { address = \"unix:/x.sock\"; socket_mode = \"rw\"; } );\n",
	  "setting=socket_mode ", "octal mode" },
	{ "unix: mode too big", "listeners = ( { address = \"unix:/x.sock\"; socket_mode = \"01777\"; } );\n",
	  "setting=socket_mode ", "octal mode" },
	{ "unix: mode not a string", "listeners = ( { address = \"unix:/x.sock\"; socket_mode = 438; } );\n",
	  "setting=socket_mode ", "expected a string" },
	{ "unix: unknown user",
	  "listeners = ( { address = \"unix:/x.sock\"; socket_user = \"no-such-user-q\"; } );\n",
	  "setting=socket_user ", "no such user" },
	{ "unix: unknown group",
	  "listeners = ( { address = \"unix:/x.sock\"; socket_group = \"no-such-group-q\"; } );\n",
	  "setting=socket_group ", "no such group" },
	{ "socket_mode on TCP", "listeners = ( { address = \"127.0.0.1:1\"; socket_mode = \"0600\"; } );\n",
	  "setting=socket_mode ", "only for a UNIX socket" },
	{ "socket_group on TCP", "listeners = ( { address = \"127.0.0.1:1\"; socket_group = \"root\"; } );\n",
	  "setting=socket_group ", "only for a UNIX socket" },
	{ "unix: PROXY protocol",
	  "listeners = ( { address = \"unix:/x.sock\"; proxy_protocol = \"v1\";\n"
	  "  proxy_trusted = [ \"127.0.0.1\" ]; } );\n",
	  "setting=proxy_protocol ", "not on a UNIX socket" },
	{ "unix: TLS",
	  "listeners = ( { address = \"unix:/x.sock\";\n tls = { mode = \"may\"; cert = \"/c\"; key = \"/k\"; }; } );\n",
	  "setting=tls ", "on a UNIX socket" },
	{ "tls verify_client without ca_file",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; verify_client = \"optional\"; }; } );\n",
	  "setting=verify_client ", "set tls.ca_file" },
	{ "tls verify_client unknown",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { verify_client = \"ask\"; }; } );\n",
	  "setting=verify_client ", "not \\\"ask\\\"" },
	{ "tls sni not a list",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; sni = \"mx.example\"; }; } );\n",
	  "setting=sni ", "expected a list of groups" },
	{ "tls sni entry not a group",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; sni = ( \"mx.example\" ); }; } );\n",
	  "line=3 ", "each entry is a group" },
	{ "tls sni name upper case",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; sni = ( { name = \"MX.example\"; cert = \"/c\"; key = \"/k\"; } ); }; } );\n",
	  "setting=name ", "lower-case host name" },
	{ "tls sni name with an empty label",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; sni = ( { name = \"mx..example\"; cert = \"/c\"; key = \"/k\"; } ); }; } );\n",
	  "setting=name ", "lower-case host name" },
	{ "tls sni name twice",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; sni = ( { name = \"a.example\"; cert = \"/c\"; key = \"/k\"; },\n"
	  " { name = \"a.example\"; cert = \"/c\"; key = \"/k\"; } ); }; } );\n",
	  "setting=name ", "\\\"a.example\\\" is named twice" },
	{ "tls sni entry without a key",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; sni = ( { name = \"a.example\"; cert = \"/c\"; } ); }; } );\n",
	  "setting=key ", "1 certificates, 0 keys" },
	{ "tls sni unknown setting",
	  "listeners = ( { address = \"127.0.0.1:1\"; tls = { mode = \"may\"; cert = \"/c\";\n"
	  " key = \"/k\"; sni = ( { name = \"a.example\"; cert = \"/c\"; key = \"/k\"; ca = 1; } );\n"
	  " }; } );\n",
	  "setting=ca ", "unknown setting in a tls.sni entry" },
	{ "tls_ticket_rotation 0",
	  "tls_ticket_rotation = 0;\nlisteners = ( { address = \"127.0.0.1:1\"; } );\n",
	  "tls_ticket_rotation", "outside" },
	{ "bad worker_scheduling",
	  "worker_scheduling = \"fifo\";\nlisteners = ( { address = \"127.0.0.1:1\"; } );\n",
	  "worker_scheduling", "expected \\\"normal\\\" or \\\"batch\\\"" },
};

/* protocol and the unix: address with its socket settings, as loaded. */
static const struct {
	const char *name;
	const char *listener; /* the settings inside { } */
	int lmtp;
	const char *unix_path; /* NULL: TCP */
	int mode;
	long uid, gid;
} unix_rows[] = {
	{ "TCP, SMTP by default", "address = \"127.0.0.1:1\";", 0, NULL, 0666, -1, -1 },
	{ "TCP, LMTP", "address = \"127.0.0.1:1\"; protocol = \"lmtp\";", 1, NULL, 0666, -1, -1 },
	{ "unix, defaults", "address = \"unix:/run/x.sock\";", 0, "/run/x.sock", 0666, -1, -1 },
	{ "unix, LMTP, mode", "address = \"unix:/x\"; protocol = \"lmtp\"; socket_mode = \"660\";",
	  1, "/x", 0660, -1, -1 },
	{ "unix, owner", "address = \"unix:/x\"; socket_user = \"root\"; socket_group = \"root\";"
	  " socket_mode = \"0\";", 0, "/x", 0, 0, 0 },
	{ "unix, group only", "address = \"unix:/x\"; socket_group = \"root\";", 0, "/x", 0666, -1, 0 },
	{ "unix: in a TCP-like name", "address = \"unix:/a:25\";", 0, "/a:25", 0666, -1, -1 },
};

static void test_unix_listeners(void)
{
	for (size_t i = 0; i < sizeof(unix_rows) / sizeof(unix_rows[0]); i++) {
		const char *row = unix_rows[i].name;
		char body[512], err[CONFIG_ERROR_MAX_BYTES];
		struct config *cfg;
		snprintf(body, sizeof(body), "listeners = ( { name = \"x\"; %s } );\n",
			 unix_rows[i].listener);
		if (!UNIT_CHECK(row, load(body, &cfg, err, sizeof(err)) == 0)) {
			printf("    error: %s\n", err);
			continue;
		}
		const struct listener_config *l = &cfg->listeners[0];
		UNIT_CHECK(row, l->lmtp == unix_rows[i].lmtp);
		if (unix_rows[i].unix_path)
			UNIT_CHECK_STR(row, l->unix_path ? l->unix_path : "(null)", unix_rows[i].unix_path);
		else
			UNIT_CHECK(row, l->unix_path == NULL);
		if (unix_rows[i].unix_path) {
			UNIT_CHECK(row, l->socket_mode == unix_rows[i].mode);
			UNIT_CHECK(row, l->socket_uid == unix_rows[i].uid);
			UNIT_CHECK(row, l->socket_gid == unix_rows[i].gid);
		}
		config_free(cfg);
	}
}

static void test_bad_configs(void)
{
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		const char *row = bad_rows[i].name;
		struct config *cfg;
		char err[CONFIG_ERROR_MAX_BYTES];
		int rc = load(bad_rows[i].body, &cfg, err, sizeof(err));
		UNIT_CHECK(row, rc == -1);
		UNIT_CHECK(row, cfg == NULL);
		if (rc == 0) {
			config_free(cfg);
			continue;
		}
		UNIT_CHECK(row, strncmp(err, "file=\"command line\" ", 20) == 0);
		UNIT_CHECK(row, strchr(err, '\n') == NULL);
		UNIT_CHECK_CONTAINS(row, err, bad_rows[i].err1);
		if (bad_rows[i].err2)
			UNIT_CHECK_CONTAINS(row, err, bad_rows[i].err2);
	}
}

/* The longest name that fits the scoreboard is taken whole. */
static void test_longest_name(void)
{
	struct config *cfg;
	char err[CONFIG_ERROR_MAX_BYTES];
	const char *row = "name of 63 bytes";
	int rc = load("listeners = ( { address = \"127.0.0.1:1\"; name = \"" N16 N16 N16
		      "name-of-15-byte\"; },\n { address = \"127.0.0.1:2\"; } );\n", &cfg, err,
		      sizeof(err));
	if (!UNIT_CHECK(row, rc == 0)) {
		printf("    error: %s\n", err);
		return;
	}
	UNIT_CHECK(row, strlen(cfg->listeners[0].name) == 63);
	UNIT_CHECK_STR(row, cfg->listeners[1].name, "127.0.0.1:2");
	config_free(cfg);
}

static void test_load_file(void)
{
	char path[512], err[CONFIG_ERROR_MAX_BYTES];
	struct config *cfg = NULL;
	unit_tmppath(path, sizeof(path), "smtpgate.conf");
	FILE *f = fopen(path, "w");
	if (!UNIT_CHECK("write config", f != NULL))
		return;
	fprintf(f, "plugin_dir = \"%s\";\nlisteners = ( { address = \"127.0.0.1:8025\";\n"
		   "  bogus = 1; } );\n", plugin_dir);
	fclose(f);
	UNIT_CHECK("file error", config_load_file(path, &cfg, err, sizeof(err)) == -1);
	char where[600];
	snprintf(where, sizeof(where), "file=%s line=3 setting=bogus error=\"unknown setting\"", path);
	UNIT_CHECK_CONTAINS("file error names the file", err, where);

	f = fopen(path, "w");
	if (!UNIT_CHECK("write config", f != NULL))
		return;
	fprintf(f, "plugin_dir = \"%s\";\nlisteners = ( { address = \"127.0.0.1:8025\"; } );\n",
		plugin_dir);
	fclose(f);
	UNIT_CHECK("good file", config_load_file(path, &cfg, err, sizeof(err)) == 0);
	if (cfg) {
		UNIT_CHECK_STR("good file", cfg->source, path);
		config_free(cfg);
	}
	unit_tmppath(path, sizeof(path), "absent.conf");
	UNIT_CHECK("absent file", config_load_file(path, &cfg, err, sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("absent file", err, "cannot open");
	config_free(NULL); /* allowed */
}

/* File limits: a comment line of line_bytes (its LF not counted) in
   the file itself, or in a file it @includes; the error expected, or NULL
   for a file that loads. */
static const struct {
	const char *name;
	long line_bytes;
	int included;
	const char *err;
} limit_rows[] = {
	{ "longest line allowed", CONFIG_LINE_MAX_BYTES, 0, NULL },
	{ "line one byte too long", CONFIG_LINE_MAX_BYTES + 1, 0,
	  "line=2 error=\"line longer than 65536 bytes" },
	{ "4 MB line", 4L * 1024 * 1024, 0, "line=2 error=\"line longer than" },
	{ "longest line allowed, included", CONFIG_LINE_MAX_BYTES, 1, NULL },
	{ "4 MB line, included", 4L * 1024 * 1024, 1, "line=1 error=\"line longer than" },
};

/* Write the row's file(s) and load it. */
static void test_limit_row(size_t i, const char *path, const char *inc)
{
	const char *row = limit_rows[i].name;
	char err[CONFIG_ERROR_MAX_BYTES];
	struct config *cfg = NULL;
	FILE *f = fopen(limit_rows[i].included ? inc : path, "w");
	if (!UNIT_CHECK(row, f != NULL))
		return;
	fputs(limit_rows[i].included ? "" : "# the line below is the long one\n", f);
	fputc('#', f);
	for (long n = 1; n < limit_rows[i].line_bytes; n++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
	f = limit_rows[i].included ? fopen(path, "w") : fopen(path, "a");
	if (!UNIT_CHECK(row, f != NULL))
		return;
	if (limit_rows[i].included)
		fprintf(f, "plugin_dir = \"%s\";\n@include \"%s\"\n", plugin_dir, inc);
	else
		fprintf(f, "plugin_dir = \"%s\";\n", plugin_dir);
	fprintf(f, "listeners = ( { address = \"127.0.0.1:8025\"; } );\n");
	fclose(f);
	int rc = config_load_file(path, &cfg, err, sizeof(err));
	if (!limit_rows[i].err) {
		if (!UNIT_CHECK(row, rc == 0))
			printf("    error: %s\n", err);
		config_free(cfg);
		return;
	}
	UNIT_CHECK(row, rc == -1);
	UNIT_CHECK_CONTAINS(row, err, limit_rows[i].err);
	UNIT_CHECK_CONTAINS(row, err, limit_rows[i].included ? inc : path);
}

static void test_file_limits(void)
{
	char path[512], inc[512];
	unit_tmppath(path, sizeof(path), "limits.conf");
	unit_tmppath(inc, sizeof(inc), "limits-included.conf");
	for (size_t i = 0; i < sizeof(limit_rows) / sizeof(limit_rows[0]); i++)
		test_limit_row(i, path, inc);
}

/* client_limit_exceptions' networks: a network, an address, whether it
   is inside (-1: the network is refused). */
static const struct {
	const char *net;
	const char *addr;
	int inside;
} net_rows[] = {
	{ "127.0.0.0/8", "127.0.0.1", 1 },
	{ "127.0.0.0/8", "127.255.255.255", 1 },
	{ "127.0.0.0/8", "128.0.0.1", 0 },
	{ "127.0.0.0/8", "::1", 0 },
	{ "10.1.2.3/8", "10.200.0.1", 1 },   /* host bits cleared, as mynetworks */
	{ "192.0.2.1", "192.0.2.1", 1 },     /* an address: a /32 */
	{ "192.0.2.1", "192.0.2.2", 0 },
	{ "192.0.2.128/25", "192.0.2.127", 0 },
	{ "192.0.2.128/25", "192.0.2.200", 1 },
	{ "0.0.0.0/0", "203.0.113.9", 1 },
	{ "::1", "::1", 1 },
	{ "::1", "::2", 0 },
	{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "2001:db8::/33", "2001:db8:8000::1", 0 },
	{ "::/0", "127.0.0.1", 0 },          /* families never mix */
	{ "10.0.0.0/33", "10.0.0.1", -1 },
	{ "::1/129", "::1", -1 },
	{ "10.0.0.0/", "10.0.0.1", -1 },
	{ "10.0.0.0/-1", "10.0.0.1", -1 },
	{ "10.0.0.0/8x", "10.0.0.1", -1 },
	{ "10.0.0", "10.0.0.1", -1 },
	{ "localhost", "127.0.0.1", -1 },
	{ "", "127.0.0.1", -1 },
	{ "[::1]", "::1", -1 },
};

static void test_networks(void)
{
	for (size_t i = 0; i < sizeof(net_rows) / sizeof(net_rows[0]); i++) {
		char row[128];
		struct addr_net net;
		const char *why = NULL;
		snprintf(row, sizeof(row), "%s contains %s", net_rows[i].net, net_rows[i].addr);
		int rc = addr_net_parse(net_rows[i].net, &net, &why);
		if (net_rows[i].inside < 0) {
			UNIT_CHECK(row, rc == -1 && why != NULL);
			continue;
		}
		if (!UNIT_CHECK(row, rc == 0))
			continue;
		UNIT_CHECK(row, addr_net_list_contains(&net, 1, net_rows[i].addr) == net_rows[i].inside);
	}
}

static const struct {
	const char *name;
	const char *plugin;
} alias_rows[] = {
	{ "DebuggingServer", "debug" },
	{ "PureProxy", "proxy" },
	{ "MailmanProxy", "mailman" },
	{ "debug", "debug" },
	{ "maildir", "maildir" },
	{ "debuggingserver", "debuggingserver" },
	{ "SMTPServer", "SMTPServer" },
};

static void test_aliases(void)
{
	for (size_t i = 0; i < sizeof(alias_rows) / sizeof(alias_rows[0]); i++)
		UNIT_CHECK_STR(alias_rows[i].name, config_handler_alias(alias_rows[i].name),
			       alias_rows[i].plugin);
}

int test_config_register(void)
{
	CU_pSuite s = CU_add_suite("config", config_suite_init, NULL);
	if (!s || !CU_add_test(s, "defaults applied", test_defaults) ||
	    !CU_add_test(s, "every setting", test_every_setting) ||
	    !CU_add_test(s, "handler given as a path", test_handler_path) ||
	    !CU_add_test(s, "bad configs table", test_bad_configs) ||
	    !CU_add_test(s, "protocol and unix: listeners table", test_unix_listeners) ||
	    !CU_add_test(s, "longest listener name", test_longest_name) ||
	    !CU_add_test(s, "config_load_file", test_load_file) ||
	    !CU_add_test(s, "file size and line limits table", test_file_limits) ||
	    !CU_add_test(s, "client_limit_exceptions networks table", test_networks) ||
	    !CU_add_test(s, "class aliases table", test_aliases))
		return -1;
	return 0;
}
