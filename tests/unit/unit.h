/*
 * unit.h - the smallest test harness that does the job: CHECK() records a
 * failure with its line and carries on, and UNIT_MAIN's exit status says
 * whether any check failed. tests/run.sh runs each unit binary in its own
 * process with a timeout and counts it as one passed or failed test.
 */
#ifndef NPROF_UNIT_H
#define NPROF_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                          \
	do {                                                                 \
		unit_checks++;                                               \
		if (!(cond)) {                                               \
			unit_failures++;                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                            \
		}                                                            \
	} while (0)

#define CHECK_MSG(cond, ...)                                                 \
	do {                                                                 \
		unit_checks++;                                               \
		if (!(cond)) {                                               \
			unit_failures++;                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, \
				__LINE__, #cond);                            \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

/* Ends a test's main(): a test with no check at all is itself a failure. */
static inline int unit_done(const char *name)
{
	if (unit_checks == 0) {
		fprintf(stderr, "%s: no checks ran\n", name);
		return 1;
	}
	fprintf(stderr, "%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
