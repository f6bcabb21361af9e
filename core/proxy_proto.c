/*
 * proxy_proto.c - the PROXY protocol header a balancer (HAProxy, a cloud
 * load balancer) sends before the client's first byte: version 1, one
 * line of text, and version 2, a binary block with optional TLVs.
 *
 * Entry point: proxy_proto_parse(), over the bytes read so far; a reader
 * calls it again with more until it says done or refuses.  Errors are
 * found as early as the bytes allow (an SMTP client talking at once is
 * refused at its first byte), and every verdict but "need more" is final.
 * Pure: it never reads a socket, never allocates, never looks past the
 * header's end, and never trusts a length it has not checked against the
 * bytes it holds and our bound (TLVs are walked, each inside the header,
 * and skipped).
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* proxy-protocol.txt 2.2: the v2 signature, and the v1 line's start. */
static const unsigned char v2_signature[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
						0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char v1_prefix[] = "PROXY ";
#define V1_PREFIX_BYTES (sizeof(v1_prefix) - 1)

/* v2's fixed part: byte 12 is version and command, 13 family and
   transport, 14-15 the length of what follows. */
enum { V2_CMD_LOCAL = 0, V2_CMD_PROXY = 1 };
enum { V2_AF_UNSPEC = 0, V2_AF_INET = 1, V2_AF_INET6 = 2, V2_AF_UNIX = 3 };
enum { V2_TRANSPORT_STREAM = 1, V2_TRANSPORT_MAX = 2 };
#define V2_INET_BYTES 12   /* two IPv4 addresses, two ports */
#define V2_INET6_BYTES 36  /* two IPv6 addresses, two ports */
#define V2_UNIX_BYTES 216  /* two 108-byte paths */
#define V2_TLV_HEAD_BYTES 3 /* type, 16-bit length */

static size_t min_size(size_t a, size_t b);
static void addr_text(int family, const unsigned char *bytes, char *out);
static int v1_line_end(const unsigned char *p, size_t len, size_t *end_out);
static int v1_token(const char **pp, const char *end, char *buf, size_t size);
static int v1_port(const char *text, unsigned int *port_out);
static int v1_fields(const char *line, const char *end, struct proxy_header *out);
static int parse_v1(const unsigned char *p, size_t len, struct proxy_header *out);
static int v2_tlvs(const unsigned char *p, size_t from, size_t to, size_t *count_out);
static int v2_addresses(const unsigned char *p, int af, struct proxy_header *out);
static int v2_block_bytes(int command, int af, int transport, size_t *block_out);
static int parse_v2(const unsigned char *p, size_t len, struct proxy_header *out);

/* The smaller of two sizes. */
static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* The numeric text of an address of family: a v4-mapped IPv6 address as
   plain IPv4, as a direct client on a dual-stack socket shows. */
static void addr_text(int family, const unsigned char *bytes, char *out)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (family == AF_INET6 && memcmp(bytes, mapped, sizeof(mapped)) == 0)
		inet_ntop(AF_INET, bytes + 12, out, PROXY_ADDR_TEXT_BYTES);
	else
		inet_ntop(family, bytes, out, PROXY_ADDR_TEXT_BYTES);
}

/* Where v1's CRLF ends (*end_out, just past the LF): DONE, NEED_MORE, or
   BAD_LINE at the first byte no header line may hold (a control, a bare
   CR or LF, anything past ASCII). */
static int v1_line_end(const unsigned char *p, size_t len, size_t *end_out)
{
	size_t n = min_size(len, PROXY_V1_MAX_BYTES);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 < n && p[i + 1] != '\n')
				return PROXY_PROTO_BAD_LINE;
			continue;
		}
		if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				return PROXY_PROTO_BAD_LINE;
			*end_out = i + 1;
			return PROXY_PROTO_DONE;
		}
		if (p[i] < 0x20 || p[i] > 0x7e)
			return PROXY_PROTO_BAD_LINE;
	}
	return len >= PROXY_V1_MAX_BYTES ? PROXY_PROTO_TOO_LONG : PROXY_PROTO_NEED_MORE;
}

/* The next space-separated field of [*pp, end) into buf (NUL-terminated),
   moving past it and one space: its length; 0 when absent or empty (two
   spaces); -1, with buf "", when it does not fit. */
static int v1_token(const char **pp, const char *end, char *buf, size_t size)
{
	const char *p = *pp;
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	size_t n = (size_t)((sp ? sp : end) - p);
	*pp = sp ? sp + 1 : end;
	if (n >= size) {
		buf[0] = '\0';
		return -1;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	return (int)n;
}

/* A v1 port: 1 to 5 decimal digits, at most 65535. */
static int v1_port(const char *text, unsigned int *port_out)
{
	size_t n = strlen(text);
	unsigned long v = 0;
	if (n == 0 || n > 5 || strspn(text, "0123456789") != n)
		return -1;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned long)(text[i] - '0');
	if (v > 65535)
		return -1;
	*port_out = (unsigned int)v;
	return 0;
}

