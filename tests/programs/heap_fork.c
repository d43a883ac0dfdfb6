/*
 * heap_fork.c - 100 rounds of fork while 8 threads allocate
 * (tests/preload/heap_fork.sh). Each child allocates, frees blocks it
 * inherited (sampled ones included, at a low rate most large blocks are)
 * and exits; a child that hangs trips the parent's 10-second alarm.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define RING 512
static atomic_int stop;
static void *volatile shared[RING]; /* volatile: the NULL store must not be elided */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	void *ring[RING] = {0};
	while (!atomic_load(&stop)) {
		int i = (int)(rand_r(&seed) % RING);
		free(ring[i]);
		size_t n = (rand_r(&seed) % 8 == 0) ? 65536 + rand_r(&seed) % 300000 : 16 + rand_r(&seed) % 2000;
		ring[i] = (rand_r(&seed) & 1) ? malloc(n) : calloc(1, n);
		if (ring[i] != NULL)
			memset(ring[i], 1, n < 64 ? n : 64);
		if (rand_r(&seed) % 64 == 0) {
			pthread_mutex_lock(&shared_lock);
			int j = (int)(rand_r(&seed) % RING);
			/* Cleared before the free, so a child forked in between
			 * never frees the block twice. */
			void *old = shared[j];
			shared[j] = NULL;
			free(old);
			shared[j] = realloc(NULL, n);
			pthread_mutex_unlock(&shared_lock);
		}
	}
	for (int i = 0; i < RING; i++)
		free(ring[i]);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "heap_fork: a child hung\n";
	ssize_t w = write(2, msg, sizeof msg - 1);
	(void)w;
	_exit(3);
}

int main(void)
{
	pthread_t t[THREADS];
	signal(SIGALRM, on_alarm);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int round = 0; round < 100; round++) {
		alarm(10);
		pid_t pid = fork();
		if (pid == 0) {
			/* The child: allocate in every size range, free inherited blocks. */
			for (int i = 0; i < 200; i++) {
				void *p = malloc((size_t)(i * 997 % 400000) + 1);
				void *q = realloc(p, 100);
				free(q);
			}
			for (int i = 0; i < RING; i += 3)
				free(shared[i]); /* the lock may be held by a dead thread: don't take it */
			_exit(0);
		}
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "round %d: child failed (status %d)\n", round, st);
			return 1;
		}
	}
	alarm(0);
	atomic_store(&stop, 1);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("forks ok\n");
	return 0;
}
