/*
 * fd_hooks.c - the libc overrides behind the descriptor profile.
 *
 * Owns only the overrides: every call that creates a descriptor (open and
 * its fortified and 64-bit forms, socket, accept, pipe, dup, fcntl
 * F_DUPFD*, eventfd, timerfd, signalfd, epoll, memfd, inotify, fopen,
 * opendir, descriptors received with SCM_RIGHTS) and every closer (close,
 * fclose, closedir, close_range, closefrom). Each forwards to the real
 * function (dlsym RTLD_NEXT, resolved on first use) and tells fd.c, which
 * owns the table and its contract.
 *
 * fopen, opendir, fclose and closedir are overridden as well as open and
 * close because glibc calls its internal __open/__close from them, which
 * no interposer sees.
 *
 * What a hook does after the real call:
 *   - guard raised (nprof's own code or thread): move a descriptor created
 *     afresh to a high number, out of the program's way (record/fd_own.c:
 *     the program's numbers stay those it gets without nprof, also after
 *     a raw close_range), flag it as nprof's own; never record a stack;
 *   - nprof running: record the creating stack (nprof__fd_track, called
 *     directly from here so that its frame skip lands on our caller);
 *   - nprof not running: forget any stale record of that number.
 * Closers forget the record *before* the real close, while the number
 * cannot be reused yet.
 *
 * nprof's own descriptors and the program's closers (docs/safety.md, *Descriptors*): a
 * program that closes every descriptor must not kill nprof's server. A
 * close() of one of nprof's descriptors by the program fails with EBADF
 * and closes nothing - exactly what the program would get without nprof,
 * where that number would not be open. close_range() and closefrom() are
 * split around nprof's descriptors, so everything else in the range is
 * closed and nprof keeps serving. dup2/dup3 onto one of nprof's
 * descriptors fails with EBUSY and says so once on stderr: nprof cannot
 * give up a socket its server is using, and silently replacing it would
 * send profile bytes into the program's file.
 *
 * Locking and signals: no lock on any path; every hook saves errno
 * around nprof's work. close and the other closers only load and store,
 * so they stay async-signal-safe; creators that record unwind and intern
 * (see fd.c for the re-entry rule).
 */
#undef _FORTIFY_SOURCE
#include "arena.h"
#include "base.h"
#include "fd.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The fortified entry points (glibc's bits/fcntl2.h calls them when a
 * program is built with _FORTIFY_SOURCE); not declared without it. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* Resolves a real function; keeps errno (the call it precedes may succeed
 * and the program may read errno afterwards). */
static void *resolve(const char *name)
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	void *p = dlsym(RTLD_NEXT, name);
	nprof__guard = guard;
	errno = saved;
	return p;
}

/* real_NAME: the next definition of NAME, resolved on first use. A race
 * between two first uses stores the same value twice. */
#define REAL(name)                                                        \
	static __typeof__(&name) real_##name;                             \
	static inline __typeof__(&name) get_##name(void)                  \
	{                                                                 \
		__typeof__(&name) p = real_##name;                        \
		if (NPROF_UNLIKELY(p == NULL))                            \
			real_##name = p = (__typeof__(&name))resolve(#name); \
		return p;                                                 \
	}
#define GET(name) get_##name()
/* For a function libc may lack (older glibc): fail as the kernel would. */
#define MISSING(ret) do { errno = ENOSYS; return (ret); } while (0)

REAL(open) REAL(open64) REAL(openat) REAL(openat64) REAL(creat) REAL(creat64)
REAL(__open_2) REAL(__open64_2) REAL(__openat_2) REAL(__openat64_2)
REAL(socket) REAL(socketpair) REAL(accept) REAL(accept4)
REAL(pipe) REAL(pipe2) REAL(dup) REAL(dup2) REAL(dup3)
REAL(fcntl) REAL(fcntl64)
REAL(eventfd) REAL(timerfd_create) REAL(signalfd) REAL(epoll_create)
REAL(epoll_create1) REAL(memfd_create) REAL(inotify_init) REAL(inotify_init1)
REAL(fopen) REAL(fopen64) REAL(fdopen) REAL(opendir)
REAL(recvmsg) REAL(recvmmsg)
REAL(close) REAL(fclose) REAL(closedir) REAL(close_range) REAL(closefrom)

/* After a creating call returned `fd`. Inlined into each hook so that
 * nprof__fd_track is called from the hook's own frame. */
