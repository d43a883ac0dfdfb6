/*
 * nprof.h - the public API of libnprof, the in-process profiler for native
 * Linux services.
 *
 * Most programs never include this header: preloading the library
 * (LD_PRELOAD=libnprof.so, or `nprof run -- prog`) starts nprof from a
 * constructor and configures it from NPROF_* environment variables. A
 * program that links with -lnprof instead calls nprof_start() itself, at
 * the moment it chooses, with the same settings as one string.
 *
 * Every function returns 0 on success or a negative errno-style code
 * (the two rate setters excepted: they return the previous value);
 * nprof_strerror() turns a code into a message. None of them may be called
 * from a signal handler.
 */
#ifndef NPROF_H
#define NPROF_H

#ifdef __cplusplus
extern "C" {
#endif

#define NPROF_VERSION "0.1.0"

/*
 * Starts nprof in this process. `config` is NULL (read the NPROF_*
 * environment variables) or a comma-separated list of key=value pairs
 * whose keys are the variable names without the NPROF_ prefix, in lower
 * case: "http=127.0.0.1:6060,cpu_hz=200". Keys given in the string win
 * over the environment. A bad value is reported on stderr in one line and
 * that feature falls back to its default; it never makes the call fail.
 * Returns -EALREADY when nprof already runs (for instance when preloaded).
 */
int nprof_start(const char *config);

/*
 * Stops serving, ends any CPU profile in progress and removes the unix
 * socket. Hooks stay installed but record nothing. Safe to call twice.
 */
int nprof_stop(void);

/*
 * Writes the named profile ("profile" excepted, which needs a duration)
 * to the descriptor `fd`: debug 0 is gzipped profile.proto, 1 and 2 are
 * the text forms the HTTP endpoint serves. Returns -ENOENT for an unknown
 * name.
 */
int nprof_write_profile(const char *name, int fd, int debug);

/*
 * Sets the block profile's rate at run time, as Go's
 * runtime.SetBlockProfileRate: a wait (condition variable, semaphore,
 * join, barrier, contended mutex or rwlock) lasting d nanoseconds is
 * recorded when d >= ns, and with probability d/ns when shorter. 1 records
 * every wait; 0 turns the profile off. A negative value changes nothing.
 * Returns the rate in force before the call (NPROF_BLOCK_RATE until
 * changed). Takes effect for waits that end after the call; what was
 * recorded stays. Callable before nprof_start (the value then wins over
 * NPROF_BLOCK_RATE). Not async-signal-safe.
 */
long nprof_set_block_rate(long ns);

/*
 * Sets the mutex profile's fraction at run time, as Go's
 * runtime.SetMutexProfileFraction: on average 1 in `fraction` contended
 * pthread_mutex releases is recorded, with its values scaled by
 * `fraction`; 0 turns the profile off. A negative value changes nothing.
 * Returns the fraction in force before the call (NPROF_MUTEX_FRACTION
 * until changed). Same timing rules as nprof_set_block_rate.
 */
long nprof_set_mutex_fraction(long fraction);

/*
 * Leak checks around one test case, as Go's goleak.VerifyNone and
 * LeakSanitizer in one:
 *
 *     nprof_check_begin();
 *     run_one_test();
 *     struct nprof_check_report r;
 *     if (nprof_check_end(&r) > 0)
 *             fail_test(r.text);
 *     nprof_check_report_free(&r);
 *
 * nprof_check_begin() marks the moment: the threads alive, the
 * descriptors open and the heap generation. When nprof is not running yet
 * (linked with -lnprof, nprof_start() not called), it starts it recording
 * every allocation and serving nothing. Returns 0 or a negative errno.
 * A second begin moves the mark.
 *
 * nprof_check_end() reports what was created since the mark and is still
 * there: threads still running (after a grace period of up to 250 ms for
 * threads on their way out), descriptors still open, and heap blocks no
 * longer reachable from the program's globals, thread stacks and
 * registers (a conservative scan, as LeakSanitizer's; blocks still
 * reachable, a cache filled by the test, are not leaks). The heap part
 * needs every allocation recorded (NPROF_HEAP_RATE=1, what begin and
 * `nprof check` set up); otherwise heap_checked is 0. Suppressions come
 * from the file named by NPROF_CHECK_SUPPRESSIONS (`thread:GLOB`,
 * `fd:GLOB`, `heap:GLOB`, matched against the function and file of every
 * frame). Returns 1 when something is reported, 0 when nothing is, or a
 * negative errno (-EINVAL without a begin; the report is then empty).
 * Fill `report` in all cases; release it with nprof_check_report_free().
 * Call both from the same thread, never from a signal handler; the
 * calling thread itself is never reported.
 */
struct nprof_check_report {
	int threads;            /* threads started since the mark, still running */
	int fds;                /* descriptors opened since, still open */
	long heap_blocks;       /* blocks allocated since, unreachable now */
	long heap_bytes;        /* their bytes */
	int heap_checked;       /* 0: every allocation was not recorded */
	const char *text;       /* readable report, one section per kind; "" when clean */
	const char *json;       /* the same as one JSON object */
	void *reserved_[2];
};

int nprof_check_begin(void);
int nprof_check_end(struct nprof_check_report *report);
void nprof_check_report_free(struct nprof_check_report *report);

/* A static message for a code returned by the functions above. */
const char *nprof_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* NPROF_H */
