/*
 * tls.h - the OpenSSL side of TLS: a listener's server context (its
 * certificate, key, protocols and ciphers), and one connection's
 * handshake, reads and writes as non-blocking steps.  The waiting between
 * steps (deadlines, stress, SIGTERM) is conn.c's.
 */
#ifndef SMTPGATE_TLS_H
#define SMTPGATE_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct tls_server;  /* a listener's SSL_CTX */
struct ssl_st;      /* OpenSSL's SSL: one connection */

/* What a step that could not finish needs, or how it failed. */
enum tls_step {
	TLS_WANT_READ = -1,  /* wait until the socket is readable, then again */
	TLS_WANT_WRITE = -2, /* ... writable */
	TLS_CLOSED = -3,     /* the peer closed (close_notify or EOF) */
	TLS_FAILED = -4      /* a protocol or socket error: the connection is over */
};

/* The listener's contexts (its default pairs and one per tls.sni entry),
   built with the privileges of the caller (root before the privilege
   drop: a key only root can read works).  NULL with a message naming the
   file or setting in err when a file does not load, a key does not match
   its certificate, or a cipher list is empty. */
struct tls_server *tls_server_new(const struct tls_config *t, const char *listener, char *err,
				  size_t err_size);
void tls_server_free(struct tls_server *srv);
/* -t's warnings about the tls group (a key others can read), logged with
   the listener's name. */
void tls_server_warn(const struct listener_config *l);

/* A connection over fd (made non-blocking); NULL only if out of memory. */
struct ssl_st *tls_conn_new(struct tls_server *srv, int fd);
/* Send close_notify when the handshake was done (never waits), and free. */
void tls_conn_free(struct ssl_st *ssl);
/* One step of the server's handshake: 0 when done, else an enum tls_step. */
int tls_conn_handshake(struct ssl_st *ssl);
/* Up to len bytes: > 0, or an enum tls_step. */
ssize_t tls_conn_read(struct ssl_st *ssl, void *buf, size_t len);
/* Some of len bytes (> 0 written), or an enum tls_step. */
ssize_t tls_conn_write(struct ssl_st *ssl, const void *buf, size_t len);
/* 1 if decrypted or undecrypted input is buffered in OpenSSL. */
int tls_conn_pending(struct ssl_st *ssl);
/* Why the last step failed, in words (OpenSSL's reason, or the socket's). */
void tls_conn_why(struct ssl_st *ssl, char *why, size_t why_size);

/* tls_client.c: a client connection over fd to the server name (a host
   name, sent as SNI, or an address); with verify its certificate must
   verify against ca_file (NULL: the system's CAs) and be for name.  NULL
   with the reason in err. */
struct ssl_st *tls_client_conn_new(int fd, const char *name, int verify, const char *ca_file,
				   char *err, size_t err_size);
/* Why a client handshake failed: the certificate check's reason, or
   tls_conn_why()'s. */
void tls_client_why(struct ssl_st *ssl, char *why, size_t why_size);

/* What a handshake agreed (tls_info.c). */
struct tls_info {
	const char *protocol;      /* "TLSv1.3" (OpenSSL's, static) */
	const char *cipher;        /* "TLS_AES_256_GCM_SHA384" */
	char sni[256];             /* the name the client asked for, host-name
				      characters only (others '?'); "" for none */
	char peer_subject[512];    /* the client certificate's subject, RFC 2253;
				      "" without a certificate */
	char peer_fingerprint[96]; /* its SHA-256, "AB:CD:..."; "" without */
	int peer_verified;         /* 1: it verified against tls.ca_file */
};
void tls_conn_info(struct ssl_st *ssl, struct tls_info *out);

#endif
