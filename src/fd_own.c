/*
 * fd_own.c - nprof's own descriptors when the program closes them behind
 * libc's back.
 *
 * A program may close every descriptor with the raw close_range or close
 * system call (daemons do, before exec or after fork), which no hook sees.
 * nprof's listening sockets and libmicrohttpd's inter-thread eventfd are
 * then gone, and their numbers are soon the program's own files. Left
 * alone, libmicrohttpd's threads spun on POLLNVAL, could read from or
 * write to the program's new descriptors, and its stop at exit aborted the
 * program ("failed to signal quiesce via inter-thread communication
 * channel", status 134): tests/integration/raw_close.sh.
 *
 * So nprof interposes poll() - the call every libmicrohttpd thread blocks
 * in - and, on nprof's own threads only, checks before and after each
 * wait that every descriptor polled is still nprof's: open, and still
 * marked nprof's own by fd.c (a descriptor the program opened since gets
 * the program's mark). When one is not, serving is over for good: one
 * line says so, the server is marked lost (http.c then abandons the
 * daemons at exit instead of stopping them, and never closes or writes a
 * descriptor), and the thread parks forever without touching a
 * descriptor again. Profiles keep recording; NPROF_OUT is still written.
 * Serving is not restarted: new listening descriptors would take the
 * lowest free numbers and change the ones the program gets next.
 *
 * Signals: none of this runs in a signal handler. Program threads only
 * pay one thread-local test per poll().
 */
#include "nprof_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

static poll_fn real_poll;
atomic_int nprof__serve_lost;

/* 1 when some descriptor in `fds` is no longer nprof's. */
static int any_lost(const struct pollfd *fds, nfds_t n, int after)
{
	for (nfds_t i = 0; i < n; i++) {
		int fd = fds[i].fd;
		if (fd < 0)
			continue;
		if (after && (fds[i].revents & POLLNVAL))
			return 1;
		if (syscall(SYS_fcntl, fd, F_GETFD) < 0 || !nprof__fd_is_internal_sigsafe(fd))
			return 1;
	}
	return 0;
}

void nprof__fd_own_mark_lost(void)
{
	if (atomic_exchange(&nprof__serve_lost, 1) == 0)
		nprof__log("the program closed nprof's descriptors with a raw system call "
			   "(close_range or close); nprof stops serving and will not touch "
			   "them again; profiles keep recording and NPROF_OUT is still written");
}

/* Stops this thread for good without touching any descriptor. */
static _Noreturn void park(void)
{
	nprof__fd_own_mark_lost();
	for (;;) {
		struct timespec ts = {3600, 0};
		nanosleep(&ts, NULL);
	}
}

int nprof__fd_own_lost(void)
{
	return atomic_load(&nprof__serve_lost);
}

NPROF_API int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	poll_fn real = __atomic_load_n(&real_poll, __ATOMIC_ACQUIRE);
	if (NPROF_UNLIKELY(real == NULL)) {
		real = (poll_fn)dlsym(RTLD_NEXT, "poll");
		if (real == NULL) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&real_poll, real, __ATOMIC_RELEASE);
	}
	if (NPROF_LIKELY(!nprof__arena_serving))
		return real(fds, n, timeout);
	int saved = errno;
	if (atomic_load(&nprof__serve_lost) || any_lost(fds, n, 0))
		park();
	errno = saved;
	int rc = real(fds, n, timeout);
	if (rc > 0) {
		saved = errno;
		if (any_lost(fds, n, 1))
			park();
		errno = saved;
	}
	return rc;
}
