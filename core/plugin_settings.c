/*
 * plugin_settings.c - a plugin's declared settings (the descriptor's
 * `settings` table, ABI 1.1) against the listener's group for it: every
 * name must be in the table (a misspelling gets the closest known name as
 * a hint), every value of the declared type and within the declared
 * range.  Also the table's own sanity, for the loader, and the listing of
 * effective values that `smtpgate -t -v` prints.
 *
 * The checks run where a plugin's init runs (host_plugin_init): at -t, at
 * the start and at a reload, and again in each worker, so no plugin code
 * ever sees a group the core refused.  A plugin without a table is not
 * checked at all, as in ABI 1.0.  This module never runs plugin code and
 * never logs: callers decide where an error goes.
 */
#include "plugin_settings.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_error.h"

#define SETTING_NAME_MAX_BYTES 64 /* a longer name is no setting anyone declares */

static size_t edit_distance(const char *a, const char *b);
static const char *type_text(enum smtpgate_setting_type type);
static int type_matches(const config_setting_t *m, enum smtpgate_setting_type type);
static int fail(char *err, size_t err_size, const char *source, const config_setting_t *m,
		const char *group_name, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int check_member(const struct smtpgate_setting *table, const config_setting_t *m,
			const struct plugin_settings_where *w, char *err, size_t err_size);
static void value_text(const config_setting_t *m, char *out, size_t size);

/* Levenshtein distance between two short names (longer ones count as
   far from everything: they get no hint). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[SETTING_NAME_MAX_BYTES + 1];
	if (la > SETTING_NAME_MAX_BYTES || lb > SETTING_NAME_MAX_BYTES)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *plugin_settings_closest(const struct smtpgate_setting *table, const char *name)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (const struct smtpgate_setting *s = table; s && s->name; s++) {
		size_t d = edit_distance(name, s->name);
		if (d < best_d) {
			best_d = d;
			best = s->name;
		}
	}
	/* A hint must look like a typo of the name: at most a third of the
	   longer name's letters changed (at least 1, at most 3). */
	size_t len = strlen(name);
	if (best && strlen(best) > len)
		len = strlen(best);
	size_t allowed = len / 3 < 1 ? 1 : len / 3 > 3 ? 3 : len / 3;
	return best_d <= allowed ? best : NULL;
}

