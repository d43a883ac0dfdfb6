/*
 * leaks_noise.c - a service with every kind of noise and, on request, one
 * real leak: what /debug/pprof/leaks must tell apart.
 *
 *   leaks_noise [leak]
 *
 * Noise, in each of the three resources:
 *   - a stable pool: 6 idle threads and 16 KiB buffers allocated at start;
 *   - a one-time step, 3 seconds in (inside any window a test looks at):
 *     an 8 MiB table built once, 8 files opened once, 4 more idle threads;
 *   - per-request churn, 50 requests a second: a 256 KiB scratch buffer, a
 *     descriptor and a short-lived thread, each released before the next.
 * With "leak", every request also keeps 64 KiB it never frees (line
 * marked LEAK:), which must be the one suspect.
 * Prints "ready" once the one-time step is done.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *idle(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;)
		pthread_cond_wait(&cv, &mu);           /* NOISE: stable pool */
	return NULL;
}

static void *short_job(void *arg)
{
	return arg;
}

static void start_idle(int n)
{
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, idle, NULL);  /* NOISE: pool started once */
		pthread_detach(t);
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Not static, and read through `sink`: -O2 must not drop an allocation
 * whose pointer nobody reads (GCC elides such malloc/free pairs). */
char *buffers[64];
char *table;
int files[8];
void *kept[100000];
volatile long sink;

static __attribute__((noinline)) void request(long n, int leak)
{
	char *scratch = malloc(256 * 1024);             /* NOISE: per-request scratch */
	memset(scratch, (int)n, 4096);
	sink += scratch[n % 4096];
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* NOISE: per-request descriptor */
	pthread_t t;
	if (pthread_create(&t, NULL, short_job, NULL) == 0) /* NOISE: per-request thread */
		pthread_join(t, NULL);
	if (leak && n < 100000) {
		kept[n] = malloc(64 * 1024);            /* LEAK: kept forever */
		memset(kept[n], 1, 64);
		sink += ((char *)kept[n])[n % 64];
	}
	if (fd >= 0)
		close(fd);
	free(scratch);
}

int main(int argc, char **argv)
{
	int leak = argc > 1 && strcmp(argv[1], "leak") == 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	start_idle(6);
	for (int i = 0; i < 64; i++)
		buffers[i] = malloc(16384);             /* NOISE: stable buffers */
	sink += (long)(uintptr_t)buffers[63];
	for (long n = 0;; n++) {
		if (n == 150) {                         /* 3 seconds in */
			table = malloc(8 << 20);        /* NOISE: table built once */
			memset(table, 1, 8 << 20);
			for (int i = 0; i < 8; i++)
				files[i] = open("/dev/null", O_RDONLY); /* NOISE: files opened once */
			start_idle(4);
			printf("ready\n");
		}
		request(n, leak);
		sleep_ms(20);
	}
}
