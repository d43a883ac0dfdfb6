/*
 * busy.c - a CPU-bound multi-threaded service, the CPU profile's example.
 *
 * Four workers each "serve requests": most of the time goes into
 * checksum_block(), whose inner mix() loop the compiler inlines; a smaller
 * share goes into parse_request(). A CPU profile of this program should show
 * checksum_block on top, with the inlined mix() line as its hottest line.
 *
 *   ./build/nprof run --http :6060 -- ./build/examples/busy
 *   go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=5'
 *
 * Runs until killed, or for argv[1] seconds.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4
#define BLOCK 4096

static volatile uint64_t sink;

/* The hot loop; always inlined into checksum_block. */
static inline __attribute__((always_inline)) uint64_t mix(uint64_t h, uint64_t v)
{
	for (int r = 0; r < 16; r++) {
		h ^= v + (uint64_t)r;
		h *= 0x100000001b3ULL;
		h = (h << 13) | (h >> 51);
	}
	return h;
}

__attribute__((noinline)) uint64_t checksum_block(const uint64_t *b, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = mix(h, b[i]);
	return h;
}

__attribute__((noinline)) uint64_t parse_request(const uint64_t *b, size_t n)
{
	uint64_t fields = 0;
	for (size_t i = 0; i < n; i++)
		fields += (b[i] >> 7) % 13;
	return fields;
}

static void *worker(void *arg)
{
	uint64_t *block = malloc(BLOCK * sizeof *block);
	for (size_t i = 0; i < BLOCK; i++)
		block[i] = i * 2654435761u + (uintptr_t)arg;
	for (;;) {
		sink += parse_request(block, BLOCK);
		sink += checksum_block(block, BLOCK);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 0;
	pthread_t t[WORKERS];
	for (uintptr_t i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	printf("busy: pid %d, %d workers\n", (int)getpid(), WORKERS);
	fflush(stdout);
	if (seconds > 0) {
		sleep((unsigned)seconds);
		return 0;
	}
	for (;;)
		pause();
}
