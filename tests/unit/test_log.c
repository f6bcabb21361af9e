/*
 * test_log.c - the log's promise that one line is one record: log_quote()
 * for a table of hostile values (spaces, quotes, '=', backslashes, CR/LF,
 * ESC, UTF-8 line separators, invalid UTF-8, values cut to fit), the final
 * pass of log_info() over raw bytes, read back from the log file, and the
 * fatal/panic ladder and the mem_* wrappers in forked children (their
 * exit status or signal, and the line they logged before it).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
/* The mem_* rows need malloc to return NULL for an impossible size, as
   glibc does, instead of ASan stopping the process first. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

static void test_quote(void);
static void test_quoted_rotation(void);
static void test_line_escapes(void);
static void test_line_cut(void);
static void test_ladder(void);
static size_t log_size(void);
static char *log_since(size_t offset);
static void ladder_child(int row, const char *path) __attribute__((noreturn));
static void test_level_name(void);

struct quote_row {
	const char *name;
	const char *value; /* NULL: a NULL value */
	size_t size;
	const char *want;
};

static const struct quote_row quote_rows[] = {
	{ "plain address", "a@example.org", 64, "a@example.org" },
	{ "angle path", "<a@example.org>", 64, "<a@example.org>" },
	{ "empty", "", 64, "\"\"" },
	{ "NULL", NULL, 64, "\"\"" },
	{ "space", "a b", 64, "\"a b\"" },
	{ "quote", "x\"y", 64, "\"x\\\"y\"" },
	{ "forged fields", "\"x nrcpt=0 delivered=no\"@a", 64,
	  "\"\\\"x nrcpt=0 delivered=no\\\"@a\"" },
	{ "backslash", "a\\b", 64, "\"a\\\\b\"" },
	{ "equals", "a=b", 64, "\"a=b\"" },
	{ "CR LF", "a\r\nb", 64, "\"a\\r\\nb\"" },
	{ "tab", "a\tb", 64, "\"a\\tb\"" },
	{ "ESC", "\x1b[2Jx", 64, "\"\\x1b[2Jx\"" },
	{ "DEL", "a\x7f", 64, "\"a\\x7f\"" },
	{ "U+2028", "a\xe2\x80\xa8" "b", 64, "\"a\\xe2\\x80\\xa8b\"" },
	{ "U+0085", "a\xc2\x85" "b", 64, "\"a\\xc2\\x85b\"" },
	{ "invalid UTF-8", "\xff\xfe\xc3", 64, "\"\\xff\\xfe\\xc3\"" },
	{ "forged line", "x\n2026-01-01T00:00:00.000 master[1] error: y", 64,
	  "\"x\\n2026-01-01T00:00:00.000 master[1] error: y\"" },
	{ "quoted fits exactly", "a b c", 8, "\"a b c\"" },
	{ "bare fits exactly", "abcdefg", 8, "abcdefg" },
	{ "bare one too long", "abcdefgh", 8, "\"ab...\"" },
	{ "long cut", "abcdefghijklmnopqrstuvwxyz", 16, "\"abcdefghij...\"" },
	{ "cut before an escape", "ab\x01\x02\x03", 16, "\"ab\\x01\\x02...\"" },
	{ "quote escape fits", "abcdefghi\"j", 16, "\"abcdefghi\\\"j\"" },
	{ "cut before a quote escape", "abcdefghi\"jkl", 16, "\"abcdefghi...\"" },
	{ "buffer too small", "abc", 7, "" },
};

static void test_quote(void)
{
	for (size_t i = 0; i < sizeof(quote_rows) / sizeof(quote_rows[0]); i++) {
		const struct quote_row *r = &quote_rows[i];
		char buf[64];
		memset(buf, 'Z', sizeof(buf));
		const char *got = log_quote(buf, r->size, r->value);
		UNIT_CHECK(r->name, got == buf);
		UNIT_CHECK_STR(r->name, got, r->want);
		UNIT_CHECK(r->name, r->size == sizeof(buf) || buf[r->size] == 'Z');
	}
}

