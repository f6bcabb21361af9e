/* config.h - the libconfig file (or the command line) as a validated object. */
#ifndef SMTPGATE_CORE_CONFIG_H
#define SMTPGATE_CORE_CONFIG_H

#include <libconfig.h>
#include <stddef.h>

#include "addr.h"
#include "config_error.h"
#include "smtp_data.h"

#define CONFIG_DEFAULT_DATA_SIZE_LIMIT 33554432LL /* smtpd.DATA_SIZE_DEFAULT */
#define POOL_WORKERS_MAX 1024 /* per listener */

/* A listener's tls.mode: the wire unchanged (smtpd.py), STARTTLS offered,
   STARTTLS required before mail (RFC 3207 4), TLS from the first byte
   (RFC 8314). */
enum tls_mode { TLS_MODE_OFF, TLS_MODE_MAY, TLS_MODE_REQUIRED, TLS_MODE_IMPLICIT };

#define TLS_PAIRS_MAX 4 /* certificate/key pairs per listener (RSA, ECDSA, ...) */

/* A string, or a list of them (tls.cert, tls.key). */
struct config_strings {
	const char *items[TLS_PAIRS_MAX];
	size_t count;
};

/* tls.verify_client: no certificate asked for; asked for and shown to
   plugins, verified or not; asked for and required to verify. */
enum tls_verify { TLS_VERIFY_NONE, TLS_VERIFY_OPTIONAL, TLS_VERIFY_REQUIRED };

#define TLS_SNI_MAX 64 /* entries of tls.sni per listener */

/* One entry of tls.sni: the pairs served to a client asking for name. */
struct tls_sni_config {
	const char *name;        /* "mail.example.org", or "*.example.org" */
	struct config_strings cert, key;
};

/* A listener's tls group. */
struct tls_config {
	int mode;                /* enum tls_mode */
	struct config_strings cert; /* PEM: a certificate, then its chain; one per key type */
	struct config_strings key;  /* PEM: the private key of the cert at the same index */
	const char *protocols;   /* as written: "TLSv1.2 TLSv1.3" */
	int min_version, max_version; /* protocols: indexes in config_tls_protocols */
	const char *ciphers;     /* TLS 1.2 and below, OpenSSL's cipher list syntax */
	const char *ciphersuites; /* TLS 1.3 */
	int handshake_timeout_sec;
	int verify_client;       /* enum tls_verify */
	const char *ca_file;     /* PEM: the CAs client certificates verify against */
	struct tls_sni_config sni[TLS_SNI_MAX]; /* tls.sni, in the file's order */
	size_t sni_count;
};

/* The TLS protocol names tls.protocols knows, oldest first, NULL-ended. */
extern const char *const config_tls_protocols[];

/* A list of networks (client_limit_exceptions, proxy_trusted). */
struct config_nets {
	struct addr_net *nets;
	size_t count;
};

/* A listener's auth group (AUTH, RFC 4954; core/auth.c).  backend
   "none" (the default) offers no AUTH. */
enum auth_backend_type { AUTH_BACKEND_NONE, AUTH_BACKEND_DOVECOT, AUTH_BACKEND_FILE,
		    AUTH_BACKEND_PLUGIN };
#define AUTH_MECH_PLAIN 0x1u
#define AUTH_MECH_LOGIN 0x2u
struct auth_config {
	int backend;                 /* enum auth_backend_type */
	struct config_strings mechanisms; /* as written; checked into mech_mask */
	unsigned int mech_mask;      /* AUTH_MECH_* */
	const char *dovecot_socket;  /* Dovecot's auth-client socket */
	int dovecot_timeout_sec;     /* one answer of Dovecot's */
	const char *file;            /* user:crypt-hash lines */
	int required;                /* MAIL before AUTH: 530 */
	int plaintext_allowed;       /* offered before TLS */
	int authzid_allowed;         /* PLAIN with an authzid not the user */
	int max_failures;            /* per session, then 421 */
	int client_failure_limit;    /* per client IP in the window, then 454 */
	int client_failure_window_sec;
	const char *sender_must_match; /* the map file (auth_senders.c); NULL: off */
};