/* The fields after "PROXY " up to the CRLF: "TCP4|TCP6 src dst sport
   dport", or "UNKNOWN" and anything (which the format says to ignore). */
static int v1_fields(const char *line, const char *end, struct proxy_header *out)
{
	char proto[8], src[PROXY_ADDR_TEXT_BYTES], dst[PROXY_ADDR_TEXT_BYTES], sport[8], dport[8];
	unsigned char bytes[16];
	const char *p = line;
	int n = v1_token(&p, end, proto, sizeof(proto));
	if (n == 7 && strcmp(proto, "UNKNOWN") == 0) {
		out->kind = PROXY_KIND_UNKNOWN;
		return PROXY_PROTO_DONE;
	}
	if (n <= 0)
		return n == 0 ? PROXY_PROTO_BAD_LINE : PROXY_PROTO_BAD_FAMILY;
	if (strcmp(proto, "TCP4") == 0)
		out->family = AF_INET;
	else if (strcmp(proto, "TCP6") == 0)
		out->family = AF_INET6;
	else
		return PROXY_PROTO_BAD_FAMILY;
	/* The line's shape first; a field too long fails as what it is. */
	int a = v1_token(&p, end, src, sizeof(src)), b = v1_token(&p, end, dst, sizeof(dst));
	int c = v1_token(&p, end, sport, sizeof(sport)), d = v1_token(&p, end, dport, sizeof(dport));
	if (a == 0 || b == 0 || c == 0 || d == 0 || p != end || end[-1] == ' ')
		return PROXY_PROTO_BAD_LINE;
	if (inet_pton(out->family, src, bytes) != 1)
		return PROXY_PROTO_BAD_ADDRESS;
	addr_text(out->family, bytes, out->src_addr);
	if (inet_pton(out->family, dst, bytes) != 1)
		return PROXY_PROTO_BAD_ADDRESS;
	addr_text(out->family, bytes, out->dst_addr);
	if (v1_port(sport, &out->src_port) < 0 || v1_port(dport, &out->dst_port) < 0)
		return PROXY_PROTO_BAD_PORT;
	out->kind = PROXY_KIND_PROXY;
	return PROXY_PROTO_DONE;
}

/* Version 1: the line after "PROXY " (matched already). */
static int parse_v1(const unsigned char *p, size_t len, struct proxy_header *out)
{
	size_t end;
	out->version = 1;
	int rc = v1_line_end(p, len, &end);
	if (rc != PROXY_PROTO_DONE)
		return rc;
	char line[PROXY_V1_MAX_BYTES];
	size_t n = end - 2 - V1_PREFIX_BYTES; /* the fields, without CRLF */
	memcpy(line, p + V1_PREFIX_BYTES, n);
	rc = v1_fields(line, line + n, out);
	if (rc != PROXY_PROTO_DONE) {
		out->family = AF_UNSPEC;
		out->src_addr[0] = out->dst_addr[0] = '\0';
		out->src_port = out->dst_port = 0;
		return rc;
	}
	if (out->kind != PROXY_KIND_PROXY)
		out->family = AF_UNSPEC;
	out->len = end;
	return PROXY_PROTO_DONE;
}

/* Walk the TLVs in p[from..to): each must lie inside; their number. */
static int v2_tlvs(const unsigned char *p, size_t from, size_t to, size_t *count_out)
{
	size_t at = from, count = 0;
	while (at < to) {
		if (to - at < V2_TLV_HEAD_BYTES)
			return PROXY_PROTO_BAD_TLV;
		size_t value = ((size_t)p[at + 1] << 8) | p[at + 2];
		if (value > to - at - V2_TLV_HEAD_BYTES)
			return PROXY_PROTO_BAD_TLV;
		at += V2_TLV_HEAD_BYTES + value;
		count++;
	}
	*count_out = count;
	return PROXY_PROTO_DONE;
}

/* The addresses and ports of an INET or INET6 block at p into out. */
static int v2_addresses(const unsigned char *p, int af, struct proxy_header *out)
{
	size_t alen = af == V2_AF_INET ? 4 : 16;
	out->family = af == V2_AF_INET ? AF_INET : AF_INET6;
	addr_text(out->family, p, out->src_addr);
	addr_text(out->family, p + alen, out->dst_addr);
	out->src_port = ((unsigned int)p[2 * alen] << 8) | p[2 * alen + 1];
	out->dst_port = ((unsigned int)p[2 * alen + 2] << 8) | p[2 * alen + 3];
	out->kind = PROXY_KIND_PROXY;
	return PROXY_PROTO_DONE;
}

