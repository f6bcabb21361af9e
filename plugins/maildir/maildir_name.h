/* maildir_name.h - the pure parts of the maildir plugin: where a recipient's
   mail goes, and unique file names. */
#ifndef SMTPGATE_MAILDIR_NAME_H
#define SMTPGATE_MAILDIR_NAME_H

#include <stddef.h>

#define MAILDIR_PATH_MAX_BYTES 4096
#define MAILDIR_NAME_MAX_BYTES 256
/* What a delivery appends to a Maildir's path: "/tmp/" and a unique name. */
#define MAILDIR_FILE_RESERVE_BYTES (5 + MAILDIR_NAME_MAX_BYTES)

/* 1 if the template names one Maildir per recipient (%u, %d or %a). */
int maildir_template_per_recipient(const char *tmpl);

/* Check a template: absolute, and % only as %u %d %a %%.  0 or -1. */
int maildir_template_check(const char *tmpl, const char **why_out);

/* The directory the sysadmin's template fixes, %% turned into %: the
   Maildir itself in single-folder mode; per recipient, the directory that
   holds every recipient's path (the text before the first %u, %d or %a, up
   to its last '/').  0, or -1 if it does not fit out. */
int maildir_template_base(const char *tmpl, char *out, size_t size);

/* The template with %u (local part), %d (domain), %a (address) and %%
   replaced, lower-cased.  A value that could leave the directory the
   template names - with '/', a control character, a leading dot, a quote
   or a space, or empty - is refused: -1 with *why_out.  So is a result
   with a component longer than NAME_MAX, or one that leaves no room below
   PATH_MAX (and size) for MAILDIR_FILE_RESERVE_BYTES: every later delivery
   to it would fail. */
int maildir_expand(const char *tmpl, const char *address, char *out, size_t size,
		   const char **why_out);

/* A unique name: seconds.M<usec>P<pid>Q<seq>R<random>.<host>,S=<size>
   (the Maildir convention; '/' and ':' in the host are escaped). */
int maildir_unique_name(char *out, size_t size, long long sec, long usec, long pid,
			unsigned long seq, unsigned long long random, const char *host,
			size_t msg_size);

#endif
