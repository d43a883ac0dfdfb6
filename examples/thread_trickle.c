/*
 * thread_trickle.c - a thread leak near nprof's threshold (3 a second)
 * beside noise that grows for a while: each upload starts a watcher
 * thread that waits for the upload's "done" signal; uploads that fail
 * (every one, here, at 3 a second) never signal it, so the watcher waits
 * forever (the line marked LEAK). Around it, what must not be named:
 *   - a worker pool that grows one thread at a time to 16 over its first
 *     seconds, then stays, each worker woken for requests (50 a second);
 *   - bursts of requests every 3 s, each served by 12 short-lived threads
 *     that live for the burst (300 ms).
 *
 *   thread_trickle [PER_SECOND [MAX_LEAKED]]   (defaults 3, 2000)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct upload {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int done;
};

static pthread_attr_t small;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *watcher(void *arg)
{
	struct upload *u = arg;
	pthread_mutex_lock(&u->lock);
	while (!u->done)
		pthread_cond_wait(&u->done_cond, &u->lock);  /* LEAK: a failed upload never signals */
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

static int pool_work;

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		while (pool_work == 0)
			pthread_cond_wait(&pool_cond, &pool_lock);  /* NOISE: pool grows to 16, then holds */
		pool_work--;
	}
	return NULL;
}

static void *burst_worker(void *arg)
{
	(void)arg;
	usleep(300 * 1000);                                /* NOISE: lives for the burst */
	return NULL;
}

static __attribute__((noinline)) void start_upload(void)
{
	struct upload *u = calloc(1, sizeof *u);
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->done_cond, NULL);
	pthread_t t;
	pthread_create(&t, &small, watcher, u);
	pthread_detach(t);
	/* The upload fails here: nobody sets u->done. */
}

static __attribute__((noinline)) void burst(void)
{
	pthread_t t[12];
	for (int i = 0; i < 12; i++)
		pthread_create(&t[i], &small, burst_worker, NULL);
	for (int i = 0; i < 12; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : 3;
	long max = argc > 2 ? atol(argv[2]) : 2000;
	if (rate <= 0 || max < 0) {
		fprintf(stderr, "usage: thread_trickle [PER_SECOND [MAX_LEAKED]]\n");
		return 2;
	}
	pthread_attr_init(&small);
	pthread_attr_setstacksize(&small, 64 * 1024);
	printf("thread_trickle: pid %d\n", (int)getpid());
	fflush(stdout);
	double t0 = now_s(), next_burst = 3;
	int pool = 0;
	long leaked = 0;
	for (;;) {
		double t = now_s() - t0;
		if (pool < 16 && t > pool * 0.4) {
			pthread_t p;
			pthread_create(&p, &small, pool_worker, NULL);
			pool++;
		}
		if (t >= next_burst) {
			burst();
			next_burst += 3;
		}
		pthread_mutex_lock(&pool_lock);     /* a request for the pool */
		pool_work++;
		pthread_cond_signal(&pool_cond);
		pthread_mutex_unlock(&pool_lock);
		if (leaked < max && leaked < t * rate) {
			start_upload();
			leaked++;
		}
		usleep(20 * 1000);
	}
	return 0;
}
