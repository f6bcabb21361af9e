/*
 * test_maildir_name.c - the maildir plugin's pure parts: address -> path
 * mapping with a table of hostile addresses (nothing may name a path
 * outside the template's directory), template checks, and unique names
 * (no collisions across processes and fast loops).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../plugins/maildir/maildir_name.h"
#include "unit.h"

static const struct {
	const char *name;
	const char *tmpl;
	const char *address;
	const char *expect; /* NULL: refused */
} expand_rows[] = {
	{ "user dir", "/m/%d/%u", "Bob@Example.ORG", "/m/example.org/bob" },
	{ "whole address", "/m/%a", "bob@example.org", "/m/bob@example.org" },
	{ "percent", "/m/100%%/%u", "bob@x.org", "/m/100%/bob" },
	{ "plus tail", "/m/%u", "bob+lists@x.org", "/m/bob+lists" },
	{ "dots inside", "/m/%u", "b.o.b@x.org", "/m/b.o.b" },
	{ "utf-8", "/m/%u", "j\xc3\xb6rg@x.org", "/m/j\xc3\xb6rg" },
	{ "no domain, %u", "/m/%u", "postmaster", "/m/postmaster" },
	{ "fixed path", "/m/all", "x@y", "/m/all" },
	{ "no domain, %d", "/m/%d/%u", "postmaster", NULL },
	{ "dotdot local", "/m/%u", "..@x.org", NULL },
	{ "dot local", "/m/%u", ".@x.org", NULL },
	{ "leading dot", "/m/%u", ".hidden@x.org", NULL },
	{ "dotdot domain", "/m/%d/%u", "a@..", NULL },
	{ "leading dot domain", "/m/%d/%u", "a@.x.org", NULL },
	{ "slash in quoted", "/m/%u", "\"../../etc\"@x.org", NULL },
	{ "slash", "/m/%u", "a/b@x.org", NULL },
	{ "slash in address", "/m/%a", "../x@y", NULL },
	{ "space", "/m/%u", "\"a b\"@x.org", NULL },
	{ "control", "/m/%u", "a\x01@x.org", NULL },
	{ "delete char", "/m/%u", "a\x7f@x.org", NULL },
	{ "backslash", "/m/%u", "a\\b@x.org", NULL },
	{ "literal domain", "/m/%d/%u", "a@[127.0.0.1]", NULL },
	{ "at in %u", "/m/%u", "\"a@b\"@x.org", NULL },
	{ "empty local", "/m/%u", "@x.org", NULL },
};

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_expand_table(void)
{
	for (size_t i = 0; i < sizeof(expand_rows) / sizeof(expand_rows[0]); i++) {
		char out[MAILDIR_PATH_MAX_BYTES];
		const char *why = NULL;
		int rc = maildir_expand(expand_rows[i].tmpl, expand_rows[i].address, out, sizeof(out), &why);
		if (expand_rows[i].expect) {
			UNIT_CHECK(expand_rows[i].name, rc == 0);
			if (rc == 0)
				UNIT_CHECK_STR(expand_rows[i].name, out, expand_rows[i].expect);
		} else {
			UNIT_CHECK(expand_rows[i].name, rc < 0 && why && why[0]);
			/* Whatever it says, never a path with ".." or a 2nd slash. */
			if (rc == 0)
				UNIT_CHECK(expand_rows[i].name, !strstr(out, ".."));
		}
	}
}

static void test_expand_too_long(void)
{
	char out[32];
	const char *why = NULL;
	UNIT_CHECK("short buffer", maildir_expand("/m/%a", "averyveryverylongname@example.org", out,
						  sizeof(out), &why) < 0);
	UNIT_CHECK_STR("short buffer reason", why, "path too long");
}

/* Long values: every component of the result at most NAME_MAX bytes, the
   whole with room for "/tmp/<unique name>" below PATH_MAX. */
