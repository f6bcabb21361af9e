/*
 * fuzz_proxy_proto.c - libFuzzer target: arbitrary bytes as the start of
 * a connection through proxy_proto_parse(), the PROXY header parser a
 * balancer's bytes reach before any SMTP.  The first byte picks the
 * versions the listener takes (v1, v2 or any); the rest is the stream.
 *
 * Beyond "no crash" it checks what the reader (proxy_accept.c) relies on:
 * a verdict is one of the statuses; "need more" comes only below
 * PROXY_MAX_BYTES (the reader's buffer); a header's length lies within
 * the bytes and the bounds (107 for v1, ending in CRLF), and parsing
 * exactly those bytes gives the same header while one byte fewer needs
 * more; prefixes give "need more" or the same verdict (so reading in
 * pieces changes nothing); a version not taken is never parsed; and the
 * addresses are numeric text that inet_pton reads back (none for LOCAL
 * and UNKNOWN).  Never aborts but on a broken invariant.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_proto.h"

#define FUZZ_INPUT_MAX_BYTES 1100 /* run.sh's -max_len: past the v2 bound */

static void check(int ok, const char *what);
static void check_addr(const char *text);
static void check_header(const uint8_t *p, size_t len, unsigned int allow,
			 const struct proxy_header *h);
static void check_prefix(const uint8_t *p, size_t k, unsigned int allow, int rc,
			 const struct proxy_header *h);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a crash libFuzzer reports with its input. */
static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_proxy_proto: invariant broken: %s\n", what);
		abort();
	}
}

/* Numeric text of an address, NUL-terminated in its field. */
static void check_addr(const char *text)
{
	unsigned char bytes[16];
	check(memchr(text, '\0', PROXY_ADDR_TEXT_BYTES) != NULL, "an address is NUL-terminated");
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	check(inet_pton(family, text, bytes) == 1, "an address reads back with inet_pton");
}

/* A whole header h parsed from p[0..len). */
static void check_header(const uint8_t *p, size_t len, unsigned int allow,
			 const struct proxy_header *h)
{
	check(h->len > 0 && h->len <= len && h->len <= PROXY_MAX_BYTES, "the length is bounded");
	check(h->version == 1 || h->version == 2, "version 1 or 2");
	check((unsigned int)h->version & allow, "only a version taken is parsed");
	if (h->version == 1)
		check(h->len <= PROXY_V1_MAX_BYTES && p[h->len - 2] == '\r' && p[h->len - 1] == '\n',
		      "a v1 header is a line of at most 107 bytes");
	else
		check(h->len >= PROXY_V2_FIXED_BYTES, "a v2 header holds its fixed part");
	if (h->kind == PROXY_KIND_PROXY) {
		check(h->family == AF_INET || h->family == AF_INET6, "PROXY has an IP family");
		check_addr(h->src_addr);
		check_addr(h->dst_addr);
		check(h->src_port <= 65535 && h->dst_port <= 65535, "ports fit 16 bits");
	} else {
		check(h->family == AF_UNSPEC && h->src_addr[0] == '\0' && h->dst_addr[0] == '\0' &&
			      h->src_port == 0 && h->dst_port == 0,
		      "LOCAL and UNKNOWN carry no address");
	}
}

/* The first k bytes: need more, or the verdict of all of them. */
static void check_prefix(const uint8_t *p, size_t k, unsigned int allow, int rc,
			 const struct proxy_header *h)
{
	struct proxy_header hk;
	int rk = proxy_proto_parse(p, k, allow, &hk);
	check(rk == PROXY_PROTO_NEED_MORE || rk == rc, "a prefix needs more or agrees");
	if (rk == PROXY_PROTO_DONE)
		check(hk.len == h->len && hk.kind == h->kind && strcmp(hk.src_addr, h->src_addr) == 0 &&
			      hk.src_port == h->src_port,
		      "a prefix holding the header gives the same header");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > FUZZ_INPUT_MAX_BYTES)
		return 0;
	unsigned int allow = (unsigned int)(data[0] % 3) + 1; /* v1, v2, any */
	const uint8_t *p = data + 1;
	size_t len = size - 1;
	struct proxy_header h;
	int rc = proxy_proto_parse(p, len, allow, &h);
	check(rc >= 0 && rc < PROXY_PROTO_STATUS_COUNT, "a known status");
	check(strcmp(proxy_proto_status_name(rc), "unknown") != 0, "every status has a name");
	if (rc == PROXY_PROTO_NEED_MORE)
		check(len < PROXY_MAX_BYTES, "need more only below the reader's buffer");
	if (rc == PROXY_PROTO_DONE) {
		check_header(p, len, allow, &h);
		struct proxy_header again;
		check(proxy_proto_parse(p, h.len, allow, &again) == PROXY_PROTO_DONE &&
			      memcmp(&again, &h, sizeof(h)) == 0,
		      "exactly the header's bytes give the same header");
		check(proxy_proto_parse(p, h.len - 1, allow, &again) == PROXY_PROTO_NEED_MORE,
		      "one byte fewer needs more");
	}
	/* A few prefixes, not all: each parse walks up to a kilobyte. */
	if (len > 0) {
		check_prefix(p, len - 1, allow, rc, &h);
		check_prefix(p, len / 2, allow, rc, &h);
		check_prefix(p, data[0] % (len + 1), allow, rc, &h);
	}
	return 0;
}