static inline __attribute__((always_inline)) void created(int fd, int op)
{
	if (NPROF_UNLIKELY(fd < 0))
		return;
	if (NPROF_UNLIKELY(nprof__guard))
		nprof__fd_created_guarded(fd);
	else if (NPROF_LIKELY(nprof__running))
		nprof__fd_track(&fd, 1, op);
	else
		nprof__fd_forget_sigsafe(fd);
}

/* After a call that created `fd` afresh (not dup or fcntl, which name
 * the number, nor fopen or opendir, whose stream holds it): nprof's own
 * is moved to a high number first, out of the program's way
 * (record/fd_own.c); the number to return. */
static inline __attribute__((always_inline)) int placed(int fd, int op)
{
	if (NPROF_UNLIKELY(nprof__guard) && fd >= 0)
		fd = nprof__fd_own_place(fd);
	created(fd, op);
	return fd;
}

/* After a call that created n descriptors at once (pipe, socketpair,
 * SCM_RIGHTS): one stack for all of them. */
static inline __attribute__((always_inline)) void created_many(const int *fds, int n, int op)
{
	if (n <= 0)
		return;
	if (NPROF_UNLIKELY(nprof__guard)) {
		for (int i = 0; i < n; i++)
			nprof__fd_created_guarded(fds[i]);
	} else if (NPROF_LIKELY(nprof__running)) {
		nprof__fd_track(fds, n, op);
	} else {
		for (int i = 0; i < n; i++)
			nprof__fd_forget_sigsafe(fds[i]);
	}
}

/* ------------------------------------------------------------------ */
/* open and friends                                                    */
/* ------------------------------------------------------------------ */

/* The mode argument exists only with O_CREAT or O_TMPFILE; reading it
 * otherwise would read garbage (harmless, but undefined). */
#define MODE_ARG(flags, mode) do {                                  \
	if (__OPEN_NEEDS_MODE(flags)) {                             \
		va_list ap;                                         \
		va_start(ap, flags);                                \
		mode = va_arg(ap, mode_t);                          \
		va_end(ap);                                         \
	}                                                           \
} while (0)

NPROF_API int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	int fd = GET(open)(path, flags, mode);
	return placed(fd, NPROF_FD_OP_OPEN);
}

NPROF_API int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	int fd = GET(open64)(path, flags, mode);
	return placed(fd, NPROF_FD_OP_OPEN);
}

NPROF_API int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	int fd = GET(openat)(dirfd, path, flags, mode);
	return placed(fd, NPROF_FD_OP_OPENAT);
}

NPROF_API int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	MODE_ARG(flags, mode);
	int fd = GET(openat64)(dirfd, path, flags, mode);
	return placed(fd, NPROF_FD_OP_OPENAT);
}

NPROF_API int creat(const char *path, mode_t mode)
{
	int fd = GET(creat)(path, mode);
	return placed(fd, NPROF_FD_OP_CREAT);
}

NPROF_API int creat64(const char *path, mode_t mode)
{
	int fd = GET(creat64)(path, mode);
	return placed(fd, NPROF_FD_OP_CREAT);
}

/* The fortified forms check their flags (O_CREAT without a mode aborts);
 * the real ones keep doing that. */
NPROF_API int __open_2(const char *path, int flags)
{
	int fd = GET(__open_2)(path, flags);
	return placed(fd, NPROF_FD_OP_OPEN);
}

NPROF_API int __open64_2(const char *path, int flags)
{
	int fd = GET(__open64_2)(path, flags);
	return placed(fd, NPROF_FD_OP_OPEN);
}

NPROF_API int __openat_2(int dirfd, const char *path, int flags)
{
	int fd = GET(__openat_2)(dirfd, path, flags);
	return placed(fd, NPROF_FD_OP_OPENAT);
}

NPROF_API int __openat64_2(int dirfd, const char *path, int flags)
{
	int fd = GET(__openat64_2)(dirfd, path, flags);
	return placed(fd, NPROF_FD_OP_OPENAT);
}

/* ------------------------------------------------------------------ */
/* sockets, pipes                                                      */
/* ------------------------------------------------------------------ */

NPROF_API int socket(int domain, int type, int protocol)
{
	int fd = GET(socket)(domain, type, protocol);
	return placed(fd, NPROF_FD_OP_SOCKET);
}

