/* addr.h - "host:port" and "[v6addr]:port" specs, and their resolution. */
#ifndef SMTPGATE_ADDR_H
#define SMTPGATE_ADDR_H

#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>

struct hostport {
	char host[256]; /* "" means every local address */
	char port[8];
};

/* Split a spec; 0, or -1 with *why_out saying what is wrong. */
int addr_split(const char *spec, struct hostport *out, const char **why_out);

/* Every address a listener spec names (host names give one per family);
   freeaddrinfo() the result.  0, or -1 with *why_out. */
int addr_resolve_listen(const struct hostport *hp, struct addrinfo **res_out,
			const char **why_out);

/* Numeric text of a socket address and its port. */
void addr_to_text(const struct sockaddr *sa, char *host, size_t host_size,
		  unsigned int *port_out);

/* A network: an IPv4 or IPv6 address and a prefix length. */
struct addr_net {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char bytes[16]; /* 4 used for AF_INET; bits past prefix are 0 */
	unsigned int prefix;     /* 0..32 or 0..128 */
};

/* "a.b.c.d", "a.b.c.d/n", "v6addr" or "v6addr/n" (no brackets); a host
   address is a /32 or /128.  0, or -1 with *why_out. */
int addr_net_parse(const char *text, struct addr_net *out, const char **why_out);

/* 1 if the numeric address text (as addr_to_text writes it) lies in one
   of the n networks. */
int addr_net_list_contains(const struct addr_net *nets, size_t n, const char *addr);

#endif
