/*
 * tls_ticket.c - session tickets (RFC 5077, RFC 8446 4.6.1) keyed by the
 * master: it maps one anonymous shared page before it forks any worker,
 * puts a random key in it, and rotates the key on a schedule and at each
 * SIGHUP, keeping the one before for one more rotation so tickets issued
 * just before a rotation still resume.  Every worker inherits the page and
 * installs a ticket callback that encrypts with the current key and
 * decrypts with whichever key a ticket names.
 *
 * The keys never touch a disk: the page is anonymous, locked in memory
 * when it can be, left out of core dumps, and read-only in workers.  The
 * master writes it under a sequence count (odd while writing), and a
 * worker copies a key out only when the count was even and unchanged, so
 * a half-written key is never used.  Nothing here logs a key or its name.
 */
#include "tls_ticket.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "log.h"

/* One key: its name travels in every ticket it made. */
struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];  /* AES-256-CBC */
	unsigned char hmac[32]; /* HMAC-SHA256 */
};

struct ticket_page {
	atomic_uint seq;        /* odd while the master writes */
	int lifetime_sec;       /* two rotations: how long a ticket can resume */
	struct ticket_key current, previous;
	int has_previous;
};

static struct ticket_page *page;     /* NULL: not set up (OpenSSL's own keys) */
static long long rotated_ms;         /* master: the last rotation */
static unsigned long long rotations; /* master: for the log */

static int new_key(struct ticket_key *k);
static int snapshot(struct ticket_page *out);
static int set_keys(EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, const struct ticket_key *k,
		    const unsigned char *iv, int enc);
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *c,
		     EVP_MAC_CTX *h, int enc);

/* Random key material from OpenSSL's private generator: 0 or -1. */
static int new_key(struct ticket_key *k)
{
	return RAND_priv_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : -1;
}

int tls_ticket_init(int rotation_sec)
{
	void *p = mmap(NULL, sizeof(struct ticket_page), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_err("event=tls-ticket-keys call=mmap msg=\"workers keep keys of their own\"");
		return -1;
	}
	/* Best effort: never swapped, never in a core file. */
	(void)mlock(p, sizeof(struct ticket_page));
	(void)madvise(p, sizeof(struct ticket_page), MADV_DONTDUMP);
	page = p;
	memset(page, 0, sizeof(*page));
	page->lifetime_sec = 2 * rotation_sec;
	if (new_key(&page->current) < 0) {
		munmap(p, sizeof(struct ticket_page));
		page = NULL;
		log_err("event=tls-ticket-keys call=RAND_priv_bytes msg=\"workers keep keys of "
			"their own\"");
		return -1;
	}
	rotated_ms = clock_ms();
	return 0;
}

void tls_ticket_rotate(const char *why)
{
	struct ticket_key k;
	if (!page)
		return;
	if (new_key(&k) < 0) {
		log_err("event=tls-ticket-rotate reason=%s result=failed msg=\"the current key "
			"stays\"", why);
		return;
	}
	atomic_fetch_add_explicit(&page->seq, 1, memory_order_acq_rel);
	atomic_thread_fence(memory_order_release);
	page->previous = page->current;
	page->has_previous = 1;
	page->current = k;
	atomic_fetch_add_explicit(&page->seq, 1, memory_order_release);
	OPENSSL_cleanse(&k, sizeof(k));
	rotated_ms = clock_ms();
	log_info("event=tls-ticket-rotate reason=%s rotation=%llu", why, ++rotations);
}

void tls_ticket_tick(int rotation_sec)
{
	if (!page)
		return;
	if (page->lifetime_sec != 2 * rotation_sec) { /* a reload changed it */
		atomic_fetch_add_explicit(&page->seq, 1, memory_order_acq_rel);
		page->lifetime_sec = 2 * rotation_sec;
		atomic_fetch_add_explicit(&page->seq, 1, memory_order_release);
	}
	if (clock_ms() - rotated_ms >= (long long)rotation_sec * 1000)
		tls_ticket_rotate("schedule");
}

/* A consistent copy of the page (the seqlock's reader): 0, or -1 if the
   master kept writing (it never writes for long: then no ticket). */
static int snapshot(struct ticket_page *out)
{
	for (int tries = 0; tries < 1000; tries++) {
		unsigned int before = atomic_load_explicit(&page->seq, memory_order_acquire);
		if (before & 1)
			continue;
		out->lifetime_sec = page->lifetime_sec;
		out->current = page->current;
		out->previous = page->previous;
		out->has_previous = page->has_previous;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&page->seq, memory_order_relaxed) == before)
			return 0;
	}
	return -1;
}

/* The cipher and MAC of a ticket under key k: 1, or 0 on failure. */
static int set_keys(EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, const struct ticket_key *k,
		    const unsigned char *iv, int enc)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						  sizeof(k->hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	int ok = enc ? EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, k->aes, iv)
		     : EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, k->aes, iv);
	return ok == 1 && EVP_MAC_CTX_set_params(h, params) == 1;
}

/* OpenSSL's ticket key callback.  enc: a new ticket under the current
   key (1; -1 on failure, OpenSSL then sends none).  Decryption: 2 with
   either key we hold, which has OpenSSL issue a fresh ticket after the
   resumption (with 1 a TLS 1.3 client gets none, and its next session
   would have to reuse a ticket it already showed, or start over); 0 for
   a name we no longer know (a full handshake). */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *c,
		     EVP_MAC_CTX *h, int enc)
{
	(void)ssl;
	struct ticket_page keys;
	int rc;
	if (snapshot(&keys) < 0)
		return enc ? -1 : 0;
	if (enc) {
		memcpy(name, keys.current.name, sizeof(keys.current.name));
		rc = RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) == 1 &&
		     set_keys(c, h, &keys.current, iv, 1) ? 1 : -1;
	} else if (memcmp(name, keys.current.name, sizeof(keys.current.name)) == 0) {
		rc = set_keys(c, h, &keys.current, iv, 0) ? 2 : 0;
	} else if (keys.has_previous &&
		   memcmp(name, keys.previous.name, sizeof(keys.previous.name)) == 0) {
		rc = set_keys(c, h, &keys.previous, iv, 0) ? 2 : 0;
	} else {
		rc = 0;
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

void tls_ticket_readonly(void)
{
	/* A worker only reads the page: it cannot change another's keys. */
	if (page)
		(void)mprotect(page, sizeof(*page), PROT_READ);
}

int tls_ticket_setup(struct ssl_ctx_st *ctx, char *err, size_t err_size)
{
	struct ticket_page keys;
	/* One TLS 1.3 ticket per handshake, not OpenSSL's two: an SMTP client
	   keeps one session per server (Postfix's tlsmgr, our relay), and a
	   resumption brings it a fresh one (ticket_cb's 2).  Postfix's smtpd
	   sends one too. */
	SSL_CTX_set_num_tickets(ctx, 1);
	if (!page)
		return 0;
	if (snapshot(&keys) < 0 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1) {
		snprintf(err, err_size, "tls: cannot set up the shared session tickets");
		return -1;
	}
	/* Tickets are the one way to resume: a per-process cache would only
	   resume on the worker that made it. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, keys.lifetime_sec);
	OPENSSL_cleanse(&keys, sizeof(keys));
	return 0;
}
