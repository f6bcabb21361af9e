/*
 * test_auth.c - the pure parts of AUTH: the strict base64 decoder and
 * encoder (a table, one row per case), the failure table of the
 * scoreboard (limits, windows, pending attempts, shared across a fork),
 * and the password file (crypt(3) hashes of each kind, an unknown user,
 * bad lines).
 */
#include "unit.h"

#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "auth.h"
#include "auth_internal.h"
#include "base64.h"
#include "scoreboard.h"

static void test_base64_table(void);
static void test_base64_encode(void);
static void test_failure_table(void);
static void test_failures_across_fork(void);
static void test_password_file(void);

/* Decoding: the input, whether it is accepted, and what it decodes to. */
static const struct {
	const char *name, *in;
	int ok;
	const char *out;
	size_t out_len;
} base64_rows[] = {
	{ "empty", "", 1, "", 0 },
	{ "PLAIN message", "AGFsaWNlAHNlY3JldA==", 1, "\0alice\0secret", 13 },
	{ "no padding needed", "YWJj", 1, "abc", 3 },
	{ "one pad", "YWI=", 1, "ab", 2 },
	{ "two pads", "YQ==", 1, "a", 1 },
	{ "length not a multiple of 4", "YWJ", 0, NULL, 0 },
	{ "pad in the middle", "YQ==YWJj", 0, NULL, 0 },
	{ "pad then data", "Y=Jj", 0, NULL, 0 },
	{ "three pads", "Y===", 0, NULL, 0 },
	{ "bad character", "YW!j", 0, NULL, 0 },
	{ "space", "YW Jj", 0, NULL, 0 },
	{ "non-zero bits under the pad", "QUJD=", 0, NULL, 0 },
	{ "non-zero bits under two pads", "YR==", 0, NULL, 0 },
	{ "a lone *", "*", 0, NULL, 0 },
	{ "url-safe alphabet refused", "YW-_", 0, NULL, 0 },
};

static void test_base64_table(void)
{
	for (size_t i = 0; i < sizeof(base64_rows) / sizeof(base64_rows[0]); i++) {
		unsigned char out[64];
		size_t len = 999;
		const char *row = base64_rows[i].name;
		int rc = base64_decode(base64_rows[i].in, strlen(base64_rows[i].in), out, sizeof(out),
				       &len);
		if (!UNIT_CHECK(row, rc == (base64_rows[i].ok ? 0 : -1)) || rc < 0)
			continue;
		UNIT_CHECK_BYTES(row, (const char *)out, len, base64_rows[i].out,
				 base64_rows[i].out_len);
	}
	unsigned char small[4];
	size_t len;
	UNIT_CHECK("output too small", base64_decode("YWJjYWJj", 8, small, sizeof(small), &len) < 0);
}

static void test_base64_encode(void)
{
	char out[64];
	UNIT_CHECK("encode PLAIN", base64_encode((const unsigned char *)"\0alice\0secret", 13, out,
						 sizeof(out)) == 0);
	UNIT_CHECK_STR("encode PLAIN", out, "AGFsaWNlAHNlY3JldA==");
	UNIT_CHECK("encode empty", base64_encode((const unsigned char *)"", 0, out, sizeof(out)) == 0);
	UNIT_CHECK_STR("encode empty", out, "");
	UNIT_CHECK("encode too small", base64_encode((const unsigned char *)"abcd", 4, out, 8) < 0);
}

static void test_failure_table(void)
{
	const char *row = "limits and windows";
	struct scoreboard *sb = scoreboard_create();
	int f;
	if (!UNIT_CHECK(row, sb != NULL))
		return;
	struct scoreboard_auth *t = &sb->auth;
	/* Three allowed: two failures, then one pending attempt fills it. */
	for (int i = 0; i < 2; i++) {
		UNIT_CHECK(row, scoreboard_auth_begin(t, "sub", "192.0.2.1", 3, 1000, 5000, &f) == 1);
		scoreboard_auth_end(t, "sub", "192.0.2.1", 1, 1000, 5000);
	}
	UNIT_CHECK("pending counts", scoreboard_auth_begin(t, "sub", "192.0.2.1", 3, 1000, 5001, &f));
	UNIT_CHECK("pending counts", !scoreboard_auth_begin(t, "sub", "192.0.2.1", 3, 1000, 5001, &f));
	UNIT_CHECK("pending counts", f == 2);
	scoreboard_auth_end(t, "sub", "192.0.2.1", 0, 1000, 5002); /* it succeeded */
	UNIT_CHECK("success frees", scoreboard_auth_begin(t, "sub", "192.0.2.1", 3, 1000, 5003, &f));
	scoreboard_auth_end(t, "sub", "192.0.2.1", 1, 1000, 5003);
	UNIT_CHECK("limit", !scoreboard_auth_begin(t, "sub", "192.0.2.1", 3, 1000, 5500, &f) && f == 3);
	UNIT_CHECK("other client", scoreboard_auth_begin(t, "sub", "192.0.2.2", 3, 1000, 5500, &f));
	UNIT_CHECK("other listener", scoreboard_auth_begin(t, "mx", "192.0.2.1", 3, 1000, 5500, &f));
	UNIT_CHECK("window over", scoreboard_auth_begin(t, "sub", "192.0.2.1", 3, 1000, 6000, &f) &&
				  f == 0);
	/* A full table reuses the oldest window. */
	for (int i = 0; i < SCOREBOARD_AUTH_ENTRIES + 10; i++) {
		char client[32];
		snprintf(client, sizeof(client), "10.0.%d.%d", i / 256, i % 256);
		scoreboard_auth_end(t, "sub", client, 1, 100000, 10000 + i);
	}
	UNIT_CHECK("table full", scoreboard_auth_begin(t, "sub", "10.0.4.9", 1, 100000, 20000, &f) == 0);
	scoreboard_destroy(sb);
}

