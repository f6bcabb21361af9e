/*
 * test_metrics.c - the metrics listener's pure parts: routing a request
 * (a table of requests and the route each must get), the counters across
 * a forked worker and its fold into the exited workers' total, and the
 * exposition's families.
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "counters.h"
#include "metrics_http.h"
#include "metrics_text.h"
#include "scoreboard.h"

static void test_route(void);
static void test_counters_fold(void);
static void test_text_families(void);

static const struct {
	const char *name;
	const char *req;
	size_t len;
	enum metrics_route route;
	const char *listener; /* METRICS_ROUTE_HEALTHZ's name */
	int head;
} route_rows[] = {
	{ "metrics", UNIT_BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), METRICS_ROUTE_METRICS, NULL, 0 },
	{ "bare LF", UNIT_BYTES("GET /metrics HTTP/1.0\n\n"), METRICS_ROUTE_METRICS, NULL, 0 },
	{ "query dropped", UNIT_BYTES("GET /metrics?a=b HTTP/1.1\r\n\r\n"), METRICS_ROUTE_METRICS, NULL, 0 },
	{ "head", UNIT_BYTES("HEAD /metrics HTTP/1.1\r\n\r\n"), METRICS_ROUTE_METRICS, NULL, 1 },
	{ "healthz", UNIT_BYTES("GET /healthz/mx HTTP/1.1\r\n\r\n"), METRICS_ROUTE_HEALTHZ, "mx", 0 },
	{ "healthz address", UNIT_BYTES("GET /healthz/127.0.0.1:25 HTTP/1.1\r\n\r\n"),
	  METRICS_ROUTE_HEALTHZ, "127.0.0.1:25", 0 },
	{ "healthz empty", UNIT_BYTES("GET /healthz/ HTTP/1.1\r\n\r\n"), METRICS_ROUTE_NOT_FOUND, NULL, 0 },
	{ "healthz slash", UNIT_BYTES("GET /healthz/a/b HTTP/1.1\r\n\r\n"), METRICS_ROUTE_NOT_FOUND, NULL, 0 },
	{ "healthz too long", UNIT_BYTES("GET /healthz/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n"),
	  METRICS_ROUTE_NOT_FOUND, NULL, 0 },
	{ "root", UNIT_BYTES("GET / HTTP/1.1\r\n\r\n"), METRICS_ROUTE_NOT_FOUND, NULL, 0 },
	{ "prefix only", UNIT_BYTES("GET /metricsx HTTP/1.1\r\n\r\n"), METRICS_ROUTE_NOT_FOUND, NULL, 0 },
	{ "post", UNIT_BYTES("POST /metrics HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_METHOD, NULL, 0 },
	{ "lower case", UNIT_BYTES("get /metrics HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "http/0.9", UNIT_BYTES("GET /metrics\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "http/2", UNIT_BYTES("GET /metrics HTTP/2.0\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "no slash", UNIT_BYTES("GET metrics HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "two spaces", UNIT_BYTES("GET  /metrics HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "control byte", UNIT_BYTES("GET /me\x01trics HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "non-ASCII byte", UNIT_BYTES("GET /healthz/m\xc3\xa9 HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "DEL byte", UNIT_BYTES("GET /metrics\x7f HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "NUL byte", UNIT_BYTES("GET /me\0trics HTTP/1.1\r\n\r\n"), METRICS_ROUTE_BAD_REQUEST, NULL, 0 },
	{ "no blank line", UNIT_BYTES("GET /metrics HTTP/1.1\r\nHost: x\r\n"), METRICS_ROUTE_INCOMPLETE, NULL, 0 },
	{ "empty", UNIT_BYTES(""), METRICS_ROUTE_INCOMPLETE, NULL, 0 },
};

static void test_route(void)
{
	for (size_t i = 0; i < sizeof(route_rows) / sizeof(route_rows[0]); i++) {
		const char *row = route_rows[i].name;
		char name[SCOREBOARD_LISTENER_MAX_BYTES] = "";
		int head = -1;
		enum metrics_route r = metrics_http_route(route_rows[i].req, route_rows[i].len, name,
							  sizeof(name), &head);
		UNIT_CHECK(row, r == route_rows[i].route);
		if (route_rows[i].listener)
			UNIT_CHECK_STR(row, name, route_rows[i].listener);
		if (r != METRICS_ROUTE_INCOMPLETE && r != METRICS_ROUTE_BAD_REQUEST)
			UNIT_CHECK(row, head == route_rows[i].head);
	}
}

/* The sum of one listener's view from a snapshot. */
static const struct counters_view *view_of(const struct counters_view *v, size_t n,
					   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* A worker forked into slot 0 counts; its counts are seen live, then
   survive its exit through the fold; a new worker in the same slot
   starts from zero. */
static void test_counters_fold(void)
{
	const char *row = "counters fold";
	static struct counters_view views[4];
	struct scoreboard *sb = scoreboard_create();
	if (!UNIT_CHECK(row, sb != NULL) || !UNIT_CHECK(row, counters_create() == 0))
		return;
	for (int round = 0; round < 2; round++) {
		counters_slot_claim(0, "mx");
		counters_slot_claim(1, "sub");
		pid_t pid = fork();
		if (pid == 0) {
			counters_use_slot(0);
			counters_session_start();
			counters_message(counters_result_of(250, 0), 100, 2);
			counters_message(counters_result_of(451, 0), 10, 1);
			counters_message(counters_result_of(552, 1), 10, 1);
			counters_command_begin("rcpt TO:<a@b>", 13);
			counters_command_reply('4');
			counters_command_reply('2'); /* a second reply is not the command's */
			counters_session_end(0);
			_exit(0);
		}
		int status;
		UNIT_CHECK(row, pid > 0 && waitpid(pid, &status, 0) == pid);
		size_t n = counters_snapshot(sb, views, 4);
		const struct counters_view *mx = view_of(views, n, "mx");
		if (!UNIT_CHECK(row, n == 2 && mx != NULL))
			break;
		unsigned long long k = (unsigned long long)round + 1;
		UNIT_CHECK(row, mx->c.messages[CR_ACCEPTED] == k); /* round 2: folded + live */
		UNIT_CHECK(row, mx->c.message_bytes[CR_ACCEPTED] == 100 * k);
		UNIT_CHECK(row, mx->c.recipients[CR_ACCEPTED] == 2 * k);
		UNIT_CHECK(row, mx->c.messages[CR_TEMPFAILED] == k);
		UNIT_CHECK(row, mx->c.messages[CR_SIZE_LIMITED] == k);
		UNIT_CHECK(row, mx->c.limits[CL_DATA_SIZE_LIMIT] == k);
		UNIT_CHECK(row, mx->c.commands[CV_RCPT][2] == k && mx->c.commands[CV_RCPT][0] == 0);
		UNIT_CHECK(row, mx->c.sessions_ended[0] == k);
		UNIT_CHECK(row, view_of(views, n, "sub")->c.sessions_started == 0);
		counters_slot_fold(0);
		n = counters_snapshot(sb, views, 4);
		UNIT_CHECK(row, view_of(views, n, "mx")->c.messages[CR_ACCEPTED] == k);
	}
	counters_pool_event("mx", CPOOL_FORK);
	size_t n = counters_snapshot(sb, views, 4);
	UNIT_CHECK(row, view_of(views, n, "mx")->forks == 1);
	int stress = -1;
	UNIT_CHECK(row, counters_listener_ready(sb, "mx", &stress) == 0 && stress == 0);
	UNIT_CHECK(row, counters_listener_ready(sb, "nope", &stress) == -1);
	counters_destroy();
	scoreboard_destroy(sb);
}

/* Every family has its HELP and TYPE once; labels come out escaped. */
static void test_text_families(void)
{
	const char *row = "exposition";
	static struct counters_view v[1];
	memset(v, 0, sizeof(v));
	snprintf(v[0].name, sizeof(v[0].name), "a\"b");
	v[0].c.messages[CR_REFUSED] = 3;
	v[0].stress_seconds = 1.5;
	v[0].c.hook_buckets[CH_MESSAGE][0] = 1; /* up to 100 us */
	v[0].c.hook_buckets[CH_MESSAGE][3] = 2; /* up to 5 ms */
	v[0].c.hook_count[CH_MESSAGE] = 4;      /* one past 30 s */
	struct metrics_text t = { 0 };
	metrics_text_render(&t, v, 1);
	UNIT_CHECK_CONTAINS(row, t.p, "# TYPE smtpgate_messages_total counter\n");
	UNIT_CHECK_CONTAINS(row, t.p, "smtpgate_messages_total{listener=\"a\\\"b\",result=\"refused\"} 3\n");
	UNIT_CHECK_CONTAINS(row, t.p, "smtpgate_stress_seconds_total{listener=\"a\\\"b\"} 1.500\n");
	UNIT_CHECK_CONTAINS(row, t.p, "# TYPE smtpgate_plugin_hook_duration_seconds histogram\n");
	UNIT_CHECK_CONTAINS(row, t.p, "hook=\"on_message\",le=\"0.001\"} 1\n");
	UNIT_CHECK_CONTAINS(row, t.p, "hook=\"on_message\",le=\"0.005\"} 3\n");
	UNIT_CHECK_CONTAINS(row, t.p, "hook=\"on_message\",le=\"30\"} 3\n");
	UNIT_CHECK_CONTAINS(row, t.p, "hook=\"on_message\",le=\"+Inf\"} 4\n");
	const char *p = t.p;
	int helps = 0, types = 0;
	while ((p = strstr(p, "\n# ")) != NULL) {
		helps += strncmp(p, "\n# HELP ", 8) == 0;
		types += strncmp(p, "\n# TYPE ", 8) == 0;
		p++;
	}
	UNIT_CHECK(row, helps + (strncmp(t.p, "# HELP ", 7) == 0) == types);
	metrics_text_free(&t);
}

int test_metrics_register(void)
{
	CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
	if (!s || !CU_add_test(s, "request routes", test_route) ||
	    !CU_add_test(s, "counters survive a worker", test_counters_fold) ||
	    !CU_add_test(s, "exposition families", test_text_families))
		return -1;
	return 0;
}
