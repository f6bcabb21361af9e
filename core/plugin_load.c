/*
 * plugin_load.c - dlopen(3) a handler and refuse it before any of its code
 * but the entry function runs if it is unsafe or built for another ABI.
 *
 * Refused, each with the file name and both versions: another ABI major, a
 * newer minor, a descriptor smaller than its minor promises, no name, no
 * message hook, a command that shadows a built-in one, stream_flags it
 * does not know or without a body hook, and a file that is
 * writable by group/others or owned by someone else (anyone who can write
 * it runs code in every worker).
 *
 * The file is opened once and that descriptor is what gets checked and
 * dlopen'ed (/proc/self/fd/N): no check-then-use race.  The path must be
 * absolute (never resolved against the working directory) and is walked
 * one component at a time from "/": every directory on the way must be
 * owned by root or us and not writable by group or others unless sticky,
 * and a symlink is followed only when root or we own it, so nobody else
 * can swap or point to the file that is loaded.
 */
#include "plugin_load.h"

#include "smtp_ext.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_settings.h"

/* The size of struct smtpgate_plugin as each minor of this major defined
   it: up to the end of that minor's last field (a later minor appends
   after it).  A bump adds one line naming its own last field. */
#define DESCRIPTOR_SIZE_UP_TO(field)                                      \
	(offsetof(struct smtpgate_plugin, field) + sizeof(((struct smtpgate_plugin *)0)->field))
static const size_t descriptor_size_by_minor[] = {
	DESCRIPTOR_SIZE_UP_TO(commands), /* 1.0 */
	DESCRIPTOR_SIZE_UP_TO(on_auth),  /* 1.1 */
};
/* A minor added to the header without its row here would be read past
   the table's end. */
_Static_assert(sizeof(descriptor_size_by_minor) / sizeof(descriptor_size_by_minor[0]) ==
		       SMTPGATE_ABI_MINOR + 1,
	       "one descriptor size per ABI minor");

static int plugin_check_keywords(const struct smtpgate_plugin *d, char *err, size_t err_size);
static int plugin_check_stream(const struct smtpgate_plugin *d, char *err, size_t err_size);

static const char *const builtin_verbs[] = {
	"HELO", "EHLO", "NOOP", "QUIT", "MAIL", "RCPT", "RSET", "DATA", "HELP", "VRFY", "EXPN",
	"BDAT", NULL
};

int plugin_is_builtin_verb(const char *verb)
{
	for (const char *const *v = builtin_verbs; *v; v++)
		if (strcmp(*v, verb) == 0)
			return 1;
	return 0;
}

/* 1 if uid may own what we load: root or ourselves. */
static int trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* A directory on the way: owned by root or us, and writable by nobody
   else unless sticky (there only an entry's owner may replace it, and
   every entry followed is checked for its owner). */
