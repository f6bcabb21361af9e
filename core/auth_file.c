/*
 * auth_file.c - backend "file": a password file of user:hash lines, the
 * hashes in crypt(3) form (yescrypt $y$, sha512-crypt $6$, bcrypt $2b$,
 * whatever libcrypt checks), read whole by the worker as root at its
 * start (a reload's new workers read it again), checked with crypt_rn().
 * Fields after the hash are ignored and a {SCHEME} prefix of the crypt
 * family is dropped, so a Dovecot passwd-file serves as it is.
 *
 * An unknown user costs the same as a wrong password: a hash is computed
 * either way (against the first user's hash, so the same algorithm and
 * cost), and both answer AUTH_FAIL.  It never logs and never keeps a
 * password.
 */
#include "auth_internal.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "mem.h"

struct auth_file_user {
	char *name;
	char *hash;
};

struct auth_file {
	struct auth_file_user *users; /* sorted by name */
	size_t count, cap;
	char *dummy_hash;             /* checked for an unknown user */
	struct crypt_data *work;      /* crypt_rn's 32 KiB scratch, kept */
};

static const char *strip_scheme(const char *hash, const char **why_out);
static int add_line(void *ctx, char *text, int lineno, char *err, size_t err_size);
static int by_name(const void *a, const void *b);
static int same_string(const char *a, const char *b);

/* The crypt(3) hash of a field: a {SCHEME} prefix of the crypt family
   dropped; NULL with why for any other scheme. */
static const char *strip_scheme(const char *hash, const char **why_out)
{
	static const char *const schemes[] = { "{CRYPT}", "{SHA512-CRYPT}", "{SHA256-CRYPT}",
					       "{BLF-CRYPT}", "{MD5-CRYPT}" };
	if (hash[0] != '{')
		return hash;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(hash, schemes[i], strlen(schemes[i])) == 0)
			return hash + strlen(schemes[i]);
	*why_out = "the hash's {SCHEME} is not one of crypt(3)'s";
	return NULL;
}

/* One user:hash[:...] line into the table. */
static int add_line(void *ctx, char *text, int lineno, char *err, size_t err_size)
{
	struct auth_file *f = ctx;
	const char *why = "expected user:hash";
	(void)lineno;
	char *colon = strchr(text, ':');
	if (!colon || colon == text) {
		snprintf(err, err_size, "%s", why);
		return -1;
	}
	*colon = '\0';
	char *end = strchr(colon + 1, ':');
	if (end)
		*end = '\0';
	const char *hash = strip_scheme(colon + 1, &why);
	/* crypt_checksalt() knows the prefixes this libcrypt can compute. */
	if (!hash || crypt_checksalt(hash) != CRYPT_SALT_OK) {
		snprintf(err, err_size, "user %s: %s", text,
			 hash ? "not a crypt(3) hash libcrypt supports" : why);
		return -1;
	}
	if (f->count == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->users = mem_realloc(f->users, f->cap * sizeof(*f->users));
	}
	f->users[f->count].name = mem_strdup(text);
	f->users[f->count++].hash = mem_strdup(hash);
	return 0;
}

/* bsearch/qsort order: by user name. */
static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct auth_file_user *)a)->name,
		      ((const struct auth_file_user *)b)->name);
}

struct auth_file *auth_file_load(const char *path, int report, char *err, size_t err_size)
{
	struct stat st;
	struct auth_file *f = mem_calloc(1, sizeof(*f));
	if (auth_util_read_lines(path, add_line, f, err, err_size) < 0) {
		auth_file_free(f);
		return NULL;
	}
	if (f->count == 0) {
		snprintf(err, err_size, "%s: no user:hash line", path);
		auth_file_free(f);
		return NULL;
	}
	qsort(f->users, f->count, sizeof(*f->users), by_name);
	for (size_t i = 1; i < f->count; i++)
		if (strcmp(f->users[i - 1].name, f->users[i].name) == 0) {
			snprintf(err, err_size, "%s: user %s is listed twice", path, f->users[i].name);
			auth_file_free(f);
			return NULL;
		}
	/* Any user's hash does: what matters is the algorithm and its cost,
	   which a site keeps alike across its file. */
	f->dummy_hash = mem_strdup(f->users[0].hash);
	f->work = mem_calloc(1, sizeof(*f->work));
	if (report && stat(path, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)))
		log_warn("setting=auth.file file=%s warning=%s", log_quoted(path),
			 log_quoted("the password file is readable or writable by others: "
				    "chmod o-rwx it"));
	return f;
}

void auth_file_free(struct auth_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->count; i++) {
		auth_util_wipe(f->users[i].hash, strlen(f->users[i].hash));
		free(f->users[i].name);
		free(f->users[i].hash);
	}
	free(f->users);
	free(f->dummy_hash);
	if (f->work)
		auth_util_wipe(f->work, sizeof(*f->work));
	free(f->work);
	free(f);
}

/* Equal strings, in a time that depends on their lengths only. */
static int same_string(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

enum auth_result auth_file_verify(struct auth_file *f, const char *user, const char *password)
{
	struct auth_file_user key = { .name = (char *)user };
	const struct auth_file_user *u = bsearch(&key, f->users, f->count, sizeof(*f->users), by_name);
	const char *hash = u ? u->hash : f->dummy_hash;
	const char *out = crypt_rn(password, hash, f->work, (int)sizeof(*f->work));
	int ok = out && same_string(out, hash) && u != NULL;
	auth_util_wipe(f->work, sizeof(f->work->output)); /* the computed hash */
	return ok ? AUTH_OK : AUTH_FAIL;
}
