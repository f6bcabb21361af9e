/*
 * test_proxy_proto.c - the PROXY protocol header: the parser as a table
 * of valid v1 and v2 headers and of every malformed shape, each row also
 * fed in every prefix (a prefix must say "need more" or give the row's
 * verdict); the bounds built byte by byte; and the socket reader over a
 * socketpair, which must consume the header's bytes and nothing after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "proxy_accept.h"
#include "proxy_proto.h"
#include "unit.h"

/* v2's signature (a NUL inside), and blocks used by several rows. */
#define SIG "\r\n\r\n" "\0" "\r\nQUIT\n"
/* 192.0.2.1:4660 -> 198.51.100.7:25 */
#define V2_INET "\xc0\x00\x02\x01" "\xc6\x33\x64\x07" "\x12\x34" "\x00\x19"
/* 2001:db8::1:4711 -> 2001:db8::2:587 */
#define V2_INET6 "\x20\x01\x0d\xb8" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x01" \
	"\x20\x01\x0d\xb8" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x02" "\x12\x67" "\x02\x4b"
/* TLVs: ALPN "h2", a NOOP of 3 bytes, AUTHORITY "example.org": 25 bytes */
#define V2_TLVS "\x01\x00\x02" "h2" "\x04\x00\x03" "\0\0\0" "\x02\x00\x0b" "example.org"

#define V1 PROXY_PROTO_V1
#define V2 PROXY_PROTO_V2
#define ANY PROXY_PROTO_ANY
#define P PROXY_KIND_PROXY
#define L PROXY_KIND_LOCAL
#define U PROXY_KIND_UNKNOWN
/* A row without a header: the verdict, nothing to compare after it. */
#define ERR(status) status, P, "", "", 0, 0, 0, 0

