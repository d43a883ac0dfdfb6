/*
 * heap.c - placeholder for the heap profile (its issue replaces this file):
 * the life-cycle hooks core.c calls, doing nothing yet.
 */
#include "nprof_int.h"

void nprof__heap_init(void)
{
}

void nprof__heap_prefork(void)
{
}

void nprof__heap_postfork(int child)
{
	(void)child;
}
