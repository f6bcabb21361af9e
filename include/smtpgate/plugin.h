/*
 * smtpgate/plugin.h - the plugin ABI of smtpgate: the only header a plugin
 * author needs.
 *
 * A plugin is a shared object that exports one function,
 * smtpgate_plugin_entry(), returning a descriptor (struct smtpgate_plugin).
 * smtpgate checks the descriptor's ABI version and size before it touches
 * anything else in it.  It is the C counterpart of subclassing Python's
 * smtpd.SMTPServer: the message hook is process_message(), the other hooks
 * and the extra commands are what a channel_class subclass used to do.
 *
 * Process model, which every hook may rely on:
 *  - Each worker process loads the plugin itself, calls init once, serves
 *    one client session at a time, and calls fini before it exits.  Nothing
 *    is shared between workers, so a plugin needs no locks for its own
 *    state; the master process never runs plugin code.
 *  - init runs before the worker drops privileges (it may open files as
 *    root); every other hook runs as the unprivileged user.
 *  - Hooks are called from one thread.  A plugin must not start threads
 *    that outlive a hook call.
 *  - A hook must not write to the client: it answers with a verdict and,
 *    optionally, a reply set through host->reply().  The core validates the
 *    reply and is the only code that talks to the client.
 *  - Everything the core passes in (the session, strings, the message) is
 *    valid only during the call.  Copy what you keep.
 *
 * ABI change log (bump MAJOR for any change of layout or meaning, MINOR
 * when fields are appended to the end of a structure):
 *   2026-11-28  1.0  first version.
 *   2026-12-02  1.1  appended (read them only when host->abi_minor >= 1;
 *                    a 1.0 plugin still loads and sees none of them):
 *                    smtpgate_session: protocol, tls_protocol, tls_cipher,
 *                      tls_sni, tls_peer_subject, tls_peer_fingerprint,
 *                      tls_peer_verified, auth_user, auth_mechanism,
 *                      via_addr, via_port, lmtp, peer_uid, peer_pid,
 *                      messages_accepted, session_data, tx_data;
 *                    smtpgate_message: streamed, rcpt_replies,
 *                      rcpt_reply_count;
 *                    smtpgate_plugin: settings, ehlo_keywords,
 *                      stream_flags, on_body, on_tx_end, on_auth;
 *                    smtpgate_host: file_create, file_write,
 *                      file_commit, file_abort, file_close,
 *                      client_stream_begin, client_stream_write,
 *                      client_stream_end, client_open_tls, client_tls,
 *                      client_stream_begin_chunks;
 *                    new types smtpgate_setting, smtpgate_auth,
 *                      smtpgate_file, enum smtpgate_relay_tls.
 *
 * A plugin built for an older minor still loads: the hooks appended since
 * read as NULL for it.
 * Maintainers: how to change the ABI is in the source tree's doc/ABI.md.
 *
 * Processes a plugin starts (fork, exec) inherit the worker's signal
 * state: SIGTERM, SIGINT, SIGHUP and SIGUSR1 blocked, SIGPIPE and SIGXFSZ
 * ignored.  Reset them in the child before exec.
 */
#ifndef SMTPGATE_PLUGIN_H
#define SMTPGATE_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMTPGATE_ABI_MAJOR 1 /* bump: any layout change; old plugins refused */
#define SMTPGATE_ABI_MINOR 1 /* bump: fields appended; old plugins still load */

/* What a hook tells the core to do next. */
enum smtpgate_verdict {
	SMTPGATE_CONTINUE = 0, /* no opinion: the core does what smtpd.py does */
	SMTPGATE_ACCEPT,       /* 2xx: the reply set, or the core's default */
	SMTPGATE_REJECT,       /* 5xx: permanent refusal; a reply is required */
	SMTPGATE_TEMPFAIL,     /* 4xx: try again later; a reply is required */
	SMTPGATE_DISCONNECT    /* send the reply (default 421) and hang up */
};

