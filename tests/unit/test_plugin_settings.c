/*
 * test_plugin_settings.c - a plugin's declared settings against groups
 * parsed by libconfig from text (one row per group: accepted, or refused
 * with the line and the words of the error, the hint included); the
 * closest-name hint on its own; the table's own checks; and the -t -v
 * listing of effective values and defaults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_error.h"
#include "plugin_settings.h"
#include "unit.h"

static const struct smtpgate_setting table[] = {
	{ "output", SMTPGATE_SETTING_STRING, 0, 0, "standard output", "where to" },
	{ "timeout", SMTPGATE_SETTING_INT, 1, 3600, "300", "seconds" },
	{ "level", SMTPGATE_SETTING_INT, 0, 0, NULL, NULL },
	{ "verbose", SMTPGATE_SETTING_BOOL, 0, 0, "false", NULL },
	{ "relay_networks", SMTPGATE_SETTING_LIST, 0, 0, "[ ]", "who relays" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

struct check_row {
	const char *name;
	const char *group;  /* the text inside g = { ... }; one setting per line */
	int rc;
	const char *error;  /* a part of the record when refused */
};

static const struct check_row check_rows[] = {
	{ "empty group", "", 0, NULL },
	{ "all declared", "output = \"/x\";\ntimeout = 30;\nlevel = -5;\nverbose = true;\n"
	  "relay_networks = [ \"127.0.0.1\" ];", 0, NULL },
	{ "int64 in range", "timeout = 3600L;", 0, NULL },
	{ "list form ( )", "relay_networks = ( \"a\", \"b\" );", 0, NULL },
	{ "typo gets hint", "outptu = \"/x\";",
	  -1, "setting=g.outptu error=\"unknown setting of plugin \\\"t\\\"; did you mean "
	  "\\\"output\\\"?\"" },
	{ "typo on line 4 (the group opens on 1)", "output = \"/x\";\nverbose = true;\ntimeuot = 3;",
	  -1, "line=4 " },
	{ "missing letter", "relay_network = [ ];", -1, "did you mean \\\"relay_networks\\\"?" },
	{ "far name no hint", "colour = \"red\";", -1,
	  "unknown setting of plugin \\\"t\\\" (smtpgate -t -v lists its settings)" },
	{ "string for int", "timeout = \"30\";", -1, "setting=g.timeout error=\"expected an integer\"" },
	{ "int for string", "output = 1;", -1, "expected a string" },
	{ "int for bool", "verbose = 1;", -1, "expected true or false" },
	{ "string for list", "relay_networks = \"127.0.0.1\";", -1, "expected a list of strings" },
	{ "ints in list", "relay_networks = [ 1, 2 ];", -1, "expected a list of strings" },
	{ "below min", "timeout = 0;", -1, "0 is out of range: expected 1..3600" },
	{ "above max", "timeout = 3601;", -1, "3601 is out of range: expected 1..3600" },
	{ "no range declared", "level = 99999999999;", 0, NULL },
	{ "subgroup is unknown", "output = \"/x\";\nsub = { a = 1; };", -1, "setting=g.sub" },
};

static void test_check_table(void)
{
	for (size_t i = 0; i < sizeof(check_rows) / sizeof(check_rows[0]); i++) {
		const struct check_row *row = &check_rows[i];
		char text[1024], err[CONFIG_ERROR_MAX_BYTES] = "";
		config_t lc;
		config_init(&lc);
		snprintf(text, sizeof(text), "g = {\n%s\n};\n", row->group);
		if (!UNIT_CHECK(row->name, config_read_string(&lc, text) == CONFIG_TRUE)) {
			config_destroy(&lc);
			continue;
		}
		struct plugin_settings_where w = { "test.conf", "g", "t" };
		int rc = plugin_settings_check(table, config_lookup(&lc, "g"), &w, err, sizeof(err));
		UNIT_CHECK(row->name, rc == row->rc);
		if (row->error)
			UNIT_CHECK_CONTAINS(row->name, err, row->error);
		if (row->rc < 0)
			UNIT_CHECK_CONTAINS(row->name, err, "file=test.conf ");
		config_destroy(&lc);
	}
}

/* No table (a 1.0 plugin, or a 1.1 one that declares none): nothing is
   checked, whatever the group holds. */
static void test_no_table(void)
{
	config_t lc;
	char err[CONFIG_ERROR_MAX_BYTES] = "";
	config_init(&lc);
	UNIT_CHECK("parse", config_read_string(&lc, "g = { anything = 1; };") == CONFIG_TRUE);
	struct plugin_settings_where w = { "test.conf", "g", "t" };
	UNIT_CHECK("no table", plugin_settings_check(NULL, config_lookup(&lc, "g"), &w, err,
						     sizeof(err)) == 0);
	UNIT_CHECK("no group", plugin_settings_check(table, NULL, &w, err, sizeof(err)) == 0);
	config_destroy(&lc);
}

struct closest_row {
	const char *name;
	const char *typed;
	const char *hint; /* NULL: none */
};

