/*
 * test_plugin_load.c - what the loader refuses before any plugin code but
 * the entry function runs: descriptors built by hand (wrong major, newer
 * minor, too small, no name, no message hook, bad commands, EHLO keywords,
 * stream_flags), unsafe files (group/other-writable, not regular), the way
 * to them (relative paths, directories and symlinks others own or may
 * write), and the real shared objects built by `make check` (debug.so
 * loads; badabi.so and nomessage.so do not).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_load.h"
#include "smtp_ext.h"
#include "unit.h"

static enum smtpgate_verdict good_message(void *priv, const struct smtpgate_session *s,
					  const struct smtpgate_message *m,
					  struct smtpgate_reply *r)
{
	(void)priv;
	(void)s;
	(void)m;
	(void)r;
	return SMTPGATE_CONTINUE;
}

static enum smtpgate_verdict good_command(void *priv, const struct smtpgate_session *s,
					  const char *arg, struct smtpgate_reply *r)
{
	(void)priv;
	(void)s;
	(void)arg;
	(void)r;
	return SMTPGATE_CONTINUE;
}

static const struct smtpgate_command cmds_ok[] = { { "XFOO", good_command },
						   { "X2", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_builtin[] = { { "RSET", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_builtin2[] = { { "XOK", good_command },
							 { "EXPN", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_lower[] = { { "xfoo", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_mixed[] = { { "Xfoo", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_empty[] = { { "", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_space[] = { { "X FOO", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_long[] = { { "XAAAAAAAAAAAAAAA", good_command },
						     { NULL, NULL } };
static const struct smtpgate_command cmds_15[] = { { "XAAAAAAAAAAAAAA", good_command },
						   { NULL, NULL } };
static const struct smtpgate_command cmds_no_run[] = { { "XFOO", NULL }, { NULL, NULL } };
static const struct smtpgate_command cmds_twice[] = { { "XFOO", good_command }, { "XBAR", good_command },
						      { "XFOO", good_command }, { NULL, NULL } };
static const struct smtpgate_command cmds_none[] = { { NULL, NULL } };

struct desc_row {
	const char *name;
	unsigned int major, minor;
	size_t size;
	const char *plugin_name;
	int has_message;
	const struct smtpgate_command *commands;
	int rc;
	const char *err; /* a part of the message */
};

static const char *const kw_ok[] = { "XCLIENT NAME ADDR PORT", "X-SITE", "DSN", NULL };
static const char *const kw_core[] = { "XOK", "SIZE 1000", NULL };
static const char *const kw_twice[] = { "XA 1", "xa", NULL };
static const char *const kw_syntax[] = { "X_A", NULL };
static const char *const kw_params[] = { "XA  B", NULL };
static const char *const kw_crlf[] = { "XA\r\n250 FAKE", NULL };

#define SZ sizeof(struct smtpgate_plugin)
#define MAJ SMTPGATE_ABI_MAJOR
#define MIN SMTPGATE_ABI_MINOR

