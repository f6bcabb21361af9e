/*
 * tls_client.c - the client side of TLS, for STARTTLS to a relay's
 * upstream: a context per process (one without certificate checks for
 * relay_tls "may" and "encrypt", one that verifies against a CA file or
 * the system's CAs for "verify"), and one connection that names the
 * upstream (SNI) and, when verifying, checks that its certificate is for
 * that name or address.  The handshake, reads and writes are tls.c's
 * steps, waited for by conn.c.
 *
 * It never talks SMTP, never waits, and never accepts a certificate for
 * "verify" that OpenSSL did not verify.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The contexts, made at first use and kept for the worker's life: the
   relay keeps its upstream connection, so they serve many sessions. */
static struct {
	SSL_CTX *plain;       /* no certificate check */
	SSL_CTX *verify;      /* checks against verify_ca */
	char *verify_ca;      /* NULL: the system's CAs */
} contexts;

static SSL_CTX *context(int verify, const char *ca_file, char *err, size_t err_size);
static int is_address(const char *name);

/* The context for verify/ca_file; NULL with the reason in err. */
static SSL_CTX *context(int verify, const char *ca_file, char *err, size_t err_size)
{
	if (!verify && contexts.plain)
		return contexts.plain;
	if (verify && contexts.verify && ((!ca_file && !contexts.verify_ca) ||
	    (ca_file && contexts.verify_ca && strcmp(ca_file, contexts.verify_ca) == 0)))
		return contexts.verify;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok = ctx != NULL;
	if (ok && verify)
		ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) == 1
			     : SSL_CTX_set_default_verify_paths(ctx) == 1;
	if (!ok) {
		unsigned long e = ERR_peek_last_error();
		snprintf(err, err_size, "cannot load the CAs of %s: %s",
			 ca_file ? ca_file : "the system", e ? ERR_reason_error_string(e) : "no reason");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (!verify) {
		contexts.plain = ctx;
		return ctx;
	}
	SSL_CTX_free(contexts.verify);
	free(contexts.verify_ca);
	contexts.verify = ctx;
	contexts.verify_ca = ca_file ? strdup(ca_file) : NULL;
	if (ca_file && !contexts.verify_ca)
		abort();
	return ctx;
}

/* 1 if name is an IPv4 or IPv6 address (no SNI then: RFC 6066 3). */
static int is_address(const char *name)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

struct ssl_st *tls_client_conn_new(int fd, const char *name, int verify, const char *ca_file,
				   char *err, size_t err_size)
{
	SSL_CTX *ctx = context(verify, ca_file, err, err_size);
	if (!ctx)
		return NULL;
	int flags = fcntl(fd, F_GETFL);
	SSL *ssl = SSL_new(ctx);
	if (!ssl || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    SSL_set_fd(ssl, fd) != 1) {
		snprintf(err, err_size, "cannot set up TLS");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	int named = 1;
	if (!is_address(name))
		named = SSL_set_tlsext_host_name(ssl, name) == 1 && (!verify || SSL_set1_host(ssl, name) == 1);
	else if (verify)
		named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
	if (!named) {
		snprintf(err, err_size, "cannot name the upstream \"%s\" to TLS", name);
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void tls_client_why(struct ssl_st *ssl, char *why, size_t why_size)
{
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE)
		snprintf(why, why_size, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	else
		tls_conn_why(ssl, why, why_size);
}
