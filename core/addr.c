/*
 * addr.c - address specs as smtpd.py's command line and our config write
 * them: "host:port", "[v6addr]:port", ":port" (every address); and
 * networks in CIDR notation, with the test whether an address is in one
 * (client_limit_exceptions).  Pure but for getaddrinfo(); never resolves
 * a name where a number is expected.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int addr_split(const char *spec, struct hostport *out, const char **why_out)
{
	const char *host = spec, *host_end, *port;
	memset(out, 0, sizeof(*out));
	if (*spec == '[') {
		host = spec + 1;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':') {
			*why_out = "expected [address]:port";
			return -1;
		}
		port = host_end + 2;
	} else {
		host_end = strrchr(spec, ':');
		if (!host_end) {
			*why_out = "expected host:port";
			return -1;
		}
		if (memchr(spec, ':', (size_t)(host_end - spec))) {
			*why_out = "an IPv6 address needs brackets: [address]:port";
			return -1;
		}
		port = host_end + 1;
	}
	size_t hlen = (size_t)(host_end - host);
	if (hlen >= sizeof(out->host)) {
		*why_out = "host name too long";
		return -1;
	}
	size_t plen = strlen(port);
	if (plen == 0 || plen >= sizeof(out->port)) {
		*why_out = "bad port";
		return -1;
	}
	long value = 0;
	for (const char *p = port; *p; p++) {
		if (!isdigit((unsigned char)*p)) {
			*why_out = "port is not a number";
			return -1;
		}
		value = value * 10 + (*p - '0');
		if (value > 65535)
			break;
	}
	if (value < 1 || value > 65535) {
		*why_out = "port out of range 1..65535";
		return -1;
	}
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	memcpy(out->port, port, plen + 1);
	return 0;
}

int addr_resolve_listen(const struct hostport *hp, struct addrinfo **res_out,
			const char **why_out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	int rc = getaddrinfo(hp->host[0] ? hp->host : NULL, hp->port, &hints, res_out);
	if (rc != 0) {
		*why_out = gai_strerror(rc);
		return -1;
	}
	return 0;
}

void addr_to_text(const struct sockaddr *sa, char *host, size_t host_size,
		  unsigned int *port_out)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		/* A v4 client on a dual-stack socket shows as the plain v4 address. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, (socklen_t)host_size);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, (socklen_t)host_size);
		*port_out = ntohs(s6->sin6_port);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, (socklen_t)host_size);
		*port_out = ntohs(s4->sin_port);
	} else {
		snprintf(host, host_size, "unknown");
		*port_out = 0;
	}
}

int addr_net_parse(const char *text, struct addr_net *out, const char **why_out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why_out = "expected an address or address/prefix";
		return -1;
	}
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	out->family = strchr(host, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, host, out->bytes) != 1) {
		*why_out = out->family == AF_INET6 ? "not an IPv6 address" : "not an IPv4 address";
		return -1;
	}
	unsigned int max = out->family == AF_INET ? 32 : 128;
	out->prefix = max;
	if (slash) {
		char *end;
		unsigned long v = strtoul(slash + 1, &end, 10);
		if (!isdigit((unsigned char)slash[1]) || *end || v > max) {
			*why_out = out->family == AF_INET ? "prefix length is not 0..32"
							  : "prefix length is not 0..128";
			return -1;
		}
		out->prefix = (unsigned int)v;
	}
	/* Bits past the prefix are cleared, so 10.1.2.3/8 means 10.0.0.0/8
	   as Postfix's mynetworks reads it. */
	for (unsigned int bit = out->prefix; bit < max; bit++)
		out->bytes[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 0;
}

/* Whether the first prefix bits of a and b are equal. */
static int same_prefix(const unsigned char *a, const unsigned char *b, unsigned int prefix)
{
	unsigned int whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff00u >> rest);
	return (a[whole] & mask) == (b[whole] & mask);
}

int addr_net_list_contains(const struct addr_net *nets, size_t n, const char *addr)
{
	unsigned char bytes[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, addr, bytes) != 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (nets[i].family == family && same_prefix(nets[i].bytes, bytes, nets[i].prefix))
			return 1;
	return 0;
}
