/*
 * fd.c - placeholder for the fd profile (its issue replaces this file):
 * the life-cycle hooks core.c calls, doing nothing yet.
 */
#include "nprof_int.h"

void nprof__fd_init(void)
{
}

void nprof__fd_prefork(void)
{
}

void nprof__fd_postfork(int child)
{
	(void)child;
}
