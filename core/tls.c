/*
 * tls.c - the server side of OpenSSL: the listener's contexts
 * (tls_server_new: certificates and keys read once per generation by the
 * master, as root, so a key readable only by root works; its SNI map and
 * client-certificate checks), and one
 * connection's handshake, reads and writes as non-blocking steps that say
 * what they wait for.  conn.c does the waiting, so the deadlines, the
 * stress flag and SIGTERM work over TLS as over a plain socket.
 *
 * No TLS of our own: protocols, ciphers and records are OpenSSL's.  This
 * module never waits, never parses SMTP, never writes to the client but
 * through OpenSSL's records, and never logs what a client sent.
 */
#include "tls.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls_ticket.h"

/* A listener's contexts: the default pairs, and one context per tls.sni
   entry that a client's server name switches to. */
struct tls_server {
	SSL_CTX *ctx;
	struct {
		char *name;           /* "mail.example.org" or "*.example.org" */
		SSL_CTX *ctx;
	} sni[TLS_SNI_MAX];
	size_t sni_count;
};

/* How the last step failed.  A worker serves one connection at a time and
   OpenSSL's error queue is per thread: one record per process is enough. */
static struct {
	int kind;             /* SSL_get_error()'s answer */
	int saved_errno;
	unsigned long err;    /* the first error of OpenSSL's queue, or 0 */
} last_failure;

static int fail(char *err, size_t err_size, const char *what, const char *file);
static int setup_protocols(SSL_CTX *ctx, const struct tls_config *t, char *err, size_t err_size);
static int setup_pair(SSL_CTX *ctx, const char *cert, const char *key, int *types, size_t i,
		      char *err, size_t err_size);
static int setup_keys(SSL_CTX *ctx, const struct config_strings *cert,
		      const struct config_strings *key, char *err, size_t err_size);
static int setup_clients(SSL_CTX *ctx, const struct tls_config *t, char *err, size_t err_size);
static int accept_unverified(int ok, X509_STORE_CTX *store);
static SSL_CTX *context_new(const struct tls_config *t, const char *listener,
			    const struct config_strings *cert, const struct config_strings *key,
			    char *err, size_t err_size);
static SSL_CTX *sni_lookup(const struct tls_server *srv, const char *name);
static int sni_pick(SSL *ssl, int *alert, void *arg);
static void warn_keys(const struct listener_config *l, const struct config_strings *keys,
		      const char *setting);
static int step_result(SSL *ssl, int rc);

/* OpenSSL's version numbers of config_tls_protocols, in its order. */
static const int protocol_versions[] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
					 TLS1_3_VERSION };

/* A context error into err, with OpenSSL's reason; -1. */
static int fail(char *err, size_t err_size, const char *what, const char *file)
{
	char reason[256] = "no reason given";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, err_size, "%s%s%s: %s", what, file ? " " : "", file ? file : "", reason);
	return -1;
}

/* Protocol range and cipher lists; the options every session gets. */
static int setup_protocols(SSL_CTX *ctx, const struct tls_config *t, char *err, size_t err_size)
{
	if (!SSL_CTX_set_min_proto_version(ctx, protocol_versions[t->min_version]) ||
	    !SSL_CTX_set_max_proto_version(ctx, protocol_versions[t->max_version]))
		return fail(err, err_size, "tls.protocols", NULL);
	if (!SSL_CTX_set_cipher_list(ctx, t->ciphers))
		return fail(err, err_size, "tls.ciphers: no usable cipher in", t->ciphers);
	if (!SSL_CTX_set_ciphersuites(ctx, t->ciphersuites))
		return fail(err, err_size, "tls.ciphersuites: no usable suite in", t->ciphersuites);
	/* No compression (CRIME), no renegotiation (a client-driven CPU
	   sink, and a second handshake the session would not see). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* A write retried after WANT_WRITE may come from a moved buffer (the
	   chat's queue is rewritten between flushes only once all is sent,
	   but conn.c's loop advances its pointer). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	/* Read what the socket holds, not a record's 5-byte header and then
	   its body: half the read() calls of a session.  What OpenSSL holds
	   unread is in tls_conn_pending (SSL_has_pending), so conn.c never
	   waits for bytes already read. */
	SSL_CTX_set_read_ahead(ctx, 1);
	return 0;
}

/* One certificate chain and its key, which must match; types holds the
   key types of the pairs before it (OpenSSL keeps one certificate per
   key type: a second RSA one would silently replace the first). */
