/*
 * host_symbols.c - prints which library provides backtrace and the
 * _Unwind_* functions as the program sees them, then throws nothing and
 * calls backtrace() once. Under LD_PRELOAD=libnprof.so they must still be
 * glibc's and libgcc's, never libunwind's (docs/safety.md, *Symbols*).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>

int main(void)
{
	const char *names[] = {"backtrace", "_Unwind_Backtrace", "_Unwind_RaiseException",
			       "_Unwind_GetIP", "_Unwind_Resume"};
	/* A C program gets libgcc only when something loads it; load it
	 * globally, after nprof, as a C++ runtime would be. */
	void *libgcc = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_GLOBAL);
	(void)libgcc;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *p = dlsym(RTLD_DEFAULT, names[i]);
		Dl_info info;
		if (p != NULL && dladdr(p, &info) && info.dli_fname)
			printf("%s %s\n", names[i], info.dli_fname);
		else
			printf("%s none\n", names[i]);
	}
	void *frames[16];
	printf("backtrace frames %d\n", backtrace(frames, 16));
	return 0;
}
