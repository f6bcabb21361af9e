/*
 * test_scoreboard.c - the shared worker table, and the stress timeouts a
 * socket connection takes from it.
 *
 * The table is used here in one process: what a worker in another
 * process sees is the same memory (MAP_SHARED), checked across a fork.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "conn.h"
#include "scoreboard.h"

static size_t idle_of(const struct scoreboard *sb, const char *listener, unsigned int gen);
static void test_counts(void);
static void test_shared_across_fork(void);
static void test_stress_cuts_waits(void);

static size_t idle_of(const struct scoreboard *sb, const char *listener, unsigned int gen)
{
	size_t total, idle;
	scoreboard_pool(sb, listener, gen, &total, &idle);
	return idle;
}

static void test_counts(void)
{
	const char *row = "counts";
	size_t total, idle;
	struct scoreboard *sb = scoreboard_create();
	if (!UNIT_CHECK(row, sb != NULL))
		return;
	UNIT_CHECK(row, atomic_load(&sb->used) == 0);
	/* mx: generation 1 has slots 0..3, generation 0 (before a reload)
	   slot 5; "sub" has slot 4. */
	for (size_t i = 0; i < 4; i++)
		scoreboard_slot_claim(sb, i, "mx", 1, 0);
	scoreboard_slot_claim(sb, 4, "sub", 1, 0);
	scoreboard_slot_claim(sb, 5, "mx", 0, 0);
	UNIT_CHECK(row, atomic_load(&sb->used) == 6);
	UNIT_CHECK(row, atomic_load(&sb->slots[0].state) == WORKER_STARTING);
	scoreboard_pool(sb, "mx", 1, &total, &idle);
	UNIT_CHECK(row, total == 4 && idle == 4); /* starting ones count as idle */

	scoreboard_set_busy(&sb->slots[0], "192.0.2.1");
	scoreboard_set_busy(&sb->slots[1], "192.0.2.1");
	scoreboard_set_busy(&sb->slots[2], "2001:db8::1");
	scoreboard_set_idle(&sb->slots[3], 1000);
	scoreboard_set_busy(&sb->slots[4], "192.0.2.1"); /* another listener */
	scoreboard_set_busy(&sb->slots[5], "192.0.2.1"); /* an old generation */
	scoreboard_pool(sb, "mx", 1, &total, &idle);
	UNIT_CHECK(row, total == 4 && idle == 1);
	scoreboard_pool(sb, "mx", 0, &total, &idle);
	UNIT_CHECK(row, total == 1 && idle == 0);
	UNIT_CHECK(row, scoreboard_client_sessions(sb, "mx", "192.0.2.1") == 3);
	UNIT_CHECK(row, scoreboard_client_sessions(sb, "sub", "192.0.2.1") == 1);
	UNIT_CHECK(row, scoreboard_client_sessions(sb, "mx", "2001:db8::1") == 1);
	UNIT_CHECK(row, scoreboard_client_sessions(sb, "mx", "192.0.2.10") == 0);
	UNIT_CHECK(row, atomic_load(&sb->slots[3].idle_since_ms) == 1000);

	/* A session's end and a worker's exit take it out of the count. */
	scoreboard_set_idle(&sb->slots[1], 2000);
	scoreboard_slot_release(sb, 5);
	UNIT_CHECK(row, scoreboard_client_sessions(sb, "mx", "192.0.2.1") == 1);
	UNIT_CHECK(row, idle_of(sb, "mx", 1) == 2);
	UNIT_CHECK(row, idle_of(sb, "sub", 1) == 0);
	scoreboard_pool(sb, "mx", 0, &total, &idle);
	UNIT_CHECK(row, total == 0); /* released */
	UNIT_CHECK_STR(row, worker_state_name(WORKER_BUSY), "busy");
	UNIT_CHECK_STR(row, worker_state_name((enum worker_state)42), "unknown");
	scoreboard_destroy(sb);
}

static void test_shared_across_fork(void)
{
	const char *row = "shared across fork";
	struct scoreboard *sb = scoreboard_create();
	if (!UNIT_CHECK(row, sb != NULL))
		return;
	scoreboard_slot_claim(sb, 0, "mx", 1, 0);
	pid_t pid = fork();
	if (pid == 0) {
		scoreboard_set_busy(&sb->slots[0], "198.51.100.7");
		_exit(0);
	}
	int status;
	UNIT_CHECK(row, pid > 0 && waitpid(pid, &status, 0) == pid);
	UNIT_CHECK(row, atomic_load(&sb->slots[0].state) == WORKER_BUSY);
	UNIT_CHECK(row, scoreboard_client_sessions(sb, "mx", "198.51.100.7") == 1);
	scoreboard_destroy(sb);
}

/* A read waiting with a long timeout ends at the stress timeout once the
   flag is set; without the flag the same read waits on (checked with a
   short timeout so the test stays quick). */
static void test_stress_cuts_waits(void)
{
	const char *row = "stress timeout";
	int sv[2];
	if (!UNIT_CHECK(row, socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0))
		return;
	sigset_t mask;
	sigemptyset(&mask);
	_Atomic int stress = 0;
	struct conn_fd c;
	conn_fd_init(&c, sv[0], &mask, NULL);
	conn_fd_set_stress(&c, &stress, 50);
	char buf[16];
	long long t0 = clock_ms();
	UNIT_CHECK(row, conn_read(&c.base, buf, sizeof(buf), 300, 0) == CONN_TIMEOUT);
	UNIT_CHECK(row, clock_ms() - t0 >= 300); /* no stress: the full timeout */
	atomic_store(&stress, 1);
	t0 = clock_ms();
	UNIT_CHECK(row, conn_read(&c.base, buf, sizeof(buf), 60 * 1000, 0) == CONN_TIMEOUT);
	UNIT_CHECK(row, clock_ms() - t0 < 30 * 1000); /* cut to 50 ms, far below 60 s */
	/* Data still comes through under stress. */
	UNIT_CHECK(row, write(sv[1], "x", 1) == 1);
	UNIT_CHECK(row, conn_read(&c.base, buf, sizeof(buf), 60 * 1000, 0) == 1);
	close(sv[0]);
	close(sv[1]);
}

int test_scoreboard_register(void)
{
	CU_pSuite s = CU_add_suite("scoreboard", NULL, NULL);
	if (!s || !CU_add_test(s, "slot states and counts", test_counts) ||
	    !CU_add_test(s, "shared with a forked worker", test_shared_across_fork) ||
	    !CU_add_test(s, "stress cuts socket waits", test_stress_cuts_waits))
		return -1;
	return 0;
}
