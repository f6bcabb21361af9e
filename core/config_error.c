/*
 * config_error.c - the format of every configuration error: one record of
 * key=value fields naming the file, the line and the setting, as the
 * daemon's other log lines are written.  Used by the config loader, the
 * file limits, the master's binding and its user lookup, so an error reads
 * the same at -t, at the start and at a reload.  It never logs by itself:
 * callers decide where the record goes.
 */
#include "config_error.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Append key=value to out (at *used), the value quoted as log_quote()
   does, so that a record keeps exactly the fields written. */
void config_error_field(char *out, size_t size, size_t *used, const char *key, const char *value)
{
	char quoted[CONFIG_ERROR_MAX_BYTES];
	size_t n = *used;
	if (n >= size)
		return;
	n += (size_t)snprintf(out + n, size - n, "%s%s=%s", n ? " " : "", key,
			      log_quote(quoted, sizeof(quoted), value));
	*used = n < size ? n : size - 1;
}

int config_error_format(char *out, size_t size, const char *source, int line,
			const char *setting, const char *fmt, ...)
{
	char msg[CONFIG_ERROR_MAX_BYTES], num[16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t used = 0;
	if (size == 0)
		return -1;
	out[0] = '\0';
	config_error_field(out, size, &used, "file", source);
	snprintf(num, sizeof(num), "%d", line);
	if (line > 0)
		config_error_field(out, size, &used, "line", num);
	if (setting)
		config_error_field(out, size, &used, "setting", setting);
	config_error_field(out, size, &used, "error", msg);
	return -1;
}
