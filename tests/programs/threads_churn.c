/*
 * threads_churn.c - threads that come and go while dumps run: a loop
 * creates short-lived threads as fast as it can (argv[1] in total,
 * default 10,000), so that dumps meet threads exiting mid-read and
 * thread ids being reused. Prints "done N" when all have been created and
 * joined, then keeps churning more slowly until killed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *brief(void *arg)
{
	(void)arg;
	usleep(100);
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	printf("start\n");
	fflush(stdout);
	for (long i = 0; i < n; i += 8) {
		pthread_t t[8];
		for (int k = 0; k < 8; k++)
			pthread_create(&t[k], NULL, brief, NULL);
		for (int k = 0; k < 8; k++)
			pthread_join(t[k], NULL);
	}
	printf("done %ld\n", n);
	fflush(stdout);
	for (;;) {
		pthread_t t;
		pthread_create(&t, NULL, brief, NULL);
		pthread_join(t, NULL);
		usleep(1000);
	}
}
