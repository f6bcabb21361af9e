/*
 * metrics_text.c - Prometheus text exposition of the counters' views
 * (see metrics_text.h): one family at a time, # HELP and # TYPE first,
 * counters named with _total, the hook durations as a histogram with
 * cumulative buckets, every label value from a fixed table (listener
 * names are checked by config.c and escaped here all the same).
 *
 * Entry point: metrics_text_render().  It only formats: it never reads
 * shared memory, a socket or a clock, so a unit test can feed it views.
 */
#include "metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "session.h"

/* The last enum session_end value exposed: raise it with the enum. */
#define METRICS_LAST_END SESSION_END_TLS

static void put(struct metrics_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void family(struct metrics_text *t, const char *name, const char *type, const char *help);
static void put_listener(struct metrics_text *t, const char *name, const char *listener);
static void sample(struct metrics_text *t, const char *name, const char *listener,
		   const char *labels, unsigned long long value);
static void render_sessions(struct metrics_text *t, const struct counters_view *v, size_t n);
static void render_messages(struct metrics_text *t, const struct counters_view *v, size_t n);
static void render_pool(struct metrics_text *t, const struct counters_view *v, size_t n);
static void render_tls_proxy(struct metrics_text *t, const struct counters_view *v, size_t n);
static void render_hooks(struct metrics_text *t, const struct counters_view *v, size_t n);

/* Append formatted text, growing the buffer. */
static void put(struct metrics_text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = t->cap - t->len;
		int n = vsnprintf(t->p + t->len, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort(); /* a format of ours that cannot be written */
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n + 1;
		t->p = mem_realloc(t->p, t->cap);
	}
}

/* A family's header lines. */
static void family(struct metrics_text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{listener="..." with the label value escaped as the format says. */
static void put_listener(struct metrics_text *t, const char *name, const char *listener)
{
	put(t, "%s{listener=\"", name);
	for (const char *c = listener; *c; c++) {
		if (*c == '\\' || *c == '"')
			put(t, "\\%c", *c);
		else if (*c == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *c);
	}
	put(t, "\"");
}

/* One sample; labels is "" or ",key=\"value\"..." from fixed names. */
static void sample(struct metrics_text *t, const char *name, const char *listener,
		   const char *labels, unsigned long long value)
{
	put_listener(t, name, listener);
	put(t, "%s} %llu\n", labels, value);
}

/* Sessions by end, commands by verb and class, limit hits. */
static void render_sessions(struct metrics_text *t, const struct counters_view *v, size_t n)
{
	char lab[96];
	family(t, "smtpgate_sessions_started_total", "counter", "Connections accepted by workers.");
	for (size_t i = 0; i < n; i++)
		sample(t, "smtpgate_sessions_started_total", v[i].name, "", v[i].c.sessions_started);
	family(t, "smtpgate_sessions_ended_total", "counter",
	       "Sessions ended, by reason (the disconnect log line's reason=).");
	for (size_t i = 0; i < n; i++)
		for (int e = 0; e <= METRICS_LAST_END; e++) {
			snprintf(lab, sizeof(lab), ",reason=\"%s\"", session_end_name((enum session_end)e));
			sample(t, "smtpgate_sessions_ended_total", v[i].name, lab, v[i].c.sessions_ended[e]);
		}
	family(t, "smtpgate_commands_total", "counter",
	       "Commands answered, by verb and by the class of their first reply.");
	for (size_t i = 0; i < n; i++)
		for (int verb = 0; verb < CV_COUNT; verb++)
			for (int k = 0; k < 4; k++) {
				snprintf(lab, sizeof(lab), ",verb=\"%s\",class=\"%dxx\"",
					 counters_verb_name((enum counters_verb)verb), k + 2);
				sample(t, "smtpgate_commands_total", v[i].name, lab, v[i].c.commands[verb][k]);
			}
	family(t, "smtpgate_limit_hits_total", "counter", "Times a limit was reached, by setting.");
	for (size_t i = 0; i < n; i++)
		for (int l = 0; l < CL_COUNT; l++) {
			snprintf(lab, sizeof(lab), ",limit=\"%s\"", counters_limit_name((enum counters_limit)l));
			sample(t, "smtpgate_limit_hits_total", v[i].name, lab, v[i].c.limits[l]);
		}
}

/* Messages, their bytes and recipients, by result. */
static void render_messages(struct metrics_text *t, const struct counters_view *v, size_t n)
{
	static const struct {
		const char *name, *help;
		size_t offset;
	} fams[] = {
		{ "smtpgate_messages_total", "Messages after the final dot, by result.",
		  offsetof(struct counter_set, messages) },
		{ "smtpgate_message_bytes_total", "Bytes of DATA of those messages, by result.",
		  offsetof(struct counter_set, message_bytes) },
		{ "smtpgate_recipients_total", "Recipients of those messages, by result.",
		  offsetof(struct counter_set, recipients) },
	};
	char lab[64];
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(t, fams[f].name, "counter", fams[f].help);
		for (size_t i = 0; i < n; i++) {
			const unsigned long long *w =
				(const unsigned long long *)((const char *)&v[i].c + fams[f].offset);
			for (int r = 0; r < CR_COUNT; r++) {
				snprintf(lab, sizeof(lab), ",result=\"%s\"",
					 counters_result_name((enum counters_result)r));
				sample(t, fams[f].name, v[i].name, lab, w[r]);
			}
		}
	}
}

/* Workers by state, pool events, stress. */
static void render_pool(struct metrics_text *t, const struct counters_view *v, size_t n)
{
	char lab[64];
	family(t, "smtpgate_workers", "gauge", "Worker processes now, by state (all generations).");
	for (size_t i = 0; i < n; i++)
		for (int s = WORKER_STARTING; s <= WORKER_BUSY; s++) {
			snprintf(lab, sizeof(lab), ",state=\"%s\"", worker_state_name((enum worker_state)s));
			sample(t, "smtpgate_workers", v[i].name, lab, v[i].workers[s]);
		}
	family(t, "smtpgate_pool_forks_total", "counter", "Workers forked.");
	for (size_t i = 0; i < n; i++)
		sample(t, "smtpgate_pool_forks_total", v[i].name, "", v[i].forks);
	family(t, "smtpgate_pool_retirements_total", "counter",
	       "Idle workers retired by the pool (max_spare, max_idle).");
	for (size_t i = 0; i < n; i++)
		sample(t, "smtpgate_pool_retirements_total", v[i].name, "", v[i].retirements);
	family(t, "smtpgate_pool_backoffs_total", "counter",
	       "Worker start-up failures that delayed the next fork.");
	for (size_t i = 0; i < n; i++)
		sample(t, "smtpgate_pool_backoffs_total", v[i].name, "", v[i].backoffs);
	family(t, "smtpgate_stress", "gauge", "1 while the listener is under stress.");
	for (size_t i = 0; i < n; i++)
		sample(t, "smtpgate_stress", v[i].name, "", (unsigned long long)v[i].stress);
	family(t, "smtpgate_stress_seconds_total", "counter", "Seconds spent under stress.");
	for (size_t i = 0; i < n; i++) {
		put_listener(t, "smtpgate_stress_seconds_total", v[i].name);
		put(t, "} %.3f\n", v[i].stress_seconds);
	}
}

/* TLS handshakes and PROXY header refusals. */
static void render_tls_proxy(struct metrics_text *t, const struct counters_view *v, size_t n)
{
	char lab[96];
	family(t, "smtpgate_tls_handshakes_total", "counter",
	       "TLS handshakes, by result and protocol.");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < CT_COUNT; k++) {
			snprintf(lab, sizeof(lab), ",result=\"%s\",protocol=\"%s\"",
				 k == CT_FAILED ? "failed" : "ok", counters_tls_name((enum counters_tls)k));
			sample(t, "smtpgate_tls_handshakes_total", v[i].name, lab, v[i].c.tls[k]);
		}
	family(t, "smtpgate_proxy_header_errors_total", "counter",
	       "Connections closed before SMTP for their PROXY protocol header, by reason.");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < CP_COUNT; k++) {
			snprintf(lab, sizeof(lab), ",reason=\"%s\"", counters_proxy_name((enum counters_proxy)k));
			sample(t, "smtpgate_proxy_header_errors_total", v[i].name, lab,
			       v[i].c.proxy_errors[k]);
		}
}

