/*
 * threads.c - placeholder for the threads profile (its issue replaces this file):
 * the life-cycle hooks core.c calls, doing nothing yet.
 */
#include "nprof_int.h"

void nprof__threads_init(void)
{
}

void nprof__threads_prefork(void)
{
}

void nprof__threads_postfork(int child)
{
	(void)child;
}
