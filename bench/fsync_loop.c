/*
 * fsync_loop.c - the disk's limit for durable Maildir deliveries: N
 * processes, each repeating what the maildir plugin does for one copy,
 * without SMTP:
 *
 *   open(tmp/NAME, O_WRONLY|O_CREAT|O_EXCL) + write(SIZE bytes) + fsync +
 *   close + link(tmp/NAME, new/NAME) + unlink(tmp/NAME) +
 *   open(new/) + fsync(new/) + close
 *
 * usage: fsync_loop DIR [PROCS=20] [COUNT=10000] [SECONDS=30] [SIZE=1200]
 *
 * DIR gets tmp/ and new/ (a Maildir).  COUNT deliveries in all, shared
 * out over PROCS processes, stopped early after SECONDS.  Prints one line:
 *   fsync_loop procs=20 deliveries=10000 secs=1.234 per_sec=8103.7
 * and removes the files it made (not timed).  Exit status 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fsync_loop: %s %s: %s\n", what, path, strerror(errno));
	return -1;
}

/* One process: up to count deliveries before deadline; the number done. */
static long run(const char *dir, int id, long count, double deadline, const char *buf, size_t size)
{
	char tmp[4096], new[4096], newdir[4096];
	long done = 0;
	snprintf(newdir, sizeof(newdir), "%s/new", dir);
	for (long i = 0; i < count && now() < deadline; i++) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		snprintf(tmp, sizeof(tmp), "%s/tmp/%ld.M%06ldP%dQ%ld.bench,S=%zu", dir, (long)tv.tv_sec,
			 (long)tv.tv_usec, (int)getpid(), i, size);
		snprintf(new, sizeof(new), "%s/new/%s", dir, strrchr(tmp, '/') + 1);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return fail("open", tmp);
		if (write(fd, buf, size) != (ssize_t)size)
			return fail("write", tmp);
		if (fsync(fd) < 0)
			return fail("fsync", tmp);
		if (close(fd) < 0)
			return fail("close", tmp);
		if (link(tmp, new) < 0)
			return fail("link", new);
		if (unlink(tmp) < 0)
			return fail("unlink", tmp);
		int dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return fail("open", newdir);
		if (fsync(dfd) < 0)
			return fail("fsync", newdir);
		close(dfd);
		done++;
	}
	(void)id;
	return done;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [PROCS=20] [COUNT=10000] [SECONDS=30] [SIZE=1200]\n",
			argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	int procs = argc > 2 ? atoi(argv[2]) : 20;
	long count = argc > 3 ? atol(argv[3]) : 10000;
	double secs = argc > 4 ? atof(argv[4]) : 30;
	size_t size = argc > 5 ? (size_t)atol(argv[5]) : 1200;
	if (procs < 1 || procs > 1000 || count < 1 || secs <= 0 || size < 1 || size > 1 << 20)
		return fprintf(stderr, "fsync_loop: bad arguments\n"), 2;
	char path[4096];
	snprintf(path, sizeof(path), "%s/tmp", dir);
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || (mkdir(path, 0700) < 0 && errno != EEXIST))
		return fail("mkdir", path) ? 1 : 1;
	snprintf(path, sizeof(path), "%s/new", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return fail("mkdir", path) ? 1 : 1;
	char *buf = malloc(size);
	if (!buf)
		return 1;
	for (size_t i = 0; i < size; i++)
		buf[i] = (i % 78 == 77) ? '\n' : (char)('a' + i % 26);

	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	double t0 = now(), deadline = t0 + secs;
	for (int p = 0; p < procs; p++) {
		long share = count / procs + (p < count % procs ? 1 : 0);
		pid_t pid = fork();
		if (pid < 0)
			return fail("fork", ""), 1;
		if (pid == 0) {
			close(pfd[0]);
			long done = run(dir, p, share, deadline, buf, size);
			if (write(pfd[1], &done, sizeof(done)) != sizeof(done))
				_exit(1);
			_exit(done < 0 ? 1 : 0);
		}
	}
	close(pfd[1]);
	long total = 0, one;
	int bad = 0;
	for (int p = 0; p < procs; p++) {
		if (read(pfd[0], &one, sizeof(one)) != sizeof(one) || one < 0)
			bad = 1;
		else
			total += one;
	}
	double t1 = now();
	for (int p = 0; p < procs; p++) {
		int status;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	}
	printf("fsync_loop procs=%d size=%zu deliveries=%ld secs=%.3f per_sec=%.1f%s\n", procs, size,
	       total, t1 - t0, total / (t1 - t0), bad ? " ERRORS" : "");
	fflush(stdout);
	/* Not timed: remove what was made. */
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "find '%s/new' '%s/tmp' -type f -delete", dir, dir);
	if (!strchr(dir, '\'') && system(cmd) != 0)
		bad = 1;
	return bad;
}
