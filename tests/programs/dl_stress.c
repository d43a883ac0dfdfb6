/*
 * dl_stress.c - threads that spend their time inside the dynamic loader
 * (dlopen/dlclose of libz, dl_iterate_phdr) and malloc/free, so that CPU
 * samples land there. Prints "ready", then a heartbeat count per second on
 * request (a line on stdin), so a test can tell it is still making
 * progress.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long rounds;

static int count_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info;
	(void)size;
	++*(int *)arg;
	return 0;
}

static void *loader(void *arg)
{
	(void)arg;
	for (;;) {
		void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		int n = 0;
		dl_iterate_phdr(count_phdr, &n);
		if (h != NULL)
			dlclose(h);
		free(malloc(64 + (size_t)(n % 64)));
		rounds++;
	}
	return NULL;
}

int main(void)
{
	for (int i = 0; i < 3; i++) {
		pthread_t t;
		pthread_create(&t, NULL, loader, NULL);
	}
	printf("ready\n");
	fflush(stdout);
	char line[16];
	while (fgets(line, sizeof line, stdin)) {
		printf("rounds %ld\n", (long)rounds);
		fflush(stdout);
	}
	return 0;
}
