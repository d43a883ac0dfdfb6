/*
 * linked_heap_early.c - pointers allocated before nprof started, freed and
 * reallocated after (tests/preload/heap_entry.sh). Linked with -lnprof:
 * the hooks are active from the start but sample nothing until
 * nprof_start(), so these blocks come from the real allocator.
 */
#include <nprof.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *early[64];
	for (int i = 0; i < 64; i++) {
		early[i] = malloc((size_t)(i + 1) * 1000);
		memset(early[i], i, (size_t)(i + 1) * 1000);
	}
	if (nprof_start("heap_rate=1,socket=off") != 0) {
		fprintf(stderr, "nprof_start failed\n");
		return 1;
	}
	/* realloc moves the early blocks into sampled ones and back. */
	for (int i = 0; i < 32; i++) {
		early[i] = realloc(early[i], (size_t)(i + 1) * 3000);
		if (early[i] == NULL || early[i][(size_t)(i + 1) * 1000 - 1] != (char)i) {
			fprintf(stderr, "realloc lost data\n");
			return 1;
		}
	}
	for (int i = 32; i < 48; i++)
		early[i] = realloc(early[i], 0);
	for (int i = 0; i < 64; i++)
		free(early[i]);
	free(NULL);
	if (realloc(NULL, 0) == (void *)1)
		return 1;
	char *p = malloc(100);
	p = realloc(p, 0);
	free(p);
	printf("early ok\n");
	return 0;
}
