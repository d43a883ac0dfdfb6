/*
 * heap_storm.c - the heap profiler's benchmark workloads (bench/heap.sh).
 *
 *   heap_storm storm THREADS OPS   malloc/free storm: each thread keeps a
 *                                  ring of 4096 live blocks of 16-512 B and
 *                                  replaces a random one OPS times
 *   heap_storm pairs OPS           OPS malloc+free pairs of 16-271 B in a
 *                                  row, in function pairs() (the bench
 *                                  counts its instructions with callgrind)
 *   heap_storm app OPS             an allocation-heavy service-like loop:
 *                                  per request, parse into a dozen small
 *                                  objects, build a response, hash it,
 *                                  free; a long-lived cache churns slowly
 *
 * Prints "elapsed SECONDS" (wall clock of the work, set-up excluded).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static long ops;

static void *storm(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	void *ring[4096];
	for (int i = 0; i < 4096; i++)
		ring[i] = malloc(16 + xs(&s) % 497);
	for (long i = 0; i < ops; i++) {
		uint64_t r = xs(&s);
		size_t k = r & 4095;
		free(ring[k]);
		ring[k] = malloc(16 + (r >> 12) % 497);
		*(volatile char *)ring[k] = 1;
	}
	for (int i = 0; i < 4096; i++)
		free(ring[i]);
	return NULL;
}

struct field {
	char *key, *value;
	struct field *next;
};

static uint64_t work(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

static uint64_t app(void)
{
	uint64_t s = 42, sum = 0;
	enum { CACHE = 8192 };
	char **cache = calloc(CACHE, sizeof *cache);
	for (long r = 0; r < ops; r++) {
		/* parse: a dozen header fields */
		struct field *head = NULL;
		int nf = 8 + (int)(xs(&s) % 8);
		for (int i = 0; i < nf; i++) {
			struct field *f = malloc(sizeof *f);
			size_t kl = 4 + xs(&s) % 20, vl = 8 + xs(&s) % 120;
			f->key = malloc(kl + 1);
			f->value = malloc(vl + 1);
			memset(f->key, 'k', kl);
			f->key[kl] = 0;
			memset(f->value, 'v' + i, vl);
			f->value[vl] = 0;
			f->next = head;
			head = f;
		}
		/* respond: a body built from the fields */
		size_t cap = 256, len = 0;
		char *body = malloc(cap);
		for (struct field *f = head; f; f = f->next) {
			size_t need = strlen(f->key) + strlen(f->value) + 4;
			if (len + need > cap) {
				cap = (len + need) * 2;
				body = realloc(body, cap);
			}
			len += (size_t)sprintf(body + len, "%s: %s\n", f->key, f->value);
		}
		sum += work(body, len);
		/* a cache entry replaced now and then */
		if (xs(&s) % 4 == 0) {
			size_t k = xs(&s) % CACHE;
			free(cache[k]);
			cache[k] = malloc(64 + xs(&s) % 2048);
			memcpy(cache[k], body, 64);
		}
		free(body);
		while (head) {
			struct field *f = head;
			head = f->next;
			free(f->key);
			free(f->value);
			free(f);
		}
	}
	for (int i = 0; i < CACHE; i++)
		free(cache[i]);
	free(cache);
	return sum;
}

__attribute__((noinline)) static void pairs(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(16 + (size_t)((i * 7) & 255));
		*(volatile char *)p = 1;
		free(p);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: heap_storm storm THREADS OPS | pairs OPS | app OPS\n");
		return 2;
	}
	double t0 = now();
	if (argv[1][0] == 's' && argc >= 4) {
		int nt = atoi(argv[2]);
		ops = atol(argv[3]);
		pthread_t t[64];
		for (int i = 0; i < nt && i < 64; i++)
			pthread_create(&t[i], NULL, storm, (void *)(uintptr_t)(i + 1));
		for (int i = 0; i < nt && i < 64; i++)
			pthread_join(t[i], NULL);
	} else if (argv[1][0] == 'p') {
		pairs(atol(argv[2]));
	} else {
		ops = atol(argv[2]);
		uint64_t h = app();
		if (h == 42)
			printf("!\n");
	}
	printf("elapsed %.4f\n", now() - t0);
	return 0;
}
