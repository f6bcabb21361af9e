/* proxy_proto.h - pure parsing of a PROXY protocol header (HAProxy's
   proxy-protocol.txt, versions 1 and 2) from the first bytes of a
   connection. */
#ifndef SMTPGATE_PROXY_PROTO_H
#define SMTPGATE_PROXY_PROTO_H

#include <stddef.h>

/* v1: "PROXY TCP6 <39> <39> 65535 65535\r\n" is the longest line. */
#define PROXY_V1_MAX_BYTES 107
/* v2: the signature, version/command, family and the length... */
#define PROXY_V2_FIXED_BYTES 16
/* ... then the addresses and TLVs: our bound on the whole header (the
   format allows 65551 bytes; a balancer's TLVs take a few hundred). */
#define PROXY_V2_MAX_BYTES 1024
/* Room for any header we take. */
#define PROXY_MAX_BYTES PROXY_V2_MAX_BYTES
/* An address as text, NUL included (INET6_ADDRSTRLEN). */
#define PROXY_ADDR_TEXT_BYTES 46

/* The versions a listener takes (proxy_protocol): a bit each. */
enum proxy_proto_versions {
	PROXY_PROTO_OFF = 0,
	PROXY_PROTO_V1 = 1,
	PROXY_PROTO_V2 = 2,
	PROXY_PROTO_ANY = 3
};

/* What proxy_proto_parse() found in the bytes so far. */
enum proxy_proto_status {
	PROXY_PROTO_DONE = 0,     /* a whole header, of header->len bytes */
	PROXY_PROTO_NEED_MORE,    /* a header's beginning, every byte of it */
	PROXY_PROTO_BAD_SIGNATURE, /* neither "PROXY " nor v2's signature */
	PROXY_PROTO_NOT_ALLOWED,  /* a version the listener does not take */
	PROXY_PROTO_TOO_LONG,     /* v1 without CRLF in 107 bytes; v2 over our bound */
	PROXY_PROTO_BAD_LINE,     /* v1: not single-spaced printable ASCII ending in CRLF */
	PROXY_PROTO_BAD_FAMILY,   /* v1: not TCP4, TCP6, UNKNOWN; v2: family over 3 */
	PROXY_PROTO_BAD_ADDRESS,  /* not an address of the family */
	PROXY_PROTO_BAD_PORT,     /* v1: not 1 to 5 digits up to 65535 */
	PROXY_PROTO_BAD_VERSION,  /* v2: version other than 2 */
	PROXY_PROTO_BAD_COMMAND,  /* v2: command other than LOCAL or PROXY */
	PROXY_PROTO_BAD_TRANSPORT, /* v2: an IP family not over STREAM */
	PROXY_PROTO_BAD_LENGTH,   /* v2: shorter than the family's addresses */
	PROXY_PROTO_BAD_TLV,      /* v2: a TLV running past the header's end */
	PROXY_PROTO_STATUS_COUNT
};

/* What the header says about the connection. */
enum proxy_proto_kind {
	PROXY_KIND_PROXY,   /* relayed for a client: its addresses follow */
	PROXY_KIND_LOCAL,   /* v2 LOCAL: the balancer's own (a health check) */
	PROXY_KIND_UNKNOWN  /* v1 UNKNOWN, v2 PROXY with UNSPEC or UNIX family */
};

struct proxy_header {
	int version;                  /* 1 or 2 */
	enum proxy_proto_kind kind;
	int family;                   /* AF_INET or AF_INET6 for PROXY; else AF_UNSPEC */
	/* PROXY only ("" and 0 otherwise): numeric text as addr_to_text()
	   writes it (a v4-mapped IPv6 address as plain IPv4). */
	char src_addr[PROXY_ADDR_TEXT_BYTES];
	char dst_addr[PROXY_ADDR_TEXT_BYTES];
	unsigned int src_port, dst_port;
	size_t tlv_count;             /* v2: the TLVs skipped */
	size_t len;                   /* the header's bytes, CRLF or TLVs included */
};

/*
 * The header at the start of p[0..len), taking the versions in allow (a
 * set of enum proxy_proto_versions).  PROXY_PROTO_DONE fills *out; what
 * follows out->len is not the header's and is never looked at.
 * PROXY_PROTO_NEED_MORE: no verdict yet, and every byte of p[0..len)
 * belongs to the header if there is one (a reader may consume them all);
 * len is then below PROXY_MAX_BYTES.  Every other status is final: a
 * longer run of the same bytes gives NEED_MORE again or the same verdict
 * (and the same header), so reading in pieces changes nothing.
 */
int proxy_proto_parse(const unsigned char *p, size_t len, unsigned int allow,
		      struct proxy_header *out);

/* A status's name for log lines ("bad-signature", ...). */
const char *proxy_proto_status_name(int status);

/* "v1", "v2", "local" or "unknown": how a header relayed a connection. */
const char *proxy_proto_kind_name(const struct proxy_header *h);

#endif