/* Where a session is, as smtpd.SMTPChannel.smtp_state and more.
 *
 * The core's channel has finer states of its own; each shows as one of
 * these four:
 *
 *   core state   public value               hooks that run in it
 *   connected    SMTPGATE_STATE_CONNECTED   on_connect, on_helo
 *   greeted      SMTPGATE_STATE_GREETED     on_mail
 *   mail         SMTPGATE_STATE_MAIL        on_rcpt, on_reset
 *   rcpt         SMTPGATE_STATE_MAIL        on_rcpt, on_data, on_reset
 *   data         SMTPGATE_STATE_DATA        on_message, on_reset
 *   closing      GREETED once a HELO/EHLO   on_disconnect
 *                was accepted, else
 *                CONNECTED
 *
 * A plugin's own verbs run in any of the first four.  States that later
 * versions add show as: a TLS handshake GREETED, an AUTH exchange
 * GREETED, BDAT chunks DATA.
 */
enum smtpgate_state {
	SMTPGATE_STATE_CONNECTED = 0, /* greeting sent, no HELO/EHLO yet */
	SMTPGATE_STATE_GREETED,       /* HELO/EHLO seen, no transaction */
	SMTPGATE_STATE_MAIL,          /* MAIL accepted, RCPTs being collected */
	SMTPGATE_STATE_DATA           /* inside DATA */
};

enum smtpgate_log_level {
	SMTPGATE_LOG_DEBUG = 0,
	SMTPGATE_LOG_INFO,
	SMTPGATE_LOG_WARNING,
	SMTPGATE_LOG_ERROR
};

/*
 * The read-only view of one client session: the fields of smtpd.SMTPChannel
 * a channel_class subclass could read.  Strings are NUL-terminated.
 */
struct smtpgate_session {
	const char *id;            /* session id (hex), as in the log lines */
	const char *listener;      /* the listener's name */
	const char *peer_addr;     /* client IP address, text (peer[0]) */
	unsigned int peer_port;    /* client port (peer[1]) */
	const char *local_addr;    /* the address the client connected to */
	unsigned int local_port;
	const char *fqdn;          /* our name, as in the greeting */
	const char *seen_greeting; /* the HELO/EHLO argument; "" before it */
	int extended_smtp;         /* 1 after EHLO */
	enum smtpgate_state state;
	/* The current transaction.  mailfrom is NULL before MAIL and "" for the
	   null reverse-path <>.  rcpttos holds the rcpt_count recipients
	   accepted so far, then NULL; it is never NULL itself.
	   The option lists are upper-cased as in smtpd.py and are empty when
	   the listener has decode_data set (smtpd.py passes none then). */
	const char *mailfrom;
	const char *const *rcpttos;
	size_t rcpt_count;
	const char *const *mail_options;
	size_t mail_option_count;
	const char *const *rcpt_options; /* of the last RCPT, as smtpd.py */
	size_t rcpt_option_count;
	int smtputf8;              /* MAIL carried SMTPUTF8 */
	int decode_data;           /* the listener's decode_data flag */

	/* Appended in 1.1: read only when host->abi_minor >= 1. */
	const char *protocol;      /* the RFC 3848 "with" word: "SMTP",
				      "ESMTP", "ESMTPS", "ESMTPSA", "LMTP",
				      "LMTPS", ... */
	const char *tls_protocol;  /* "TLSv1.3"; NULL without TLS */
	const char *tls_cipher;    /* "TLS_AES_256_GCM_SHA384"; NULL without TLS */
	const char *tls_sni;       /* the server name the client asked for,
				      lower-cased, a byte no host name has
				      as '?'; NULL if it asked for none */
	const char *tls_peer_subject;     /* the client certificate's subject
					     (RFC 2253); NULL if none */
	const char *tls_peer_fingerprint; /* its SHA-256, hex pairs joined by
					     ':'; NULL if none */
	int tls_peer_verified;     /* 1 if it verified against tls.ca_file */
	const char *auth_user;     /* the authenticated name; NULL before AUTH */
	const char *auth_mechanism;/* "PLAIN", "LOGIN"; NULL before AUTH */
	const char *via_addr;      /* with the PROXY protocol, the balancer's
				      address (peer_addr is then the original
				      client's, or the balancer's too when
				      the header names no client: v2 LOCAL,
				      v1 UNKNOWN); NULL without it */
	unsigned int via_port;     /* the balancer's port; 0 without it */
	int lmtp;                  /* the listener speaks LMTP (RFC 2033) */
	long peer_uid;             /* on a UNIX socket (peer_addr "unix"): the
				      client's uid and pid (SO_PEERCRED); -1 on TCP */
	long peer_pid;
	unsigned long messages_accepted; /* 2xx'd messages in this session */
	/* Pointers the core keeps for the plugin: NULL at connect (session)
	   and at MAIL (transaction).  Write through them; the core never
	   looks at what they point to.  *tx_data is handed to on_tx_end when
	   the transaction ends, however it ends; *session_data is the
	   plugin's to free in on_disconnect. */
	void **session_data;
	void **tx_data;
};