/* The plugin hooks' durations: cumulative buckets, +Inf, sum, count. */
static void render_hooks(struct metrics_text *t, const struct counters_view *v, size_t n)
{
	const char *base = "smtpgate_plugin_hook_duration_seconds";
	char lab[96];
	family(t, base, "histogram", "Time spent in the plugin's hooks, by hook.");
	for (size_t i = 0; i < n; i++)
		for (int h = 0; h < CH_COUNT; h++) {
			const char *hook = counters_hook_name((enum counters_hook)h);
			unsigned long long below = 0; /* a bucket counts every call up to its bound */
			for (int b = 0; b < COUNTERS_HOOK_BUCKETS; b++) {
				below += v[i].c.hook_buckets[h][b];
				snprintf(lab, sizeof(lab), ",hook=\"%s\",le=\"%g\"", hook,
					 (double)counters_hook_bounds_us[b] / 1e6);
				sample(t, "smtpgate_plugin_hook_duration_seconds_bucket", v[i].name, lab, below);
			}
			snprintf(lab, sizeof(lab), ",hook=\"%s\",le=\"+Inf\"", hook);
			sample(t, "smtpgate_plugin_hook_duration_seconds_bucket", v[i].name, lab,
			       v[i].c.hook_count[h]);
			put_listener(t, "smtpgate_plugin_hook_duration_seconds_sum", v[i].name);
			put(t, ",hook=\"%s\"} %.6f\n", hook, (double)v[i].c.hook_sum_us[h] / 1e6);
			snprintf(lab, sizeof(lab), ",hook=\"%s\"", hook);
			sample(t, "smtpgate_plugin_hook_duration_seconds_count", v[i].name, lab,
			       v[i].c.hook_count[h]);
		}
}

void metrics_text_render(struct metrics_text *t, const struct counters_view *views, size_t n)
{
	if (!t->p) {
		t->cap = 65536;
		t->p = mem_malloc(t->cap);
	}
	t->len = 0;
	t->p[0] = '\0';
	family(t, "smtpgate_build_info", "gauge", "Always 1; the version as a label.");
	put(t, "smtpgate_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	render_sessions(t, views, n);
	render_messages(t, views, n);
	render_pool(t, views, n);
	render_tls_proxy(t, views, n);
	render_hooks(t, views, n);
}

void metrics_text_free(struct metrics_text *t)
{
	free(t->p);
	t->p = NULL;
	t->len = t->cap = 0;
}
