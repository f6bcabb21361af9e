/* log.h - one line per event, as key=value pairs, to stderr or syslog;
   the fatal/panic ladder; quoting of field values. */
#ifndef SMTPGATE_LOG_H
#define SMTPGATE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_ERROR };

/* A written line is at most this long, newline included: one write(2) of
   at most PIPE_BUF bytes, so lines of concurrent workers never mix. */
#define LOG_LINE_MAX_BYTES 4096
/* log_quoted(): buffers in rotation, and the size of each. */
#define LOG_QUOTED_SLOTS 8
#define LOG_QUOTED_MAX_BYTES 1024

/* facility < 0 logs to stderr; otherwise a syslog(3) facility. */
void log_open(int syslog_facility, int trace);
/* The same switch later (a reload): stderr, or syslog with a facility. */
void log_set_target(int syslog_facility);
/* Role shown in every stderr line ("master", "worker"). */
void log_set_role(const char *role);
/* "debug".."error"; "?" for a value outside the enum. */
const char *log_level_name(enum log_level level);
int log_facility_from_name(const char *name);

/*
 * The format string is always a literal of key=value fields.  A value that
 * may hold a space, a quote, '=', a backslash or anything a client or an
 * upstream sent goes through log_quote()/log_quoted(), which make it one
 * field whatever it holds.  As a last line of defence every byte of the
 * finished line outside printable ASCII (controls, DEL, any byte >= 0x80,
 * so UTF-8 line separators such as U+2028 and U+0085 too) is written \xNN:
 * one line is always one record.
 */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The ladder, after Postfix's msg_fatal/msg_panic:
 *  - log_fatal: the process cannot go on for a reason outside our code
 *    (bad configuration, a resource it cannot start without).  Logs
 *    "event=fatal exit=STATUS <fields>" at error level, then _exit(STATUS)
 *    with a sysexits.h status.  Nothing buffered in stdio is flushed (a
 *    forked worker must not write its parent's buffers twice): a caller
 *    that printed to stdout flushes it first.
 *  - log_panic: our own invariant is broken (an impossible state, an
 *    allocation failure).  Logs "event=panic <fields>" at error level, then
 *    abort() for a core; a worker's master replaces it.
 */
void log_fatal(int exit_status, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
void log_panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/*
 * VALUE as one field value in buf (size bytes, at least 8; always
 * NUL-terminated): bare when it is non-empty printable ASCII without space,
 * '"', '=' or '\'; otherwise in double quotes, with \" \\ \n \r \t, and
 * \xNN for every other byte outside printable ASCII.  NULL is written "".
 * A value that does not fit is cut before a whole escape and ends in ...
 * inside its quotes.  Returns buf.
 */
const char *log_quote(char *buf, size_t size, const char *value);
/*
 * log_quote() into the next of LOG_QUOTED_SLOTS static buffers, for a log
 * call's argument list: log_info("sid=%s from=%s", id, log_quoted(addr)).
 * Each result stays valid for the next LOG_QUOTED_SLOTS - 1 calls, so one
 * log call may use it that many times.  Processes are single-threaded
 * (master, workers); never call it from a signal handler.
 */
const char *log_quoted(const char *value);

/* The protocol trace of -d (smtpd.py's DEBUGSTREAM): always to stderr. */
int log_trace_enabled(void);
void log_trace(const char *sid, const char *direction, const char *bytes, size_t len);

#endif
