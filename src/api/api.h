/*
 * api.h - what core.c (start, stop, fork) and check.c (leak checks) share.
 */
#ifndef NPROF_API_INT_H
#define NPROF_API_INT_H

/* api/core.c: starts nprof in a forked child with the parent's settings,
 * its own unix socket and no TCP listener. */
void nprof__core_follow_start(void);

/* ------------------------------------------------------------------ */
/* check.c: leak checks (`nprof check`, nprof_check_begin/end)        */
/* ------------------------------------------------------------------ */

/* At exit (core.c's destructor calls it through nprof__core_at_exit_fn),
 * with NPROF_CHECK=DIR set: writes this process's report to
 * DIR/check.<pid>.{txt,json}. Once per process. */
void nprof__check_at_exit(void);

/* After fork in the child (through nprof__core_postfork_child_fn), with
 * NPROF_CHECK set: keeps the child recording, its report covering what it
 * makes after the fork. */
void nprof__check_postfork_child(void);

/* core.c's hooks for check.c, set by check.c's constructor; NULL when
 * check.c is not linked in. */
extern void (*nprof__core_at_exit_fn)(void);
extern void (*nprof__core_postfork_child_fn)(void);

/* The kind of a suppression line ("thread:", "fd:", "heap:" or "leak:"
 * prefix) as check.c numbers them, or -1. */
int nprof__check_supp_kind(const char *line);

#endif /* NPROF_API_INT_H */
