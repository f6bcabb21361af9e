/*
 * auth_senders.c - the map of auth.sender_must_match: which envelope
 * senders an authenticated user may use.  Lines "user: address, ...";
 * an address "@domain" stands for every address in that domain and "<>"
 * for the null sender.  Addresses compare without regard to case (their
 * local parts too: a site's own mailboxes, not somebody else's).  Read
 * whole at the worker's start as root; never logs.
 */
#include "auth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

struct auth_senders_entry {
	char *user;
	char *address; /* "a@b", "@b" or "<>" */
};

struct auth_senders {
	struct auth_senders_entry *entries;
	size_t count, cap;
};

static int add_line(void *ctx, char *text, int lineno, char *err, size_t err_size);
static int matches(const char *pattern, const char *sender);

/* One "user: address, address" line. */
static int add_line(void *ctx, char *text, int lineno, char *err, size_t err_size)
{
	struct auth_senders *m = ctx;
	char *save, *colon = strchr(text, ':');
	(void)lineno;
	if (!colon || colon == text) {
		snprintf(err, err_size, "expected user: address, ...");
		return -1;
	}
	*colon = '\0';
	int n = 0;
	for (char *a = strtok_r(colon + 1, " \t,", &save); a; a = strtok_r(NULL, " \t,", &save)) {
		if (strcmp(a, "<>") != 0 && !strchr(a, '@')) {
			snprintf(err, err_size, "\"%s\" is no address, @domain or <>", a);
			return -1;
		}
		if (m->count == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 64;
			m->entries = mem_realloc(m->entries, m->cap * sizeof(*m->entries));
		}
		m->entries[m->count].user = mem_strdup(text);
		m->entries[m->count++].address = mem_strdup(a);
		n++;
	}
	if (n == 0) {
		snprintf(err, err_size, "user %s has no address", text);
		return -1;
	}
	return 0;
}

struct auth_senders *auth_senders_load(const char *path, char *err, size_t err_size)
{
	struct auth_senders *m = mem_calloc(1, sizeof(*m));
	if (auth_util_read_lines(path, add_line, m, err, err_size) < 0) {
		auth_senders_free(m);
		return NULL;
	}
	return m;
}

void auth_senders_free(struct auth_senders *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++) {
		free(m->entries[i].user);
		free(m->entries[i].address);
	}
	free(m->entries);
	free(m);
}

/* Does one map address cover the sender? */
static int matches(const char *pattern, const char *sender)
{
	if (strcmp(pattern, "<>") == 0)
		return sender[0] == '\0';
	if (pattern[0] == '@') {
		const char *at = strrchr(sender, '@');
		return at && strcasecmp(at, pattern) == 0;
	}
	return strcasecmp(pattern, sender) == 0;
}

int auth_senders_allowed(const struct auth_senders *m, const char *user, const char *sender)
{
	for (size_t i = 0; i < m->count; i++)
		if (strcmp(m->entries[i].user, user) == 0 && matches(m->entries[i].address, sender))
			return 1;
	return 0;
}
