/*
 * contention_block.c - two threads ping-pong on one condition variable,
 * ROUNDS turns each, every turn taking about 200 us of work while the
 * other waits in ping_wait(). Prints the total time the two spent inside
 * pthread_cond_wait as the program itself measured it ("measured_ns N"),
 * then "ready", then sleeps (for the test to read its profiles) until
 * killed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 1000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;
static int64_t waited[2];

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void work(void)
{
	int64_t end = now_ns() + 200000;
	while (now_ns() < end)
		;
}

/* The wait site the test looks for in the block profile. */
__attribute__((noinline)) static void ping_wait(int me)
{
	while (turn != me) {
		int64_t t0 = now_ns();
		pthread_cond_wait(&cv, &mu); /* WAIT SITE */
		waited[me] += now_ns() - t0;
	}
}

static void *player(void *arg)
{
	int me = (int)(intptr_t)arg;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < ROUNDS; i++) {
		ping_wait(me);
		work();
		turn = !me;
		pthread_cond_signal(&cv);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	pthread_create(&a, NULL, player, (void *)0);
	pthread_create(&b, NULL, player, (void *)1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("measured_ns %lld\nready\n", (long long)(waited[0] + waited[1]));
	fflush(stdout);
	for (;;)
		pause();
}