static const struct {
	const char *name;
	const char *tmpl;
	size_t local_len, domain_len; /* the address: 'a' x local_len @ 'd' x domain_len */
	int ok;
} length_rows[] = {
	{ "%u of 255", "/m/%u", 255, 3, 1 },
	{ "%u of 256", "/m/%u", 256, 3, 0 },
	{ "%u of 300", "/m/%d/%u", 300, 3, 0 },
	{ "prefix makes 256", "/m/x-%u", 254, 3, 0 },
	{ "prefix makes 255", "/m/x-%u/Maildir", 253, 3, 1 },
	{ "%a of 255", "/m/%a", 250, 4, 1 },
	{ "%a of 256", "/m/%a", 250, 5, 0 },
	{ "%d of 256", "/m/%d/%u", 3, 256, 0 },
	/* "/m" and 17 x 231 bytes leave less than 261 below 4096; 16 do not. */
	{ "path near PATH_MAX", "/m" "/%u/%u/%u/%u/%u/%u/%u/%u" "/%u/%u/%u/%u/%u/%u/%u/%u/%u", 230, 3, 0 },
	{ "path well below", "/m" "/%u/%u/%u/%u/%u/%u/%u/%u" "/%u/%u/%u/%u/%u/%u/%u/%u", 230, 3, 1 },
};

static void test_expand_lengths(void)
{
	for (size_t i = 0; i < sizeof(length_rows) / sizeof(length_rows[0]); i++) {
		char address[1024], out[MAILDIR_PATH_MAX_BYTES];
		const char *why = NULL;
		size_t l = length_rows[i].local_len, d = length_rows[i].domain_len;
		memset(address, 'a', l);
		address[l] = '@';
		memset(address + l + 1, 'd', d);
		address[l + 1 + d] = '\0';
		int rc = maildir_expand(length_rows[i].tmpl, address, out, sizeof(out), &why);
		UNIT_CHECK(length_rows[i].name, (rc == 0) == length_rows[i].ok);
		if (rc < 0)
			UNIT_CHECK(length_rows[i].name, why && why[0]);
	}
}

static const struct {
	const char *name;
	const char *tmpl;
	int ok;
	int per_recipient;
	const char *base; /* maildir_template_base() of a valid template */
} template_rows[] = {
	{ "fixed", "/var/mail/intake", 1, 0, "/var/mail/intake" },
	{ "per user", "/var/mail/%d/%u", 1, 1, "/var/mail" },
	{ "address", "/var/mail/%a", 1, 1, "/var/mail" },
	{ "prefix before the value", "/var/mail/u-%u/Maildir", 1, 1, "/var/mail" },
	{ "percent only", "/var/mail/100%%", 1, 0, "/var/mail/100%" },
	{ "percent, then per user", "/srv/100%%/%u", 1, 1, "/srv/100%" },
	{ "per user at the root", "/%u", 1, 1, "/" },
	{ "relative", "var/mail/%u", 0, 1, NULL },
	{ "unknown escape", "/var/mail/%x", 0, 0, NULL },
	{ "trailing percent", "/var/mail/%", 0, 0, NULL },
	{ "dotdot", "/var/../etc/%u", 0, 1, NULL },
};

static void test_templates(void)
{
	for (size_t i = 0; i < sizeof(template_rows) / sizeof(template_rows[0]); i++) {
		const char *why = NULL;
		int rc = maildir_template_check(template_rows[i].tmpl, &why);
		UNIT_CHECK(template_rows[i].name, (rc == 0) == template_rows[i].ok);
		if (!template_rows[i].ok)
			continue;
		UNIT_CHECK(template_rows[i].name,
			   maildir_template_per_recipient(template_rows[i].tmpl) ==
				   template_rows[i].per_recipient);
		char base[64];
		UNIT_CHECK(template_rows[i].name,
			   maildir_template_base(template_rows[i].tmpl, base, sizeof(base)) == 0);
		UNIT_CHECK_STR(template_rows[i].name, base, template_rows[i].base);
	}
	char small[8];
	UNIT_CHECK("base too long", maildir_template_base("/var/mail/%u", small, sizeof(small)) < 0);
}

