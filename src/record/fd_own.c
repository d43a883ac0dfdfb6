/*
 * fd_own.c - whether nprof's serving descriptors are still its own, and
 * where a restarted server puts new ones.
 *
 * A program may close every descriptor with the raw close_range or close
 * system call (daemons do, before exec or after fork), which no hook sees.
 * hooks/poll_hook.c notices it on nprof's own threads (its poll() checks
 * every descriptor they wait on), parks the thread that noticed for good
 * and marks the server lost here, once per loss, with one line. The
 * serving layer registered a restart function (nprof__fd_own_on_lost):
 * it is called then, on the thread that noticed, and starts serving again
 * on new descriptors (serve/http.c); the old ones are abandoned, never
 * read, written or closed again (tests/integration/raw_close.sh).
 *
 * Generations: each loss starts a new one (nprof__fd_own_gen). A server's
 * threads compare the generation they were started in with the current
 * one and stop touching anything when it moved on.
 *
 * Placing: the program that closed everything expects its next open() to
 * get the lowest free number, as it would without nprof; libunwind 1.6
 * reads from and writes to its address-validation pipe by number, and
 * when that read fails it closes both numbers and opens a new pipe. So
 * nprof's long-lived descriptors (the listening sockets, libmicrohttpd's
 * eventfd, every pipe created under the hook guard: libunwind's) are
 * moved at once to high numbers: F_DUPFD_CLOEXEC from a band below
 * min(RLIMIT_NOFILE, 1024), a band of its own per generation so that a
 * number a stale thread still remembers is never handed to a new server,
 * and the low one closed. After a raw close_range the program's next
 * numbers are the ones it gets without nprof, and libunwind's stale
 * numbers are ones the program does not get (its read fails, it closes
 * two closed numbers and its new pipe is placed high again). Under a
 * limit too low for a band (RLIMIT_NOFILE below about 40) descriptors
 * stay where the kernel put them. Only the microseconds between the two
 * calls can shift a descriptor another thread opens at that very moment.
 *
 * Signals: nothing here runs in a signal handler. Lock-free.
 */
#include "base.h"
#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

/* Restarts after which nprof stops serving rather than restart again:
 * each loss strands a few parked threads (about 1.5 MiB of stacks). */
#define FD_OWN_MAX_RESTARTS 8
/* Descriptors per generation's band below the ceiling. */
#define FD_OWN_BAND 16

static atomic_int serve_lost;
static atomic_int serve_gen;
static void (*on_lost)(void);

int nprof__fd_own_lost(void)
{
	return atomic_load(&serve_lost);
}

int nprof__fd_own_gen(void)
{
	return atomic_load(&serve_gen);
}

void nprof__fd_own_on_lost(void (*fn)(void))
{
	on_lost = fn;
}

void nprof__fd_own_mark_lost(void)
{
	if (atomic_exchange(&serve_lost, 1) != 0)
		return;
	int gen = atomic_fetch_add(&serve_gen, 1) + 1;
	if (on_lost == NULL) {
		nprof__log("the program closed nprof's descriptors with a raw system call "
			   "(close_range or close); nprof stops serving and will not touch "
			   "them again; profiles keep recording and NPROF_OUT is still written");
		return;
	}
	if (gen > FD_OWN_MAX_RESTARTS) {
		nprof__log("the program closed nprof's descriptors with a raw system call "
			   "(close_range or close) %d times; nprof stops serving for good; "
			   "profiles keep recording and NPROF_OUT is still written", gen);
		return;
	}
	nprof__log("the program closed nprof's descriptors with a raw system call "
		   "(close_range or close); nprof abandons them and serves again on new ones");
	on_lost();
}

void nprof__fd_own_restarted(void)
{
	atomic_store(&serve_lost, 0);
}

int nprof__fd_own_place(int fd)
{
	if (fd < 0)
		return fd;
	int saved = errno;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return fd;
	long ceiling = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1024 ? 1024 : (long)rl.rlim_cur;
	long base = ceiling - (long)FD_OWN_BAND * (nprof__fd_own_gen() + 1);
	if (base <= fd + FD_OWN_BAND) {
		errno = saved;
		return fd; /* no room above the program's numbers: stay put */
	}
	int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)base);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	errno = saved;
	return fd;
}
