/* config_error.h - a config error as one key=value log record. */
#ifndef SMTPGATE_CONFIG_ERROR_H
#define SMTPGATE_CONFIG_ERROR_H

#include <stddef.h>

#define CONFIG_ERROR_MAX_BYTES 1024 /* one error record */

/* Append " key=value" (no space when *used is 0) to out at *used, the
   value quoted with backslash escapes when it holds a space, a quote, a
   backslash, '=' or a byte outside printable ASCII, or is empty. */
void config_error_field(char *out, size_t size, size_t *used, const char *key, const char *value);

/* A config error as one log record of key=value fields:
   `file=SOURCE line=N setting=NAME error="message"` (line left out when
   0, setting when NULL).  Returns -1, so callers can return it. */
int config_error_format(char *out, size_t size, const char *source, int line,
			const char *setting, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

#endif
