/*
 * main.c - the unit test runner: registers every suite, runs them with
 * CUnit's basic interface, and ends with the one line tests/run_all.sh
 * reads: "unit: N passed, N failed", counting tests.  Exits non-zero when
 * any test failed or the registry could not be built.
 *
 * Also the shared helpers of unit.h: row-named assertions, byte diffs, and
 * the run's temporary directory (removed at exit).
 */
#include "unit.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

static char unit_dir[256];
static int saved_stderr = -1;

static void print_escaped(const char *label, const char *p, size_t len);
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);
static void remove_tmpdir(void);

int unit_check(int ok, const char *row, const char *what, const char *file, int line)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s: %s", row, what);
	if (!ok)
		printf("\n  FAILED %s:%d: %s\n", file, line, msg);
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned int)line, msg, file, "",
				CU_FALSE);
	return ok;
}

/* Bytes as a C string literal, cut after 600 characters. */
static void print_escaped(const char *label, const char *p, size_t len)
{
	printf("    %s (%zu bytes): \"", label, len);
	size_t shown = 0;
	for (size_t i = 0; i < len && shown < 600; i++, shown++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\\' || c == '"')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("\"%s\n", len > shown ? "..." : "");
}

int unit_check_bytes(const char *row, const char *got, size_t got_len, const char *exp,
		     size_t exp_len, const char *file, int line)
{
	int ok = got_len == exp_len && (exp_len == 0 || memcmp(got, exp, exp_len) == 0);
	if (!ok) {
		size_t i = 0;
		while (i < got_len && i < exp_len && got[i] == exp[i])
			i++;
		printf("\n  FAILED %s:%d: %s: bytes differ at offset %zu\n", file, line, row, i);
		print_escaped("expected", exp, exp_len);
		print_escaped("got     ", got ? got : "", got ? got_len : 0);
	}
	char msg[512];
	snprintf(msg, sizeof(msg), "%s: bytes equal", row);
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned int)line, msg, file, "",
				CU_FALSE);
	return ok;
}

int unit_check_str(const char *row, const char *got, const char *exp, const char *file,
		   int line)
{
	if (!got || !exp) {
		int ok = got == exp;
		if (!ok)
			printf("\n  FAILED %s:%d: %s: expected %s, got %s\n", file, line, row,
			       exp ? exp : "NULL", got ? got : "NULL");
		return unit_check(ok, row, "string is NULL as expected", file, line);
	}
	return unit_check_bytes(row, got, strlen(got), exp, strlen(exp), file, line);
}

int unit_check_contains(const char *row, const char *haystack, const char *needle,
			const char *file, int line)
{
	int ok = haystack && strstr(haystack, needle);
	if (!ok)
		printf("\n  FAILED %s:%d: %s: \"%s\" does not contain \"%s\"\n", file, line, row,
		       haystack ? haystack : "(null)", needle);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s: contains \"%s\"", row, needle);
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned int)line, msg, file, "",
				CU_FALSE);
	return ok;
}

const char *unit_tmpdir(void)
{
	if (!unit_dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(unit_dir, sizeof(unit_dir), "%s/smtpgate-unit.XXXXXX",
			 base && *base ? base : "/tmp");
		if (!mkdtemp(unit_dir)) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return unit_dir;
}

void unit_tmppath(char *buf, size_t size, const char *name)
{
	if (snprintf(buf, size, "%s/%s", unit_tmpdir(), name) >= (int)size) {
		fprintf(stderr, "unit: temporary path too long\n");
		exit(2);
	}
}

char *unit_read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *bigger = realloc(buf, cap * 2 + 1);
			if (!bigger) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[len] = '\0';
	*len_out = len;
	return buf;
}

const char *unit_build_file(const char *rel)
{
	static char bufs[4][1024];
	static int next;
	char exe[700], up2[720], up3[720];
	char *buf = bufs[next++ % 4];
	const char *env = getenv("SMTPGATE_BUILDDIR");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(up2, sizeof(up2), "%s/../..", exe);
	snprintf(up3, sizeof(up3), "%s/../../..", exe);
	const char *prefixes[] = { env, ".", exe[0] ? up2 : NULL, exe[0] ? up3 : NULL };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (!prefixes[i])
			continue;
		if (snprintf(buf, sizeof(bufs[0]), "%s/%s", prefixes[i], rel) >= (int)sizeof(bufs[0]))
			continue;
		if (access(buf, F_OK) == 0)
			return buf;
	}
	return NULL;
}

int unit_copy_file(const char *from, const char *name, unsigned int mode)
{
	char to[512];
	size_t len;
	char *data = unit_read_file(from, &len);
	if (!data)
		return -1;
	unit_tmppath(to, sizeof(to), name);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
	if (fd >= 0 && (close(fd) != 0 || chmod(to, (mode_t)mode) != 0))
		ok = 0;
	free(data);
	return ok ? 0 : -1;
}

void unit_log_quiet(void)
{
	char path[512];
	if (getenv("SMTPGATE_UNIT_LOG") || saved_stderr >= 0)
		return; /* the developer wants the log lines on stderr */
	unit_tmppath(path, sizeof(path), "log");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

void unit_log_restore(void)
{
	if (saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tmpdir(void)
{
	if (unit_dir[0] && !getenv("SMTPGATE_UNIT_KEEP"))
		nftw(unit_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	static int (*const suites[])(void) = {
		test_smtp_parse_register, test_smtp_data_register, test_smtp_body_register,
		test_linebuf_register,
		test_smtp_reply_register, test_session_register, test_config_register,
		test_plugin_load_register, test_debug_plugin_register, test_maildir_name_register,
		test_scoreboard_register,
		test_conn_register, test_log_register, test_proxy_proto_register,
		test_plugin_settings_register, test_debug_json_register,
		test_esmtp_register,
		test_metrics_register,
		test_auth_register,
		test_smtp_client_chunk_register,
	};

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "unit: cannot initialize CUnit: %s\n", CU_get_error_msg());
		printf("unit: 0 passed, 1 failed\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i]() != 0) {
			fprintf(stderr, "unit: cannot register a suite: %s\n", CU_get_error_msg());
			CU_cleanup_registry();
			remove_tmpdir();
			printf("unit: 0 passed, 1 failed\n");
			return 1;
		}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int run = CU_get_number_of_tests_run();
	unsigned int failed = CU_get_number_of_tests_failed();
	unsigned int suites_failed = CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	remove_tmpdir();
	/* A suite whose setup failed did not run its tests: count it. */
	failed += suites_failed;
	printf("\nunit: %u passed, %u failed\n", run - (failed - suites_failed), failed);
	return failed ? 1 : 0;
}
