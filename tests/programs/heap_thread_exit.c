/*
 * heap_thread_exit.c - threads that record every allocation and then exit
 * in the three ways a thread can, for the heap recorder's per-thread
 * states (tests/preload/heap_thread_exit.sh): returning (the exit
 * destructor flushes the thread's cached slots), pthread_exit, and a raw
 * exit system call that runs no destructor (a later thread finds the
 * dead owner and takes its state over). Waves of threads outnumber the
 * states given back, so states are reused and taken over. Blocks cross
 * threads: each worker leaves some alive for main to free.
 *
 * Prints "expect FUNC ALLOCS INUSE" per allocating function.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOINL __attribute__((noinline))
#define WAVES 4
#define PER_WAVE 6
#define OPS 3000
#define KEEP 20

static void *kept[WAVES * PER_WAVE][KEEP];
static volatile int zero;

static NOINL void *churn_alloc(size_t n)
{
	void *p = malloc(n);
	zero = zero;
	return p;
}

/* Not the same code as churn_alloc, which the compiler would fold. */
static NOINL void *kept_alloc(size_t n)
{
	void *p = malloc(n);
	zero = zero + 1;
	return p;
}

static void *worker(void *arg)
{
	long id = (long)arg;
	void *ring[64] = {0};
	for (int i = 0; i < OPS; i++) {
		int k = i & 63;
		free(ring[k]);
		ring[k] = churn_alloc(16 + (size_t)((i * 37 + id) % 600));
	}
	for (int k = 0; k < 64; k++)
		free(ring[k]);
	for (int k = 0; k < KEEP; k++)
		kept[id][k] = kept_alloc(24 + (size_t)k);
	switch (id % 3) {
	case 0:
		return NULL;
	case 1:
		pthread_exit(NULL);
	default:
		/* No destructor runs; the kernel still clears the tid, so the
		 * join below returns. */
		syscall(SYS_exit, 0);
	}
	return NULL;
}

int main(void)
{
	for (int w = 0; w < WAVES; w++) {
		pthread_t t[PER_WAVE];
		for (int i = 0; i < PER_WAVE; i++)
			pthread_create(&t[i], NULL, worker, (void *)(long)(w * PER_WAVE + i));
		for (int i = 0; i < PER_WAVE; i++)
			pthread_join(t[i], NULL);
	}
	int n = WAVES * PER_WAVE;
	/* Half the kept blocks are freed here, on another thread than the
	 * one that made them. */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < KEEP / 2; k++)
			free(kept[i][k]);
	printf("expect churn_alloc %d 0\n", n * OPS);
	printf("expect kept_alloc %d %d\n", n * KEEP, n * (KEEP - KEEP / 2));
	return 0;
}
