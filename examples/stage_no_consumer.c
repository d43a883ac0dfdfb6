/*
 * stage_no_consumer.c - docs/incidents.md 5, "the stage without a consumer"
 * (ingress log pipeline).
 *
 * For each batch of access records, one matcher thread per record reads
 * its record and sends a match on the batch's unbuffered channel. The next
 * stage receives matches until a tick fires (the original's 12-second
 * ticker, here 20 ms) and then moves on to the next batch without draining
 * the channel: every matcher that lost that race blocks in its send
 * forever (line LEAK).
 *
 * Noise: a stable pool of idle workers, the match patterns compiled once
 * at start, and a read buffer per batch, freed when the batch is parsed.
 * Usage: stage_no_consumer [max_leaked]   (default 3000; then it idles)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "chan.h"

#define BATCH 8

struct record {
	long id;
	struct chan *matches;
};

/* The match patterns, compiled once at start. */
#define PATTERNS (256 * 1024)
static int *patterns;

static void compile_patterns(void)
{
	patterns = malloc(PATTERNS * sizeof *patterns);  /* NOISE: table built once */
	for (int i = 0; i < PATTERNS; i++)
		patterns[i] = i * 31 % 1000;
}

/* Reads one batch of access records into a scratch buffer, freed once
 * the records are split out. */
static long read_batch(long first)
{
	char *buf = malloc(128 * 1024);         /* NOISE: per-request scratch */
	int n = snprintf(buf, 128 * 1024, "GET /a %ld 200", first);
	long sum = n + patterns[first % PATTERNS];
	free(buf);
	return sum;
}

static void *match_stage(void *arg)
{
	struct record *r = arg;
	/* Parsing and matching take a variable time. */
	sleep_ms(r->id % BATCH * 6);
	long match = r->id * 31 % 1000;
	chan_send(r->matches, match);          /* LEAK: the consumer may be gone */
	free(r);
	return NULL;
}

int main(int argc, char **argv)
{
	long max_leaked = argc > 1 ? atol(argv[1]) : 3000;
	pool_start(8);
	compile_patterns();
	printf("stage_no_consumer: pid %d\n", (int)getpid());
	fflush(stdout);
	long leaked = 0, id = 0;
	for (;;) {
		if (leaked >= max_leaked) {
			sleep(1000);
			continue;
		}
		if (read_batch(id) < 0)
			continue;
		struct chan *matches = chan_new();
		for (int i = 0; i < BATCH; i++) {
			struct record *r = malloc(sizeof *r);
			r->id = id++;
			r->matches = matches;
			if (spawn_detached(match_stage, r) != 0)
				free(r);
		}
		/* Take matches until the tick, then go on without draining. */
		struct timespec tick = deadline_in_ms(20);
		long m;
		int got = 0;
		while (got < BATCH && chan_recv_until(matches, &m, &tick) == 1)
			got++;
		leaked += BATCH - got;
	}
}
