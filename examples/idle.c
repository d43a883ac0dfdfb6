/*
 * idle.c - a service that does nothing: its threads sleep in a condition
 * wait and in nanosleep. A CPU profile of it has no samples and must still
 * be a valid profile.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;)
		pthread_cond_wait(&cv, &mu);
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	printf("idle: pid %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		sleep(1000);
}