NPROF_API int socketpair(int domain, int type, int protocol, int sv[2])
{
	int rc = GET(socketpair)(domain, type, protocol, sv);
	if (rc == 0 && NPROF_UNLIKELY(nprof__guard)) {
		sv[0] = nprof__fd_own_place(sv[0]);
		sv[1] = nprof__fd_own_place(sv[1]);
	}
	if (rc == 0)
		created_many(sv, 2, NPROF_FD_OP_SOCKETPAIR);
	return rc;
}

NPROF_API int accept(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len)
{
	int c = GET(accept)(fd, addr, len);
	return placed(c, NPROF_FD_OP_ACCEPT);
}

/*
 * nprof's own listener (libmicrohttpd) out of descriptors: the program
 * holds every one up to RLIMIT_NOFILE. libmicrohttpd answers EMFILE on
 * its first connection by polling and accepting again at once, which
 * took a whole core while a client waited (tests/integration/
 * nofile_limit.sh). On nprof's own threads only, the failure is turned
 * into "nothing to accept" (EAGAIN) after a pause that doubles from
 * 50 ms to 1 s: the pending client waits in the backlog at the cost of
 * one wake-up a second, and is served once descriptors free up. No
 * descriptor is held in reserve for this: it would be one the program
 * cannot have.
 */
static NPROF_TLS long pause_ms;

static void own_accept_failed(int err)
{
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		pause_ms = 0;
		return;
	}
	pause_ms = pause_ms == 0 ? 50 : pause_ms * 2 > 1000 ? 1000 : pause_ms * 2;
	struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	errno = EAGAIN;
}

NPROF_API int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len, int flags)
{
	int c = GET(accept4)(fd, addr, len, flags);
	if (NPROF_UNLIKELY(c < 0) && nprof__arena_serving)
		own_accept_failed(errno);
	else if (c >= 0)
		pause_ms = 0;
	return placed(c, NPROF_FD_OP_ACCEPT);
}

NPROF_API int pipe(int fds[2])
{
	int rc = GET(pipe)(fds);
	/* nprof's own (libunwind's validation pipe, used by number): moved
	 * to high numbers, out of the program's way (record/fd_own.c). */
	if (rc == 0 && NPROF_UNLIKELY(nprof__guard)) {
		fds[0] = nprof__fd_own_place(fds[0]);
		fds[1] = nprof__fd_own_place(fds[1]);
	}
	if (rc == 0)
		created_many(fds, 2, NPROF_FD_OP_PIPE);
	return rc;
}

NPROF_API int pipe2(int fds[2], int flags)
{
	int rc = GET(pipe2)(fds, flags);
	/* nprof's own (libunwind's validation pipe, used by number): moved
	 * to high numbers, out of the program's way (record/fd_own.c). */
	if (rc == 0 && NPROF_UNLIKELY(nprof__guard)) {
		fds[0] = nprof__fd_own_place(fds[0]);
		fds[1] = nprof__fd_own_place(fds[1]);
	}
	if (rc == 0)
		created_many(fds, 2, NPROF_FD_OP_PIPE);
	return rc;
}

/* Descriptors passed in SCM_RIGHTS control messages become new
 * descriptors of the receiver. */
static inline __attribute__((always_inline)) void received(struct msghdr *msg)
{
	if (msg == NULL || msg->msg_control == NULL ||
	    msg->msg_controllen < sizeof(struct cmsghdr))
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		int fds[64];
		size_t total = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		/* The kernel caps SCM_RIGHTS at 253 descriptors per message. */
		for (size_t off = 0; off < total; off += 64) {
			size_t n = total - off < 64 ? total - off : 64;
			memcpy(fds, CMSG_DATA(c) + off * sizeof(int), n * sizeof(int));
			created_many(fds, (int)n, NPROF_FD_OP_SCM_RIGHTS);
		}
	}
}

NPROF_API ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t r = GET(recvmsg)(fd, msg, flags);
	if (r >= 0)
		received(msg);
	return r;
}

NPROF_API int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
		       struct timespec *timeout)
{
	int r = GET(recvmmsg)(fd, vec, vlen, flags, timeout);
	for (int i = 0; i < r; i++)
		received(&vec[i].msg_hdr);
	return r;
}

/* ------------------------------------------------------------------ */
/* dup and fcntl                                                       */
/* ------------------------------------------------------------------ */

