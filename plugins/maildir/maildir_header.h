/* maildir_header.h - the header lines a delivered copy starts with. */
#ifndef SMTPGATE_MAILDIR_HEADER_H
#define SMTPGATE_MAILDIR_HEADER_H

#include <stddef.h>

#include <smtpgate/plugin.h>

/* Which lines to write (the plugin's settings of the same names). */
struct maildir_header_opts {
	int return_path, original_to, delivered_to, received;
	unsigned int abi_minor; /* the host's: 1.1 fields are read only from 1 */
};

/* The headers of one copy (LF line ends) into out, NUL-terminated: for
   rcpt (a per-recipient copy: Delivered-To) or NULL (one copy for all:
   X-Original-To each).  A line that does not fit whole is left out.
   Returns the length. */
size_t maildir_header_build(const struct maildir_header_opts *o,
			    const struct smtpgate_session *s, const char *rcpt, char *out,
			    size_t size);

#endif
