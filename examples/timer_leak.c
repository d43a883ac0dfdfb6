/*
 * timer_leak.c - docs/incidents.md 2, "a timer per loop turn" (message broker).
 *
 * A receive loop waits for a message or a timeout, and arms a fresh
 * 3-minute timeout every turn (Go's time.After in a select). Messages come
 * fast, so the timeouts never fire, yet each stays registered - its node
 * on the heap, held by the timer queue - until it expires. The heap
 * profile's in-use space grows at the timer allocation; the fix is one
 * reused timer.
 *
 * Noise a real broker has, which must not look like the leak: a buffer
 * pool allocated once (stable), a routing table built once, and a scratch
 * buffer per message, freed at the end of the turn.
 *
 * Prints "turns N" every 50,000 turns so a test can wait for growth.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a tiny timer queue: a binary heap of deadlines ---- */
struct timer {
	int64_t deadline_ns;
	void (*fire)(void *);
	void *arg;
	char name[64];
};

static struct timer **tq;
static size_t tq_len, tq_cap;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void tq_push(struct timer *t)
{
	if (tq_len == tq_cap) {
		tq_cap = tq_cap ? tq_cap * 2 : 1024;
		tq = realloc(tq, tq_cap * sizeof *tq);
	}
	size_t i = tq_len++;
	while (i > 0 && tq[(i - 1) / 2]->deadline_ns > t->deadline_ns) {
		tq[i] = tq[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	tq[i] = t;
}

/* Fires expired timers (none do: they are 3 minutes out). */
static void tq_run(int64_t now)
{
	while (tq_len > 0 && tq[0]->deadline_ns <= now) {
		struct timer *t = tq[0];
		struct timer *last = tq[--tq_len];
		size_t i = 0;
		for (;;) {
			size_t c = 2 * i + 1;
			if (c >= tq_len)
				break;
			if (c + 1 < tq_len && tq[c + 1]->deadline_ns < tq[c]->deadline_ns)
				c++;
			if (last->deadline_ns <= tq[c]->deadline_ns)
				break;
			tq[i] = tq[c];
			i = c;
		}
		tq[i] = last;
		t->fire(t->arg);
		free(t);
	}
}

static void on_timeout(void *arg)
{
	(void)arg;
	fprintf(stderr, "receive timed out\n");
}

/* time.After: a new timer every call. */
__attribute__((noinline)) static struct timer *after(int64_t ns)
{
	struct timer *t = malloc(sizeof *t); /* LEAK: a fresh timer every loop turn */
	t->deadline_ns = now_ns() + ns;
	t->fire = on_timeout;
	t->arg = NULL;
	snprintf(t->name, sizeof t->name, "recv-timeout");
	tq_push(t);
	return t;
}

/* ---- the message queue between producer and receiver ---- */
#define QCAP 1024
static char *queue[QCAP];
static size_t q_head, q_tail;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;

/* ---- noise: a stable buffer pool and a routing table ---- */
#define POOL 256
static char *pool[POOL];
struct route {
	char topic[32];
	int partition;
};
static struct route *routes;

static void build_once(void)
{
	for (int i = 0; i < POOL; i++)
		pool[i] = malloc(16384);                       /* NOISE: stable pool */
	routes = calloc(65536, sizeof *routes);                 /* NOISE: table built once */
	for (int i = 0; i < 65536; i++)
		snprintf(routes[i].topic, sizeof routes[i].topic, "topic-%d", i);
}

static void *producer(void *arg)
{
	(void)arg;
	for (uint64_t n = 0;; n++) {
		char *msg = pool[n % POOL];
		snprintf(msg, 64, "message %llu", (unsigned long long)n);
		pthread_mutex_lock(&q_lock);
		while ((q_tail + 1) % QCAP == q_head)
			pthread_cond_wait(&q_cond, &q_lock);
		queue[q_tail] = msg;
		q_tail = (q_tail + 1) % QCAP;
		pthread_cond_broadcast(&q_cond);
		pthread_mutex_unlock(&q_lock);
		if (n % 64 == 0)
			usleep(1000); /* messages in bursts, about 60,000 a second */
	}
	return NULL;
}

/* select { case m := <-queue: ...; case <-time.After(3 * time.Minute): ... } */
static char *receive(void)
{
	struct timer *timeout = after((int64_t)180 * 1000000000);
	(void)timeout;
	pthread_mutex_lock(&q_lock);
	while (q_head == q_tail)
		pthread_cond_wait(&q_cond, &q_lock);
	char *m = queue[q_head];
	q_head = (q_head + 1) % QCAP;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_lock);
	tq_run(now_ns());
	return m;
}

static void handle(const char *msg)
{
	char *scratch = malloc(2048);                           /* NOISE: per-request scratch */
	size_t n = strlen(msg);
	memcpy(scratch, msg, n + 1);
	volatile int p = routes[n % 65536].partition;
	(void)p;
	free(scratch);
}

int main(void)
{
	build_once();
	pthread_t t;
	pthread_create(&t, NULL, producer, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("serving\n");
	for (uint64_t turns = 1;; turns++) {
		handle(receive());
		if (turns % 50000 == 0)
			printf("turns %llu\n", (unsigned long long)turns);
	}
}