static void test_unique_name_format(void)
{
	char out[MAILDIR_NAME_MAX_BYTES];
	UNIT_CHECK("fits", maildir_unique_name(out, sizeof(out), 1764340000LL, 42, 1234, 7,
					       0xabcdefULL, "mx/1:2", 1500) == 0);
	UNIT_CHECK_STR("format", out, "1764340000.M000042P1234Q7R0000000000abcdef.mx\\0571\\0722,S=1500");
	UNIT_CHECK("no slash", strchr(out, '/') == NULL);
	UNIT_CHECK("small buffer", maildir_unique_name(out, 16, 1, 1, 1, 1, 1, "h", 1) < 0);
}

/* Names made by 4 processes, 2000 each, as fast as they can, with the
   plugin's inputs (time, pid, sequence, random): all distinct. */
static void test_unique_names_across_processes(void)
{
	enum { PROCS = 4, PER_PROC = 2000 };
	char path[512];
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();
		if (pid == 0) {
			/* One file per process: stdio's appends would tear lines. */
			char mine[512];
			snprintf(path, sizeof(path), "maildir-names-%d", p);
			unit_tmppath(mine, sizeof(mine), path);
			FILE *out = fopen(mine, "w");
			if (!out)
				_exit(1);
			for (unsigned long seq = 1; seq <= PER_PROC; seq++) {
				char name[MAILDIR_NAME_MAX_BYTES];
				struct timespec ts;
				unsigned long long rnd = ((unsigned long long)rand() << 32) ^ (unsigned long long)rand();
				clock_gettime(CLOCK_REALTIME, &ts);
				maildir_unique_name(name, sizeof(name), (long long)ts.tv_sec,
						    ts.tv_nsec / 1000, (long)getpid(), seq, rnd, "host", 10);
				fprintf(out, "%s\n", name);
			}
			fclose(out);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++)
		wait(NULL);
	size_t len = 0, total = 0;
	char *all = NULL;
	for (int p = 0; p < PROCS; p++) {
		char name[64];
		snprintf(name, sizeof(name), "maildir-names-%d", p);
		unit_tmppath(path, sizeof(path), name);
		char *part = unit_read_file(path, &len);
		UNIT_CHECK("names written", part != NULL);
		if (!part)
			continue;
		all = realloc(all, total + len + 1);
		memcpy(all + total, part, len);
		total += len;
		all[total] = '\0';
		free(part);
	}
	if (!all)
		return;
	size_t n = 0;
	char **names = malloc(PROCS * PER_PROC * sizeof(*names));
	for (char *line = strtok(all, "\n"); line && n < PROCS * PER_PROC; line = strtok(NULL, "\n"))
		names[n++] = line;
	UNIT_CHECK("count", n == PROCS * PER_PROC);
	qsort(names, n, sizeof(*names), strcmp_ptr);
	size_t dups = 0;
	for (size_t i = 1; i < n; i++)
		dups += strcmp(names[i - 1], names[i]) == 0;
	UNIT_CHECK("no duplicates", dups == 0);
	free(names);
	free(all);
}

int test_maildir_name_register(void)
{
	CU_pSuite s = CU_add_suite("maildir_name", NULL, NULL);
	if (!s || !CU_add_test(s, "address -> path table (hostile addresses)", test_expand_table) ||
	    !CU_add_test(s, "expansion too long", test_expand_too_long) ||
	    !CU_add_test(s, "long values: NAME_MAX and PATH_MAX", test_expand_lengths) ||
	    !CU_add_test(s, "template checks", test_templates) ||
	    !CU_add_test(s, "unique name format", test_unique_name_format) ||
	    !CU_add_test(s, "unique names across processes", test_unique_names_across_processes))
		return -1;
	return 0;
}