NPROF_API int dup(int fd)
{
	int n = GET(dup)(fd);
	created(n, NPROF_FD_OP_DUP);
	return n;
}

/* dup2/dup3 onto one of nprof's descriptors: refused (see the header). */
static int refuse_replace(int newfd, const char *call)
{
	static atomic_int said;
	if (atomic_exchange(&said, 1) == 0)
		nprof__log("%s onto descriptor %d refused with EBUSY: nprof's server is using it "
			   "(see docs/internals/fd.md)", call, newfd);
	errno = EBUSY;
	return -1;
}

NPROF_API int dup2(int oldfd, int newfd)
{
	if (NPROF_UNLIKELY(oldfd != newfd && nprof__fd_is_protected_sigsafe(newfd)))
		return refuse_replace(newfd, "dup2");
	int n = GET(dup2)(oldfd, newfd);
	/* dup2(fd, fd) changes nothing: the record stays. Otherwise the
	 * implicit close of newfd is replaced by the new record. */
	if (oldfd != newfd)
		created(n, NPROF_FD_OP_DUP2);
	return n;
}

NPROF_API int dup3(int oldfd, int newfd, int flags)
{
	if (NPROF_UNLIKELY(oldfd != newfd && nprof__fd_is_protected_sigsafe(newfd)))
		return refuse_replace(newfd, "dup3");
	int n = GET(dup3)(oldfd, newfd, flags);
	created(n, NPROF_FD_OP_DUP2);
	return n;
}

/*
 * fcntl is variadic and its third argument is an int, a long or a
 * pointer depending on the command. It is read and passed on as a
 * pointer-sized word, as glibc's own fcntl reads it: every variant of the
 * x86-64 and aarch64 ABIs passes the first variadic argument in a full
 * register, so nothing is lost whatever the command.
 */
#define FCNTL_BODY(which)                                                   \
	va_list ap;                                                          \
	va_start(ap, cmd);                                                   \
	void *arg = va_arg(ap, void *);                                      \
	va_end(ap);                                                          \
	int r = GET(which)(fd, cmd, arg);                                    \
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)                        \
		created(r, NPROF_FD_OP_FCNTL);                               \
	return r

NPROF_API int fcntl(int fd, int cmd, ...)
{
	FCNTL_BODY(fcntl);
}

NPROF_API int fcntl64(int fd, int cmd, ...)
{
	FCNTL_BODY(fcntl64);
}

/* ------------------------------------------------------------------ */
/* event, timer, signal, epoll, memfd, inotify descriptors             */
/* ------------------------------------------------------------------ */

NPROF_API int eventfd(unsigned int count, int flags)
{
	int fd = GET(eventfd)(count, flags);
	return placed(fd, NPROF_FD_OP_EVENTFD);
}

NPROF_API int timerfd_create(clockid_t clock, int flags)
{
	int fd = GET(timerfd_create)(clock, flags);
	return placed(fd, NPROF_FD_OP_TIMERFD);
}

NPROF_API int signalfd(int fd, const sigset_t *mask, int flags)
{
	int r = GET(signalfd)(fd, mask, flags);
	/* With an existing descriptor signalfd only changes its mask. */
	if (fd == -1)
		r = placed(r, NPROF_FD_OP_SIGNALFD);
	return r;
}

NPROF_API int epoll_create(int size)
{
	int fd = GET(epoll_create)(size);
	return placed(fd, NPROF_FD_OP_EPOLL);
}

NPROF_API int epoll_create1(int flags)
{
	int fd = GET(epoll_create1)(flags);
	return placed(fd, NPROF_FD_OP_EPOLL);
}

NPROF_API int memfd_create(const char *name, unsigned int flags)
{
	if (GET(memfd_create) == NULL)
		MISSING(-1);
	int fd = real_memfd_create(name, flags);
	return placed(fd, NPROF_FD_OP_MEMFD);
}

NPROF_API int inotify_init(void)
{
	int fd = GET(inotify_init)();
	return placed(fd, NPROF_FD_OP_INOTIFY);
}

NPROF_API int inotify_init1(int flags)
{
	int fd = GET(inotify_init1)(flags);
	return placed(fd, NPROF_FD_OP_INOTIFY);
}

/* ------------------------------------------------------------------ */
/* stdio and directories                                               */
/* ------------------------------------------------------------------ */

