/*
 * plugin_load.c - dlopen(3) a handler and refuse it before any of its code
 * but the entry function runs if it is unsafe or built for another ABI.
 *
 * Refused, each with the file name and both versions: another ABI major, a
 * newer minor, a descriptor smaller than its minor promises, no name, no
 * message hook, a command that shadows a built-in one, and a file that is
 * writable by group/others or owned by someone else (anyone who can write
 * it runs code in every worker).
 */
#include "plugin_load.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The size of struct smtpgate_plugin as each minor of this major defined
   it: up to the end of that minor's last field (a later minor appends
   after it).  A bump adds one line naming its own last field. */
#define DESCRIPTOR_SIZE_UP_TO(field)                                      \
	(offsetof(struct smtpgate_plugin, field) + sizeof(((struct smtpgate_plugin *)0)->field))
static const size_t descriptor_size_by_minor[] = {
	DESCRIPTOR_SIZE_UP_TO(commands), /* 1.0 */
};

static const char *const builtin_verbs[] = {
	"HELO", "EHLO", "NOOP", "QUIT", "MAIL", "RCPT", "RSET", "DATA", "HELP", "VRFY", "EXPN", NULL
};

int plugin_is_builtin_verb(const char *verb)
{
	for (const char *const *v = builtin_verbs; *v; v++)
		if (strcmp(*v, verb) == 0)
			return 1;
	return 0;
}

int plugin_check_file(const char *path, char *err, size_t err_size)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, err_size, "%s: refused: writable by group or others (mode %03o)",
			 path, (unsigned int)(st.st_mode & 0777));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, err_size, "%s: refused: owned by uid %u, not by root or uid %u",
			 path, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -1;
	}
	return 0;
}

int plugin_check_descriptor(const struct smtpgate_plugin *d, char *err, size_t err_size)
{
	if (!d) {
		snprintf(err, err_size, "smtpgate_plugin_entry() returned NULL");
		return -1;
	}
	if (d->abi_major != SMTPGATE_ABI_MAJOR || d->abi_minor > SMTPGATE_ABI_MINOR) {
		snprintf(err, err_size, "built for plugin ABI %u.%u, this smtpgate has ABI %u.%u",
			 d->abi_major, d->abi_minor, SMTPGATE_ABI_MAJOR, SMTPGATE_ABI_MINOR);
		return -1;
	}
	if (d->size < descriptor_size_by_minor[d->abi_minor]) {
		snprintf(err, err_size, "descriptor size %zu is smaller than ABI %u.%u's %zu",
			 d->size, d->abi_major, d->abi_minor, descriptor_size_by_minor[d->abi_minor]);
		return -1;
	}
	if (!d->name || !d->name[0]) {
		snprintf(err, err_size, "descriptor has no name");
		return -1;
	}
	if (!d->on_message) {
		snprintf(err, err_size, "plugin \"%s\" has no message hook (on_message)", d->name);
		return -1;
	}
	for (const struct smtpgate_command *c = d->commands; c && c->verb; c++) {
		int ok = c->run && c->verb[0] && strlen(c->verb) < 16;
		for (const char *p = c->verb; ok && *p; p++)
			ok = isupper((unsigned char)*p) || isdigit((unsigned char)*p);
		int twice = 0;
		for (const struct smtpgate_command *e = d->commands; ok && e < c && !twice; e++)
			twice = strcmp(e->verb, c->verb) == 0;
		if (!ok || twice || plugin_is_builtin_verb(c->verb)) {
			snprintf(err, err_size, "plugin \"%s\": command \"%s\" is %s", d->name, c->verb,
				 !ok ? "not an upper-case verb with a handler"
				 : twice ? "in its command table twice" : "a built-in command");
			return -1;
		}
	}
	return 0;
}

int plugin_load(const char *path, struct plugin *out, char *err, size_t err_size)
{
	char why[512];
	memset(out, 0, sizeof(*out));
	if (plugin_check_file(path, err, err_size) < 0)
		return -1;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, err_size, "%s: %s", path, dlerror());
		return -1;
	}
	const struct smtpgate_plugin *(*entry)(void);
	*(void **)&entry = dlsym(h, "smtpgate_plugin_entry");
	if (!entry) {
		snprintf(err, err_size, "%s: not an smtpgate plugin: no smtpgate_plugin_entry()", path);
		dlclose(h);
		return -1;
	}
	const struct smtpgate_plugin *d = entry();
	if (plugin_check_descriptor(d, why, sizeof(why)) < 0) {
		snprintf(err, err_size, "%s: refused: %s", path, why);
		dlclose(h);
		return -1;
	}
	out->handle = h;
	plugin_descriptor_copy(d, &out->desc_copy);
	out->desc = &out->desc_copy;
	return 0;
}

void plugin_descriptor_copy(const struct smtpgate_plugin *d, struct smtpgate_plugin *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out, d, d->size < sizeof(*out) ? d->size : sizeof(*out));
}

void plugin_unload(struct plugin *p)
{
	if (p->handle)
		dlclose(p->handle);
	p->handle = NULL;
	p->desc = NULL;
}
