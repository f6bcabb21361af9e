/*
 * test_conn.c - struct conn_fd over a socketpair: reads return what is
 * there and EOF; a read's timeout is never cut short, whatever SO_RCVTIMEO
 * an earlier read left in force.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "unit.h"

static void test_conn_data_and_eof(void);
static void test_conn_timeouts_never_early(void);

static void test_conn_data_and_eof(void)
{
	int sv[2];
	char buf[16];
	struct conn_fd c;
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	conn_fd_init(&c, sv[0], NULL, NULL);
	CU_ASSERT_FATAL(write(sv[1], "abc", 3) == 3);
	ssize_t n = conn_read(&c.base, buf, sizeof(buf), 1000, 0);
	UNIT_CHECK_BYTES("data", buf, n > 0 ? (size_t)n : 0, "abc", 3);
	CU_ASSERT(conn_write(&c.base, "xyz", 3, 1000) == 0);
	CU_ASSERT(read(sv[1], buf, sizeof(buf)) == 3);
	close(sv[1]);
	UNIT_CHECK("eof", conn_read(&c.base, buf, sizeof(buf), 1000, 0) == CONN_EOF);
	close(sv[0]);
}

/* SO_RCVTIMEO is only lowered, never raised, between reads: a read with a
   longer timeout than the one in force must still wait its whole time. */
static void test_conn_timeouts_never_early(void)
{
	static const int timeouts_ms[] = { 100, 250, 50 };
	int sv[2];
	char buf[16];
	struct conn_fd c;
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	conn_fd_init(&c, sv[0], NULL, NULL);
	for (size_t i = 0; i < sizeof(timeouts_ms) / sizeof(timeouts_ms[0]); i++) {
		char row[32];
		snprintf(row, sizeof(row), "timeout %d ms", timeouts_ms[i]);
		long long t0 = clock_ms(); /* conn.h's clock (clock.h) */
		ssize_t n = conn_read(&c.base, buf, sizeof(buf), timeouts_ms[i], 0);
		long long took = clock_ms() - t0;
		UNIT_CHECK(row, n == CONN_TIMEOUT);
		UNIT_CHECK(row, took >= timeouts_ms[i]);
		UNIT_CHECK(row, took < timeouts_ms[i] + 1000);
	}
	/* Data that comes during a wait ends it. */
	CU_ASSERT_FATAL(write(sv[1], "x", 1) == 1);
	UNIT_CHECK("data after timeouts", conn_read(&c.base, buf, sizeof(buf), 1000, 0) == 1);
	close(sv[0]);
	close(sv[1]);
}

int test_conn_register(void)
{
	CU_pSuite s = CU_add_suite("conn", NULL, NULL);
	if (!s || !CU_add_test(s, "data and EOF", test_conn_data_and_eof) ||
	    !CU_add_test(s, "timeouts are never early", test_conn_timeouts_never_early))
		return -1;
	return 0;
}