/* The address block's size for a PROXY command (LOCAL has none of
   interest: its family is to be ignored); or an error. */
static int v2_block_bytes(int command, int af, int transport, size_t *block_out)
{
	static const size_t sizes[] = { 0, V2_INET_BYTES, V2_INET6_BYTES, V2_UNIX_BYTES };
	*block_out = 0;
	if (command == V2_CMD_LOCAL)
		return PROXY_PROTO_DONE;
	if (af > V2_AF_UNIX)
		return PROXY_PROTO_BAD_FAMILY;
	if (transport > V2_TRANSPORT_MAX ||
	    ((af == V2_AF_INET || af == V2_AF_INET6) && transport != V2_TRANSPORT_STREAM))
		return PROXY_PROTO_BAD_TRANSPORT;
	*block_out = sizes[af];
	return PROXY_PROTO_DONE;
}

/* Version 2: what follows the signature (matched already). */
static int parse_v2(const unsigned char *p, size_t len, struct proxy_header *out)
{
	out->version = 2;
	if (len <= 12)
		return PROXY_PROTO_NEED_MORE;
	if (p[12] >> 4 != 2)
		return PROXY_PROTO_BAD_VERSION;
	int command = p[12] & 0x0f;
	if (command != V2_CMD_LOCAL && command != V2_CMD_PROXY)
		return PROXY_PROTO_BAD_COMMAND;
	if (len <= 13)
		return PROXY_PROTO_NEED_MORE;
	int af = p[13] >> 4;
	size_t block;
	int rc = v2_block_bytes(command, af, p[13] & 0x0f, &block);
	if (rc != PROXY_PROTO_DONE)
		return rc;
	if (len < PROXY_V2_FIXED_BYTES)
		return PROXY_PROTO_NEED_MORE;
	size_t total = PROXY_V2_FIXED_BYTES + (((size_t)p[14] << 8) | p[15]);
	if (total > PROXY_V2_MAX_BYTES)
		return PROXY_PROTO_TOO_LONG;
	if (total < PROXY_V2_FIXED_BYTES + block)
		return PROXY_PROTO_BAD_LENGTH;
	if (len < total)
		return PROXY_PROTO_NEED_MORE;
	out->kind = command == V2_CMD_LOCAL ? PROXY_KIND_LOCAL : PROXY_KIND_UNKNOWN;
	/* LOCAL: the rest is to be skipped whole, TLVs or not. */
	if (command == V2_CMD_PROXY) {
		rc = v2_tlvs(p, PROXY_V2_FIXED_BYTES + block, total, &out->tlv_count);
		if (rc != PROXY_PROTO_DONE)
			return rc;
		if (af == V2_AF_INET || af == V2_AF_INET6)
			v2_addresses(p + PROXY_V2_FIXED_BYTES, af, out);
	}
	out->len = total;
	return PROXY_PROTO_DONE;
}

int proxy_proto_parse(const unsigned char *p, size_t len, unsigned int allow,
		      struct proxy_header *out)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_UNSPEC;
	if (len == 0)
		return PROXY_PROTO_NEED_MORE;
	/* A version is refused once its whole signature is in: before, the
	   bytes might yet turn out to be no header at all (a different
	   verdict, and every verdict is final). */
	if (memcmp(p, v2_signature, min_size(len, sizeof(v2_signature))) == 0) {
		if (len < sizeof(v2_signature))
			return PROXY_PROTO_NEED_MORE;
		return allow & PROXY_PROTO_V2 ? parse_v2(p, len, out) : PROXY_PROTO_NOT_ALLOWED;
	}
	if (memcmp(p, v1_prefix, min_size(len, V1_PREFIX_BYTES)) == 0) {
		if (len < V1_PREFIX_BYTES)
			return PROXY_PROTO_NEED_MORE;
		return allow & PROXY_PROTO_V1 ? parse_v1(p, len, out) : PROXY_PROTO_NOT_ALLOWED;
	}
	return PROXY_PROTO_BAD_SIGNATURE;
}

const char *proxy_proto_status_name(int status)
{
	static const char *const names[] = {
		"done", "need-more", "bad-signature", "version-not-allowed", "too-long",
		"bad-line", "bad-family", "bad-address", "bad-port", "bad-version",
		"bad-command", "bad-transport", "bad-length", "bad-tlv",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == PROXY_PROTO_STATUS_COUNT,
		       "a name per status");
	return (unsigned int)status < PROXY_PROTO_STATUS_COUNT ? names[status] : "unknown";
}

const char *proxy_proto_kind_name(const struct proxy_header *h)
{
	if (h->kind == PROXY_KIND_LOCAL)
		return "local";
	if (h->kind == PROXY_KIND_UNKNOWN)
		return "unknown";
	return h->version == 1 ? "v1" : "v2";
}