static const struct desc_row desc_rows[] = {
	{ "good", MAJ, MIN, SZ, "good", 1, NULL, 0, NULL },
	{ "good with commands", MAJ, MIN, SZ, "good", 1, cmds_ok, 0, NULL },
	{ "good with an empty command list", MAJ, MIN, SZ, "good", 1, cmds_none, 0, NULL },
	{ "verb of 15 bytes", MAJ, MIN, SZ, "good", 1, cmds_15, 0, NULL },
	{ "larger size (appended fields)", MAJ, MIN, SZ + 64, "good", 1, NULL, 0, NULL },
	{ "wrong major (newer)", MAJ + 1, 0, SZ, "bad", 1, NULL, -1, "built for plugin ABI 2.0" },
	{ "wrong major (older)", MAJ - 1, 0, SZ, "bad", 1, NULL, -1, "built for plugin ABI 0.0" },
	{ "newer minor", MAJ, MIN + 1, SZ, "bad", 1, NULL, -1, "built for plugin ABI 1.2" },
	{ "size smaller than the minor's", MAJ, MIN, SZ - 8, "bad", 1, NULL, -1,
	  "descriptor size" },
	{ "size 0", MAJ, MIN, 0, "bad", 1, NULL, -1, "descriptor size 0" },
	{ "no name", MAJ, MIN, SZ, NULL, 1, NULL, -1, "no name" },
	{ "empty name", MAJ, MIN, SZ, "", 1, NULL, -1, "no name" },
	{ "no on_message", MAJ, MIN, SZ, "quiet", 0, NULL, -1, "no message hook" },
	{ "command shadowing a built-in", MAJ, MIN, SZ, "bad", 1, cmds_builtin, -1,
	  "\"RSET\" is a built-in command" },
	{ "second command shadowing a built-in", MAJ, MIN, SZ, "bad", 1, cmds_builtin2, -1,
	  "\"EXPN\" is a built-in command" },
	{ "lower-case verb", MAJ, MIN, SZ, "bad", 1, cmds_lower, -1,
	  "\"xfoo\" is not an upper-case verb" },
	{ "mixed-case verb", MAJ, MIN, SZ, "bad", 1, cmds_mixed, -1, "not an upper-case verb" },
	{ "empty verb", MAJ, MIN, SZ, "bad", 1, cmds_empty, -1, "not an upper-case verb" },
	{ "verb with a space", MAJ, MIN, SZ, "bad", 1, cmds_space, -1, "not an upper-case verb" },
	{ "verb of 16 bytes", MAJ, MIN, SZ, "bad", 1, cmds_long, -1, "not an upper-case verb" },
	{ "verb twice", MAJ, MIN, SZ, "bad", 1, cmds_twice, -1,
	  "\"XFOO\" is in its command table twice" },
	{ "command without handler", MAJ, MIN, SZ, "bad", 1, cmds_no_run, -1,
	  "not an upper-case verb with a handler" },
};

/* ehlo_keywords (ABI 1.1), checked with the rest of the descriptor. */
static const struct {
	const char *name;
	const char *const *keywords;
	int rc;
	const char *err;
} keyword_rows[] = {
	{ "EHLO keywords", kw_ok, 0, NULL },
	{ "EHLO keyword of the core's", kw_core, -1,
	  "EHLO keyword \"SIZE\" repeats a keyword the core offers" },
	{ "EHLO keyword twice", kw_twice, -1, "\"xa\" is listed twice" },
	{ "EHLO keyword syntax", kw_syntax, -1, "byte other than" },
	{ "EHLO keyword parameters", kw_params, -1, "separated by one space" },
	{ "EHLO keyword with CR LF", kw_crlf, -1, "EHLO keyword" },
};

static void test_check_keywords(void)
{
	for (size_t i = 0; i < sizeof(keyword_rows) / sizeof(keyword_rows[0]); i++) {
		struct smtpgate_plugin d = { SMTPGATE_PLUGIN_HEADER, .name = "kw",
					     .on_message = good_message,
					     .ehlo_keywords = keyword_rows[i].keywords };
		char err[512] = "";
		UNIT_CHECK(keyword_rows[i].name,
			   plugin_check_descriptor(&d, err, sizeof(err)) == keyword_rows[i].rc);
		if (keyword_rows[i].err)
			UNIT_CHECK_CONTAINS(keyword_rows[i].name, err, keyword_rows[i].err);
	}
}

static enum smtpgate_verdict good_body(void *priv, const struct smtpgate_session *s,
				       const char *data, size_t len, struct smtpgate_reply *r)
{
	(void)priv;
	(void)s;
	(void)data;
	(void)len;
	(void)r;
	return SMTPGATE_CONTINUE;
}

/* stream_flags (ABI 1.1): known bits only, and only with on_body.  A 1.0
   descriptor has none: what lies past its size is never read. */
