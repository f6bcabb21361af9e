/* maildir.h - what the maildir plugin's files share: its settings, one
   worker's state, and the headers a copy starts with. */
#ifndef SMTPGATE_MAILDIR_H
#define SMTPGATE_MAILDIR_H

#include <sys/types.h>

#include <smtpgate/plugin.h>

#include "maildir_dir.h"
#include "maildir_name.h"

#define MAILDIR_HEADERS_MAX_BYTES 8192
/* Maildirs whose copy is written as the message arrives, each with its
   own headers and its own tmp/ file (two descriptors each); any further
   Maildirs share one more file, hard-linked into each at the final dot
   (copied where it cannot be linked: maildir_copy.c). */
#define MAILDIR_STREAM_FILES_MAX 32

struct maildir_tx;

struct maildir_state {
	const struct smtpgate_host *host;
	char path[MAILDIR_PATH_MAX_BYTES]; /* the template; the Maildir if not per recipient */
	char base[MAILDIR_PATH_MAX_BYTES]; /* maildir_template_base(): made at init */
	int per_recipient;
	mode_t file_mode;
	/* dir_mode, and the process's umask read at init (modes it clears are
	   set by chmod), for files too */
	struct maildir_dir_mode dirs;
	int crlf;
	int return_path, original_to, delivered_to, received;
	int hide_client; /* Received: no address for an AUTH'd client */
	char hostname[128];
	unsigned long seq;
	struct maildir_tx *tx; /* the message being received, or NULL */
};

/* The headers one copy starts with (LF line ends): for rcpt (per
   recipient), for every recipient (rcpt NULL), or, shared, naming no
   recipient (one file linked into several recipients' Maildirs). */
size_t maildir_headers(const struct maildir_state *st, const struct smtpgate_session *s,
		       const char *rcpt, int shared, char *out, size_t size);

#endif
