/* plugin_load.h - dlopen a handler, check its ABI and descriptor. */
#ifndef SMTPGATE_PLUGIN_LOAD_H
#define SMTPGATE_PLUGIN_LOAD_H

#include <stddef.h>

#include "smtpgate/plugin.h"

struct plugin {
	void *handle;
	/* The plugin's descriptor as this core's struct: a plugin built for
	   an older minor has the hooks appended since then NULL here. */
	const struct smtpgate_plugin *desc;
	struct smtpgate_plugin desc_copy;
};

/* The file: an absolute path, every directory on the way owned by root
   or us and not writable by group or others unless sticky, every symlink
   followed owned by root or us; the file a regular one, not writable by
   group or others, owned by root or by us.  0, or -1 with a message in
   err.  plugin_load() makes the same checks on the descriptor it loads. */
int plugin_check_file(const char *path, char *err, size_t err_size);
/* The descriptor, without loading anything (unit-testable). */
int plugin_check_descriptor(const struct smtpgate_plugin *d, char *err, size_t err_size);
/* Both checks, then dlopen.  Every message names the file. */
int plugin_load(const char *path, struct plugin *out, char *err, size_t err_size);
void plugin_unload(struct plugin *p);
/* d's first d->size bytes into out, the rest of out zeroed. */
void plugin_descriptor_copy(const struct smtpgate_plugin *d, struct smtpgate_plugin *out);
/* The plugin on a listener offering the SMTP_EXT_* extensions: DSN needs
   a handler that relays (it lists "DSN" in its ehlo_keywords).  0, or -1
   with the reason in err. */
int plugin_check_extensions(const struct smtpgate_plugin *d, unsigned int extensions, char *err,
			    size_t err_size);
/* 1 if verb is one of the channel's own commands. */
int plugin_is_builtin_verb(const char *verb);

#endif