static int setup_pair(SSL_CTX *ctx, const char *cert, const char *key, int *types, size_t i,
		      char *err, size_t err_size)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return fail(err, err_size, "tls.cert: cannot load the certificate", cert);
	EVP_PKEY *pub = X509_get0_pubkey(SSL_CTX_get0_certificate(ctx));
	types[i] = pub ? EVP_PKEY_get_base_id(pub) : 0;
	for (size_t k = 0; k < i; k++)
		if (types[k] == types[i]) {
			snprintf(err, err_size, "tls.cert: %s has a %s key as an earlier certificate "
				 "has: one certificate per key type", cert, OBJ_nid2sn(types[i]));
			return -1;
		}
	/* OpenSSL compares the key with the certificate as it loads it. */
	int loaded = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1;
	if (loaded && SSL_CTX_check_private_key(ctx) == 1)
		return 0;
	if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
		return fail(err, err_size, "tls.key: cannot load the key", key);
	char what[1024];
	snprintf(what, sizeof(what), "tls.key: the key %s does not match the certificate", key);
	return fail(err, err_size, what, cert);
}

/* Every certificate/key pair, paired by position; the client's offer
   (signature algorithms, ciphers) picks among them. */
static int setup_keys(SSL_CTX *ctx, const struct config_strings *cert,
		      const struct config_strings *key, char *err, size_t err_size)
{
	int types[TLS_PAIRS_MAX];
	for (size_t i = 0; i < cert->count; i++)
		if (setup_pair(ctx, cert->items[i], key->items[i], types, i, err, err_size) < 0)
			return -1;
	return 0;
}

/* tls.verify_client "optional": a certificate that does not verify is
   still taken (the session shows it as unverified, as Postfix's "ask"). */
static int accept_unverified(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 1;
}

/* Client certificates: asked for (the CA names of tls.ca_file sent as
   the acceptable issuers), and with "required" one must come and
   verify (an expired one does not) or the handshake fails. */
static int setup_clients(SSL_CTX *ctx, const struct tls_config *t, char *err, size_t err_size)
{
	if (t->verify_client == TLS_VERIFY_NONE)
		return 0;
	if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1)
		return fail(err, err_size, "tls.ca_file: cannot load the CAs", t->ca_file);
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca_file);
	if (!names)
		return fail(err, err_size, "tls.ca_file: no CA certificate in", t->ca_file);
	SSL_CTX_set_client_CA_list(ctx, names);
	if (t->verify_client == TLS_VERIFY_REQUIRED)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_unverified);
	return 0;
}

/* One context: the listener's protocols, ciphers and client checks, with
   the pairs given.  Sessions carry the listener's name as their context,
   so a ticket from one listener never resumes on another. */
static SSL_CTX *context_new(const struct tls_config *t, const char *listener,
			    const struct config_strings *cert, const struct config_strings *key,
			    char *err, size_t err_size)
{
	unsigned char sid_ctx[SHA256_DIGEST_LENGTH];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		fail(err, err_size, "tls: cannot make a context", NULL);
		return NULL;
	}
	SHA256((const unsigned char *)listener, strlen(listener), sid_ctx);
	if (!SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx)) ||
	    setup_protocols(ctx, t, err, err_size) < 0 || setup_keys(ctx, cert, key, err, err_size) < 0 ||
	    setup_clients(ctx, t, err, err_size) < 0 || tls_ticket_setup(ctx, err, err_size) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The context of the tls.sni entry for name (already folded to lower
   case): the exact name first, then "*." and the name less its first
   label; NULL for the default. */
static SSL_CTX *sni_lookup(const struct tls_server *srv, const char *name)
{
	const char *parent = strchr(name, '.');
	for (size_t i = 0; i < srv->sni_count; i++)
		if (strcmp(srv->sni[i].name, name) == 0)
			return srv->sni[i].ctx;
	for (size_t i = 0; parent && i < srv->sni_count; i++)
		if (strncmp(srv->sni[i].name, "*.", 2) == 0 && strcmp(srv->sni[i].name + 1, parent) == 0)
			return srv->sni[i].ctx;
	return NULL;
}

/* OpenSSL's server-name callback: the client's name picks its pairs (a
   name with a byte no host name has picks none: the default pairs). */
