/*
 * heap_trickle.c - a heap leak near nprof's threshold (about 300 KB/s)
 * beside noise that grows for a while: a request handler keeps a 1 KiB
 * audit record per request in a list nothing trims (the line marked
 * LEAK), at 300 requests a second. Around it, what must not be named:
 *   - a response cache that fills to 8 MiB in its first 3-4 seconds, then
 *     evicts the oldest entry for each new one (bounded);
 *   - a routing table rebuilt in steps, each twice the size of the last
 *     (the old one freed), up to 8 MiB;
 *   - bursts of requests every 3 s, each holding a 256 KiB scratch buffer
 *     for the length of the burst.
 *
 *   heap_trickle [REQUESTS_PER_SECOND [SECONDS]]   (defaults 300, 600)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct record {
	struct record *next;
	char text[1016];
};

#define CACHE_SLOTS 1024
#define CACHE_ENTRY (8 * 1024)

static struct record *audit;               /* never trimmed */
static char *cache[CACHE_SLOTS];           /* ring: bounded */
static unsigned cache_next;
static char *table;                        /* rebuilt in steps */
static size_t table_size;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noinline)) void cache_put(long n)
{
	unsigned i = cache_next++ % CACHE_SLOTS;
	free(cache[i]);
	cache[i] = malloc(CACHE_ENTRY);        /* NOISE: bounded cache, fills then evicts */
	memset(cache[i], (int)n, 64);
}

static __attribute__((noinline)) void table_grow(void)
{
	size_t size = table_size ? table_size * 2 : 1 << 20;
	char *t = malloc(size);                 /* NOISE: table rebuilt in steps */
	memset(t, 1, size);
	free(table);
	table = t;
	table_size = size;
}

static __attribute__((noinline)) void handle_request(long n)
{
	struct record *r = malloc(sizeof *r);  /* LEAK: an audit record per request, never freed */
	snprintf(r->text, sizeof r->text, "request %ld", n);
	r->next = audit;
	audit = r;
	cache_put(n);
}

static __attribute__((noinline)) void burst(long n)
{
	char *bufs[16];
	for (int i = 0; i < 16; i++) {
		bufs[i] = malloc(256 * 1024);   /* NOISE: burst scratch, freed after the burst */
		memset(bufs[i], (int)n, 4096);
	}
	usleep(300 * 1000);
	for (int i = 0; i < 16; i++)
		free(bufs[i]);
}

int main(int argc, char **argv)
{
	int rate = argc > 1 ? atoi(argv[1]) : 300;
	int seconds = argc > 2 ? atoi(argv[2]) : 600;
	if (rate <= 0 || seconds <= 0) {
		fprintf(stderr, "usage: heap_trickle [REQUESTS_PER_SECOND [SECONDS]]\n");
		return 2;
	}
	printf("heap_trickle: pid %d\n", (int)getpid());
	fflush(stdout);
	double t0 = now_s(), next_burst = 3, next_table = 1;
	for (long n = 0;; n++) {
		double t = now_s() - t0;
		if (t > seconds)
			break;
		if (t >= next_table && table_size < (8u << 20)) {
			table_grow();
			next_table = t * 2 + 1;
		}
		if (t >= next_burst) {
			burst(n);
			next_burst += 3;
		}
		handle_request(n);
		/* Paced on the clock, so bursts do not slow the leak down. */
		double due = (double)(n + 1) / rate - (now_s() - t0);
		if (due > 0)
			usleep((useconds_t)(due * 1e6));
	}
	return 0;
}
