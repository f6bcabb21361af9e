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

#endif
