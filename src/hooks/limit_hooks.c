/*
 * limit_hooks.c - the program's address-space limit (RLIMIT_AS), and the
 * one thing nprof does about it: take back glibc's page-per-block blocks.
 *
 * Why: nprof's threads make every program multi-threaded. In a
 * multi-threaded program glibc retries a failed allocation in a new arena,
 * and the thread stays on that arena, which grows in 64 MiB heaps (each
 * reserved whole, and a reservation counts against RLIMIT_AS). When the
 * next 64 MiB no longer fit under the limit, glibc serves every small
 * block with an mmap of its own: a 1 KiB block then costs a 4 KiB page of
 * the limit, and the program runs out of memory with a quarter of it
 * used. A single-threaded program never gets there (its one arena grows
 * by brk, or by 1 MiB mappings). Measured with a 256 MB limit and 1 KiB
 * blocks (tests/preload/rlimit_as.sh): 218 MB single-threaded, 194 MB
 * with one idle thread, 174 MB under nprof at rate 4096.
 *
 * What: while RLIMIT_AS is finite and the address space in use is within
 * NEAR of it, malloc_hooks.c hands every unsampled small block glibc
 * returns to nprof__as_rescue(). A block glibc marked
 * mmapped (its chunk's IS_MMAPPED bit) although smaller than glibc's
 * lowest mmap threshold can only come from that fallback; it is moved to
 * the sampled range, which packs such blocks in 2 MiB steps, and its page
 * is given back. The block is recorded under the stack id no profile
 * shows (NPROF_REGION_OWN_STACK), as nprof's own threads' blocks are, so
 * profiles and leak checks are unchanged.
 *
 * Cost: with no limit (the usual case) none of this runs. Looking at every
 * block takes every call off the fast path (254 instructions per malloc
 * and free instead of 158, callgrind), so it is done only near the limit: each thread reads
 * the process's size (/proc/self/statm) after about RECHECK bytes of its
 * allocations, from the slow path it takes anyway once per sampling
 * interval.
 *
 * The limit is learnt from getrlimit when the malloc hooks first resolve
 * (a limit set by the shell or before exec, or an attach), and from the
 * program's setrlimit, setrlimit64, prlimit and prlimit64 calls, which
 * are overridden here and made as the prlimit64 system call. A limit set
 * with a raw system call or by another process is not seen
 * (docs/safety.md).
 *
 * Locking and signals: the overrides take no lock, keep errno on success
 * and are async-signal-safe (raw system calls, atomic stores); the
 * rescue takes the region's locks (heap_region_run.c) and is called from
 * malloc only, never from a signal handler.
 */
#include "base.h"
#include "heap_region.h"
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Near the limit: glibc asks for 128 MiB to make an aligned 64 MiB heap,
 * and threads may each allocate up to RECHECK before they look again. */
#define NEAR ((unsigned long)192 << 20)

_Static_assert(sizeof(struct rlimit) == sizeof(struct rlimit64), "rlimit64 is rlimit");

int nprof__as_watch;
int nprof__as_near;
static unsigned long limit;             /* RLIMIT_AS's soft value, bytes */

void nprof__as_recheck(void)
{
	unsigned long lim = __atomic_load_n(&limit, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&nprof__as_watch, __ATOMIC_RELAXED))
		return;
	int saved = errno;
	/* Raw calls: no hook of nprof's sees this descriptor, which is
	 * closed before anything else could be opened on this thread (another
	 * thread opening meanwhile gets the next number: once per 4 MiB of
	 * allocations, and only under a finite limit). */
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/statm", O_RDONLY | O_CLOEXEC);
	char buf[64];
	long got = fd >= 0 ? syscall(SYS_read, fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		syscall(SYS_close, fd);
	unsigned long pages = 0;
	for (long i = 0; i < got && buf[i] >= '0' && buf[i] <= '9'; i++)
		pages = pages * 10 + (unsigned long)(buf[i] - '0');
	/* Unreadable (no descriptor left, no /proc): assume near. */
	unsigned long size = got > 0 ? pages * (unsigned long)sysconf(_SC_PAGESIZE) : lim;
	__atomic_store_n(&nprof__as_near, size + NEAR >= lim, __ATOMIC_RELAXED);
	errno = saved;
}

/* The limit is now `cur` bytes (RLIM_INFINITY: none). */
static void set_limit(rlim_t cur)
{
	__atomic_store_n(&limit, (unsigned long)cur, __ATOMIC_RELAXED);
	__atomic_store_n(&nprof__as_watch, cur != RLIM_INFINITY, __ATOMIC_RELAXED);
	nprof__as_recheck();
}

void nprof__as_learn(void)
{
	struct rlimit rl;
	int saved = errno;
	if (getrlimit(RLIMIT_AS, &rl) == 0)
		set_limit(rl.rlim_cur);
	errno = saved;
}

void *nprof__as_rescue(void *p, size_t n, int fill, void (*real_free)(void *))
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	void *q = nprof__region_alloc(n ? n : 1, 16, fill == 1, NPROF_REGION_OWN_STACK);
	if (q != NULL) {
		if (fill == 2)
			memcpy(q, p, n);
		real_free(p);
	}
	nprof__guard = guard;
	errno = saved;
	return q != NULL ? q : p;
}

/* ---------------------------------------------------------------- */
/* the overrides                                                     */
/* ---------------------------------------------------------------- */

/* After a successful change of this process's limits. */
static void changed(pid_t pid, __rlimit_resource_t res, const struct rlimit *rl)
{
	if (rl != NULL && (int)res == RLIMIT_AS && (pid == 0 || pid == getpid()))
		set_limit(rl->rlim_cur);
}

/*
 * The system call itself rather than the next definition (dlsym): a child
 * of a multi-threaded program often sets its limits between fork and
 * exec, where only async-signal-safe calls may be made, and dlsym is not
 * one. glibc's four functions are this same call on every 64-bit target.
 */
static int do_prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *rl,
		      struct rlimit *old)
{
	int rc = (int)syscall(SYS_prlimit64, pid, res, rl, old);
	if (rc == 0) {
		int saved = errno;
		changed(pid, res, rl);
		errno = saved;
	}
	return rc;
}

NPROF_API int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
	return do_prlimit(0, res, rl, NULL);
}

NPROF_API int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
	return do_prlimit(0, res, (const struct rlimit *)rl, NULL);
}

NPROF_API int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *rl,
		      struct rlimit *old)
{
	return do_prlimit(pid, res, rl, old);
}

NPROF_API int prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl,
			struct rlimit64 *old)
{
	return do_prlimit(pid, res, (const struct rlimit *)rl, (struct rlimit *)old);
}