/* The message, de-transparent, lines joined by LF, exactly smtpd.py's
   `data` argument of process_message (bytes, or UTF-8 text when
   decode_data is set: then it is guaranteed valid UTF-8). */
struct smtpgate_message {
	const char *data; /* len bytes, not NUL-terminated (and a message
			     may hold NUL bytes) */
	size_t len;

	/* Appended in 1.1: read only when host->abi_minor >= 1. */
	int streamed;     /* 1: the body went to on_body piece by piece; data
			     is then NULL and len is the total length */
	/* LMTP: one reply per recipient, in rcpttos order, each to be set
	   with host->reply() for a verdict per recipient (its code's class
	   is the verdict: 2xx, 4xx or 5xx, anything else becomes 451); one
	   left unset gets the message's verdict and reply.  NULL and 0 on
	   SMTP listeners. */
	struct smtpgate_reply *const *rcpt_replies;
	size_t rcpt_reply_count;
};

/* A setting of the plugin's group, declared in its descriptor (1.1): the
   core then refuses unknown names in the group, checks types and ranges
   itself, and `smtpgate -t -v` prints the effective values.  Arrays of it
   are the plugin's: this structure never grows in a minor. */
enum smtpgate_setting_type {
	SMTPGATE_SETTING_STRING = 1,
	SMTPGATE_SETTING_INT,
	SMTPGATE_SETTING_BOOL,
	SMTPGATE_SETTING_LIST      /* a list or array of strings */
};
struct smtpgate_setting {
	const char *name;          /* NULL ends the table */
	enum smtpgate_setting_type type;
	long long min, max;        /* INT: the range; both 0 for none */
	const char *default_text;  /* shown by -t -v when unset; NULL: none */
	const char *description;   /* one line, for -t -v */
};

/* What a client gave to AUTH, for on_auth (1.1).  The core decoded it;
   the password is wiped after the call: never log it. */
struct smtpgate_auth {
	const char *mechanism;     /* "PLAIN" or "LOGIN" */
	const char *authzid;       /* PLAIN's authorization identity; "" if none */
	const char *authcid;       /* the user name */
	const char *password;
};

/* What an upstream server answered, through the host's SMTP/LMTP client. */
struct smtpgate_upstream_reply {
	int code;       /* 0: no answer (refused connection, timeout, bad reply,
			   connection lost); text then says what happened */
	char text[512]; /* the reply's text after the code, lines joined by a
			   space: "2.0.0 Ok: queued as 3F2A1" */
};

/* An open connection to an upstream SMTP or LMTP server (host service). */
struct smtpgate_client;

/* A piece of message text for client_data(): lines separated by LF. */
struct smtpgate_data_part {
	const char *data;
	size_t len;
};

/* A reply being built by a hook; fill it only with host->reply(). */
struct smtpgate_reply;

/* A file being written durably (host service, 1.1). */
struct smtpgate_file;

/* A plugin's own configuration group (opaque; read it with host->cfg_*). */
struct smtpgate_cfg;

/*
 * Services the core gives to plugins.  Check `size` before using a member
 * added after 1.0.
 */
struct smtpgate_host {
	unsigned int abi_major, abi_minor;
	size_t size;