static void test_failures_across_fork(void)
{
	const char *row = "across fork";
	struct scoreboard *sb = scoreboard_create();
	int f, status;
	if (!UNIT_CHECK(row, sb != NULL))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 5; i++) {
			scoreboard_auth_begin(&sb->auth, "sub", "198.51.100.7", 10, 60000, 1000, &f);
			scoreboard_auth_end(&sb->auth, "sub", "198.51.100.7", 1, 60000, 1000);
		}
		_exit(0);
	}
	UNIT_CHECK(row, pid > 0 && waitpid(pid, &status, 0) == pid);
	scoreboard_auth_begin(&sb->auth, "sub", "198.51.100.7", 10, 60000, 1001, &f);
	UNIT_CHECK(row, f == 5);
	scoreboard_destroy(sb);
}

static void test_password_file(void)
{
	char path[512], err[512], line[512];
	static const char *const prefixes[] = { "$y$", "$6$", "$2b$" };
	unit_tmppath(path, sizeof(path), "passwd");
	FILE *f = fopen(path, "w");
	if (!UNIT_CHECK("passwd", f != NULL))
		return;
	fputs("# users\n\n", f);
	for (int i = 0; i < 3; i++) {
		const char *salt = crypt_gensalt(prefixes[i], 0, NULL, 0);
		snprintf(line, sizeof(line), "%s", crypt("pw-of-user", salt));
		fprintf(f, "user%d:%s%s\n", i, i == 1 ? "{SHA512-CRYPT}" : "", line);
	}
	fclose(f);
	struct auth_file *af = auth_file_load(path, 0, err, sizeof(err));
	if (!UNIT_CHECK("passwd loads", af != NULL))
		return;
	for (int i = 0; i < 3; i++) {
		char user[16];
		snprintf(user, sizeof(user), "user%d", i);
		UNIT_CHECK(prefixes[i], auth_file_verify(af, user, "pw-of-user") == AUTH_OK);
		UNIT_CHECK(prefixes[i], auth_file_verify(af, user, "wrong") == AUTH_FAIL);
	}
	UNIT_CHECK("unknown user", auth_file_verify(af, "nobody", "pw-of-user") == AUTH_FAIL);
	auth_file_free(af);
	static const struct { const char *name, *text, *err; } bad[] = {
		{ "no colon", "alice\n", "expected user:hash" },
		{ "not a hash", "alice:plaintext\n", "not a crypt(3) hash" },
		{ "other scheme", "alice:{PLAIN}secret\n", "{SCHEME}" },
		{ "empty file", "# nothing\n", "no user:hash line" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(path, "w");
		fputs(bad[i].text, f);
		fclose(f);
		af = auth_file_load(path, 0, err, sizeof(err));
		UNIT_CHECK(bad[i].name, af == NULL);
		UNIT_CHECK_CONTAINS(bad[i].name, err, bad[i].err);
		auth_file_free(af);
	}
}

int test_auth_register(void)
{
	CU_pSuite s = CU_add_suite("auth", NULL, NULL);
	if (!s || !CU_add_test(s, "base64 decode table", test_base64_table) ||
	    !CU_add_test(s, "base64 encode", test_base64_encode) ||
	    !CU_add_test(s, "failure table", test_failure_table) ||
	    !CU_add_test(s, "failure table across fork", test_failures_across_fork) ||
	    !CU_add_test(s, "password file", test_password_file))
		return -1;
	return 0;
}
