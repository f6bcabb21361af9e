/*
 * addr.c - address specs as smtpd.py's command line and our config write
 * them: "host:port", "[v6addr]:port", ":port" (every address).  Pure but
 * for getaddrinfo().
 */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
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
