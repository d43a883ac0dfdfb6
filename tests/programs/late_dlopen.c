/*
 * late_dlopen.c - waits until the file argv[1] exists (the test creates it
 * after `nprof attach`), then dlopen()s argv[2] and lets it free blocks the
 * program allocated, and frees blocks it allocated: with nprof attached
 * at rate 1 every block is nprof's, so the late library must reach
 * nprof's free, not glibc's. Prints "done" and exits 0.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct timespec ts = {0, 20 * 1000 * 1000};
	while (access(argv[1], F_OK) != 0)
		nanosleep(&ts, NULL);
	void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 3;
	}
	void (*late_free)(void *) = (void (*)(void *))dlsym(h, "late_free");
	void *(*late_malloc)(size_t) = (void *(*)(size_t))dlsym(h, "late_malloc");
	if (late_free == NULL || late_malloc == NULL)
		return 4;
	for (int i = 0; i < 2000; i++) {
		char *p = malloc(100 + (size_t)i);
		memset(p, 1, 100);
		late_free(p);
		char *q = late_malloc(200 + (size_t)i);
		memset(q, 2, 200);
		free(q);
	}
	puts("done");
	fflush(stdout);
	return 0;
}
