/*
 * maildir_settings.c - the settings of the listener's `maildir` group as
 * the plugin declares them to the core (ABI 1.1): names, types and
 * defaults, so the core refuses a misspelled name at -t and lists the
 * effective values with -t -v.  What a value means and its deeper checks
 * (a path template, an octal mode, a user that exists) stay in
 * maildir.c's init.  It holds data only: it must never read the config
 * itself or carry a default that differs from the one init applies.
 */
#include "maildir_settings.h"

/* The group's settings, in the order the README lists them. */
const struct smtpgate_setting maildir_settings[] = {
	{ "path", SMTPGATE_SETTING_STRING, 0, 0, NULL,
	  "the Maildir; %u, %d, %a: one per recipient (required)" },
	{ "line_ending", SMTPGATE_SETTING_STRING, 0, 0, "\"lf\"", "\"lf\" or \"crlf\" in the files" },
	{ "dir_mode", SMTPGATE_SETTING_STRING, 0, 0, "\"0700\"", "mode of created directories" },
	{ "file_mode", SMTPGATE_SETTING_STRING, 0, 0, "\"0600\"", "mode of delivered files" },
	{ "user", SMTPGATE_SETTING_STRING, 0, 0, "(unset)", "owner of the base directory" },
	{ "group", SMTPGATE_SETTING_STRING, 0, 0, "(unset)", "group of the base directory" },
	{ "return_path", SMTPGATE_SETTING_BOOL, 0, 0, "true", "add Return-Path:" },
	{ "original_to", SMTPGATE_SETTING_BOOL, 0, 0, "true", "add X-Original-To:" },
	{ "delivered_to", SMTPGATE_SETTING_BOOL, 0, 0, "true", "add Delivered-To:" },
	{ "received", SMTPGATE_SETTING_BOOL, 0, 0, "true", "add Received:" },
	{ "hide_client", SMTPGATE_SETTING_BOOL, 0, 0, "false",
	  "no client address in Received: for a client that authenticated" },
	{ NULL, 0, 0, 0, NULL, NULL },
};