NPROF_API FILE *fopen(const char *path, const char *mode)
{
	FILE *f = GET(fopen)(path, mode);
	if (f != NULL)
		created(fileno_unlocked(f), NPROF_FD_OP_FOPEN);
	return f;
}

NPROF_API FILE *fopen64(const char *path, const char *mode)
{
	FILE *f = GET(fopen64)(path, mode);
	if (f != NULL)
		created(fileno_unlocked(f), NPROF_FD_OP_FOPEN);
	return f;
}

/* fdopen creates no descriptor; it is where an inherited descriptor of
 * unknown origin first shows up in the program, so it is recorded there
 * when nothing else is known about it. */
NPROF_API FILE *fdopen(int fd, const char *mode)
{
	FILE *f = GET(fdopen)(fd, mode);
	if (f != NULL && !nprof__fd_known_sigsafe(fd))
		created(fd, NPROF_FD_OP_FDOPEN);
	return f;
}

NPROF_API DIR *opendir(const char *path)
{
	DIR *d = GET(opendir)(path);
	if (d != NULL)
		created(dirfd(d), NPROF_FD_OP_OPENDIR);
	return d;
}

/* ------------------------------------------------------------------ */
/* closers                                                             */
/* ------------------------------------------------------------------ */

NPROF_API int close(int fd)
{
	if (NPROF_UNLIKELY(nprof__fd_close_sigsafe(fd) < 0)) {
		/* One of nprof's descriptors: as without nprof, where this
		 * number would not be open. */
		errno = EBADF;
		return -1;
	}
	return GET(close)(fd);
}

NPROF_API int fclose(FILE *f)
{
	if (f != NULL) {
		int fd = fileno_unlocked(f);
		if (fd >= 0)
			nprof__fd_forget_sigsafe(fd);
	}
	return GET(fclose)(f);
}

NPROF_API int closedir(DIR *d)
{
	/* glibc declares d non-null yet answers NULL with EINVAL; so do we
	 * (dirfd would crash), reading the pointer through a volatile. */
	DIR *volatile v = d;
	if (v != NULL)
		nprof__fd_forget_sigsafe(dirfd(d));
	return GET(closedir)(d);
}

/*
 * close_range by the program while nprof serves: the range is split
 * around nprof's own descriptors and each piece passed to the real
 * close_range, so the program gets what it asked for on every descriptor
 * it could have opened, and nprof's server keeps its sockets.
 */
NPROF_API int close_range(unsigned int first, unsigned int last, int flags)
{
	if (GET(close_range) == NULL)
		MISSING(-1);
	int closing = !(flags & CLOSE_RANGE_CLOEXEC) && first <= last;
	if (!nprof__running || nprof__guard || first > last) {
		if (closing)
			nprof__fd_forget_range_sigsafe(first, last);
		return real_close_range(first, last, flags);
	}
	unsigned int lo = first;
	int kept = 0;
	for (;;) {
		int in = nprof__fd_next_internal_sigsafe(lo, last);
		if (in < 0 || (unsigned int)in > lo) {
			unsigned int hi = in < 0 ? last : (unsigned int)in - 1;
			if (closing)
				nprof__fd_forget_range_sigsafe(lo, hi);
			if (real_close_range(lo, hi, flags) < 0)
				return -1;
		}
		if (in < 0)
			break;
		kept++;
		lo = (unsigned int)in + 1;
		if (lo == 0 || lo > last)
			break;
	}
	if (kept > 0 && closing) {
		static atomic_int said;
		if (atomic_exchange(&said, 1) == 0)
			nprof__log("close_range(%u, %u) by the program: closed everything but "
				   "nprof's own %d descriptor(s), so profiles stay available",
				   first, last, kept);
	}
	return 0;
}

/* glibc's closefrom calls its internal close_range, which no interposer
 * sees: routed through ours to keep nprof's descriptors. */
NPROF_API void closefrom(int lowfd)
{
	int saved = errno;
	if (lowfd < 0)
		lowfd = 0;
	if (close_range((unsigned int)lowfd, ~0U, 0) == 0) {
		errno = saved;
		return;
	}
	/* No close_range in this kernel: glibc's closefrom has its own
	 * fallback (a /proc/self/fd walk); nprof's descriptors go too. */
	if (GET(closefrom) != NULL)
		real_closefrom(lowfd);
	errno = saved;
}
