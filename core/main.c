/*
 * main.c - the command line: smtpd.py's options and positional addresses,
 * plus -f FILE (a config file) and -t (check the config and exit).
 *
 * Without -f the options are turned into config text and go through the
 * same validator as a file.  Exit statuses are sysexits.h: EX_USAGE for
 * the command line, EX_CONFIG for the configuration.  It never binds,
 * forks workers or loads a plugin itself: the master and its check do.
 */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "host.h"
#include "log.h"
#include "master.h"
#include "master_check.h"
#include "smtpgate/plugin.h"

#define MAIN_CONFIG_TEXT_MAX_BYTES 4096

struct options {
	int nosetuid;
	int trace;
	int check_only;
	int verbose;
	int smtputf8;
	const char *classname;
	const char *size;
	const char *config_file;
	const char *local;
	const char *remote;
};

static void usage(FILE *f, const char *program);
static int quote_string(char *out, size_t size, const char *s);
static int options_to_config_text(const struct options *o, char *text, size_t size);
static const char *local_fqdn(void);
static int check_config(const struct master_options *mo, int verbose);
static int parse_args(int argc, char **argv, struct options *o);

static void usage(FILE *f, const char *program)
{
	fprintf(f,
		"Usage: %s [options] [localhost:localport [remotehost:remoteport]]\n"
		"\n"
		"An SMTP server doing the job of Python's smtpd module, with handlers\n"
		"loaded as plugins.\n"
		"\n"
		"Options (those of python -m smtpd, plus -f, -t and -v):\n"
		"  -n, --nosetuid      do not switch to user nobody (or the config's user)\n"
		"  -V, --version       print the version and the plugin ABI version\n"
		"  -c, --class NAME    handler: DebuggingServer, PureProxy, MailmanProxy,\n"
		"                      or a plugin name (debug, proxy, ...); default debug\n"
		"  -s, --size LIMIT    data_size_limit in bytes (default 33554432, 0 = none)\n"
		"  -u, --smtputf8      enable SMTPUTF8 (RFC 6531)\n"
		"  -d, --debug         print the protocol trace to stderr\n"
		"  -f, --config FILE   read listeners and settings from FILE (libconfig)\n"
		"  -t, --test          check the configuration and the plugins, then exit\n"
		"  -v, --verbose       with -t: list each plugin's settings and their values\n"
		"  -h, --help          print this message and exit\n"
		"\n"
		"Without -f, one listener on localhost:localport (default localhost:8025)\n"
		"relaying to remotehost:remoteport (default localhost:25).\n",
		program);
}

