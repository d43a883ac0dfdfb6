/*
 * poll_hook.c - poll(), interposed so that nprof's own threads notice
 * when the program closed their descriptors behind libc's back.
 *
 * After a raw close_range or close system call (which no hook sees),
 * nprof's listening sockets and libmicrohttpd's inter-thread eventfd are
 * gone, and their numbers are soon the program's own files. Left alone,
 * libmicrohttpd's threads spun on POLLNVAL, could read from or write to
 * the program's new descriptors, and its stop at exit aborted the
 * program ("failed to signal quiesce via inter-thread communication
 * channel", status 134): tests/integration/raw_close.sh.
 *
 * poll() is the call every libmicrohttpd thread blocks in. On nprof's own
 * threads only, each descriptor polled is checked before and after the
 * wait: still open, and not marked as the program's by record/fd.c (one
 * the program opened since carries the program's mark). When one is not, the
 * server is marked lost (record/fd_own.c says so in one line) and the
 * thread parks forever without touching a descriptor again.
 *
 * Signals: never called from a handler by nprof. Program threads pay one
 * thread-local test per poll().
 */
#include "arena.h"
#include "base.h"
#include "fd.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

static poll_fn real_poll;

/* 1 when some descriptor in `fds` is no longer nprof's. */
static int any_lost(const struct pollfd *fds, nfds_t n, int after)
{
	for (nfds_t i = 0; i < n; i++) {
		int fd = fds[i].fd;
		if (fd < 0)
			continue;
		if (after && (fds[i].revents & POLLNVAL))
			return 1;
		if (syscall(SYS_fcntl, fd, F_GETFD) < 0)
			return 1;
		/* Known to fd.c and not nprof's: the program opened it since.
		 * (Unknown - untracked, or beyond the table - is given the
		 * benefit of the doubt.) */
		if (nprof__fd_known_sigsafe(fd) && !nprof__fd_is_internal_sigsafe(fd))
			return 1;
	}
	return 0;
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
	if (nprof__fd_own_lost() || any_lost(fds, n, 0))
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
