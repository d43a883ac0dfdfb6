/*
 * double_send.c - docs/incidents.md 1, "the double send" (risk-control service).
 *
 * A dispatcher hands each job to a new worker thread and reads exactly one
 * result per job from an unbuffered channel. When the cache lookup misses,
 * the worker sends an error result but the branch lacks its `return`, so
 * it sends the normal result too: nobody reads that second one, and the
 * worker blocks in chan_send forever. Threads climb; the thread profile
 * (goroutine?debug=1) shows almost all of them on the line marked LEAK.
 *
 * Noise that must not be reported: a stable pool of idle workers, the
 * risk rules loaded once at start, and a request buffer per job, freed.
 * Usage: double_send [max_leaked]   (default 3000; then it idles)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "chan.h"

struct job {
	long id;
	struct chan *result;
};

/* The risk rules, loaded once at start: a big table that never changes. */
#define RULES (512 * 1024)
static long *rules;

static void load_rules(void)
{
	rules = malloc(RULES * sizeof *rules);  /* NOISE: table built once */
	for (long i = 0; i < RULES; i++)
		rules[i] = i * 13 % 97;
}

/* The dispatcher formats each job's request in a scratch buffer, freed
 * once the job is handed over. */
static long format_request(long id)
{
	char *req = malloc(64 * 1024);          /* NOISE: per-request scratch */
	int n = snprintf(req, 64 * 1024, "job=%ld rule=%ld", id, rules[id % RULES]);
	long sum = 0;
	for (int i = 0; i < n; i++)
		sum += req[i];
	free(req);
	return sum;
}

/* One in four lookups misses. */
static int cache_lookup(long id, long *score)
{
	if (id % 4 == 0)
		return -1;
	*score = id * 7 % 100;
	return 0;
}

static void *score_job(void *arg)
{
	struct job *j = arg;
	long score = 0;
	if (cache_lookup(j->id, &score) != 0) {
		chan_send(j->result, -1);       /* the error result */
		/* BUG: missing `return NULL;` */
	}
	chan_send(j->result, score);        /* LEAK: second send nobody reads */
	free(j);
	return NULL;
}

int main(int argc, char **argv)
{
	long max_leaked = argc > 1 ? atol(argv[1]) : 3000;
	pool_start(8);
	load_rules();
	printf("double_send: pid %d\n", (int)getpid());
	fflush(stdout);
	long leaked = 0;
	for (long id = 1;; id++) {
		if (leaked >= max_leaked) {
			sleep(1000);
			continue;
		}
		struct job *j = malloc(sizeof *j);
		j->id = id;
		if (format_request(id) < 0)
			continue;
		j->result = chan_new();
		if (spawn_detached(score_job, j) != 0) {
			free(j);
			sleep_ms(100);
			continue;
		}
		long v;
		chan_recv(j->result, &v);       /* exactly one result per job */
		if (id % 4 == 0)
			leaked++;
		sleep_ms(2);
	}
}
