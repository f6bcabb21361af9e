/*
 * tls_info.c - what a connection's handshake agreed, in the words the
 * session shows to plugins and writes in its log lines: the protocol and
 * cipher, the server name the client asked for (SNI), and the client's
 * certificate (its subject in RFC 2253 form, its SHA-256 fingerprint, and
 * whether it verified against tls.ca_file).
 *
 * It only reads OpenSSL's state after a handshake.  It never changes a
 * connection, and never hands on a byte the client chose unchecked: the
 * SNI name keeps host-name characters only, the subject is printed with
 * OpenSSL's escapes, so neither can forge a log field or a header line.
 */
#include "tls.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static void sni_copy(const char *name, char *out, size_t size);
static void subject_text(X509 *cert, char *out, size_t size);
static void fingerprint_text(X509 *cert, char *out, size_t size);

/* The client's server name as a host name: letters, digits, '-', '.' and
   '_' kept (upper case folded), every other byte a '?' that no name in
   tls.sni can match. */
static void sni_copy(const char *name, char *out, size_t size)
{
	size_t n = 0;
	for (; name && name[n] && n + 1 < size; n++) {
		unsigned char c = (unsigned char)name[n];
		out[n] = (char)(isalnum(c) || c == '-' || c == '.' || c == '_' ? tolower(c) : '?');
	}
	out[n] = '\0';
}

/* "CN=client,O=Example" (RFC 2253, escaped: control and non-ASCII bytes
   as \XX); "" if it does not fit. */
static void subject_text(X509 *cert, char *out, size_t size)
{
	out[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	/* XN_FLAG_RFC2253 escapes control and non-ASCII bytes as \XX. */
	if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
		char *p;
		long len = BIO_get_mem_data(b, &p);
		if (len >= 0 && (size_t)len < size) {
			memcpy(out, p, (size_t)len);
			out[len] = '\0';
		}
	}
	BIO_free(b);
}

/* The certificate's SHA-256 as "AB:CD:..." (each byte two digits and a
   colon, the last colon made the end). */
static void fingerprint_text(X509 *cert, char *out, size_t size)
{
	static const char digits[] = "0123456789ABCDEF";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	out[0] = '\0';
	if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len == 0 || len * 3 > size)
		return;
	for (unsigned int i = 0; i < len; i++) {
		out[3 * i] = digits[md[i] >> 4];
		out[3 * i + 1] = digits[md[i] & 0xf];
		out[3 * i + 2] = ':';
	}
	out[3 * len - 1] = '\0';
}

void tls_conn_info(struct ssl_st *ssl, struct tls_info *out)
{
	memset(out, 0, sizeof(*out));
	out->protocol = SSL_get_version(ssl);
	out->cipher = SSL_get_cipher_name(ssl);
	sni_copy(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), out->sni, sizeof(out->sni));
	X509 *peer = SSL_get0_peer_certificate(ssl);
	if (!peer)
		return;
	subject_text(peer, out->peer_subject, sizeof(out->peer_subject));
	fingerprint_text(peer, out->peer_fingerprint, sizeof(out->peer_fingerprint));
	out->peer_verified = SSL_get_verify_result(ssl) == X509_V_OK;
}
