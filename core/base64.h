/* base64.h - RFC 4648 base64, strict, for AUTH's exchanges (RFC 4954). */
#ifndef SMTPGATE_BASE64_H
#define SMTPGATE_BASE64_H

#include <stddef.h>

/* Room for the decoding of len characters / the encoding of len bytes,
   the terminating NUL included. */
#define BASE64_DECODED_MAX(len) ((len) / 4 * 3 + 1)
#define BASE64_ENCODED_MAX(len) (((len) + 2) / 3 * 4 + 1)

/* Decode in[0..len) into out (NUL-terminated, for convenience: the
   bytes may hold NULs, *out_len counts them).  Strict: a length that is
   a multiple of 4, only the alphabet, padding only at the end, no
   whitespace.  0, or -1 (out then holds nothing meaningful). */
int base64_decode(const char *in, size_t len, unsigned char *out, size_t out_size,
		  size_t *out_len);

/* Encode len bytes into out (NUL-terminated); -1 if out is too small. */
int base64_encode(const unsigned char *in, size_t len, char *out, size_t out_size);

#endif