static const struct {
	const char *name;
	unsigned int minor;
	size_t size;
	unsigned int flags;
	int has_body;
	int rc;
	const char *err;
} stream_rows[] = {
	{ "no flags, no body hook", MIN, SZ, 0, 0, 0, NULL },
	{ "no flags, body hook", MIN, SZ, 0, 1, 0, NULL },
	{ "whole header with body hook", MIN, SZ, SMTPGATE_STREAM_WHOLE_HEADER, 1, 0, NULL },
	{ "unknown bit", MIN, SZ, 0x4, 1, -1,
	  "plugin \"st\": stream_flags 0x4 has bits this smtpgate does not know (0x4;" },
	{ "known and unknown bits", MIN, SZ, 0x80000001u, 1, -1,
	  "stream_flags 0x80000001 has bits this smtpgate does not know (0x80000000;" },
	{ "unknown bit, no body hook", MIN, SZ, 0x2, 0, -1, "stream_flags 0x2 has bits" },
	{ "flags without body hook", MIN, SZ, SMTPGATE_STREAM_WHOLE_HEADER, 0, -1,
	  "plugin \"st\": stream_flags 0x1 set without a body hook (on_body)" },
	{ "1.0 descriptor: past its size not read", 0,
	  offsetof(struct smtpgate_plugin, commands) + sizeof(void *), 0xff, 0, 0, NULL },
};

static void test_check_stream(void)
{
	for (size_t i = 0; i < sizeof(stream_rows) / sizeof(stream_rows[0]); i++) {
		struct smtpgate_plugin d = { SMTPGATE_PLUGIN_HEADER, .name = "st",
					     .on_message = good_message };
		d.abi_minor = stream_rows[i].minor;
		d.size = stream_rows[i].size;
		d.stream_flags = stream_rows[i].flags;
		d.on_body = stream_rows[i].has_body ? good_body : NULL;
		char err[512] = "";
		UNIT_CHECK(stream_rows[i].name,
			   plugin_check_descriptor(&d, err, sizeof(err)) == stream_rows[i].rc);
		if (stream_rows[i].err)
			UNIT_CHECK_CONTAINS(stream_rows[i].name, err, stream_rows[i].err);
	}
}