static const struct {
	const char *name;
	const char *in;
	size_t in_len;
	unsigned int allow;
	int rc;
	/* with PROXY_PROTO_DONE: */
	enum proxy_proto_kind kind;
	const char *src, *dst;
	unsigned int sport, dport;
	size_t len, tlvs;
} rows[] = {
	/* --- valid v1 */
	{ "v1 TCP4", UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n"), ANY,
	  PROXY_PROTO_DONE, P, "192.0.2.1", "198.51.100.7", 56324, 25, 44, 0 },
	{ "v1 TCP4, SMTP after it", UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 1 25\r\nEHLO x\r\n"),
	  V1, PROXY_PROTO_DONE, P, "192.0.2.1", "198.51.100.7", 1, 25, 40, 0 },
	{ "v1 TCP6", UNIT_BYTES("PROXY TCP6 2001:db8::1 2001:DB8:0::2 4711 587\r\n"), ANY,
	  PROXY_PROTO_DONE, P, "2001:db8::1", "2001:db8::2", 4711, 587, 47, 0 },
	{ "v1 TCP6 v4-mapped", UNIT_BYTES("PROXY TCP6 ::ffff:192.0.2.9 ::1 0 65535\r\n"), ANY,
	  PROXY_PROTO_DONE, P, "192.0.2.9", "::1", 0, 65535, 41, 0 },
	{ "v1 UNKNOWN", UNIT_BYTES("PROXY UNKNOWN\r\nEHLO"), ANY, PROXY_PROTO_DONE, U, "", "", 0, 0,
	  15, 0 },
	{ "v1 UNKNOWN, 107 bytes",
	  UNIT_BYTES("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
	  ANY, PROXY_PROTO_DONE, U, "", "", 0, 0, 107, 0 },
	{ "v1 UNKNOWN and anything", UNIT_BYTES("PROXY UNKNOWN what  ever \r\n"), V1,
	  PROXY_PROTO_DONE, U, "", "", 0, 0, 27, 0 },
	/* --- valid v2 */
	{ "v2 TCP4", UNIT_BYTES(SIG "\x21\x11\x00\x0c" V2_INET), ANY, PROXY_PROTO_DONE, P,
	  "192.0.2.1", "198.51.100.7", 4660, 25, 28, 0 },
	{ "v2 TCP4, TLVs, SMTP after it", UNIT_BYTES(SIG "\x21\x11\x00\x25" V2_INET V2_TLVS "EHLO x\r\n"),
	  V2, PROXY_PROTO_DONE, P, "192.0.2.1", "198.51.100.7", 4660, 25, 53, 3 },
	{ "v2 TCP6", UNIT_BYTES(SIG "\x21\x21\x00\x24" V2_INET6), ANY, PROXY_PROTO_DONE, P,
	  "2001:db8::1", "2001:db8::2", 4711, 587, 52, 0 },
	{ "v2 TCP6 v4-mapped",
	  UNIT_BYTES(SIG "\x21\x21\x00\x24" "\0\0\0\0" "\0\0\0\0" "\0\0\xff\xff" "\xc0\x00\x02\x09"
		     "\0\0\0\0" "\0\0\0\0" "\0\0\0\0" "\0\0\0\x01" "\x00\x01" "\x00\x02"),
	  ANY, PROXY_PROTO_DONE, P, "192.0.2.9", "::1", 1, 2, 52, 0 },
	{ "v2 LOCAL", UNIT_BYTES(SIG "\x20\x00\x00\x00" "QUIT\r\n"), ANY, PROXY_PROTO_DONE, L, "", "",
	  0, 0, 16, 0 },
	{ "v2 LOCAL with addresses and TLVs",
	  UNIT_BYTES(SIG "\x20\x11\x00\x25" V2_INET V2_TLVS), ANY, PROXY_PROTO_DONE, L, "", "", 0, 0,
	  53, 0 },
	{ "v2 LOCAL, its family ignored", UNIT_BYTES(SIG "\x20\xff\x00\x02" "ab"), ANY,
	  PROXY_PROTO_DONE, L, "", "", 0, 0, 18, 0 },
	{ "v2 PROXY UNSPEC", UNIT_BYTES(SIG "\x21\x00\x00\x03" "\x04\x00\x00"), ANY,
	  PROXY_PROTO_DONE, U, "", "", 0, 0, 19, 1 },
	/* --- not a header, or not one this listener takes */
	{ "SMTP at once", UNIT_BYTES("EHLO client.example\r\n"), ANY, ERR(PROXY_PROTO_BAD_SIGNATURE) },
	{ "lower-case proxy", UNIT_BYTES("proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_SIGNATURE) },
	{ "PROXY without its space", UNIT_BYTES("PROXYTCP4\r\n"), ANY, ERR(PROXY_PROTO_BAD_SIGNATURE) },
	{ "v2 signature, last byte wrong", UNIT_BYTES("\r\n\r\n" "\0" "\r\nQUIT\r" "\x21\x11"), ANY,
	  ERR(PROXY_PROTO_BAD_SIGNATURE) },
	{ "TLS hello", UNIT_BYTES("\x16\x03\x01\x00\xa5"), ANY, ERR(PROXY_PROTO_BAD_SIGNATURE) },
	{ "v2 on a v1 listener", UNIT_BYTES(SIG "\x21\x11\x00\x0c" V2_INET), V1,
	  ERR(PROXY_PROTO_NOT_ALLOWED) },
	{ "v1 on a v2 listener", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"), V2,
	  ERR(PROXY_PROTO_NOT_ALLOWED) },
	/* --- short: no verdict yet */
	{ "empty", UNIT_BYTES(""), ANY, ERR(PROXY_PROTO_NEED_MORE) },
	{ "v1 short", UNIT_BYTES("PROXY TCP4 192.0.2.1 19"), ANY, ERR(PROXY_PROTO_NEED_MORE) },
	{ "v1 up to CR", UNIT_BYTES("PROXY UNKNOWN\r"), ANY, ERR(PROXY_PROTO_NEED_MORE) },
	{ "v2 short signature", UNIT_BYTES("\r\n\r\n" "\0"), V2, ERR(PROXY_PROTO_NEED_MORE) },
	{ "v2 short addresses", UNIT_BYTES(SIG "\x21\x11\x00\x0c" "\xc0\x00\x02"), ANY,
	  ERR(PROXY_PROTO_NEED_MORE) },
	{ "v2 short TLVs", UNIT_BYTES(SIG "\x21\x11\x00\x25" V2_INET "\x01\x00\x02"), ANY,
	  ERR(PROXY_PROTO_NEED_MORE) },
	/* --- malformed v1 */
	{ "v1 without CRLF in 107 bytes",
	  UNIT_BYTES("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n"),
	  ANY, ERR(PROXY_PROTO_TOO_LONG) },
	{ "v1 bare LF", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\nEHLO x\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 CR alone", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX"), ANY,
	  ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 NUL", UNIT_BYTES("PROXY TCP4 192.0.2.1\0 192.0.2.2 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 tab", UNIT_BYTES("PROXY TCP4\t192.0.2.1 192.0.2.2 1 2\r\n"), ANY, ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 8-bit byte", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\xc3\xa9\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 two spaces", UNIT_BYTES("PROXY TCP4 192.0.2.1  192.0.2.2 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 trailing space", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 no port", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n"), ANY, ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 a field too many", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 nothing after PROXY", UNIT_BYTES("PROXY \r\n"), ANY, ERR(PROXY_PROTO_BAD_LINE) },
	{ "v1 TCP5", UNIT_BYTES("PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n"), ANY, ERR(PROXY_PROTO_BAD_FAMILY) },
	{ "v1 UDP4", UNIT_BYTES("PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n"), ANY, ERR(PROXY_PROTO_BAD_FAMILY) },
	{ "v1 lower-case tcp4", UNIT_BYTES("PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_FAMILY) },
	{ "v1 UNKNOWNX", UNIT_BYTES("PROXY UNKNOWNX\r\n"), ANY, ERR(PROXY_PROTO_BAD_FAMILY) },
	{ "v1 TCP4 with IPv6", UNIT_BYTES("PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_ADDRESS) },
	{ "v1 TCP6 with IPv4", UNIT_BYTES("PROXY TCP6 192.0.2.1 ::1 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_ADDRESS) },
	{ "v1 octet over 255", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.256 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_ADDRESS) },
	{ "v1 three octets", UNIT_BYTES("PROXY TCP4 192.0.2 192.0.2.2 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_ADDRESS) },
	{ "v1 host name", UNIT_BYTES("PROXY TCP4 mx.example 192.0.2.2 1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_ADDRESS) },
	{ "v1 address too long for a field",
	  UNIT_BYTES("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0 ::1 1 2\r\n"),
	  ANY, ERR(PROXY_PROTO_BAD_ADDRESS) },
	{ "v1 port 65536", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_PORT) },
	{ "v1 port of 6 digits", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 000025\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_PORT) },
	{ "v1 negative port", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_PORT) },
	{ "v1 port too long for a field", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 1 123456789\r\n"),
	  ANY, ERR(PROXY_PROTO_BAD_PORT) },
	{ "v1 hex port", UNIT_BYTES("PROXY TCP4 192.0.2.1 192.0.2.2 0x19 2\r\n"), ANY,
	  ERR(PROXY_PROTO_BAD_PORT) },
	/* --- malformed v2 */
	{ "v2 version 1", UNIT_BYTES(SIG "\x11\x11\x00\x0c" V2_INET), ANY, ERR(PROXY_PROTO_BAD_VERSION) },
	{ "v2 version 3", UNIT_BYTES(SIG "\x31"), ANY, ERR(PROXY_PROTO_BAD_VERSION) },
	{ "v2 command 2", UNIT_BYTES(SIG "\x22\x11\x00\x0c" V2_INET), ANY, ERR(PROXY_PROTO_BAD_COMMAND) },
	{ "v2 command 15", UNIT_BYTES(SIG "\x2f"), ANY, ERR(PROXY_PROTO_BAD_COMMAND) },
	{ "v2 family 4", UNIT_BYTES(SIG "\x21\x41\x00\x0c" V2_INET), ANY, ERR(PROXY_PROTO_BAD_FAMILY) },
	{ "v2 family 15", UNIT_BYTES(SIG "\x21\xf1"), ANY, ERR(PROXY_PROTO_BAD_FAMILY) },
	{ "v2 TCP4 over DGRAM", UNIT_BYTES(SIG "\x21\x12\x00\x0c" V2_INET), ANY,
	  ERR(PROXY_PROTO_BAD_TRANSPORT) },
	{ "v2 TCP4 without transport", UNIT_BYTES(SIG "\x21\x10\x00\x0c" V2_INET), ANY,
	  ERR(PROXY_PROTO_BAD_TRANSPORT) },
	{ "v2 transport 3", UNIT_BYTES(SIG "\x21\x03\x00\x00"), ANY, ERR(PROXY_PROTO_BAD_TRANSPORT) },
	{ "v2 TCP4 in 8 bytes", UNIT_BYTES(SIG "\x21\x11\x00\x08" "\xc0\x00\x02\x01" "\xc6\x33\x64\x07"),
	  ANY, ERR(PROXY_PROTO_BAD_LENGTH) },
	{ "v2 TCP6 in 12 bytes", UNIT_BYTES(SIG "\x21\x21\x00\x0c" V2_INET), ANY,
	  ERR(PROXY_PROTO_BAD_LENGTH) },
	{ "v2 UNIX in 12 bytes", UNIT_BYTES(SIG "\x21\x31\x00\x0c" V2_INET), ANY,
	  ERR(PROXY_PROTO_BAD_LENGTH) },
	{ "v2 length 65535", UNIT_BYTES(SIG "\x21\x11\xff\xff"), ANY, ERR(PROXY_PROTO_TOO_LONG) },
	{ "v2 LOCAL of 65535", UNIT_BYTES(SIG "\x20\x00\xff\xff"), ANY, ERR(PROXY_PROTO_TOO_LONG) },
	{ "v2 TLV past the end", UNIT_BYTES(SIG "\x21\x11\x00\x11" V2_INET "\x01\x00\x05" "h2"), ANY,
	  ERR(PROXY_PROTO_BAD_TLV) },
	{ "v2 half a TLV head", UNIT_BYTES(SIG "\x21\x11\x00\x0e" V2_INET "\x01\x00"), ANY,
	  ERR(PROXY_PROTO_BAD_TLV) },
};

#define ROW_COUNT (sizeof(rows) / sizeof(rows[0]))

static void check_header(const char *row, size_t i, const struct proxy_header *h)
{
	UNIT_CHECK(row, h->kind == rows[i].kind);
	UNIT_CHECK_STR(row, h->src_addr, rows[i].src);
	UNIT_CHECK_STR(row, h->dst_addr, rows[i].dst);
	UNIT_CHECK(row, h->src_port == rows[i].sport && h->dst_port == rows[i].dport);
	UNIT_CHECK(row, h->len == rows[i].len);
	UNIT_CHECK(row, h->tlv_count == rows[i].tlvs);
	UNIT_CHECK(row, h->version == (rows[i].in[0] == 'P' ? 1 : 2));
}

static void test_rows(void)
{
	for (size_t i = 0; i < ROW_COUNT; i++) {
		const char *row = rows[i].name;
		struct proxy_header h;
		int rc = proxy_proto_parse((const unsigned char *)rows[i].in, rows[i].in_len,
					   rows[i].allow, &h);
		if (!UNIT_CHECK(row, rc == rows[i].rc))
			printf("    got %s, expected %s\n", proxy_proto_status_name(rc),
			       proxy_proto_status_name(rows[i].rc));
		else if (rc == PROXY_PROTO_DONE)
			check_header(row, i, &h);
	}
}

/* Every prefix of every row: no verdict yet, or the row's own. */
static void test_prefixes(void)
{
	for (size_t i = 0; i < ROW_COUNT; i++) {
		const char *row = rows[i].name;
		for (size_t k = 0; k < rows[i].in_len; k++) {
			struct proxy_header h;
			int rc = proxy_proto_parse((const unsigned char *)rows[i].in, k,
						   rows[i].allow, &h);
			if (!UNIT_CHECK(row, rc == PROXY_PROTO_NEED_MORE || rc == rows[i].rc)) {
				printf("    prefix of %zu bytes: %s\n", k, proxy_proto_status_name(rc));
				break;
			}
			if (rc == PROXY_PROTO_NEED_MORE)
				UNIT_CHECK(row, k < PROXY_MAX_BYTES);
			if (rc == PROXY_PROTO_DONE)
				check_header(row, i, &h);
		}
	}
}

/* v2 at exactly our bound, and one byte over; v1 at 107 bytes. */
static void test_bounds(void)
{
	unsigned char buf[PROXY_V2_MAX_BYTES + 1];
	struct proxy_header h;
	size_t body = PROXY_V2_MAX_BYTES - PROXY_V2_FIXED_BYTES;
	memcpy(buf, SIG "\x21\x11", 14);
	buf[14] = (unsigned char)(body >> 8);
	buf[15] = (unsigned char)body;
	memcpy(buf + 16, V2_INET, 12);
	size_t value = body - 12 - 3; /* one TLV fills the rest */
	buf[28] = 0xee;
	buf[29] = (unsigned char)(value >> 8);
	buf[30] = (unsigned char)value;
	memset(buf + 31, 'x', value);
	int rc = proxy_proto_parse(buf, PROXY_V2_MAX_BYTES, ANY, &h);
	UNIT_CHECK("v2 at the bound", rc == PROXY_PROTO_DONE && h.len == PROXY_V2_MAX_BYTES &&
					       h.tlv_count == 1);
	UNIT_CHECK("v2 at the bound, one short",
		   proxy_proto_parse(buf, PROXY_V2_MAX_BYTES - 1, ANY, &h) == PROXY_PROTO_NEED_MORE);
	body++;
	buf[14] = (unsigned char)(body >> 8);
	buf[15] = (unsigned char)body;
	UNIT_CHECK("v2 a byte over the bound",
		   proxy_proto_parse(buf, 16, ANY, &h) == PROXY_PROTO_TOO_LONG);
	UNIT_CHECK_STR("names", proxy_proto_status_name(PROXY_PROTO_BAD_TLV), "bad-tlv");
	UNIT_CHECK_STR("names", proxy_proto_status_name(99), "unknown");
}

/* The bytes of a socketpair's other end after a read: what is left. */
static size_t drain(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;
	while (n < size && (r = recv(fd, buf + n, size - n, MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	return n;
}

static const struct {
	const char *name;
	const char *in;
	size_t in_len;
	size_t split;      /* 0: one write; else the first piece, the rest later */
	int close_after;   /* shut the writing side after the bytes */
	int rc;
	const char *rest;  /* what the session is left to read */
} read_rows[] = {
	{ "header and SMTP in one segment",
	  UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 1 25\r\nEHLO x\r\n"), 0, 0,
	  PROXY_PROTO_DONE, "EHLO x\r\n" },
	{ "v2 with TLVs and SMTP in one segment",
	  UNIT_BYTES(SIG "\x21\x11\x00\x25" V2_INET V2_TLVS "EHLO x\r\n"), 0, 0, PROXY_PROTO_DONE,
	  "EHLO x\r\n" },
	{ "v1 split before CRLF", UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 1 25\r\nQUIT\r\n"),
	  20, 0, PROXY_PROTO_DONE, "QUIT\r\n" },
	{ "v1 split between CR and LF",
	  UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 1 25\r\nQUIT\r\n"), 39, 0,
	  PROXY_PROTO_DONE, "QUIT\r\n" },
	{ "v2 split in the signature", UNIT_BYTES(SIG "\x21\x11\x00\x0c" V2_INET "QUIT\r\n"), 5, 0,
	  PROXY_PROTO_DONE, "QUIT\r\n" },
	{ "v2 split in a TLV", UNIT_BYTES(SIG "\x21\x11\x00\x25" V2_INET V2_TLVS "QUIT\r\n"), 31, 0,
	  PROXY_PROTO_DONE, "QUIT\r\n" },
	{ "SMTP at once", UNIT_BYTES("EHLO x\r\n"), 0, 0, PROXY_PROTO_BAD_SIGNATURE, NULL },
	{ "closed before a byte", UNIT_BYTES(""), 0, 1, CONN_EOF, NULL },
	{ "closed mid-header", UNIT_BYTES("PROXY TCP4 192.0.2.1"), 0, 1, CONN_EOF, NULL },
	{ "silence", UNIT_BYTES(""), 0, 0, CONN_TIMEOUT, NULL },
	{ "half a header, then silence", UNIT_BYTES(SIG "\x21\x11"), 0, 0, CONN_TIMEOUT, NULL },
};

/* Write a row's bytes into fd: all at once, or in two pieces from a
   child (so the reader sees the first alone, whatever the timing). */
static pid_t feed(int fd, size_t i)
{
	if (read_rows[i].split == 0) {
		if (read_rows[i].in_len)
			UNIT_CHECK(read_rows[i].name, write(fd, read_rows[i].in, read_rows[i].in_len) ==
							      (ssize_t)read_rows[i].in_len);
		if (read_rows[i].close_after)
			shutdown(fd, SHUT_WR);
		return 0;
	}
	pid_t pid = fork();
	if (pid == 0) {
		size_t first = read_rows[i].split;
		int ok = write(fd, read_rows[i].in, first) == (ssize_t)first;
		usleep(50 * 1000); /* the reader gets the first piece alone, most runs */
		ok = ok && write(fd, read_rows[i].in + first, read_rows[i].in_len - first) ==
				   (ssize_t)(read_rows[i].in_len - first);
		_exit(ok ? 0 : 1);
	}
	return pid;
}

static void test_read(void)
{
	for (size_t i = 0; i < sizeof(read_rows) / sizeof(read_rows[0]); i++) {
		const char *row = read_rows[i].name;
		int sv[2];
		struct proxy_header h;
		char rest[256];
		if (!UNIT_CHECK(row, socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0))
			return;
		pid_t pid = feed(sv[1], i);
		int timeout_ms = read_rows[i].rc == CONN_TIMEOUT ? 100 : 10000;
		int rc = proxy_accept_read(sv[0], ANY, timeout_ms, NULL, NULL, &h);
		if (pid > 0) {
			int status = -1;
			waitpid(pid, &status, 0);
			UNIT_CHECK(row, status == 0);
		}
		if (!UNIT_CHECK(row, rc == read_rows[i].rc))
			printf("    got %d (%s)\n", rc, proxy_proto_status_name(rc));
		if (read_rows[i].rest) {
			size_t n = drain(sv[0], rest, sizeof(rest));
			UNIT_CHECK_BYTES(row, rest, n, read_rows[i].rest, strlen(read_rows[i].rest));
		}
		close(sv[0]);
		close(sv[1]);
	}
}

/* proxy_accept_header(): the trust check, then the peer the session
   gets (from a listener of v1 and v2 trusting 127.0.0.0/8 and ::1). */
static const struct {
	const char *name;
	const char *from;   /* the connecting address */
	const char *in;
	size_t in_len;
	int rc;
	const char *addr, *local, *via, *proxy;
	unsigned int port;
} accept_rows[] = {
	{ "v1 from a trusted balancer", "127.0.0.1",
	  UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 4711 25\r\n"), 0, "192.0.2.1",
	  "198.51.100.7", "127.0.0.1", "v1", 4711 },
	{ "v2 TCP6", "::1", UNIT_BYTES(SIG "\x21\x21\x00\x24" V2_INET6), 0, "2001:db8::1",
	  "2001:db8::2", "::1", "v2", 4711 },
	{ "v2 LOCAL: the balancer is the peer", "127.0.0.1", UNIT_BYTES(SIG "\x20\x00\x00\x00"), 0,
	  "127.0.0.1", "127.0.0.1", "127.0.0.1", "local", 40000 },
	{ "v1 UNKNOWN", "127.0.0.1", UNIT_BYTES("PROXY UNKNOWN\r\n"), 0, "127.0.0.1", "127.0.0.1",
	  "127.0.0.1", "unknown", 40000 },
	{ "untrusted", "192.0.2.99", UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 4711 25\r\n"), -1,
	  "192.0.2.99", "127.0.0.1", "", NULL, 40000 },
	{ "malformed", "127.0.0.1", UNIT_BYTES("PROXY TCP4 192.0.2.1 198.51.100.7 4711\r\n"), -1,
	  "127.0.0.1", "127.0.0.1", "", NULL, 40000 },
};

static void test_accept(void)
{
	struct listener_config l;
	struct addr_net nets[2];
	const char *why;
	memset(&l, 0, sizeof(l));
	l.name = "unit";
	l.proxy_protocol = ANY;
	l.proxy_timeout_sec = 10;
	addr_net_parse("127.0.0.0/8", &nets[0], &why);
	addr_net_parse("::1", &nets[1], &why);
	l.proxy_trusted.nets = nets;
	l.proxy_trusted.count = 2;
	unit_log_quiet();
	for (size_t i = 0; i < sizeof(accept_rows) / sizeof(accept_rows[0]); i++) {
		const char *row = accept_rows[i].name;
		struct session_peer peer;
		int sv[2];
		memset(&peer, 0, sizeof(peer));
		snprintf(peer.addr, sizeof(peer.addr), "%s", accept_rows[i].from);
		peer.port = 40000;
		snprintf(peer.local_addr, sizeof(peer.local_addr), "127.0.0.1");
		if (!UNIT_CHECK(row, socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0))
			break;
		UNIT_CHECK(row, write(sv[1], accept_rows[i].in, accept_rows[i].in_len) ==
					(ssize_t)accept_rows[i].in_len);
		UNIT_CHECK(row, proxy_accept_header(&l, sv[0], NULL, NULL, "s1", &peer) ==
					accept_rows[i].rc);
		UNIT_CHECK_STR(row, peer.addr, accept_rows[i].addr);
		UNIT_CHECK(row, peer.port == accept_rows[i].port);
		UNIT_CHECK_STR(row, peer.local_addr, accept_rows[i].local);
		UNIT_CHECK_STR(row, peer.via_addr, accept_rows[i].via);
		UNIT_CHECK_STR(row, peer.proxy, accept_rows[i].proxy);
		close(sv[0]);
		close(sv[1]);
	}
	/* Off: nothing read, nothing changed. */
	struct session_peer peer = { .addr = "192.0.2.99", .port = 1 };
	l.proxy_protocol = PROXY_PROTO_OFF;
	UNIT_CHECK("off", proxy_accept_header(&l, -1, NULL, NULL, "s2", &peer) == 0 &&
				  peer.proxy == NULL && strcmp(peer.addr, "192.0.2.99") == 0);
	unit_log_restore();
}

int test_proxy_proto_register(void)
{
	CU_pSuite s = CU_add_suite("proxy_proto", NULL, NULL);
	if (!s || !CU_add_test(s, "headers, valid and malformed", test_rows) ||
	    !CU_add_test(s, "every prefix of every header", test_prefixes) ||
	    !CU_add_test(s, "the length bounds", test_bounds) ||
	    !CU_add_test(s, "reading exactly the header from a socket", test_read) ||
	    !CU_add_test(s, "trust and the session's peer", test_accept))
		return -1;
	return 0;
}