const struct smtpgate_setting *plugin_settings_find(const struct smtpgate_setting *table,
						    const char *name)
{
	for (const struct smtpgate_setting *s = table; s && s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* What a type is called in an error ("expected ..."). */
static const char *type_text(enum smtpgate_setting_type type)
{
	switch (type) {
	case SMTPGATE_SETTING_STRING: return "a string";
	case SMTPGATE_SETTING_INT: return "an integer";
	case SMTPGATE_SETTING_BOOL: return "true or false";
	case SMTPGATE_SETTING_LIST: return "a list of strings [ \"...\", ... ]";
	}
	return "?";
}

/* Whether a value is of the declared type; a list must hold only strings. */
static int type_matches(const config_setting_t *m, enum smtpgate_setting_type type)
{
	int t = config_setting_type(m);
	switch (type) {
	case SMTPGATE_SETTING_STRING: return t == CONFIG_TYPE_STRING;
	case SMTPGATE_SETTING_INT: return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
	case SMTPGATE_SETTING_BOOL: return t == CONFIG_TYPE_BOOL;
	case SMTPGATE_SETTING_LIST:
		if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
			return 0;
		for (int i = 0; i < config_setting_length(m); i++)
			if (config_setting_type(config_setting_get_elem(m, (unsigned int)i)) !=
			    CONFIG_TYPE_STRING)
				return 0;
		return 1;
	}
	return 0;
}

/* The error about member m as one record: its own file and line (an
   @include'd file names itself), the setting as GROUP.NAME.  Returns -1. */
static int fail(char *err, size_t err_size, const char *source, const config_setting_t *m,
		const char *group_name, const char *fmt, ...)
{
	char msg[CONFIG_ERROR_MAX_BYTES], setting[SETTING_NAME_MAX_BYTES * 4];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *file = config_setting_source_file(m);
	snprintf(setting, sizeof(setting), "%s.%s", group_name, config_setting_name(m));
	return config_error_format(err, err_size, file ? file : source,
				   (int)config_setting_source_line(m), setting, "%s", msg);
}

/* One member of the group against the table. */
static int check_member(const struct smtpgate_setting *table, const config_setting_t *m,
			const struct plugin_settings_where *w, char *err, size_t err_size)
{
	const char *name = config_setting_name(m);
	const struct smtpgate_setting *s = plugin_settings_find(table, name);
	if (!s) {
		const char *hint = plugin_settings_closest(table, name);
		if (hint)
			return fail(err, err_size, w->source, m, w->group_name,
				    "unknown setting of plugin \"%s\"; did you mean \"%s\"?",
				    w->plugin_name, hint);
		return fail(err, err_size, w->source, m, w->group_name,
			    "unknown setting of plugin \"%s\" (smtpgate -t -v lists its settings)",
			    w->plugin_name);
	}
	if (!type_matches(m, s->type))
		return fail(err, err_size, w->source, m, w->group_name, "expected %s",
			    type_text(s->type));
	if (s->type == SMTPGATE_SETTING_INT && (s->min || s->max)) {
		long long v = config_setting_get_int64(m);
		if (v < s->min || v > s->max)
			return fail(err, err_size, w->source, m, w->group_name,
				    "%lld is out of range: expected %lld..%lld", v, s->min, s->max);
	}
	return 0;
}

int plugin_settings_check(const struct smtpgate_setting *table, const config_setting_t *group,
			  const struct plugin_settings_where *w, char *err, size_t err_size)
{
	if (!table || !group)
		return 0;
	for (int i = 0; i < config_setting_length(group); i++)
		if (check_member(table, config_setting_get_elem(group, (unsigned int)i), w, err,
				 err_size) < 0)
			return -1;
	return 0;
}

int plugin_settings_check_table(const struct smtpgate_setting *table, char *err, size_t err_size)
{
	for (const struct smtpgate_setting *s = table; s && s->name; s++) {
		const char *why = NULL;
		if (!s->name[0] || strlen(s->name) > SETTING_NAME_MAX_BYTES)
			why = "an empty name or one over 64 bytes";
		else if (s->type < SMTPGATE_SETTING_STRING || s->type > SMTPGATE_SETTING_LIST)
			why = "an unknown type";
		else if (s->min > s->max)
			why = "min above max";
		else if (s->type != SMTPGATE_SETTING_INT && (s->min || s->max))
			why = "a range on a setting that is not an integer";
		for (const struct smtpgate_setting *e = table; !why && e < s; e++)
			if (strcmp(e->name, s->name) == 0)
				why = "declared twice";
		if (why) {
			snprintf(err, err_size, "setting \"%s\" in its settings table: %s", s->name, why);
			return -1;
		}
	}
	return 0;
}

/* A value as it would be written in the file, for -t -v. */
static void value_text(const config_setting_t *m, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_STRING:
		snprintf(out, size, "\"%s\"", config_setting_get_string(m));
		return;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		snprintf(out, size, "%lld", config_setting_get_int64(m));
		return;
	case CONFIG_TYPE_BOOL:
		snprintf(out, size, "%s", config_setting_get_bool(m) ? "true" : "false");
		return;
	default:
		break;
	}
	for (int i = 0; i < config_setting_length(m) && used < size; i++) {
		const char *e = config_setting_get_string(config_setting_get_elem(m, (unsigned int)i));
		int n = snprintf(out + used, size - used, "%s\"%s\"", i ? ", " : "[ ", e ? e : "");
		used += n > 0 ? (size_t)n : 0;
	}
	if (used < size)
		snprintf(out + used, size - used, "%s", used ? " ]" : "[ ]");
}

void plugin_settings_print(const struct smtpgate_setting *table, const config_setting_t *group,
			   const char *group_name, FILE *out)
{
	char value[512];
	if (!table) {
		fprintf(out, "  %s: the plugin declares no settings (its group is not checked)\n",
			group_name);
		return;
	}
	for (const struct smtpgate_setting *s = table; s->name; s++) {
		const config_setting_t *m = group ? config_setting_get_member(group, s->name) : NULL;
		if (m)
			value_text(m, value, sizeof(value));
		else
			snprintf(value, sizeof(value), "%s", s->default_text ? s->default_text : "(unset)");
		fprintf(out, "  %s.%s = %s%s%s%s\n", group_name, s->name, value, m ? "" : "  (default)",
			s->description ? "  # " : "", s->description ? s->description : "");
	}
}
