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

/* A static message for a code returned by the functions above. */
const char *nprof_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* NPROF_H */
