/*
 * unit.h - shared helpers of the CUnit suites: row-named assertions, byte
 * comparisons that print both sides, a per-run temporary directory, and
 * the registration function of every suite.
 *
 * Every table-driven test walks its rows and names the row in each failed
 * assertion, so a failure reads "row-name: condition" in CUnit's summary.
 */
#ifndef SMTPGATE_UNIT_H
#define SMTPGATE_UNIT_H

#include <stddef.h>

#include <CUnit/CUnit.h>

/* A string literal that may hold NUL bytes: pointer and length. */
#define UNIT_BYTES(lit) (lit), (sizeof(lit) - 1)

/* Assert cond; on failure report "ROW: cond" with the file and line. */
#define UNIT_CHECK(row, cond) \
	unit_check((cond) ? 1 : 0, (row), #cond, __FILE__, __LINE__)

/* Compare bytes exactly; on failure print both, escaped. */
#define UNIT_CHECK_BYTES(row, got, got_len, exp, exp_len) \
	unit_check_bytes((row), (got), (got_len), (exp), (exp_len), __FILE__, __LINE__)

/* Compare NUL-terminated strings (NULL matches only NULL). */
#define UNIT_CHECK_STR(row, got, exp) \
	unit_check_str((row), (got), (exp), __FILE__, __LINE__)

/* Assert that haystack contains needle. */
#define UNIT_CHECK_CONTAINS(row, haystack, needle) \
	unit_check_contains((row), (haystack), (needle), __FILE__, __LINE__)

int unit_check(int ok, const char *row, const char *what, const char *file, int line);
int unit_check_bytes(const char *row, const char *got, size_t got_len, const char *exp,
		     size_t exp_len, const char *file, int line);
int unit_check_str(const char *row, const char *got, const char *exp, const char *file,
		   int line);
int unit_check_contains(const char *row, const char *haystack, const char *needle,
			const char *file, int line);

/* The run's temporary directory (created on first use, removed at exit). */
const char *unit_tmpdir(void);
/* "TMPDIR/name" in a static buffer of the caller's (size bytes). */
void unit_tmppath(char *buf, size_t size, const char *name);
/* Read a whole file; malloc'd, NUL-terminated, *len_out set.  NULL if absent. */
char *unit_read_file(const char *path, size_t *len_out);

/* A file of the build tree ("plugins/debug/.libs/debug.so"), looked up in
   $SMTPGATE_BUILDDIR, the current directory, then relative to the test
   binary; a static buffer (4 in rotation), or NULL if not found. */
const char *unit_build_file(const char *rel);
/* Copy a file to TMPDIR/name with the given mode; 0 or -1. */
int unit_copy_file(const char *from, const char *name, unsigned int mode);

/* Send stderr (the daemon's log lines) to TMPDIR/log while code under test
   runs, so the CUnit report stays readable; unit_log_restore() undoes it. */
void unit_log_quiet(void);
void unit_log_restore(void);

/* Suite registration, one per test_<module>.c; 0 or -1. */
int test_smtp_parse_register(void);
int test_smtp_data_register(void);
int test_smtp_body_register(void);
int test_linebuf_register(void);
int test_conn_register(void);
int test_smtp_reply_register(void);
int test_session_register(void);
int test_config_register(void);
int test_plugin_load_register(void);
int test_debug_plugin_register(void);
int test_maildir_name_register(void);
int test_scoreboard_register(void);
int test_log_register(void);
int test_esmtp_register(void);
int test_proxy_proto_register(void);
int test_plugin_settings_register(void);
int test_debug_json_register(void);
int test_metrics_register(void);
int test_auth_register(void);
int test_smtp_client_chunk_register(void);

#endif
