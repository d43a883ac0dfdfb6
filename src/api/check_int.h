/*
 * check_int.h - what the files of the leak checks share: check.c (marks,
 * collecting the findings, the entry points), check_supp.c (the settings
 * and suppressions) and check_report.c (the text and JSON reports).
 */
#ifndef NPROF_CHECK_INT_H
#define NPROF_CHECK_INT_H

#include <stdint.h>

#include "buf.h"
#include "frames.h"

/* The kinds a check looks at (NPROF_CHECK_KINDS), and a finding's kind. */
enum { K_THREADS = 1, K_FDS = 2, K_HEAP = 4, K_HEAP_ALL = 8 };
enum { S_THREAD, S_FD, S_HEAP, S_KINDS };

/* One reported group: threads, descriptors or blocks with the same stacks. */
struct item {
	int kind;               /* S_* */
	uint32_t stack;         /* creating / opening / allocating stack */
	uint32_t stack2;        /* threads: current stack */
	int64_t count, bytes;
	int leak;               /* heap: NPROF_REACH_* */
	const char *wait;       /* threads */
	char wait_buf[48];
	char name[16];
	int ids[8];             /* tids or fd numbers, the first few */
	int nids;
	uint8_t fdkind;
	char target[160];
};

struct findings {
	struct item *it;        /* arena */
	size_t n, cap;
	int64_t counts[S_KINDS];        /* things reported, per kind */
	int64_t heap_bytes;
	int64_t suppressed[S_KINDS];
	int heap_skipped;       /* heap not checked: not every allocation recorded */
	int heap_failed;
};

/* check_supp.c: the kinds to check (K_*), from NPROF_CHECK_KINDS, read
 * once (with the suppressions file) on first use. */
int nprof__check_supp_kinds(void);
/* True when a suppression of `kind` (S_*) matches any frame of stacks s1
 * or s2 (0: none). */
int nprof__check_supp_matches(struct nprof_frames *c, int kind, uint32_t s1, uint32_t s2);

/* check_report.c: the frames of stack `id`, innermost first, inlined
 * calls expanded; with `program_only`, the program's frames alone (or,
 * when it has none, the innermost few of the others). */
int nprof__check_report_frames(struct nprof_frames *c, uint32_t id, int program_only,
				struct nprof_oframe *out, int max);
/* Things reported, all kinds. */
int64_t nprof__check_report_total(const struct findings *f);
/* The human report and the JSON one (docs/internals/check.md). */
void nprof__check_report_text(struct nprof_buf *b, struct nprof_frames *c, const struct findings *f,
			      int kinds, const char *who);
void nprof__check_report_json(struct nprof_buf *b, struct nprof_frames *c, const struct findings *f,
			      const char *who);

#endif /* NPROF_CHECK_INT_H */
