/* maildir_settings.h - the maildir group's declared settings table. */
#ifndef SMTPGATE_MAILDIR_SETTINGS_H
#define SMTPGATE_MAILDIR_SETTINGS_H

#include <smtpgate/plugin.h>

/* Ended by a row with a NULL name. */
extern const struct smtpgate_setting maildir_settings[];

#endif