static void test_check_descriptor(void)
{
	for (size_t i = 0; i < sizeof(desc_rows) / sizeof(desc_rows[0]); i++) {
		const struct desc_row *r = &desc_rows[i];
		struct smtpgate_plugin d;
		memset(&d, 0, sizeof(d));
		d.abi_major = r->major;
		d.abi_minor = r->minor;
		d.size = r->size;
		d.name = r->plugin_name;
		d.on_message = r->has_message ? good_message : NULL;
		d.commands = r->commands;
		char err[512] = "";
		int rc = plugin_check_descriptor(&d, err, sizeof(err));
		UNIT_CHECK(r->name, rc == r->rc);
		if (r->err)
			UNIT_CHECK_CONTAINS(r->name, err, r->err);
	}
	char err[512] = "";
	UNIT_CHECK("NULL descriptor", plugin_check_descriptor(NULL, err, sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("NULL descriptor", err, "returned NULL");
	/* Both versions are named in a version refusal. */
	struct smtpgate_plugin d = { .abi_major = 7, .abi_minor = 3, .size = SZ, .name = "v",
				     .on_message = good_message };
	plugin_check_descriptor(&d, err, sizeof(err));
	UNIT_CHECK_CONTAINS("both versions", err, "7.3");
	UNIT_CHECK_CONTAINS("both versions", err, "this smtpgate has ABI 1.1");
	/* DSN only for a handler that relays (lists DSN in ehlo_keywords). */
	d = (struct smtpgate_plugin){ SMTPGATE_PLUGIN_HEADER, .name = "store",
				      .on_message = good_message };
	UNIT_CHECK("DSN, not relaying", plugin_check_extensions(&d, SMTP_EXT_DSN, err,
								sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("DSN, not relaying", err, "does not relay");
	UNIT_CHECK("no DSN", plugin_check_extensions(&d, SMTP_EXT_CONFIG_DEFAULT, err,
						     sizeof(err)) == 0);
	d.ehlo_keywords = kw_ok;
	UNIT_CHECK("DSN, relaying", plugin_check_extensions(&d, SMTP_EXT_DSN, err,
							    sizeof(err)) == 0);
}

/* A plugin built for an older minor has a shorter descriptor: the core
   reads it as its own struct with the fields appended since then NULL,
   never the bytes that follow the plugin's descriptor in its memory. */
static void test_descriptor_copy(void)
{
	unsigned char raw[sizeof(struct smtpgate_plugin) + 64];
	memset(raw, 0xa5, sizeof(raw)); /* what lies after a short descriptor */
	struct smtpgate_plugin d = { .abi_major = MAJ, .abi_minor = MIN, .name = "old",
				     .on_message = good_message };
	d.size = offsetof(struct smtpgate_plugin, on_reset); /* as if on_reset came later */
	memcpy(raw, &d, d.size);
	struct smtpgate_plugin copy;
	plugin_descriptor_copy((const struct smtpgate_plugin *)(void *)raw, &copy);
	UNIT_CHECK_STR("short: name kept", copy.name, "old");
	UNIT_CHECK("short: message hook kept", copy.on_message == good_message);
	UNIT_CHECK("short: later hooks NULL",
		   copy.on_reset == NULL && copy.on_disconnect == NULL && copy.commands == NULL);
	/* A newer, longer descriptor: this core's part of it. */
	d.size = sizeof(raw);
	memcpy(raw, &d, sizeof(d));
	plugin_descriptor_copy((const struct smtpgate_plugin *)(void *)raw, &copy);
	UNIT_CHECK("long: our fields", copy.on_message == good_message && copy.size == sizeof(raw));
}

static const struct {
	const char *verb;
	int builtin;
} verb_rows[] = {
	{ "HELO", 1 }, { "EHLO", 1 }, { "NOOP", 1 }, { "QUIT", 1 }, { "MAIL", 1 }, { "RCPT", 1 },
	{ "RSET", 1 }, { "DATA", 1 }, { "HELP", 1 }, { "VRFY", 1 }, { "EXPN", 1 },
	{ "helo", 0 }, { "XFOO", 0 }, { "STARTTLS", 0 }, { "", 0 },
};

static void test_builtin_verbs(void)
{
	for (size_t i = 0; i < sizeof(verb_rows) / sizeof(verb_rows[0]); i++)
		UNIT_CHECK(verb_rows[i].verb[0] ? verb_rows[i].verb : "(empty)",
			   plugin_is_builtin_verb(verb_rows[i].verb) == verb_rows[i].builtin);
}

static const struct {
	const char *name;
	unsigned int mode;
	int rc;
	const char *err;
} file_rows[] = {
	{ "mode 0755", 0755, 0, NULL },
	{ "mode 0644", 0644, 0, NULL },
	{ "mode 0600", 0600, 0, NULL },
	{ "group-writable 0664", 0664, -1, "writable by group or others (mode 664)" },
	{ "group-writable 0775", 0775, -1, "writable" },
	{ "other-writable 0646", 0646, -1, "writable" },
	{ "world-writable 0777", 0777, -1, "writable" },
};

static void test_check_file(void)
{
	char path[512], err[512];
	unit_tmppath(path, sizeof(path), "mode-test.so");
	FILE *f = fopen(path, "w");
	if (!UNIT_CHECK("create", f != NULL))
		return;
	fputs("not really a shared object\n", f);
	fclose(f);
	for (size_t i = 0; i < sizeof(file_rows) / sizeof(file_rows[0]); i++) {
		const char *row = file_rows[i].name;
		UNIT_CHECK(row, chmod(path, file_rows[i].mode) == 0);
		err[0] = '\0';
		UNIT_CHECK(row, plugin_check_file(path, err, sizeof(err)) == file_rows[i].rc);
		if (file_rows[i].err) {
			UNIT_CHECK_CONTAINS(row, err, file_rows[i].err);
			UNIT_CHECK_CONTAINS(row, err, path);
		}
	}
	err[0] = '\0';
	UNIT_CHECK("directory", plugin_check_file(unit_tmpdir(), err, sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("directory", err, "not a regular file");
	unit_tmppath(path, sizeof(path), "absent.so");
	UNIT_CHECK("absent", plugin_check_file(path, err, sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("absent", err, "No such file");
}

/* The way to a plugin: fixtures under TMPDIR/pl, then one row per path.
   Another user's uid (nobody's 65534) needs root to set; without root
   those rows are skipped. */
static const struct {
	const char *name;
	const char *path; /* below TMPDIR/pl; as it is when relative */
	int relative;
	int needs_root;
	int rc;
	const char *err;
} path_rows[] = {
	{ "plain file", "good.so", 0, 0, 0, NULL },
	{ "relative path", "good.so", 1, 0, -1, "refused: a relative path" },
	{ "relative with a slash", "pl/good.so", 1, 0, -1, "refused: a relative path" },
	{ "our symlink, relative target", "link-ok.so", 0, 0, 0, NULL },
	{ "our symlink, absolute target", "link-abs.so", 0, 0, 0, NULL },
	{ "chain of our symlinks", "chain1.so", 0, 0, 0, NULL },
	{ "our symlink to a directory", "dirlink/good.so", 0, 0, 0, NULL },
	{ "dot-dot on the way", "sub/../good.so", 0, 0, 0, NULL },
	{ "another user's symlink", "link-other.so", 0, 1, -1, "symlink" },
	{ "another user's symlink on the way", "dirlink-other/good.so", 0, 1, -1, "owned by uid 65534" },
	{ "directory writable by others", "openw/good.so", 0, 0, -1,
	  "is writable by group or others (mode 777)" },
	{ "directory writable by its group", "groupw/good.so", 0, 0, -1, "writable by group" },
	{ "sticky directory writable by others", "sticky/good.so", 0, 0, 0, NULL },
	{ "directory of another user", "otherdir/good.so", 0, 1, -1, "owned by uid 65534" },
	{ "symlink loop", "loop.so", 0, 0, -1, "Too many levels of symbolic links" },
	{ "missing", "absent.so", 0, 0, -1, "No such file" },
	{ "a directory", "sub", 0, 0, -1, "not a regular file" },
};

/* TMPDIR/pl with the files, directories and symlinks the rows name. */
static int make_path_fixtures(int *root_out)
{
	char pl[512], p[600], q[600];
	static const char *const dirs[][2] = { { "", "755" }, { "/sub", "755" }, { "/openw", "777" },
					       { "/groupw", "775" }, { "/sticky", "1777" },
					       { "/otherdir", "755" } };
	unit_tmppath(pl, sizeof(pl), "pl");
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", pl, dirs[i][0]);
		if (mkdir(p, 0700) < 0 || chmod(p, (mode_t)strtol(dirs[i][1], NULL, 8)) < 0)
			return -1;
		snprintf(q, sizeof(q), "pl%s/good.so", dirs[i][0]);
		if (unit_copy_file("/dev/null", q, 0644) < 0)
			return -1;
	}
	snprintf(p, sizeof(p), "%s/good.so", pl);
	static const char *const links[][2] = { { "link-ok.so", "good.so" }, { "chain1.so", "chain2.so" },
						{ "chain2.so", "link-ok.so" }, { "dirlink", "sub" },
						{ "loop.so", "loop.so" }, { "link-other.so", "good.so" },
						{ "dirlink-other", "sub" } };
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(q, sizeof(q), "%s/%s", pl, links[i][0]);
		if (symlink(links[i][1], q) < 0)
			return -1;
	}
	snprintf(q, sizeof(q), "%s/link-abs.so", pl);
	if (symlink(p, q) < 0)
		return -1;
	*root_out = geteuid() == 0;
	if (*root_out) {
		snprintf(q, sizeof(q), "%s/link-other.so", pl);
		snprintf(p, sizeof(p), "%s/dirlink-other", pl);
		char d[600];
		snprintf(d, sizeof(d), "%s/otherdir", pl);
		if (lchown(q, 65534, 65534) < 0 || lchown(p, 65534, 65534) < 0 ||
		    chown(d, 65534, 65534) < 0)
			return -1;
	}
	return 0;
}

static void test_check_paths(void)
{
	int root = 0;
	if (!UNIT_CHECK("fixtures", make_path_fixtures(&root) == 0))
		return;
	for (size_t i = 0; i < sizeof(path_rows) / sizeof(path_rows[0]); i++) {
		const char *row = path_rows[i].name;
		char path[600], pl[512], err[1024] = "";
		if (path_rows[i].needs_root && !root) {
			printf("    %s: skipped (not root)\n", row);
			continue;
		}
		unit_tmppath(pl, sizeof(pl), "pl");
		if (path_rows[i].relative)
			snprintf(path, sizeof(path), "%s", path_rows[i].path);
		else
			snprintf(path, sizeof(path), "%s/%s", pl, path_rows[i].path);
		UNIT_CHECK(row, plugin_check_file(path, err, sizeof(err)) == path_rows[i].rc);
		if (path_rows[i].err) {
			UNIT_CHECK_CONTAINS(row, err, path);
			UNIT_CHECK_CONTAINS(row, err, path_rows[i].err);
		}
	}
}

static void test_load_debug(void)
{
	const char *so = unit_build_file("plugins/debug/.libs/debug.so");
	if (!UNIT_CHECK("debug.so built", so != NULL))
		return;
	char path[512], err[1024] = "";
	/* A copy with a known mode: the build tree's umask must not matter. */
	UNIT_CHECK("copy", unit_copy_file(so, "load-debug.so", 0755) == 0);
	unit_tmppath(path, sizeof(path), "load-debug.so");
	struct plugin p;
	int rc = plugin_load(path, &p, err, sizeof(err));
	if (!UNIT_CHECK("debug.so loads", rc == 0)) {
		printf("    error: %s\n", err);
		return;
	}
	UNIT_CHECK("handle", p.handle != NULL);
	UNIT_CHECK("descriptor", p.desc != NULL);
	UNIT_CHECK_STR("name", p.desc->name, "debug");
	UNIT_CHECK("major", p.desc->abi_major == SMTPGATE_ABI_MAJOR);
	UNIT_CHECK("on_message", p.desc->on_message != NULL);
	UNIT_CHECK("init", p.desc->init != NULL);
	/* The descriptor comes from the .so, not from the copy linked in here. */
	UNIT_CHECK("from the .so", p.desc != smtpgate_plugin_entry());
	plugin_unload(&p);
	UNIT_CHECK("unloaded", p.handle == NULL && p.desc == NULL);
	plugin_unload(&p); /* twice is harmless */

	/* Through our own symlink it loads; by a relative path it does not,
	   whatever the working directory holds. */
	char link[512];
	unit_tmppath(link, sizeof(link), "load-link.so");
	UNIT_CHECK("symlink", symlink(path, link) == 0);
	rc = plugin_load(link, &p, err, sizeof(err));
	UNIT_CHECK("debug.so through our symlink", rc == 0);
	if (rc == 0)
		UNIT_CHECK_STR("name through the symlink", p.desc->name, "debug");
	plugin_unload(&p);
	UNIT_CHECK("relative path refused", plugin_load("plugins/debug/.libs/debug.so", &p, err,
							 sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("relative path refused", err, "relative");

	UNIT_CHECK("copy 0664", unit_copy_file(so, "writable-debug.so", 0664) == 0);
	unit_tmppath(path, sizeof(path), "writable-debug.so");
	UNIT_CHECK("group-writable debug.so refused", plugin_load(path, &p, err, sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("group-writable debug.so refused", err, "writable");
	UNIT_CHECK("nothing kept", p.handle == NULL && p.desc == NULL);
}

static const struct {
	const char *name;
	const char *rel;
	const char *err1, *err2;
} refused_rows[] = {
	{ "badabi.so", "tests/plugins/.libs/badabi.so", "refused: built for plugin ABI 2.0",
	  "this smtpgate has ABI 1.1" },
	{ "nomessage.so", "tests/plugins/.libs/nomessage.so", "refused: plugin \"nomessage\"",
	  "no message hook" },
};

static void test_load_refused(void)
{
	for (size_t i = 0; i < sizeof(refused_rows) / sizeof(refused_rows[0]); i++) {
		const char *row = refused_rows[i].name;
		const char *so = unit_build_file(refused_rows[i].rel);
		if (!UNIT_CHECK(row, so != NULL)) {
			printf("    %s not found: build it with make check\n", refused_rows[i].rel);
			continue;
		}
		char path[512], err[1024] = "";
		UNIT_CHECK(row, unit_copy_file(so, refused_rows[i].name, 0755) == 0);
		unit_tmppath(path, sizeof(path), refused_rows[i].name);
		struct plugin p;
		UNIT_CHECK(row, plugin_load(path, &p, err, sizeof(err)) == -1);
		UNIT_CHECK(row, p.handle == NULL && p.desc == NULL);
		UNIT_CHECK_CONTAINS(row, err, path);
		UNIT_CHECK_CONTAINS(row, err, refused_rows[i].err1);
		UNIT_CHECK_CONTAINS(row, err, refused_rows[i].err2);
	}
	/* Not a shared object at all, and a shared object that is no plugin. */
	char path[512], err[1024] = "";
	struct plugin p;
	unit_tmppath(path, sizeof(path), "text.so");
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("junk\n", f);
		fclose(f);
		chmod(path, 0644);
	}
	UNIT_CHECK("not an ELF file", plugin_load(path, &p, err, sizeof(err)) == -1);
	UNIT_CHECK_CONTAINS("not an ELF file", err, path);
	const char *libc = "/lib/x86_64-linux-gnu/libm.so.6";
	struct stat st;
	if (stat(libc, &st) == 0 && !(st.st_mode & 022) && (st.st_uid == 0)) {
		UNIT_CHECK("no entry point", plugin_load(libc, &p, err, sizeof(err)) == -1);
		UNIT_CHECK_CONTAINS("no entry point", err, "no smtpgate_plugin_entry()");
	}
}

int test_plugin_load_register(void)
{
	CU_pSuite s = CU_add_suite("plugin_load", NULL, NULL);
	if (!s || !CU_add_test(s, "plugin_check_descriptor table", test_check_descriptor) ||
	    !CU_add_test(s, "EHLO keywords table", test_check_keywords) ||
	    !CU_add_test(s, "stream_flags table", test_check_stream) ||
	    !CU_add_test(s, "plugin_descriptor_copy", test_descriptor_copy) ||
	    !CU_add_test(s, "built-in verbs table", test_builtin_verbs) ||
	    !CU_add_test(s, "plugin_check_file modes table", test_check_file) ||
	    !CU_add_test(s, "plugin_check_file paths table", test_check_paths) ||
	    !CU_add_test(s, "plugin_load debug.so", test_load_debug) ||
	    !CU_add_test(s, "plugin_load refused plugins", test_load_refused))
		return -1;
	return 0;
}