/* Eight results in one argument list stay distinct; a long value is cut
   to the slot's size with its quotes closed. */
static void test_quoted_rotation(void)
{
	char names[LOG_QUOTED_SLOTS][8];
	const char *got[LOG_QUOTED_SLOTS];
	for (int i = 0; i < LOG_QUOTED_SLOTS; i++) {
		snprintf(names[i], sizeof(names[i]), "v %d", i);
		got[i] = log_quoted(names[i]);
	}
	for (int i = 0; i < LOG_QUOTED_SLOTS; i++) {
		char want[16];
		snprintf(want, sizeof(want), "\"v %d\"", i);
		UNIT_CHECK_STR("rotation", got[i], want);
	}
	char big[3 * LOG_QUOTED_MAX_BYTES];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *q = log_quoted(big);
	size_t len = strlen(q);
	UNIT_CHECK("long value", len == LOG_QUOTED_MAX_BYTES - 1);
	UNIT_CHECK("long value", q[0] == '"' && strcmp(q + len - 4, "...\"") == 0);
}

/* Bytes of the log file since offset, NUL-terminated; malloc'd. */
static char *log_since(size_t offset)
{
	char path[512];
	size_t len;
	unit_tmppath(path, sizeof(path), "log");
	char *all = unit_read_file(path, &len);
	if (!all)
		return NULL;
	if (offset > len)
		offset = len;
	memmove(all, all + offset, len - offset + 1);
	return all;
}

/* The log file's current size: where the next line will start. */
static size_t log_size(void)
{
	char *all = log_since(0);
	size_t len = all ? strlen(all) : 0;
	free(all);
	return len;
}

struct line_row {
	const char *name;
	const char *raw;  /* a value logged with a bare %s */
	const char *want; /* the line's text after "info: " */
};

static const struct line_row line_rows[] = {
	{ "printable", "a\\b \"c\"=d", "v=a\\b \"c\"=d\n" },
	{ "CR LF", "a\r\n2026-01-01 forged", "v=a\\x0d\\x0a2026-01-01 forged\n" },
	{ "ESC", "\x1b[2J", "v=\\x1b[2J\n" },
	{ "tab and DEL", "\t\x7f", "v=\\x09\\x7f\n" },
	{ "U+2028", "a\xe2\x80\xa8" "b", "v=a\\xe2\\x80\\xa8b\n" },
	{ "U+0085", "a\xc2\x85" "b", "v=a\\xc2\\x85b\n" },
	{ "invalid UTF-8", "\xff\xc3", "v=\\xff\\xc3\n" },
};

static void test_line_escapes(void)
{
	unit_log_quiet();
	for (size_t i = 0; i < sizeof(line_rows) / sizeof(line_rows[0]); i++) {
		const struct line_row *r = &line_rows[i];
		size_t before = log_size();
		log_info("v=%s", r->raw);
		char *got = log_since(before);
		const char *text = got ? strstr(got, " info: ") : NULL;
		UNIT_CHECK(r->name, text != NULL);
		if (text)
			UNIT_CHECK_STR(r->name, text + strlen(" info: "), r->want);
		UNIT_CHECK(r->name, got && strchr(got, '\n') == got + strlen(got) - 1);
		free(got);
	}
	unit_log_restore();
}

/* Text that escapes past the line's limit is cut before a whole escape,
   and the line still ends in its newline. */
static void test_line_cut(void)
{
	char raw[2000];
	memset(raw, 0xff, sizeof(raw) - 1);
	raw[sizeof(raw) - 1] = '\0';
	unit_log_quiet();
	size_t before = log_size();
	log_info("v=%s", raw);
	char *got = log_since(before);
	unit_log_restore();
	size_t len = got ? strlen(got) : 0;
	UNIT_CHECK("cut line", len > 0 && len <= LOG_LINE_MAX_BYTES);
	UNIT_CHECK("cut line", got && strchr(got, '\n') == got + len - 1);
	UNIT_CHECK("cut line", len >= 5 && memcmp(got + len - 5, "\\xff\n", 5) == 0);
	free(got);
}

