/* log.h - one line per event, as key=value pairs, to stderr or syslog. */
#ifndef SMTPGATE_LOG_H
#define SMTPGATE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_ERROR };

/* facility < 0 logs to stderr; otherwise a syslog(3) facility. */
void log_open(int syslog_facility, int trace);
/* The same switch later (a reload): stderr, or syslog with a facility. */
void log_set_target(int syslog_facility);
/* Role shown in every stderr line ("master", "worker"). */
void log_set_role(const char *role);
const char *log_level_name(enum log_level level);
int log_facility_from_name(const char *name);

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The protocol trace of -d (smtpd.py's DEBUGSTREAM): always to stderr. */
int log_trace_enabled(void);
void log_trace(const char *sid, const char *direction, const char *bytes, size_t len);

#endif
