/*
 * log.c - the daemon's log: one line per event, formatted whole and written
 * with one write(2), so lines from concurrent workers never interleave.
 *
 * Entry points: log_open(), log_set_role(), log_debug/info/warn/err(), and
 * log_trace() for the -d protocol trace.  Never writes to a client socket.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX_BYTES 2048

static int log_syslog_facility = -1; /* < 0: stderr */
static int log_trace_on;
static const char *log_role = "smtpgate";
static pid_t log_pid; /* set by log_set_role(), which each process calls after fork */

static void write_all_stderr(const char *buf, size_t len);

void log_open(int syslog_facility, int trace)
{
	log_trace_on = trace;
	log_set_target(syslog_facility);
}

void log_set_target(int syslog_facility)
{
	if (syslog_facility == log_syslog_facility)
		return;
	if (log_syslog_facility >= 0)
		closelog();
	log_syslog_facility = syslog_facility;
	if (syslog_facility >= 0)
		openlog("smtpgate", LOG_PID | LOG_NDELAY, syslog_facility);
}

void log_set_role(const char *role)
{
	log_role = role;
	log_pid = getpid();
}

const char *log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG: return "debug";
	case LOG_LEVEL_INFO: return "info";
	case LOG_LEVEL_WARNING: return "warning";
	case LOG_LEVEL_ERROR: return "error";
	}
	return "?";
}

/* Map "mail", "daemon", "local0".."local7" to a syslog facility; -1 if unknown. */
int log_facility_from_name(const char *name)
{
	static const struct { const char *name; int facility; } table[] = {
		{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(name, table[i].name) == 0)
			return table[i].facility;
	return -1;
}

static void write_all_stderr(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* One log line whatever the text holds: a plugin's message or an
   upstream's reply text cannot start a line that looks like ours, nor
   send a terminal escape to whoever reads the log. */
static void keep_on_one_line(char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX_BYTES];
	int saved_errno = errno;

	if (level == LOG_LEVEL_DEBUG && !log_trace_on)
		return;
	if (log_syslog_facility >= 0) {
		static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
		vsnprintf(line, sizeof(line), fmt, ap);
		keep_on_one_line(line);
		syslog(prio[level], "%s", line);
		errno = saved_errno;
		return;
	}

	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ld %s[%ld] %s: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, now.tv_nsec / 1000000L, log_role, (long)(log_pid ? log_pid : getpid()),
			 log_level_name(level));
	if (n < 0)
		return;
	size_t used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	keep_on_one_line(line + used);
	if (m > 0)
		used += (size_t)m < sizeof(line) - used ? (size_t)m : sizeof(line) - used - 1;
	/* Room for the newline is kept even when the text was truncated. */
	if (used >= sizeof(line) - 1)
		used = sizeof(line) - 2;
	line[used++] = '\n';
	write_all_stderr(line, used);
	errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

#define LOG_DEFINE(fn, level)                     \
	void fn(const char *fmt, ...)             \
	{                                         \
		va_list ap;                       \
		va_start(ap, fmt);                \
		log_vmsg(level, fmt, ap);         \
		va_end(ap);                       \
	}
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_warn, LOG_LEVEL_WARNING)
LOG_DEFINE(log_err, LOG_LEVEL_ERROR)

int log_trace_enabled(void)
{
	return log_trace_on;
}

/* One trace line: bytes escaped like Python's repr, so a trace can show a
   bare CR, an LF or a NUL that the client sent. */
void log_trace(const char *sid, const char *direction, const char *bytes, size_t len)
{
	char line[LOG_LINE_MAX_BYTES];
	int n = snprintf(line, sizeof(line), "trace sid=%s %s ", sid, direction);
	if (n < 0)
		return;
	size_t used = (size_t)n;
	for (size_t i = 0; i < len && used + 8 < sizeof(line); i++) {
		unsigned char c = (unsigned char)bytes[i];
		if (c == '\\')
			used += (size_t)snprintf(line + used, sizeof(line) - used, "\\\\");
		else if (c >= 0x20 && c < 0x7f)
			line[used++] = (char)c;
		else if (c == '\r')
			used += (size_t)snprintf(line + used, sizeof(line) - used, "\\r");
		else if (c == '\n')
			used += (size_t)snprintf(line + used, sizeof(line) - used, "\\n");
		else
			used += (size_t)snprintf(line + used, sizeof(line) - used, "\\x%02x", c);
	}
	line[used++] = '\n';
	write_all_stderr(line, used);
}
