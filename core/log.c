/*
 * log.c - the daemon's log: one line per event, formatted whole and written
 * with one write(2), so lines from concurrent workers never interleave.
 *
 * Entry points: log_open(), log_set_role(), log_debug/info/warn/err(), the
 * fatal/panic ladder (log_fatal, log_panic), log_quote()/log_quoted() for
 * field values, and log_trace() for the -d protocol trace.
 *
 * Never writes to a client socket, never calls malloc itself (log_panic
 * reports an allocation failure through it; only libc's syslog and time
 * zone code may), and never lets a byte of the text end the line it is
 * in: whatever a client sends, one line is one record.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* What one log call formats before escaping; escaped, it may grow up to
   LOG_LINE_MAX_BYTES and is cut there. */
#define LOG_TEXT_MAX_BYTES 2048

static int log_syslog_facility = -1; /* < 0: stderr */
static int log_trace_on;
static const char *log_role = "smtpgate";
static pid_t log_pid; /* set by log_set_role(), which each process calls after fork */

static void write_all_stderr(const char *buf, size_t len);
static size_t escape_byte(unsigned char c, int in_quotes, char out[5]);
static size_t escape_line(char *out, size_t size, const char *text);
static int needs_quotes(const char *value);

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
	return "?"; /* a value outside the enum */
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

/* The escape of one byte: itself when printable ASCII (a quote or a
   backslash too outside quotes, where it cannot end a value), else \xNN
   or a short C escape inside quotes.  Returns its length. */
static size_t escape_byte(unsigned char c, int in_quotes, char out[5])
{
	static const char hex[] = "0123456789abcdef";
	if (in_quotes && (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')) {
		out[0] = '\\';
		out[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 0xf];
	return 4;
}

/* The finished text with every byte outside printable ASCII made \xNN:
   a CR, an LF or a terminal escape from a plugin's text or an upstream's
   reply cannot start a line that looks like ours, and U+2028/U+0085
   cannot split it for a Unicode-aware reader.  Cut before a whole escape;
   returns the length written (out is NUL-terminated). */
static size_t escape_line(char *out, size_t size, const char *text)
{
	size_t used = 0;
	char esc[5];
	for (; *text; text++) {
		unsigned char c = (unsigned char)*text;
		if (c >= 0x20 && c < 0x7f) { /* nearly every byte: copied as it is */
			if (used + 1 >= size)
				break;
			out[used++] = (char)c;
			continue;
		}
		size_t n = escape_byte(c, 0, esc);
		if (used + n >= size)
			break;
		memcpy(out + used, esc, n);
		used += n;
	}
	out[used] = '\0';
	return used;
}

/* Format, escape and write one line: the one path every severity takes. */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char text[LOG_TEXT_MAX_BYTES];
	char line[LOG_LINE_MAX_BYTES];
	int saved_errno = errno;

	if ((unsigned int)level >= sizeof(prio) / sizeof(prio[0]))
		level = LOG_LEVEL_ERROR; /* not log_panic: it logs through here */
	if (level == LOG_LEVEL_DEBUG && !log_trace_on)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	if (log_syslog_facility >= 0) {
		escape_line(line, sizeof(line), text);
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
	/* Room for the newline is kept even when the text was cut. */
	used += escape_line(line + used, sizeof(line) - used - 1, text);
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

/* "event=fatal exit=STATUS <fields>", then the process ends with STATUS;
   _exit: no atexit handler of a plugin runs in a process that gave up. */
void log_fatal(int exit_status, const char *fmt, ...)
{
	char text[LOG_TEXT_MAX_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_err("event=fatal exit=%d %s", exit_status, text);
	_exit(exit_status);
}

/* "event=panic <fields>", then abort(): a core to read, and the master
   replaces the worker.  Never limps on with a broken invariant. */
void log_panic(const char *fmt, ...)
{
	char text[LOG_TEXT_MAX_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_err("event=panic %s", text);
	abort();
}

/* Whether a value must be quoted to stay one field: empty, or holding a
   byte that ends a bare value or is not printable ASCII. */
static int needs_quotes(const char *value)
{
	if (!*value)
		return 1;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '=' || *p == '\\')
			return 1;
	return 0;
}

/* One field value that no byte of it can end early (see log.h). */
const char *log_quote(char *buf, size_t size, const char *value)
{
	char esc[5];
	if (size < 8) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	if (!value)
		value = "";
	size_t len = strlen(value);
	if (!needs_quotes(value) && len < size) {
		memcpy(buf, value, len + 1);
		return buf;
	}
	size_t need = 0;
	for (const char *p = value; *p; p++)
		need += escape_byte((unsigned char)*p, 1, esc);
	/* Quotes and NUL; when cut, "..." too. */
	int cut = need + 3 > size;
	size_t budget = size - 3 - (cut ? 3 : 0), used = 1;
	buf[0] = '"';
	for (const char *p = value; *p; p++) {
		size_t n = escape_byte((unsigned char)*p, 1, esc);
		if (used - 1 + n > budget)
			break;
		memcpy(buf + used, esc, n);
		used += n;
	}
	if (cut) {
		memcpy(buf + used, "...", 3);
		used += 3;
	}
	buf[used++] = '"';
	buf[used] = '\0';
	return buf;
}

/* log_quote() into a rotating static buffer, for argument lists. */
const char *log_quoted(const char *value)
{
	static char slots[LOG_QUOTED_SLOTS][LOG_QUOTED_MAX_BYTES];
	static unsigned int next;
	char *buf = slots[next++ % LOG_QUOTED_SLOTS];
	return log_quote(buf, LOG_QUOTED_MAX_BYTES, value);
}

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
