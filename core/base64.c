/*
 * base64.c - base64 (RFC 4648 section 4) as AUTH needs it: a strict
 * decoder, so that a malformed client response is refused (501 5.5.2)
 * rather than half-decoded, and an encoder for the challenges and for
 * Dovecot's resp= parameter.  Pure: no I/O, no allocation, never reads
 * past the length it is given.
 */
#include "base64.h"

static int value_of(unsigned char c);

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A character's 6 bits, or -1 when it is not in the alphabet. */
static int value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *in, size_t len, unsigned char *out, size_t out_size,
		  size_t *out_len)
{
	size_t n = 0;
	if (len % 4 != 0 || out_size < BASE64_DECODED_MAX(len))
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			/* '=' only in the last quantum's last two places, and
			   nothing but '=' after the first one. */
			if (c == '=' && i + 4 == len && k >= 2) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad || (v[k] = value_of(c)) < 0)
				return -1;
		}
		unsigned long q = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
				  (unsigned long)v[2] << 6 | (unsigned long)v[3];
		/* Bits under the padding must be zero (RFC 4648 3.5): one
		   text for one byte string. */
		if ((pad == 2 && (q & 0xffff)) || (pad == 1 && (q & 0xff)))
			return -1;
		out[n++] = (unsigned char)(q >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(q >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)q;
	}
	out[n] = '\0';
	*out_len = n;
	return 0;
}

int base64_encode(const unsigned char *in, size_t len, char *out, size_t out_size)
{
	size_t n = 0;
	if (out_size < BASE64_ENCODED_MAX(len))
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		unsigned long q = (unsigned long)in[i] << 16;
		if (i + 1 < len)
			q |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < len)
			q |= in[i + 2];
		out[n++] = alphabet[q >> 18 & 63];
		out[n++] = alphabet[q >> 12 & 63];
		out[n++] = i + 1 < len ? alphabet[q >> 6 & 63] : '=';
		out[n++] = i + 2 < len ? alphabet[q & 63] : '=';
	}
	out[n] = '\0';
	return 0;
}