	/* Set the reply a hook answers with.  code is 200..599 and must match
	   the verdict's class; enhanced is "x.y.z" or NULL; text is printf-like.
	   CR and LF in the text are replaced by spaces. */
	void (*reply)(struct smtpgate_reply *reply, int code,
		      const char *enhanced, const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));

	/* Log a line; session may be NULL (then no sid= is added).  The text
	   becomes one quoted msg= field, escaped: it cannot add a field. */
	void (*log)(enum smtpgate_log_level level,
		    const struct smtpgate_session *session,
		    const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/* Typed getters for the plugin's config group.  Each returns 1 when the
	   setting is present and valid, 0 when absent (the output keeps the
	   default the caller put there), and -1 when present with the wrong
	   type (an error naming file:line has been logged, and it counts as a
	   cfg_error: init then fails whatever it returns - one setting has
	   one type).  cfg may be NULL when the listener has no group for the
	   plugin. */
	int (*cfg_string)(const struct smtpgate_cfg *cfg, const char *name,
			  const char **out);
	int (*cfg_int)(const struct smtpgate_cfg *cfg, const char *name,
		       long long *out);
	int (*cfg_bool)(const struct smtpgate_cfg *cfg, const char *name,
			int *out);
	/* Number of elements of a list/array of strings, -1 if wrong type. */
	int (*cfg_list_count)(const struct smtpgate_cfg *cfg, const char *name);
	const char *(*cfg_list_string)(const struct smtpgate_cfg *cfg,
				       const char *name, int index);
	/* Report a bad value in the group, with file:line; init then fails. */
	void (*cfg_error)(const struct smtpgate_cfg *cfg, const char *name,
			  const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/* The listener's settings a handler commonly needs. */
	const char *(*listener_remote)(void);  /* "host:port", or "" */
	const char *(*listener_address)(void); /* what it listens on */
	const char *(*fqdn)(void);             /* our name, as in the greeting */

	/* The SMTP/LMTP client.  client_open connects to "host:port" (IPv4,
	   [IPv6] or a name), reads the greeting and introduces itself with
	   EHLO (HELO if EHLO is refused) or, with lmtp set, LHLO.  NULL on
	   failure, with *reply_out telling why (code 0, or the server's
	   refusal).  Timeouts are in seconds: connect, and each reply. */
	struct smtpgate_client *(*client_open)(const char *hostport, int lmtp,
					       int connect_timeout_sec,
					       int reply_timeout_sec,
					       struct smtpgate_upstream_reply *reply_out);
	/* 1 if the server announced the extension (case-insensitive); its
	   parameters, if any, in *param_out ("10240000" for SIZE). */
	int (*client_extension)(const struct smtpgate_client *c,
				const char *keyword, const char **param_out);
	/* Send one command line (CR LF added; a line with CR or LF is
	   refused) and read its reply; returns the code, 0 on failure. */
	int (*client_command)(struct smtpgate_client *c,
			      struct smtpgate_upstream_reply *reply_out,
			      const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/* Pipelining: queue commands without waiting (they go out with the
	   next read, or with client_flush), then read replies in order. */
	int (*client_send)(struct smtpgate_client *c, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	int (*client_flush)(struct smtpgate_client *c); /* 0, or -1 if lost */
	int (*client_read_reply)(struct smtpgate_client *c,
				 struct smtpgate_upstream_reply *reply_out);
	/* DATA; on 354 the parts as one message (LF line ends, and any bare
	   CR, become CR LF, leading dots are doubled, a last line end is
	   added) and the final dot; then nreplies replies (1 for SMTP; one
	   per recipient for LMTP).  Parts with a NUL byte are not sent: the
	   connection is closed and each reply is 554 "5.6.0 ...".
	   Returns how many replies the server gave.  0 means DATA itself was
	   refused or failed: replies[0] says how (code 0 = no answer).  When
	   a read fails, that reply and the ones after it get the failure. */
	int (*client_data)(struct smtpgate_client *c,
			   const struct smtpgate_data_part *parts, size_t nparts,
			   struct smtpgate_upstream_reply *replies, size_t nreplies);
	/* The same after the caller sent DATA itself and read its 354 (so
	   the DATA round trip can overlap the client's own). */
	int (*client_message)(struct smtpgate_client *c,
			      const struct smtpgate_data_part *parts, size_t nparts,
			      struct smtpgate_upstream_reply *replies, size_t nreplies);
	/* 1 while the connection can take another command. */
	int (*client_usable)(const struct smtpgate_client *c);
	/* QUIT if usable, then close and free. */
	void (*client_close)(struct smtpgate_client *c);

	/* Appended in 1.1: use only when abi_minor >= 1. */
	/* Durable files: maildir's sequence for any plugin.  file_create
	   makes name (no '/') in the directory dirfd, never through a symlink
	   and never over an existing file, with exactly mode; NULL with errno.
	   file_write appends (buffered): 0, or -1 with errno.  file_commit
	   writes the file out and fsyncs it (at its first call; no write
	   after), gives it the final name name in dirfd (a hard link: same
	   file system; never over an existing file) and fsyncs dirfd: 0, or
	   -1 with errno and that name not made.  Call it once per place (one
	   directory open at a time), e.g. each recipient's new/.  A reader
	   never sees a partial file under a final name.  file_close, after the
	   commits, removes the temporary name, fsyncs its directory and frees
	   the file; file_abort does the same before any commit: the file is
	   gone.  Final names already given are the caller's to remove (it has
	   their directories) when a later step fails.  Two descriptors are
	   held per file; dirfd stays the caller's.  Where the system allows
	   (O_TMPFILE, /proc) the file has no name at all before its first
	   commit, so a worker killed mid-message leaves nothing behind;
	   elsewhere it is name in dirfd until file_close/file_abort. */
	struct smtpgate_file *(*file_create)(int dirfd, const char *name, unsigned int mode);
	int (*file_write)(struct smtpgate_file *f, const void *data, size_t len);
	int (*file_commit)(struct smtpgate_file *f, int dirfd, const char *name);
	void (*file_abort)(struct smtpgate_file *f);
	void (*file_close)(struct smtpgate_file *f);
	/* A message written to the upstream as it arrives (on_body), after
	   the caller's own DATA and its 354: client_stream_begin (0, or -1
	   when no 354 was read), client_stream_write for each piece (LF line
	   ends, as client_message treats parts, line state carried from one
	   piece to the next; 0, or -1 once it failed: a piece with a NUL byte
	   closes the connection, as client_data refuses one), then
	   client_stream_end: the final dot and the replies, as client_message
	   returns them (554 5.6.0 after a NUL byte).  To give up instead,
	   client_close: the upstream drops a transaction cut short. */
	int (*client_stream_begin)(struct smtpgate_client *c);
	int (*client_stream_write)(struct smtpgate_client *c, const char *data, size_t len);
	int (*client_stream_end)(struct smtpgate_client *c,
				 struct smtpgate_upstream_reply *replies, size_t nreplies);
	/* client_open with STARTTLS to the upstream (RFC 3207) at tls, an
	   enum smtpgate_relay_tls; with VERIFY the certificate must verify
	   against ca_file (NULL: the system's CAs) and be for the host part
	   of hostport.  When ENCRYPT or VERIFY cannot have TLS, NULL with
	   code 0 in *reply_out (answer 451); MAY falls back to plaintext:
	   after a failed handshake it connects once more without TLS. */
	struct smtpgate_client *(*client_open_tls)(const char *hostport, int lmtp,
						   int connect_timeout_sec,
						   int reply_timeout_sec, int tls,
						   const char *ca_file,
						   struct smtpgate_upstream_reply *reply_out);
	/* The connection's TLS protocol ("TLSv1.3") and, in *cipher_out, its
	   cipher; NULL (and *cipher_out NULL) in plaintext. */
	const char *(*client_tls)(const struct smtpgate_client *c, const char **cipher_out);
	/* Instead of the caller's DATA and client_stream_begin, to a server
	   that offers CHUNKING: the message goes as BDAT chunks (RFC 3030)
	   of at most 64 KiB, the pieces of client_stream_write gathered
	   into them (their octets as client_message would send them, no dot
	   doubled), pipelined when PIPELINING is offered; client_stream_end
	   sends the rest as "BDAT n LAST" and returns the
	   replies as after DATA, or a refused chunk's reply (the connection
	   is then unusable).  0, or -1 when the server offers no CHUNKING or
	   the connection is unusable: then DATA as before. */
	int (*client_stream_begin_chunks)(struct smtpgate_client *c);
};

/* client_open_tls's levels: the relay_tls setting of the proxy's and
   mailman's groups. */
enum smtpgate_relay_tls {
	SMTPGATE_RELAY_TLS_NONE = 0, /* never STARTTLS */
	SMTPGATE_RELAY_TLS_MAY,      /* when offered; plaintext if it fails */
	SMTPGATE_RELAY_TLS_ENCRYPT,  /* TLS or no relay; no certificate check */
	SMTPGATE_RELAY_TLS_VERIFY    /* TLS to a verified certificate of that name */
};

/* A command a plugin adds, as an smtp_<VERB> method of a channel_class. */
struct smtpgate_command {
	const char *verb; /* upper case, at most 15 characters, not a built-in
			     command, each verb once */
	/* arg is the text after the verb and a space, stripped, or NULL.
	   A reply is required (CONTINUE is answered with 250 OK). */
	enum smtpgate_verdict (*run)(void *priv,
				     const struct smtpgate_session *session,
				     const char *arg,
				     struct smtpgate_reply *reply);
};

/*
 * The descriptor.  Every hook but on_message may be NULL.  Call order for
 * one session:
 *
 *   on_connect  (on_helo | on_mail | on_rcpt | on_data | on_message |
 *                on_reset)*  on_disconnect
 *
 * on_disconnect always runs after on_connect, whatever ended the session;
 * a connection that never reached on_connect (its implicit-TLS handshake
 * failed) gets neither.  A transaction
 * ends with on_message (the final dot, message within limits) or with
 * on_reset (RSET, a message the core refused after the final dot, the
 * client leaving or the session ending mid-transaction) - never both for
 * the same transaction.
 */
struct smtpgate_plugin {
	unsigned int abi_major; /* SMTPGATE_ABI_MAJOR when built */
	unsigned int abi_minor; /* SMTPGATE_ABI_MINOR when built */
	size_t size;            /* sizeof(struct smtpgate_plugin) when built */
	const char *name;       /* short name, used in logs */
	const char *version;    /* the plugin's own version string */

	/* Once per worker, before privileges are dropped.  cfg is the
	   listener's group named after the handler (NULL if none).  Return 0,
	   or -1 after reporting what is wrong (cfg_error or log). */
	int (*init)(const struct smtpgate_host *host,
		    const struct smtpgate_cfg *cfg, void **priv_out);
	/* When the worker exits normally (not after a crash, nor when init
	   failed), and right after init where plugins are only checked (at
	   start, on reload, and for smtpgate -t). */
	void (*fini)(void *priv);

	/* Client connected; the greeting has not been sent.  REJECT/TEMPFAIL/
	   DISCONNECT: the reply replaces the greeting and the session ends. */
	enum smtpgate_verdict (*on_connect)(void *priv,
					    const struct smtpgate_session *s,
					    struct smtpgate_reply *reply);
	/* Syntax-valid HELO/EHLO; greeting is the argument.  REJECT/TEMPFAIL/
	   DISCONNECT answer instead of the core; a 2xx reply set here is not
	   sent (the core answers with its name and extension list). */
	enum smtpgate_verdict (*on_helo)(void *priv,
					 const struct smtpgate_session *s,
					 const char *greeting,
					 struct smtpgate_reply *reply);
	/* Syntax-valid MAIL with acceptable parameters; address "" is <>. */
	enum smtpgate_verdict (*on_mail)(void *priv,
					 const struct smtpgate_session *s,
					 const char *address,
					 struct smtpgate_reply *reply);
	/* Syntax-valid RCPT; the recipient is added only when this answers
	   CONTINUE or ACCEPT. */
	enum smtpgate_verdict (*on_rcpt)(void *priv,
					 const struct smtpgate_session *s,
					 const char *address,
					 struct smtpgate_reply *reply);
	/* DATA with recipients, before the 354.  REJECT/TEMPFAIL answer the
	   DATA command instead (the transaction stays open, as after any
	   refused command); a 2xx reply set here is not sent (the core sends
	   354).  A relay can start its own DATA here. */
	enum smtpgate_verdict (*on_data)(void *priv,
					 const struct smtpgate_session *s,
					 struct smtpgate_reply *reply);
	/* process_message(): the whole message, within data_size_limit.
	   CONTINUE or ACCEPT with no reply -> "250 OK".  Answer 2xx only once
	   the message is durably yours: the client will forget it. */
	enum smtpgate_verdict (*on_message)(void *priv,
					    const struct smtpgate_session *s,
					    const struct smtpgate_message *msg,
					    struct smtpgate_reply *reply);
	/* The transaction was abandoned (see above).  No reply. */
	void (*on_reset)(void *priv, const struct smtpgate_session *s);
	/* The session is over.  No reply. */
	void (*on_disconnect)(void *priv, const struct smtpgate_session *s);

	/* Extra commands, ended by an entry whose verb is NULL; may be NULL. */
	const struct smtpgate_command *commands;

	/* Appended in 1.1 (a 1.0 descriptor has them NULL and 0). */
	/* The group's settings, ended by a NULL name; NULL: not declared
	   (the core then checks nothing, as in 1.0). */
	const struct smtpgate_setting *settings;
	/* EHLO keywords to offer, each "KEYWORD" or "KEYWORD params", ended
	   by NULL; none may repeat one the core offers (checked at load: an
	   esmtp-keyword, printable parameters, each once).  "DSN" is the
	   exception: it says the plugin relays, so the core offers DSN
	   (RFC 3461) where the listener's extensions list it and checks its
	   parameters, which reach the plugin in the option lists. */
	const char *const *ehlo_keywords;
	/* SMTPGATE_STREAM_* flags for on_body. */
	unsigned int stream_flags;
	/* The message as it arrives, in pieces of at most 64 KiB (but see
	   SMTPGATE_STREAM_WHOLE_HEADER), de-transparent, lines joined by LF,
	   exactly the bytes on_message would have had, the last piece without
	   a final line end (decode_data's UTF-8 check holds across pieces: a
	   character may be cut between two pieces, the message is checked
	   whole).  A plugin that has it gets on_message with msg->streamed set,
	   data NULL and len the total, and the core keeps no copy;
	   data_size_limit is enforced as the pieces come.  REJECT/TEMPFAIL/
	   DISCONNECT: the rest of the message is read and dropped, that reply
	   answers the final dot, and on_message is not called (on_reset is).
	   A message the core refuses after pieces went out (size, bare LF,
	   UTF-8, a header block too big) and a client gone before the final
	   dot also end with on_reset: drop what was written.  A 2xx reply set
	   here is not sent.  An empty message gives no piece: on_message
	   (len 0) comes without an on_body before it. */
	enum smtpgate_verdict (*on_body)(void *priv,
					 const struct smtpgate_session *s,
					 const char *data, size_t len,
					 struct smtpgate_reply *reply);
	/* The transaction is over, however it ended (final reply, RSET,
	   refusal, disconnect): free tx_data, which is *s->tx_data. */
	void (*on_tx_end)(void *priv, const struct smtpgate_session *s,
			  void *tx_data);
	/* auth.backend "plugin": check the credentials.  ACCEPT: 235;
	   REJECT: 535 (a reply set here is not sent: every refusal looks the
	   same to the client); TEMPFAIL: 454; CONTINUE and DISCONNECT count
	   as REJECT.  The core refuses an authzid that is not the authcid
	   before calling it, unless auth.authzid_allowed is set. */
	enum smtpgate_verdict (*on_auth)(void *priv,
					 const struct smtpgate_session *s,
					 const struct smtpgate_auth *cred,
					 struct smtpgate_reply *reply);
};

/* stream_flags */
#define SMTPGATE_STREAM_WHOLE_HEADER 0x1u /* the first on_body piece is the
					     whole header block, up to and
					     with its empty line (the whole
					     message when it has none; at
					     most 1 MiB: beyond it 552
					     5.3.4), the next ones at most
					     64 KiB each */

/* The one symbol a plugin exports. */
const struct smtpgate_plugin *smtpgate_plugin_entry(void);

/* Fill the version fields of a descriptor. */
#define SMTPGATE_PLUGIN_HEADER                                   \
	.abi_major = SMTPGATE_ABI_MAJOR,                         \
	.abi_minor = SMTPGATE_ABI_MINOR,                         \
	.size = sizeof(struct smtpgate_plugin)

#ifdef __cplusplus
}
#endif

#endif /* SMTPGATE_PLUGIN_H */
