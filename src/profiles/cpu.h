/*
 * cpu.h - the CPU profile (cpu.c): /debug/pprof/profile, and what the
 * pthread_create and sigaction overrides tell it.
 */
#ifndef NPROF_CPU_H
#define NPROF_CPU_H

#include "profile.h"

void nprof__cpu_handle(const struct nprof_req *req, struct nprof_reply *rep);
/* Called on a new thread's start (from the pthread_create wrapper). */
void nprof__cpu_thread_start(void);
/* Called when the program installs its own SIGPROF disposition. */
void nprof__cpu_sigprof_taken(void);
/* After fork in the child: drop profile state (timers are not inherited). */
void nprof__cpu_forget(void);
/* CPU samples dropped because the sample log was full, all time. */
long nprof__cpu_dropped(void);

#endif /* NPROF_CPU_H */