struct listener_config {
	const char *name;        /* "name", or the address */
	const char *address;     /* as written: host:port or [v6]:port */
	const char *handler;     /* plugin name after class aliases (or a path) */
	const char *group_name;  /* name of the handler's settings group */
	const char *plugin_path; /* the resolved .so */
	const char *remote;      /* host:port for relaying handlers */
	long long data_size_limit; /* 0 = no limit */
	int smtputf8;
	int decode_data;
	enum bare_lf_policy bare_lf;
	int command_timeout_sec;
	int data_timeout_sec;
	/* The pool: workers are forked while fewer than min_spare are idle
	   (up to max_workers in all) and retired while more than max_spare
	   are, or when idle for max_idle_sec with more than min_spare idle.
	   `workers = N` in the file is a fixed pool: all three N. */
	int workers;             /* `workers = N` as written; 0: not set */
	int min_spare;
	int max_spare;
	int max_workers;
	int max_idle_sec;
	int stress_timeout_sec;  /* timeouts while every worker is busy and clients wait */
	long long max_sessions_per_worker; /* 0 = no limit */
	int max_sessions_per_client; /* concurrent, per client IP; 0 = no limit */
	struct config_nets client_limit_exceptions; /* clients the limit spares */
	long long max_recipients;
	int soft_error_limit;    /* errors before replies are delayed */
	int hard_error_limit;    /* errors before 421 and close */
	int error_sleep_sec;     /* delay of each error reply past the soft limit */
	int max_session_time_sec;
	int max_idle_commands;   /* NOOP, RSET, ..., errors between MAILs */
	int greet_pause_ms;      /* 0 = greet at once */
	int pregreet_reject;     /* talking before the greeting: 554 (else log) */
	const char *chroot_dir;  /* workers chroot here after the plugin's init */
	/* A balancer's PROXY protocol header before anything else: the
	   versions taken (enum proxy_proto_versions: 0 off, 1 v1, 2 v2,
	   3 any), from which addresses, and how long it may take. */
	int proxy_protocol;
	struct config_nets proxy_trusted;
	int proxy_timeout_sec;
	struct tls_config tls;   /* the tls group */
	/* ESMTP beyond smtpd.py's set (issue 18): SMTP_EXT_* bits offered
	   after EHLO; 0 for a listener started smtpd.py-style. */
	unsigned int extensions;
	int reject_unauth_pipelining; /* 554 5.5.0 and close, else logged only */
	int lmtp;                /* protocol = "lmtp": LHLO, a reply per recipient (RFC 2033) */
	/* address = "unix:PATH": a UNIX-domain socket (config_unix.c), its
	   file made with socket_mode and given to socket_user/socket_group */
	const char *unix_path;   /* NULL: a TCP listener */
	const char *socket_mode_text, *socket_user, *socket_group; /* as written */
	int socket_mode;
	long socket_uid, socket_gid; /* -1: left as the master creates it */
	struct auth_config auth; /* the auth group */
	const config_setting_t *handler_group; /* NULL if absent */
	const char *source;      /* the file (or "command line") it comes from */
	int line;                /* where the listener is defined */
	char plugin_path_buf[4096];
	char group_name_buf[128];
};

struct config {
	char *source;            /* the file, or "command line" */
	config_t lc;             /* owns every string above */
	const char *user;        /* NULL: do not change user (-n) */
	const char *plugin_dir;
	int log_facility;        /* -1: stderr */
	int log_syslog;          /* log = "syslog" as written ... */
	const char *log_facility_name; /* ... and log_facility: log_facility from both */
	int shutdown_timeout_sec;
	int worker_sched_batch;  /* worker_scheduling = "batch": SCHED_BATCH */
	const char *metrics;     /* host:port of the metrics listener; NULL: none */
	int tls_ticket_rotation_sec; /* a new session-ticket key this often */
	struct listener_config *listeners;
	size_t listener_count;
};

/* Read and validate a file or a string.  0, or -1 with one message in err
   naming the source, line and setting. */
int config_load_file(const char *path, struct config **out, char *err, size_t err_size);
int config_load_string(const char *text, const char *source, struct config **out,
		       char *err, size_t err_size);
void config_free(struct config *cfg);

/* The plugin name a handler/class name stands for: DebuggingServer ->
   debug, PureProxy -> proxy, MailmanProxy -> mailman; others unchanged. */
const char *config_handler_alias(const char *name);

#endif