static int check_dir(int fd, const char *path, const char *shown, char *err, size_t err_size)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "%s: %s: not a directory", path, shown);
		return -1;
	}
	if (!trusted_owner(st.st_uid)) {
		snprintf(err, err_size, "%s: refused: directory %s is owned by uid %u, not by root or "
			 "uid %u", path, shown, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, err_size, "%s: refused: directory %s is writable by group or others "
			 "(mode %03o)", path, shown, (unsigned int)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

/* The plugin file itself, checked on the open descriptor. */
static int check_open_file(int fd, const char *path, char *err, size_t err_size)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
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
	if (!trusted_owner(st.st_uid)) {
		snprintf(err, err_size, "%s: refused: owned by uid %u, not by root or uid %u",
			 path, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -1;
	}
	return 0;
}

/* Where a walk is: the directory open so far (its name, for messages),
   and the components still to go. */
struct walk {
	const char *path;
	int dir;
	char shown[PATH_MAX];
	char rest[PATH_MAX];
	int links;
};

/* Step into a new starting point: "/" for an absolute path or link. */
static int walk_root(struct walk *w, char *err, size_t err_size)
{
	if (w->dir >= 0)
		close(w->dir);
	w->dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(w->shown, sizeof(w->shown), "/");
	if (w->dir < 0) {
		snprintf(err, err_size, "%s: /: %s", w->path, strerror(errno));
		return -1;
	}
	return check_dir(w->dir, w->path, w->shown, err, err_size);
}

/* name (in w->dir) is a symlink: follow it if root or we own it.  Its
   target goes before what is left of the path. */
static int walk_link(struct walk *w, const char *name, const struct stat *st, char *err,
		     size_t err_size)
{
	char target[PATH_MAX], rest[PATH_MAX];
	if (!trusted_owner(st->st_uid)) {
		snprintf(err, err_size, "%s: refused: symlink %s%s%s is owned by uid %u, not by root "
			 "or uid %u", w->path, w->shown, strcmp(w->shown, "/") ? "/" : "", name,
			 (unsigned int)st->st_uid, (unsigned int)geteuid());
		return -1;
	}
	ssize_t n = readlinkat(w->dir, name, target, sizeof(target) - 1);
	if (n <= 0 || ++w->links > 40 ||
	    snprintf(rest, sizeof(rest), "%.*s/%s", (int)n, target, w->rest) >= (int)sizeof(rest)) {
		snprintf(err, err_size, "%s: %s", w->path,
			 n <= 0 ? strerror(errno) : strerror(w->links > 40 ? ELOOP : ENAMETOOLONG));
		return -1;
	}
	memcpy(w->rest, rest, sizeof(rest));
	return target[0] == '/' ? walk_root(w, err, err_size) : 0;
}

/* Into directory name below w->dir, never through a symlink. */
static int walk_dir(struct walk *w, const char *name, char *err, size_t err_size)
{
	int fd = openat(w->dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_size, "%s: %s/%s: %s", w->path, w->shown, name, strerror(errno));
		return -1;
	}
	close(w->dir);
	w->dir = fd;
	size_t len = strlen(w->shown);
	if (strcmp(name, "..") == 0) {
		char *slash = strrchr(w->shown, '/');
		slash[slash == w->shown] = '\0';
	} else {
		snprintf(w->shown + len, sizeof(w->shown) - len, "%s%s", len > 1 ? "/" : "", name);
	}
	return check_dir(w->dir, w->path, w->shown, err, err_size);
}

/* Open path for loading: absolute, each directory on the way checked,
   each symlink owned by root or us, the file opened once (O_NOFOLLOW) and
   checked on that descriptor.  The fd, or -1 with a message. */
static int plugin_open(const char *path, char *err, size_t err_size)
{
	struct walk w = { .path = path, .dir = -1 };
	if (path[0] != '/') {
		snprintf(err, err_size, "%s: refused: a relative path (a handler path must be "
			 "absolute; a bare name is looked up in plugin_dir)", path);
		return -1;
	}
	if (snprintf(w.rest, sizeof(w.rest), "%s", path) >= (int)sizeof(w.rest)) {
		snprintf(err, err_size, "%s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	int fd = -1;
	if (walk_root(&w, err, err_size) < 0)
		goto out;
	for (;;) {
		char name[NAME_MAX + 1], *p = w.rest;
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0 || len > NAME_MAX) {
			snprintf(err, err_size, "%s: %s", path, len ? strerror(ENAMETOOLONG)
								 : "not a regular file");
			goto out;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		int last = p[len + strspn(p + len, "/")] == '\0';
		memmove(w.rest, p + len, strlen(p + len) + 1);
		struct stat st;
		if (strcmp(name, ".") == 0 && !last)
			continue;
		if (fstatat(w.dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			snprintf(err, err_size, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			if (walk_link(&w, name, &st, err, err_size) < 0)
				goto out;
		} else if (!last) {
			if (walk_dir(&w, name, err, err_size) < 0)
				goto out;
		} else {
			/* O_NONBLOCK: a FIFO put there must not hang the start. */
			fd = openat(w.dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0)
				snprintf(err, err_size, "%s: %s", path, strerror(errno));
			else if (check_open_file(fd, path, err, err_size) < 0) {
				close(fd);
				fd = -1;
			}
			goto out;
		}
	}
out:
	if (w.dir >= 0)
		close(w.dir);
	return fd;
}

int plugin_check_file(const char *path, char *err, size_t err_size)
{
	int fd = plugin_open(path, err, err_size);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int plugin_check_descriptor(const struct smtpgate_plugin *d, char *err, size_t err_size)
{
	char why[256];
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
	/* From here on only the copy is read: a descriptor built for an
	   older minor ends where its size says, and nothing past it is
	   looked at (the appended members read as NULL in the copy). */
	struct smtpgate_plugin copy;
	plugin_descriptor_copy(d, &copy);
	d = &copy;
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
	if (plugin_settings_check_table(d->settings, why, sizeof(why)) < 0) {
		snprintf(err, err_size, "plugin \"%s\": %s", d->name, why);
		return -1;
	}
	if (plugin_check_stream(d, err, err_size) < 0)
		return -1;
	return plugin_check_keywords(d, err, err_size);
}

/* The stream_flags of a 1.1 descriptor: only bits this core knows, and
   only with a body hook to apply them to.  A flag the core does not know
   would be a promise about the pieces it cannot keep. */
static int plugin_check_stream(const struct smtpgate_plugin *d, char *err, size_t err_size)
{
	const unsigned int known = SMTPGATE_STREAM_WHOLE_HEADER;
	if (d->abi_minor < 1 || !d->stream_flags)
		return 0;
	if (d->stream_flags & ~known) {
		snprintf(err, err_size,
			 "plugin \"%s\": stream_flags 0x%x has bits this smtpgate does not know "
			 "(0x%x; it knows 0x%x)", d->name, d->stream_flags, d->stream_flags & ~known,
			 known);
		return -1;
	}
	if (!d->on_body) {
		snprintf(err, err_size,
			 "plugin \"%s\": stream_flags 0x%x set without a body hook (on_body)",
			 d->name, d->stream_flags);
		return -1;
	}
	return 0;
}

/* The EHLO keywords of a 1.1 descriptor: each valid, none the core's,
   none twice. */
static int plugin_check_keywords(const struct smtpgate_plugin *d, char *err, size_t err_size)
{
	const char *why;
	for (const char *const *k = d->ehlo_keywords; d->abi_minor >= 1 && k && *k; k++) {
		size_t len = smtp_ext_keyword_len(*k);
		int twice = 0;
		for (const char *const *e = d->ehlo_keywords; e < k && !twice; e++)
			twice = smtp_ext_keyword_len(*e) == len && strncasecmp(*e, *k, len) == 0;
		if (twice)
			why = "is listed twice";
		if (twice || smtp_ext_keyword_check(*k, &why) < 0) {
			snprintf(err, err_size, "plugin \"%s\": EHLO keyword \"%.*s\" %s", d->name,
				 (int)len, *k, why);
			return -1;
		}
	}
	return 0;
}

int plugin_check_extensions(const struct smtpgate_plugin *d, unsigned int extensions, char *err,
			    size_t err_size)
{
	if (!(extensions & SMTP_EXT_DSN))
		return 0;
	for (const char *const *k = d->ehlo_keywords; k && *k; k++)
		if (strcasecmp(*k, "DSN") == 0)
			return 0;
	/* Accepting NOTIFY=SUCCESS promises a delivery report: only a
	   handler that hands the message on to an upstream can keep that. */
	snprintf(err, err_size,
		 "extensions lists DSN, but handler \"%s\" does not relay (its descriptor does not "
		 "list DSN in ehlo_keywords): remove DSN from extensions", d->name);
	return -1;
}

int plugin_load(const char *path, struct plugin *out, char *err, size_t err_size)
{
	char why[512];
	char fd_path[64];
	memset(out, 0, sizeof(*out));
	int fd = plugin_open(path, err, err_size);
	if (fd < 0)
		return -1;
	/* dlopen the file that was checked, not whatever the path names now. */
	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
	void *h = dlopen(fd_path, RTLD_NOW | RTLD_LOCAL);
	close(fd);
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