/* A libconfig string literal of s; -1 if it does not fit. */
static int quote_string(char *out, size_t size, const char *s)
{
	size_t n = 0;
	if (size < 3)
		return -1;
	out[n++] = '"';
	for (; *s; s++) {
		if (n + 6 >= size)
			return -1;
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

static int options_to_config_text(const struct options *o, char *text, size_t size)
{
	char local[600], remote[600], handler[300];
	if (quote_string(local, sizeof(local), o->local) < 0 ||
	    quote_string(remote, sizeof(remote), o->remote) < 0 ||
	    quote_string(handler, sizeof(handler), o->classname) < 0)
		return -1;
	int n = snprintf(text, size,
			 "listeners = ( { address = %s; remote = %s; handler = %s;\n"
			 "  data_size_limit = %sL; smtputf8 = %s; extensions = [ ]; } );\n",
			 local, remote, handler, o->size, o->smtputf8 ? "true" : "false");
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Our name for the greeting and HELO/EHLO replies: the canonical name of
   the host name (a forward lookup), or the host name itself.  smtpd.py's
   socket.getfqdn() looked the host's address up in reverse instead, which
   can give "localhost"; the README lists the difference. */
static const char *local_fqdn(void)
{
	static char name[256];
	if (gethostname(name, sizeof(name) - 1) < 0)
		snprintf(name, sizeof(name), "localhost");
	name[sizeof(name) - 1] = '\0';
	struct addrinfo hints = { .ai_flags = AI_CANONNAME }, *res;
	if (getaddrinfo(name, NULL, &hints, &res) == 0) {
		if (res->ai_canonname && strlen(res->ai_canonname) < sizeof(name))
			snprintf(name, sizeof(name), "%s", res->ai_canonname);
		freeaddrinfo(res);
	}
	return name;
}

/* -t: the check a start and a reload run, listing every listener, its
   handler, the plugin file and its version (with -v, the settings the
   plugin declares and their effective values). */
static int check_config(const struct master_options *mo, int verbose)
{
	int rc = master_check_run(mo, verbose ? 2 : 1);
	if (rc == 0)
		printf("%s: configuration OK\n", master_check_source(mo));
	return rc;
}

/* The options and positional addresses into o; -1 to go on, else the
   exit status (-V, -h, a usage error). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option long_options[] = {
		{ "nosetuid", no_argument, NULL, 'n' }, { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },     { "class", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' }, { "smtputf8", no_argument, NULL, 'u' },
		{ "debug", no_argument, NULL, 'd' },    { "config", required_argument, NULL, 'f' },
		{ "test", no_argument, NULL, 't' },     { "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int c, command_line_listener = 0;

	while ((c = getopt_long(argc, argv, "nVhc:s:udf:tv", long_options, NULL)) != -1) {
		switch (c) {
		case 'n': o->nosetuid = 1; break;
		case 'V':
			printf("smtpgate %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, SMTPGATE_ABI_MAJOR,
			       SMTPGATE_ABI_MINOR);
			return 0;
		case 'h': usage(stdout, argv[0]); return 0;
		case 'c': o->classname = optarg; command_line_listener = 1; break;
		case 's':
			if (!optarg[0] || strspn(optarg, "0123456789") != strlen(optarg) ||
			    strlen(optarg) > 15) {
				fprintf(stderr, "Invalid size: %s\n", optarg);
				return EX_USAGE;
			}
			o->size = optarg;
			command_line_listener = 1;
			break;
		case 'u': o->smtputf8 = 1; command_line_listener = 1; break;
		case 'd': o->trace = 1; break;
		case 'f': o->config_file = optarg; break;
		case 't': o->check_only = 1; break;
		case 'v': o->verbose = 1; break;
		default: usage(stderr, argv[0]); return EX_USAGE;
		}
	}
	if (o->verbose && !o->check_only) {
		fprintf(stderr, "smtpgate: -v goes with -t\n");
		return EX_USAGE;
	}
	if (argc - optind > 2) {
		usage(stderr, argv[0]);
		fprintf(stderr, "Invalid arguments: %s ...\n", argv[optind + 2]);
		return EX_USAGE;
	}
	if (optind < argc) {
		o->local = argv[optind];
		command_line_listener = 1;
	}
	if (optind + 1 < argc)
		o->remote = argv[optind + 1];
	if (o->config_file && command_line_listener) {
		fprintf(stderr, "smtpgate: -c, -s, -u and addresses describe the listener of the "
				"command line; with -f the listeners come from the file\n");
		return EX_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = { .classname = "debug", .size = "33554432",
			     .local = "localhost:8025", .remote = "localhost:25" };
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;

	char text[MAIN_CONFIG_TEXT_MAX_BYTES];
	if (!o.config_file && options_to_config_text(&o, text, sizeof(text)) < 0) {
		fprintf(stderr, "smtpgate: arguments too long\n");
		return EX_USAGE;
	}
	struct master_options mo = {
		.config_file = o.config_file,
		.config_text = o.config_file ? NULL : text,
		.fqdn = local_fqdn(),
		.nosetuid = o.nosetuid,
	};

	host_set_fqdn(mo.fqdn);
	log_set_role("master");
	log_open(-1, o.trace);
	if (o.check_only)
		return check_config(&mo, o.verbose);

	struct config *cfg;
	rc = master_check_load(&mo, &cfg);
	if (rc != 0)
		return rc;
	if (cfg->log_facility >= 0)
		log_open(cfg->log_facility, o.trace);
	return master_run(cfg, &mo);
}
