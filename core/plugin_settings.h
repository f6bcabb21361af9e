/* plugin_settings.h - a plugin's declared settings against its group. */
#ifndef SMTPGATE_PLUGIN_SETTINGS_H
#define SMTPGATE_PLUGIN_SETTINGS_H

#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>

#include "smtpgate/plugin.h"

/* Where a group comes from, for the error: the config's source (used
   when libconfig knows no file), the group's name, the plugin's name. */
struct plugin_settings_where {
	const char *source;
	const char *group_name;
	const char *plugin_name;
};

/* Every member of group declared in table, of its type, within its
   range.  0 (also when table or group is NULL), or -1 with one record
   in err: file, line, setting GROUP.NAME and what is wrong (an unknown
   name with the closest declared one as a hint). */
int plugin_settings_check(const struct smtpgate_setting *table, const config_setting_t *group,
			  const struct plugin_settings_where *w, char *err, size_t err_size);
/* The table itself: names non-empty, unique and short, known types,
   ranges only on integers and min <= max.  0, or -1 with err. */
int plugin_settings_check_table(const struct smtpgate_setting *table, char *err, size_t err_size);
/* The declared name closest to name when it looks like a typo of it;
   NULL when none is close. */
const char *plugin_settings_closest(const struct smtpgate_setting *table, const char *name);
/* The row named name; NULL if none. */
const struct smtpgate_setting *plugin_settings_find(const struct smtpgate_setting *table,
						    const char *name);
/* For -t -v: one line per declared setting, "  GROUP.NAME = VALUE", the
   default marked, the description after "#". */
void plugin_settings_print(const struct smtpgate_setting *table, const config_setting_t *group,
			   const char *group_name, FILE *out);

#endif
