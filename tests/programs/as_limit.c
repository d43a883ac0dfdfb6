/*
 * as_limit.c - lowers RLIMIT_AS to argv[1] MB after start, as a service
 * guarding itself does, then asks for memory and reports what it got:
 *   "big100 OK|FAIL calloc8g OK|FAIL blocks64k MB small1k MB content ok|BAD"
 * big100: malloc(100 MB); calloc8g: calloc(8 GiB); blocks64k and small1k:
 * megabytes obtained in 64 KiB and then 1 KiB blocks until malloc fails
 * (everything freed between the phases). content: 1 KiB blocks taken
 * with calloc until it fails, each checked to be zero, then each grown
 * with realloc to 2 KiB and checked to keep its bytes - memory the 1 KiB
 * phase has just dirtied, at the limit, where an allocator that moves
 * blocks must still zero and copy them. With AS_LIMIT_MAPS set, the
 * mappings of 4 MB and more are listed on stderr when a phase fills up.
 * argv[1] 0 keeps the limit the program was started with. With argv[2]
 * "thread", an idle thread is started first: a program with
 * more than one thread makes glibc retry a failed allocation in another
 * arena (64 MiB heaps), which by itself gets about 11% less than a
 * single-threaded program; nprof's own threads do the same.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void *keep[1 << 22];

static void show_maps(void)
{
	static char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi - lo >= (4ul << 20))
			fprintf(stderr, "%lu KB %s", (hi - lo) >> 10, line);
	if (f != NULL)
		fclose(f);
}

static size_t fill(size_t block)
{
	size_t n = 0;
	while (n < sizeof keep / sizeof keep[0]) {
		void *p = malloc(block);
		if (p == NULL) {
			if (getenv("AS_LIMIT_MAPS") != NULL)
				show_maps();
			break;
		}
		*(volatile char *)p = 1;
		keep[n++] = p;
	}
	for (size_t i = 0; i < n; i++)
		free(keep[i]);
	return n * block >> 20;
}

/* The content phase: 1 if every calloc'd block was zero and every grown
 * block kept its bytes. */
static int content(void)
{
	size_t n = 0;
	int good = 1;
	while (n < sizeof keep / sizeof keep[0]) {
		unsigned char *p = calloc(1024, 1);
		if (p == NULL)
			break;
		for (size_t i = 0; i < 1024; i++)
			good &= p[i] == 0;
		memset(p, (int)(n & 0xff) | 1, 1024);
		keep[n++] = p;
	}
	/* Half of them grow (there is no room for all at the limit). */
	for (size_t i = 0; i < n; i += 2) {
		unsigned char *q = realloc(keep[i], 2048);
		if (q == NULL)
			continue;
		keep[i] = q;
		for (size_t k = 0; k < 1024; k++)
			good &= q[k] == ((i & 0xff) | 1);
	}
	for (size_t i = 0; i < n; i++)
		free(keep[i]);
	return good && n > 0;
}

static void *idle(void *arg)
{
	for (;;)
		pause();
	return arg;
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? (size_t)atol(argv[1]) : 256;
	pthread_t t;
	if (argc > 2 && strcmp(argv[2], "thread") == 0 && pthread_create(&t, NULL, idle, NULL) != 0)
		return 2;
	struct rlimit rl = {mb << 20, mb << 20};
	/* 0: keep the limit the program was started with (ulimit -v). */
	if (mb != 0 && setrlimit(RLIMIT_AS, &rl) != 0) {
		perror("setrlimit");
		return 2;
	}
	void *big = malloc((size_t)100 << 20);
	printf("big100 %s ", big ? "OK" : "FAIL");
	free(big);
	void *huge = calloc((size_t)8 << 30, 1);
	printf("calloc8g %s ", huge ? "OK" : "FAIL");
	free(huge);
	size_t b64 = fill(65536);
	size_t b1 = fill(1024);
	printf("blocks64k %zu small1k %zu content %s\n", b64, b1, content() ? "ok" : "BAD");
	return 0;
}