static int sni_pick(SSL *ssl, int *alert, void *arg)
{
	(void)alert;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char folded[256];
	size_t n = 0;
	for (; name && name[n] && n + 1 < sizeof(folded); n++) {
		unsigned char c = (unsigned char)name[n];
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_'))
			return SSL_TLSEXT_ERR_OK;
		folded[n] = (char)tolower(c);
	}
	folded[n] = '\0';
	SSL_CTX *ctx = n ? sni_lookup(arg, folded) : NULL;
	if (ctx && SSL_set_SSL_CTX(ssl, ctx) != ctx)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

struct tls_server *tls_server_new(const struct tls_config *t, const char *listener, char *err,
				  size_t err_size)
{
	struct tls_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		abort();
	srv->ctx = context_new(t, listener, &t->cert, &t->key, err, err_size);
	for (size_t i = 0; srv->ctx && i < t->sni_count; i++) {
		char what[300];
		srv->sni[i].ctx = context_new(t, listener, &t->sni[i].cert, &t->sni[i].key, what,
					      sizeof(what));
		if (!srv->sni[i].ctx) {
			snprintf(err, err_size, "tls.sni \"%s\": %s", t->sni[i].name, what);
			break;
		}
		srv->sni[i].name = strdup(t->sni[i].name);
		srv->sni_count++;
		if (!srv->sni[i].name)
			abort();
	}
	if (!srv->ctx || srv->sni_count < t->sni_count) {
		tls_server_free(srv);
		return NULL;
	}
	if (t->sni_count) {
		SSL_CTX_set_tlsext_servername_callback(srv->ctx, sni_pick);
		SSL_CTX_set_tlsext_servername_arg(srv->ctx, srv);
	}
	return srv;
}

void tls_server_free(struct tls_server *srv)
{
	if (!srv)
		return;
	SSL_CTX_free(srv->ctx);
	for (size_t i = 0; i < srv->sni_count; i++) {
		SSL_CTX_free(srv->sni[i].ctx);
		free(srv->sni[i].name);
	}
	free(srv);
}

/* A private key others can read is a key anyone on the host has. */
static void warn_keys(const struct listener_config *l, const struct config_strings *keys,
		      const char *setting)
{
	struct stat st;
	for (size_t i = 0; i < keys->count; i++)
		if (stat(keys->items[i], &st) == 0 && (st.st_mode & S_IROTH))
			log_warn("listener=%s setting=%s path=%s mode=%03o msg=\"readable by "
				 "others: chmod o-r it\"", l->name, setting,
				 log_quoted(keys->items[i]), (unsigned int)(st.st_mode & 0777));
}

void tls_server_warn(const struct listener_config *l)
{
	if (l->tls.mode == TLS_MODE_OFF)
		return;
	warn_keys(l, &l->tls.key, "tls.key");
	for (size_t i = 0; i < l->tls.sni_count; i++)
		warn_keys(l, &l->tls.sni[i].key, "tls.sni.key");
}

struct ssl_st *tls_conn_new(struct tls_server *srv, int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return NULL;
	SSL *ssl = SSL_new(srv->ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

void tls_conn_free(struct ssl_st *ssl)
{
	if (!ssl)
		return;
	/* close_notify, once: a full socket buffer is not waited for (the
	   client may have gone); never after a failed handshake. */
	if (SSL_is_init_finished(ssl) && last_failure.kind != SSL_ERROR_SSL &&
	    last_failure.kind != SSL_ERROR_SYSCALL)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
	memset(&last_failure, 0, sizeof(last_failure));
}

/* rc of an SSL_* call as an enum tls_step; a failure is recorded. */
static int step_result(SSL *ssl, int rc)
{
	int kind = SSL_get_error(ssl, rc);
	if (kind == SSL_ERROR_WANT_READ)
		return TLS_WANT_READ;
	if (kind == SSL_ERROR_WANT_WRITE)
		return TLS_WANT_WRITE;
	last_failure.kind = kind;
	last_failure.saved_errno = errno;
	last_failure.err = ERR_peek_error();
	ERR_clear_error();
	if (kind == SSL_ERROR_ZERO_RETURN ||
	    (kind == SSL_ERROR_SYSCALL && last_failure.err == 0 && last_failure.saved_errno == 0))
		return TLS_CLOSED;
	if (kind == SSL_ERROR_SSL && ERR_GET_REASON(last_failure.err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return TLS_CLOSED;
	return TLS_FAILED;
}

int tls_conn_handshake(struct ssl_st *ssl)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(ssl);
	return rc == 1 ? 0 : step_result(ssl, rc);
}

ssize_t tls_conn_read(struct ssl_st *ssl, void *buf, size_t len)
{
	size_t n = 0;
	ERR_clear_error();
	int rc = SSL_read_ex(ssl, buf, len, &n);
	return rc == 1 ? (ssize_t)n : step_result(ssl, rc);
}

ssize_t tls_conn_write(struct ssl_st *ssl, const void *buf, size_t len)
{
	size_t n = 0;
	ERR_clear_error();
	int rc = SSL_write_ex(ssl, buf, len, &n);
	return rc == 1 ? (ssize_t)n : step_result(ssl, rc);
}

int tls_conn_pending(struct ssl_st *ssl)
{
	return SSL_has_pending(ssl);
}

void tls_conn_why(struct ssl_st *ssl, char *why, size_t why_size)
{
	(void)ssl;
	if (last_failure.err) {
		const char *r = ERR_reason_error_string(last_failure.err);
		snprintf(why, why_size, "%s", r ? r : "TLS protocol error");
	} else if (last_failure.kind == SSL_ERROR_SYSCALL && last_failure.saved_errno) {
		snprintf(why, why_size, "%s", strerror(last_failure.saved_errno));
	} else if (last_failure.kind == SSL_ERROR_ZERO_RETURN || last_failure.kind == SSL_ERROR_SYSCALL ||
		   last_failure.kind == SSL_ERROR_SSL) {
		snprintf(why, why_size, "the client closed the connection");
	} else {
		snprintf(why, why_size, "TLS error %d", last_failure.kind);
	}
}
