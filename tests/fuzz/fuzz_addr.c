/*
 * fuzz_addr.c - libFuzzer target: the address specs of the command line
 * and the config ("host:port", "[v6]:port", ":port") through addr_split(),
 * and socket addresses made of input bytes through addr_to_text(), the
 * text every session log line and plugin sees as the peer.
 *
 * Beyond "no crash" it checks: a split spec gives a NUL-terminated host
 * and a port of 1 to 65535 in decimal digits, a host with ':' only from
 * brackets, and the spec written back splits the same; a refused spec says
 * why.  A socket address comes out as text inet_pton reads back to the same
 * address (a v4-mapped one as plain v4), in the 64 bytes callers give it.
 * Never aborts but on a broken invariant; resolves nothing (no
 * addr_resolve_listen: it asks DNS).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define FUZZ_SPEC_MAX_BYTES 512  /* run.sh's -max_len for this target */
#define FUZZ_HOST_TEXT_BYTES 64  /* struct session_peer's addr, master.c's host */

static void check(int ok, const char *what);
static void check_split(const char *spec);
static void check_to_text(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a crash libFuzzer reports with its input. */
static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_addr: invariant broken: %s\n", what);
		abort();
	}
}

/* A spec as the config hands it over: a C string. */
static void check_split(const char *spec)
{
	struct hostport hp, again;
	const char *why = NULL;
	if (addr_split(spec, &hp, &why) < 0) {
		check(why != NULL && why[0] != '\0', "a refused spec says why");
		return;
	}
	size_t hlen = strnlen(hp.host, sizeof(hp.host));
	size_t plen = strnlen(hp.port, sizeof(hp.port));
	check(hlen < sizeof(hp.host) && plen < sizeof(hp.port), "host and port are NUL-terminated");
	check(plen > 0 && strspn(hp.port, "0123456789") == plen, "the port is decimal digits");
	long port = strtol(hp.port, NULL, 10);
	check(port >= 1 && port <= 65535, "the port is 1 to 65535");
	int bracketed = spec[0] == '[';
	check(bracketed || !strchr(hp.host, ':'), "a host with ':' only inside brackets");
	char text[sizeof(hp.host) + sizeof(hp.port) + 4];
	snprintf(text, sizeof(text), bracketed ? "[%s]:%s" : "%s:%s", hp.host, hp.port);
	check(addr_split(text, &again, &why) == 0 && strcmp(again.host, hp.host) == 0 &&
		      strcmp(again.port, hp.port) == 0,
	      "a spec written back splits the same");
}

/* An IPv4 or IPv6 socket address of input bytes, as accept() gives it. */
static void check_to_text(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	char host[FUZZ_HOST_TEXT_BYTES];
	unsigned int port = 0;
	unsigned char want[16], got[16];
	memset(&ss, 0, sizeof(ss));
	memset(host, 0x55, sizeof(host));
	if (size >= 1 + 2 + 16 && (data[0] & 1)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_port, data + 1, 2);
		memcpy(&s6->sin6_addr, data + 3, 16);
		addr_to_text((struct sockaddr *)&ss, host, sizeof(host), &port);
		check(port == ntohs(s6->sin6_port), "the port is the address's");
		check(memchr(host, '\0', sizeof(host)) != NULL, "the text is NUL-terminated");
		int mapped = IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
		memcpy(want, mapped ? s6->sin6_addr.s6_addr + 12 : s6->sin6_addr.s6_addr,
		       mapped ? 4 : 16);
		check(inet_pton(mapped ? AF_INET : AF_INET6, host, got) == 1 &&
			      memcmp(got, want, mapped ? 4 : 16) == 0,
		      "the text reads back as the address");
	} else if (size >= 1 + 2 + 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_port, data + 1, 2);
		memcpy(&s4->sin_addr, data + 3, 4);
		addr_to_text((struct sockaddr *)&ss, host, sizeof(host), &port);
		check(port == ntohs(s4->sin_port), "the port is the address's");
		check(memchr(host, '\0', sizeof(host)) != NULL, "the text is NUL-terminated");
		check(inet_pton(AF_INET, host, got) == 1 && memcmp(got, &s4->sin_addr, 4) == 0,
		      "the text reads back as the address");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char spec[FUZZ_SPEC_MAX_BYTES + 1];
	if (size > FUZZ_SPEC_MAX_BYTES)
		return 0;
	/* A config string ends at its first NUL, as the input does here. */
	memcpy(spec, data, size);
	spec[size] = '\0';
	check_split(spec);
	check_to_text(data, size);
	return 0;
}