static const struct closest_row closest_rows[] = {
	{ "swapped letters", "outptu", "output" },
	{ "one letter off", "timeoat", "timeout" },
	{ "extra letter", "verbosee", "verbose" },
	{ "plural", "relay_network", "relay_networks" },
	{ "case", "Output", "output" },
	{ "unrelated", "colour", NULL },
	{ "short and far", "x", NULL },
	{ "exact", "level", "level" },
	{ "too long to compare", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL },
};

static void test_closest(void)
{
	for (size_t i = 0; i < sizeof(closest_rows) / sizeof(closest_rows[0]); i++) {
		const struct closest_row *row = &closest_rows[i];
		UNIT_CHECK_STR(row->name, plugin_settings_closest(table, row->typed), row->hint);
	}
}

static const struct smtpgate_setting t_ok[] = { { "a", SMTPGATE_SETTING_INT, 1, 2, NULL, NULL },
						{ NULL, 0, 0, 0, NULL, NULL } };
static const struct smtpgate_setting t_twice[] = { { "a", SMTPGATE_SETTING_BOOL, 0, 0, NULL, NULL },
						   { "a", SMTPGATE_SETTING_BOOL, 0, 0, NULL, NULL },
						   { NULL, 0, 0, 0, NULL, NULL } };
static const struct smtpgate_setting t_empty[] = { { "", SMTPGATE_SETTING_BOOL, 0, 0, NULL, NULL },
						   { NULL, 0, 0, 0, NULL, NULL } };
static const struct smtpgate_setting t_type[] = { { "a", (enum smtpgate_setting_type)9, 0, 0,
						    NULL, NULL },
						  { NULL, 0, 0, 0, NULL, NULL } };
static const struct smtpgate_setting t_range[] = { { "a", SMTPGATE_SETTING_INT, 5, 1, NULL, NULL },
						   { NULL, 0, 0, 0, NULL, NULL } };
static const struct smtpgate_setting t_range_str[] = {
	{ "a", SMTPGATE_SETTING_STRING, 1, 5, NULL, NULL }, { NULL, 0, 0, 0, NULL, NULL } };

struct table_row {
	const char *name;
	const struct smtpgate_setting *table;
	const char *error; /* NULL: accepted */
};

static const struct table_row table_rows[] = {
	{ "good", t_ok, NULL },
	{ "none", NULL, NULL },
	{ "bundled-like", table, NULL },
	{ "name twice", t_twice, "setting \"a\" in its settings table: declared twice" },
	{ "empty name", t_empty, "an empty name" },
	{ "unknown type", t_type, "an unknown type" },
	{ "min above max", t_range, "min above max" },
	{ "range on a string", t_range_str, "a range on a setting that is not an integer" },
};

static void test_table_itself(void)
{
	for (size_t i = 0; i < sizeof(table_rows) / sizeof(table_rows[0]); i++) {
		const struct table_row *row = &table_rows[i];
		char err[256] = "";
		int rc = plugin_settings_check_table(row->table, err, sizeof(err));
		UNIT_CHECK(row->name, rc == (row->error ? -1 : 0));
		if (row->error)
			UNIT_CHECK_CONTAINS(row->name, err, row->error);
	}
}

/* -t -v: values set in the file, the declared default otherwise. */
static void test_print(void)
{
	config_t lc;
	char path[512];
	config_init(&lc);
	UNIT_CHECK("parse", config_read_string(&lc, "g = { timeout = 30; relay_networks = "
						    "[ \"10.0.0.0/8\", \"::1\" ]; };") == CONFIG_TRUE);
	unit_tmppath(path, sizeof(path), "settings-print");
	FILE *f = fopen(path, "w");
	if (!UNIT_CHECK("open", f != NULL)) {
		config_destroy(&lc);
		return;
	}
	plugin_settings_print(table, config_lookup(&lc, "g"), "g", f);
	plugin_settings_print(NULL, NULL, "h", f);
	fclose(f);
	size_t len;
	char *out = unit_read_file(path, &len);
	const char *expected =
		"  g.output = standard output  (default)  # where to\n"
		"  g.timeout = 30  # seconds\n"
		"  g.level = (unset)  (default)\n"
		"  g.verbose = false  (default)\n"
		"  g.relay_networks = [ \"10.0.0.0/8\", \"::1\" ]  # who relays\n"
		"  h: the plugin declares no settings (its group is not checked)\n";
	UNIT_CHECK_STR("listing", out, expected);
	free(out);
	config_destroy(&lc);
}

int test_plugin_settings_register(void)
{
	CU_pSuite s = CU_add_suite("plugin_settings", NULL, NULL);
	if (!s || !CU_add_test(s, "plugin_settings_check table", test_check_table) ||
	    !CU_add_test(s, "no table, no group", test_no_table) ||
	    !CU_add_test(s, "plugin_settings_closest table", test_closest) ||
	    !CU_add_test(s, "plugin_settings_check_table table", test_table_itself) ||
	    !CU_add_test(s, "plugin_settings_print", test_print))
		return -1;
	return 0;
}
