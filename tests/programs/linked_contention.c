/*
 * linked_contention.c - links -lnprof and drives the block and mutex
 * profiles through the C API: starts nprof with both rates off, runs a
 * contended workload (a mutex held 1 ms 100 times by two threads, and a
 * condition variable ping-pong), writes both profiles into DIR as
 * off.block.txt / off.mutex.txt; then turns both on with
 * nprof_set_block_rate(1) and nprof_set_mutex_fraction(1), runs the
 * workload again and writes on.block.{txt,pb} and on.mutex.{txt,pb}.
 * Checks the setters' return values itself; prints "done" on success.
 * The workload's functions are named for the test to find: lock_holder
 * (its unlock is charged in the mutex profile), pong_wait (the wait).
 */
#include <fcntl.h>
#include <nprof.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int holds, turn;
static const char *dir;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void spin_us(int us)
{
	int64_t end = now_ns() + us * 1000LL;
	while (now_ns() < end)
		;
}

__attribute__((noinline)) static void lock_holder(void)
{
	spin_us(1000);
	holds++;
	pthread_mutex_unlock(&mu);
	__asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

static void *locker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		if (holds >= 100) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		lock_holder();
	}
}

__attribute__((noinline)) static void pong_wait(int me)
{
	while (turn != me)
		pthread_cond_wait(&cv, &cmu);
}

static void *player(void *arg)
{
	int me = (int)(intptr_t)arg;
	pthread_mutex_lock(&cmu);
	for (int i = 0; i < 100; i++) {
		pong_wait(me);
		spin_us(200);
		turn = !me;
		pthread_cond_signal(&cv);
	}
	pthread_mutex_unlock(&cmu);
	return NULL;
}

static void workload(void)
{
	pthread_t t[4];
	holds = 0;
	pthread_create(&t[0], NULL, locker, NULL);
	pthread_create(&t[1], NULL, locker, NULL);
	pthread_create(&t[2], NULL, player, (void *)0);
	pthread_create(&t[3], NULL, player, (void *)1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

static void write_to(const char *name, const char *file, int debug)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = fd < 0 ? -1 : nprof_write_profile(name, fd, debug);
	if (rc != 0) {
		fprintf(stderr, "write %s: %s\n", path, nprof_strerror(rc));
		exit(1);
	}
	close(fd);
}

#define EXPECT(cond) do { if (!(cond)) { fprintf(stderr, "failed: %s\n", #cond); return 1; } } while (0)

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	dir = argv[1];
	int rc = nprof_start(NULL);
	if (rc != 0) {
		fprintf(stderr, "nprof_start: %s\n", nprof_strerror(rc));
		return 1;
	}
	EXPECT(nprof_set_block_rate(-1) == 0);
	EXPECT(nprof_set_mutex_fraction(-1) == 0);
	workload();
	write_to("block", "off.block.txt", 1);
	write_to("mutex", "off.mutex.txt", 1);

	EXPECT(nprof_set_block_rate(1) == 0);
	EXPECT(nprof_set_mutex_fraction(1) == 0);
	EXPECT(nprof_set_block_rate(-5) == 1);
	EXPECT(nprof_set_mutex_fraction(-5) == 1);
	workload();
	write_to("block", "on.block.txt", 1);
	write_to("block", "on.block.pb", 0);
	write_to("mutex", "on.mutex.txt", 1);
	write_to("mutex", "on.mutex.pb", 0);

	EXPECT(nprof_set_block_rate(0) == 1);
	EXPECT(nprof_set_mutex_fraction(0) == 1);
	printf("done\n");
	return 0;
}
