/*
 * shim_latefree.c - a library a program dlopen()s late (after `nprof
 * attach`), which frees blocks the program allocated. Built as
 * shim_latefree.so; used by tests/integration/attach_dlopen.sh.
 */
#include <stdlib.h>

void late_free(void *p);
void *late_malloc(size_t n);

void late_free(void *p)
{
	free(p);
}

void *late_malloc(size_t n)
{
	return malloc(n);
}
