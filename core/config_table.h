/* config_table.h - the settings as tables, one row per setting, and the
   loader that reads a libconfig group through them (for config.c). */
#ifndef SMTPGATE_CONFIG_TABLE_H
#define SMTPGATE_CONFIG_TABLE_H

#include <stddef.h>

#include "config.h"

/* A load in progress: the config being filled, where its error goes. */
struct config_loader {
	struct config *cfg;
	char *err;
	size_t err_size;
};

/* The error about setting name of group s (or about s itself, name NULL)
   into the loader's buffer, at the setting's line; returns -1. */
int config_table_fail(struct config_loader *ld, const config_setting_t *s, const char *name,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The global settings of the root group into ld->cfg: unknown names
   refused (but "listeners"), defaults, types and ranges.  0 or -1. */
int config_table_load_global(struct config_loader *ld);

/* A listener's settings of group s into l, the same way; and the check
   that s names nothing but them and the handler's group extra. */
int config_table_load_listener(struct config_loader *ld, const config_setting_t *s,
			       struct listener_config *l);
int config_table_check_listener_known(struct config_loader *ld, const config_setting_t *s,
				      const char *extra);

/* A string or a list of at most max of them, member name of group g,
   into out (count 0 when absent): 0, or -1 after the error. */
int config_table_strings(struct config_loader *ld, const config_setting_t *g, const char *name,
			 int max, struct config_strings *out);

/* Every listener setting as name=value fields into out (-t lists them):
   the values in effect, defaults included. */
void config_table_describe_listener(const struct listener_config *l, char *out, size_t size);

#endif