enum ladder_call { CALL_FATAL, CALL_PANIC, CALL_MALLOC, CALL_CALLOC, CALL_REALLOC, CALL_STRDUP };

struct ladder_row {
	const char *name;
	enum ladder_call call;
	int exit_status; /* -1: ends on SIGABRT */
	const char *want; /* in the child's log line */
};

static const struct ladder_row ladder_rows[] = {
	{ "fatal", CALL_FATAL, EX_CONFIG, "error: event=fatal exit=78 at=x.conf:3 msg=\"a b\"\n" },
	{ "panic", CALL_PANIC, -1, "error: event=panic state=7\n" },
	{ "mem_malloc", CALL_MALLOC, -1,
	  "error: event=panic reason=out-of-memory call=malloc bytes=" },
	{ "mem_calloc overflow", CALL_CALLOC, -1,
	  "error: event=panic reason=out-of-memory call=calloc count=" },
	{ "mem_realloc", CALL_REALLOC, -1,
	  "error: event=panic reason=out-of-memory call=realloc bytes=" },
	{ "mem_strdup works", CALL_STRDUP, 0, NULL },
};

/* What a forked child does for a row; its stderr goes to path. */
static void ladder_child(int row, const char *path)
{
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core); /* the aborts are expected */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		_exit(99);
	switch (ladder_rows[row].call) {
	case CALL_FATAL: log_fatal(EX_CONFIG, "at=%s msg=%s", "x.conf:3", log_quoted("a b"));
	case CALL_PANIC: log_panic("state=%d", 7);
	case CALL_MALLOC: mem_malloc(SIZE_MAX); break;
	case CALL_CALLOC: mem_calloc(SIZE_MAX / 2, 4); break;
	case CALL_REALLOC: mem_realloc(NULL, SIZE_MAX); break;
	case CALL_STRDUP: {
		char *copy = mem_strdup("abc");
		int same = strcmp(copy, "abc") == 0;
		free(copy);
		_exit(same ? 0 : 1);
	}
	}
	_exit(98); /* the call returned: the row fails */
}

static void test_ladder(void)
{
	for (int i = 0; i < (int)(sizeof(ladder_rows) / sizeof(ladder_rows[0])); i++) {
		const struct ladder_row *r = &ladder_rows[i];
		char path[512];
		unit_tmppath(path, sizeof(path), "ladder.log");
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			ladder_child(i, path);
		int status = 0;
		UNIT_CHECK(r->name, pid > 0 && waitpid(pid, &status, 0) == pid);
		if (r->exit_status < 0)
			UNIT_CHECK(r->name, WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
		else
			UNIT_CHECK(r->name, WIFEXITED(status) &&
						    WEXITSTATUS(status) == r->exit_status);
		size_t len = 0;
		char *log = unit_read_file(path, &len);
		if (r->want)
			UNIT_CHECK_CONTAINS(r->name, log, r->want);
		else
			UNIT_CHECK(r->name, log && len == 0);
		free(log);
	}
}

/* Out-of-range enum values name themselves "?" instead of reading past
   the table. */
static void test_level_name(void)
{
	UNIT_CHECK_STR("info", log_level_name(LOG_LEVEL_INFO), "info");
	UNIT_CHECK_STR("out of range", log_level_name((enum log_level)42), "?");
}

int test_log_register(void)
{
	CU_pSuite s = CU_add_suite("log", NULL, NULL);
	if (!s || !CU_add_test(s, "log_quote table", test_quote) ||
	    !CU_add_test(s, "log_quoted rotation and cut", test_quoted_rotation) ||
	    !CU_add_test(s, "final pass escapes raw bytes", test_line_escapes) ||
	    !CU_add_test(s, "a long line is cut whole", test_line_cut) ||
	    !CU_add_test(s, "fatal, panic and mem_*", test_ladder) ||
	    !CU_add_test(s, "level names", test_level_name))
		return -1;
	return 0;
}
