/* config_limits.h - a config file's size and line lengths, checked
   before libconfig reads it (its parse time grows with the square of a
   line's length). */
#ifndef SMTPGATE_CONFIG_LIMITS_H
#define SMTPGATE_CONFIG_LIMITS_H

#include <stddef.h>

#define CONFIG_FILE_MAX_BYTES (16L * 1024 * 1024) /* a file, and each @include */
#define CONFIG_LINE_MAX_BYTES (64L * 1024)        /* a line, its LF not counted */
#define CONFIG_INCLUDE_MAX_DEPTH 10               /* libconfig's own limit */

/* Check path and every file it @includes, as libconfig would open them.
   0, or -1 with a config error (file, line) in err. */
int config_limits_check(const char *path, char *err, size_t err_size);

#endif
