/*
 * chan.h - a tiny unbuffered channel, as Go's `make(chan T)`, for the
 * example services that reproduce the incidents of docs/incidents.md.
 *
 * chan_send returns only once a receiver has taken the value; chan_recv
 * waits for a value, or returns 0 once the channel is closed and empty;
 * chan_recv_timeout gives up after a timeout (Go's select with a
 * time.After case). A sender nobody will ever receive from blocks in
 * chan_send forever: that is the leak the examples reproduce.
 *
 * Also here: a stable pool of idle worker threads, the noise every real
 * service has, which must never be mistaken for a leak.
 */
#ifndef EXAMPLES_CHAN_H
#define EXAMPLES_CHAN_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct chan {
	pthread_mutex_t mu;
	pthread_cond_t can_send;   /* the slot is free */
	pthread_cond_t can_recv;   /* the slot holds a value */
	pthread_cond_t taken;      /* the receiver took the sender's value */
	int full, closed;
	long value;
	unsigned long sent, received;
};

static inline struct chan *chan_new(void)
{
	struct chan *c = calloc(1, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->can_send, NULL);
	pthread_cond_init(&c->can_recv, NULL);
	pthread_cond_init(&c->taken, NULL);
	return c;
}

/* Blocks until a receiver has taken `v`. Returns 0, or -1 if closed. */
static inline int chan_send(struct chan *c, long v)
{
	pthread_mutex_lock(&c->mu);
	while (c->full && !c->closed)
		pthread_cond_wait(&c->can_send, &c->mu);
	if (c->closed) {
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	c->full = 1;
	c->value = v;
	unsigned long ticket = ++c->sent;
	pthread_cond_signal(&c->can_recv);
	while (c->received < ticket && !c->closed)
		pthread_cond_wait(&c->taken, &c->mu);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* Waits for a value until `deadline` (NULL: forever). Returns 1 with *v
 * set, 0 when closed and empty, -1 on timeout. */
static inline int chan_recv_until(struct chan *c, long *v, const struct timespec *deadline)
{
	pthread_mutex_lock(&c->mu);
	while (!c->full && !c->closed) {
		if (deadline == NULL) {
			pthread_cond_wait(&c->can_recv, &c->mu);
		} else if (pthread_cond_timedwait(&c->can_recv, &c->mu, deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&c->mu);
			return -1;
		}
	}
	if (!c->full) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	*v = c->value;
	c->full = 0;
	c->received++;
	pthread_cond_broadcast(&c->taken);
	pthread_cond_signal(&c->can_send);
	pthread_mutex_unlock(&c->mu);
	return 1;
}

static inline int chan_recv(struct chan *c, long *v)
{
	return chan_recv_until(c, v, NULL);
}

static inline void chan_close(struct chan *c)
{
	pthread_mutex_lock(&c->mu);
	c->closed = 1;
	pthread_cond_broadcast(&c->can_recv);
	pthread_cond_broadcast(&c->can_send);
	pthread_cond_broadcast(&c->taken);
	pthread_mutex_unlock(&c->mu);
}

/* A deadline `ms` milliseconds from now, on CLOCK_REALTIME (the clock
 * pthread_cond_timedwait uses by default). */
static inline struct timespec deadline_in_ms(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Starts a detached thread on a 256 KiB stack (thousands may leak).
 * Returns pthread_create's answer. */
static inline int spawn_detached(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	int rc = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return rc;
}

/* The idle pool: `n` workers waiting for jobs that come rarely. */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static int pool_jobs;

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_mu);
	for (;;) {
		while (pool_jobs == 0)
			pthread_cond_wait(&pool_cv, &pool_mu); /* NOISE: stable pool */
		pool_jobs--;
	}
	return NULL;
}

static inline void pool_start(int n)
{
	for (int i = 0; i < n; i++)
		spawn_detached(pool_worker, NULL);
}

#endif /* EXAMPLES_CHAN_H */
