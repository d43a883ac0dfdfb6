/*
 * fd.c - the descriptor table behind /debug/pprof/fd.
 *
 * Owns the descriptor table (which stack created each open descriptor, and
 * when), its reconciliation with /proc/self/fd, and the classification of
 * each descriptor into a kind and a target. The libc overrides that feed
 * the table live in fd_hooks.c, the profile built from its snapshots in
 * fd_report.c; docs/internals/fd.md explains the design.
 *
 * Data structure: a two-level array indexed by descriptor number. A static
 * directory of DIR_SLOTS pointers to chunks of CHUNK_SLOTS slots; a chunk
 * is allocated from the arena the first time a descriptor in its range is
 * created, published with a compare-and-swap, and never freed. Each slot
 * is two atomic words: `word` (creating stack id, creating call, flags)
 * and `born` (coarse monotonic ns). A record is written born first, then
 * word with release order; readers load word, born, word again.
 *
 * Why no lock: an open+close pair must stay cheap, and descriptors are
 * numbered densely by the kernel, so the number itself is the perfect
 * index. The kernel never hands the same number to two live descriptors,
 * so two threads never write one slot for two live descriptors at once.
 * Closers clear the slot *before* the real close, while the number is
 * still taken, so a concurrent creation that reuses the number cannot be
 * wiped by a late clear.
 *
 * Internal descriptors: anything created while the hook guard is raised
 * (nprof's listeners, libmicrohttpd's connections and wake-up eventfd,
 * libdw's open ELF files, the /proc reads of a profile) is flagged
 * INTERNAL. Profiles hide them, and fd_hooks.c keeps the program from
 * closing them (close -> EBADF, as without nprof where they would not
 * exist; close_range is split around them).
 *
 * Reconciliation (each profile): /proc/self/fd is the truth. A listed
 * descriptor with no record is shown under the synthetic frame
 * fd_unknown_origin (label origin=unknown); a record whose descriptor
 * is no longer listed (closed by a path nprof does not see: a raw
 * syscall, libc's internal closes) is dropped.
 *
 * Signal-safety: the _sigsafe functions do loads, stores and CAS only.
 * nprof__fd_track() unwinds and interns (may take the stack table's mutex
 * and the arena's): it is protected against re-entry on one thread by a
 * TLS flag, so a signal handler that creates a descriptor while its thread
 * is inside track leaves that descriptor unrecorded (shown as unknown
 * origin) rather than deadlocking. The handler runs on an HTTP thread with
 * the guard raised; it is not async-signal-safe.
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "fd.h"
#include "fd_int.h"
#include "stacks.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_BITS 11
#define CHUNK_SLOTS (1 << CHUNK_BITS)      /* 32 KiB of slots per chunk */
#define DIR_SLOTS 8192                     /* 16M descriptors in all */
#define MAX_TRACKED_FD (DIR_SLOTS * CHUNK_SLOTS)

#define W_STACK_MASK 0xffffffffULL
#define W_OP_SHIFT 32
#define W_PROGRAM (1ULL << 62)             /* created by the program, recorded */
#define W_INTERNAL (1ULL << 63)            /* nprof's own */

/* A record younger than this at the start of a /proc listing is never
 * dropped by reconciliation: it may have been created after the listing
 * read its number (born is a coarse clock). */
#define STALE_MARGIN_NS 100000000LL

struct fd_slot {
	_Atomic uint64_t word;
	_Atomic int64_t born;
};

static struct fd_slot *_Atomic fd_dir[DIR_SLOTS];
static atomic_long fd_dropped;             /* records lost: arena/stack table full */
static NPROF_TLS int fd_busy;              /* this thread is inside nprof__fd_track */

const char *const nprof__fd_op_names[NPROF_FD_OP_COUNT] = {
	[NPROF_FD_OP_OPEN] = "open", [NPROF_FD_OP_OPENAT] = "openat",
	[NPROF_FD_OP_CREAT] = "creat", [NPROF_FD_OP_SOCKET] = "socket",
	[NPROF_FD_OP_SOCKETPAIR] = "socketpair", [NPROF_FD_OP_ACCEPT] = "accept",
	[NPROF_FD_OP_PIPE] = "pipe", [NPROF_FD_OP_DUP] = "dup", [NPROF_FD_OP_DUP2] = "dup2",
	[NPROF_FD_OP_FCNTL] = "fcntl", [NPROF_FD_OP_EVENTFD] = "eventfd",
	[NPROF_FD_OP_TIMERFD] = "timerfd_create", [NPROF_FD_OP_SIGNALFD] = "signalfd",
	[NPROF_FD_OP_EPOLL] = "epoll_create", [NPROF_FD_OP_MEMFD] = "memfd_create",
	[NPROF_FD_OP_INOTIFY] = "inotify_init", [NPROF_FD_OP_FOPEN] = "fopen",
	[NPROF_FD_OP_FDOPEN] = "fdopen", [NPROF_FD_OP_OPENDIR] = "opendir",
	[NPROF_FD_OP_SCM_RIGHTS] = "recvmsg(SCM_RIGHTS)",
};

const char *const nprof__fd_kind_names[K_COUNT] = {
	"file", "socket-tcp", "socket-udp", "socket-unix", "pipe", "eventfd",
	"timerfd", "epoll", "signalfd", "memfd", "other",
};


int64_t nprof__fd_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The slot of `fd`, or NULL when out of range or (create == 0) when its
 * chunk does not exist. Creating a chunk allocates from the arena. */
static struct fd_slot *slot_of(int fd, int create)
{
	if ((unsigned)fd >= (unsigned)MAX_TRACKED_FD)
		return NULL;
	unsigned d = (unsigned)fd >> CHUNK_BITS;
	struct fd_slot *c = atomic_load_explicit(&fd_dir[d], memory_order_acquire);
	if (NPROF_LIKELY(c != NULL) || !create)
		return c ? &c[fd & (CHUNK_SLOTS - 1)] : NULL;
	int guard = nprof__guard;
	nprof__guard = 1;
	struct fd_slot *n = nprof__arena_alloc(sizeof(struct fd_slot) * CHUNK_SLOTS);
	nprof__guard = guard;
	if (n == NULL)
		return NULL;
	struct fd_slot *expect = NULL;
	if (!atomic_compare_exchange_strong_explicit(&fd_dir[d], &expect, n,
						     memory_order_acq_rel, memory_order_acquire)) {
		nprof__arena_free(n);   /* another thread published first */
		n = expect;
	}
	return &n[fd & (CHUNK_SLOTS - 1)];
}

/* ------------------------------------------------------------------ */
/* The hooks' side                                                     */
/* ------------------------------------------------------------------ */

__attribute__((noinline)) void nprof__fd_track(const int *fds, int n, int op)
{
	if (fd_busy)
		return; /* re-entered from a signal handler: leave it unrecorded */
	fd_busy = 1;
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	uintptr_t pcs[NPROF_MAX_FRAMES];
	/* skip 1: this function's frame and the hook's (nprof__unwind_here
	 * also drops any frame inside libnprof.so). */
	int np = nprof__unwind_here(pcs, NPROF_MAX_FRAMES, 1);
	uint32_t id = nprof__stack_intern(pcs, np);
	int64_t now = nprof__fd_coarse_ns();
	uint64_t w = W_PROGRAM | ((uint64_t)(unsigned)op << W_OP_SHIFT) | id;
	if (id == 0)
		atomic_fetch_add_explicit(&fd_dropped, 1, memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		struct fd_slot *s = slot_of(fds[i], 1);
		if (s == NULL) {
			atomic_fetch_add_explicit(&fd_dropped, 1, memory_order_relaxed);
			continue;
		}
		atomic_store_explicit(&s->born, now, memory_order_relaxed);
		atomic_store_explicit(&s->word, w, memory_order_release);
	}
	nprof__guard = guard;
	errno = saved;
	fd_busy = 0;
}

void nprof__fd_created_guarded(int fd)
{
	if (fd_busy) {
		/* A signal handler of the program interrupted nprof__fd_track on
		 * this thread: the descriptor is the program's, not ours. Forget
		 * whatever stale record the number had; it shows as unknown. */
		nprof__fd_forget_sigsafe(fd);
		return;
	}
	int saved = errno;
	struct fd_slot *s = slot_of(fd, 1);
	if (s != NULL) {
		atomic_store_explicit(&s->born, nprof__fd_coarse_ns(), memory_order_relaxed);
		atomic_store_explicit(&s->word, W_INTERNAL, memory_order_release);
	}
	errno = saved;
}

void nprof__fd_forget_sigsafe(int fd)
{
	struct fd_slot *s = slot_of(fd, 0);
	if (s != NULL && atomic_load_explicit(&s->word, memory_order_relaxed) != 0)
		atomic_store_explicit(&s->word, 0, memory_order_release);
}

int nprof__fd_close_sigsafe(int fd)
{
	struct fd_slot *s = slot_of(fd, 0);
	if (s == NULL)
		return 0;
	uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
	if (w == 0)
		return 0;
	if ((w & W_INTERNAL) && nprof__running && !nprof__guard)
		return -EBADF;
	atomic_store_explicit(&s->word, 0, memory_order_release);
	return 0;
}

int nprof__fd_known_sigsafe(int fd)
{
	struct fd_slot *s = slot_of(fd, 0);
	return s != NULL && atomic_load_explicit(&s->word, memory_order_relaxed) != 0;
}

int nprof__fd_is_internal_sigsafe(int fd)
{
	struct fd_slot *s = slot_of(fd, 0);
	return s != NULL && (atomic_load_explicit(&s->word, memory_order_relaxed) & W_INTERNAL);
}

int nprof__fd_is_protected_sigsafe(int fd)
{
	return nprof__running && !nprof__guard && nprof__fd_is_internal_sigsafe(fd);
}

int nprof__fd_next_internal_sigsafe(unsigned lo, unsigned hi)
{
	if (lo >= (unsigned)MAX_TRACKED_FD)
		return -1;
	if (hi >= (unsigned)MAX_TRACKED_FD)
		hi = MAX_TRACKED_FD - 1;
	for (unsigned fd = lo; fd <= hi;) {
		struct fd_slot *c = atomic_load_explicit(&fd_dir[fd >> CHUNK_BITS],
							 memory_order_acquire);
		if (c == NULL) {
			/* Skip the whole missing chunk. */
			fd = ((fd >> CHUNK_BITS) + 1) << CHUNK_BITS;
			continue;
		}
		if (atomic_load_explicit(&c[fd & (CHUNK_SLOTS - 1)].word, memory_order_relaxed) &
		    W_INTERNAL)
			return (int)fd;
		fd++;
	}
	return -1;
}

void nprof__fd_forget_range_sigsafe(unsigned lo, unsigned hi)
{
	if (lo >= (unsigned)MAX_TRACKED_FD)
		return;
	if (hi >= (unsigned)MAX_TRACKED_FD)
		hi = MAX_TRACKED_FD - 1;
	for (unsigned fd = lo; fd <= hi;) {
		struct fd_slot *c = atomic_load_explicit(&fd_dir[fd >> CHUNK_BITS],
							 memory_order_acquire);
		if (c == NULL) {
			fd = ((fd >> CHUNK_BITS) + 1) << CHUNK_BITS;
			continue;
		}
		struct fd_slot *s = &c[fd & (CHUNK_SLOTS - 1)];
		uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
		/* Internal descriptors survive: the caller split its range
		 * around them, or they are being closed by nprof itself one by
		 * one through close(). */
		if (w != 0 && !(w & W_INTERNAL))
			atomic_store_explicit(&s->word, 0, memory_order_release);
		fd++;
	}
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

void nprof__fd_init(void)
{
	/* Nothing to prepare: chunks appear on first use. */
}

void nprof__fd_prefork(void)
{
	/* No lock to take: the table is lock-free, and chunk allocation goes
	 * through the arena, whose lock core.c takes around fork. */
}

void nprof__fd_postfork(int child)
{
	/* A child inherits every descriptor and so the table stays true for
	 * it; nprof is dormant there anyway. A thread that was inside
	 * nprof__fd_track at the fork does not exist in the child, and the
	 * forking thread was not inside it. */
	(void)child;
	fd_busy = 0;
}

/* ------------------------------------------------------------------ */
/* Snapshot: /proc/self/fd reconciled with the table                   */
/* ------------------------------------------------------------------ */

void nprof__fd_snap_free(struct snap *s)
{
	nprof__arena_free(s->e);
	nprof__arena_free(s->hidden);
	nprof__buf_free(&s->targets);
	memset(s, 0, sizeof *s);
}

static int grow(void **p, size_t *cap, size_t need, size_t elsz)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 256;
	while (ncap < need)
		ncap *= 2;
	void *q = nprof__arena_realloc(*p, ncap * elsz);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = ncap;
	return 0;
}

/* "127.0.0.1:41234" or "[::1]:8080" into out. */
static void fmt_inet(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		snprintf(out, cap, "%s:%u", a, ntohs(s4->sin_port));
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		snprintf(out, cap, "[%s]:%u", a, ntohs(s6->sin6_port));
	}
}

/* A unix socket address: its path, "@name" for the abstract namespace,
 * "unnamed" otherwise. */
static void fmt_unix(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t cap)
{
	const struct sockaddr_un *su = (const struct sockaddr_un *)ss;
	size_t plen = len > offsetof(struct sockaddr_un, sun_path) ?
		      len - offsetof(struct sockaddr_un, sun_path) : 0;
	if (plen == 0)
		snprintf(out, cap, "unnamed");
	else if (su->sun_path[0] == '\0')
		snprintf(out, cap, "@%.*s", (int)(plen - 1), su->sun_path + 1);
	else
		snprintf(out, cap, "%.*s", (int)strnlen(su->sun_path, plen), su->sun_path);
}

/*
 * Classifies a socket by asking it (SO_DOMAIN, SO_PROTOCOL, its names):
 * exact, cheap, and true in any network namespace, where /proc/net/tcp
 * would have to be parsed whole for each request. The descriptor is
 * ours, so asking is harmless to the program. Fills `target` when given.
 */
static int classify_socket(int fd, char *target, size_t cap)
{
	int dom = -1, proto = -1, type = -1, listening = 0;
	socklen_t l = sizeof dom;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0)
		return K_OTHER;
	l = sizeof proto;
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
	l = sizeof type;
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
	int kind = K_OTHER;
	if (dom == AF_UNIX)
		kind = K_UNIX;
	else if ((dom == AF_INET || dom == AF_INET6) && proto == IPPROTO_TCP)
		kind = K_TCP;
	else if ((dom == AF_INET || dom == AF_INET6) && proto == IPPROTO_UDP)
		kind = K_UDP;
	if (target == NULL || kind == K_OTHER)
		return kind;
	l = sizeof listening;
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l);
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof me, pl = sizeof peer;
	memset(&me, 0, sizeof me);
	memset(&peer, 0, sizeof peer);
	int have_me = getsockname(fd, (struct sockaddr *)&me, &ml) == 0;
	int have_peer = getpeername(fd, (struct sockaddr *)&peer, &pl) == 0;
	char a[160] = "?", b[160] = "";
	if (kind == K_UNIX) {
		if (have_me)
			fmt_unix(&me, ml, a, sizeof a);
		if (have_peer)
			fmt_unix(&peer, pl, b, sizeof b);
	} else {
		if (have_me)
			fmt_inet(&me, a, sizeof a);
		if (have_peer)
			fmt_inet(&peer, b, sizeof b);
	}
	const char *ty = type == SOCK_DGRAM ? " dgram" : type == SOCK_SEQPACKET ? " seqpacket" : "";
	if (listening)
		snprintf(target, cap, "%s (listening)", a);
	else if (have_peer)
		snprintf(target, cap, "%s -> %s%s", a, b, kind == K_UNIX ? ty : "");
	else
		snprintf(target, cap, "%s (not connected)%s", a, kind == K_UNIX ? ty : "");
	return kind;
}

/* Kind of a descriptor from its /proc/self/fd link (and, for sockets,
 * from the socket itself). */
static int classify(int fd, const char *link, char *target, size_t cap)
{
	static const struct { const char *prefix; int kind; } anon[] = {
		{"anon_inode:[eventfd]", K_EVENTFD}, {"anon_inode:[timerfd]", K_TIMERFD},
		{"anon_inode:[eventpoll]", K_EPOLL}, {"anon_inode:[signalfd]", K_SIGNALFD},
		{"pipe:[", K_PIPE}, {"/memfd:", K_MEMFD},
	};
	if (target != NULL)
		snprintf(target, cap, "%s", link);
	if (strncmp(link, "socket:[", 8) == 0)
		return classify_socket(fd, target, cap);
	for (size_t i = 0; i < sizeof anon / sizeof anon[0]; i++)
		if (strncmp(link, anon[i].prefix, strlen(anon[i].prefix)) == 0)
			return anon[i].kind;
	if (link[0] == '/')
		return K_FILE;
	return K_OTHER; /* anon_inode:inotify, [pidfd], net namespaces, ... */
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/*
 * Lists /proc/self/fd, reconciles each number with the table, classifies
 * it, and drops records of descriptors that are gone. With want_targets,
 * records each descriptor's target text. Runs with the guard raised, so
 * the descriptors it opens are internal and hidden from itself.
 */
int nprof__fd_snap_take(struct snap *s, int want_targets)
{
	memset(s, 0, sizeof *s);
	s->at = nprof__fd_coarse_ns();
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -errno;
	int dfd = dirfd(d);
	int maxfd = -1;
	struct dirent *de;
	char link[PATH_MAX + 1];
	char target[PATH_MAX + 64];
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		int fd = atoi(de->d_name);
		if (fd == dfd)
			continue;
		if (fd > maxfd)
			maxfd = fd;
		struct fd_slot *sl = slot_of(fd, 0);
		uint64_t w = 0;
		int64_t born = 0;
		if (sl != NULL) {
			/* A consistent (word, born) pair: retry if a writer raced. */
			for (int tries = 0; tries < 4; tries++) {
				w = atomic_load_explicit(&sl->word, memory_order_acquire);
				born = atomic_load_explicit(&sl->born, memory_order_relaxed);
				if (atomic_load_explicit(&sl->word, memory_order_acquire) == w)
					break;
			}
		}
		if (w & W_INTERNAL) {
			if (grow((void **)&s->hidden, &s->cap_hidden, s->nhidden + 1, sizeof(int)) == 0)
				s->hidden[s->nhidden++] = fd;
			continue;
		}
		ssize_t ln = readlinkat(dfd, de->d_name, link, sizeof link - 1);
		if (ln < 0)
			continue; /* closed since the listing */
		link[ln] = '\0';
		if (grow((void **)&s->e, &s->cap, s->n + 1, sizeof *s->e) < 0) {
			s->failed = 1;
			break;
		}
		struct fd_ent *e = &s->e[s->n++];
		memset(e, 0, sizeof *e);
		e->fd = fd;
		e->kind = (uint8_t)classify(fd, link, want_targets ? target : NULL, sizeof target);
		if ((w & W_PROGRAM) && (w & W_STACK_MASK) != 0) {
			e->stack = (uint32_t)(w & W_STACK_MASK);
			e->op = (uint8_t)(w >> W_OP_SHIFT);
			e->born = born;
		} else {
			e->unknown = 1;
		}
		if (want_targets) {
			e->target = (uint32_t)s->targets.len;
			nprof__buf_append(&s->targets, target, strlen(target) + 1);
		}
	}
	closedir(d);
	if (s->targets.failed)
		s->failed = 1;

	/* Drop records of descriptors that are no longer open. The listing
	 * is sorted first so that membership is a binary search. */
	int *open_fds = nprof__arena_alloc(sizeof(int) * (s->n + s->nhidden + 1));
	if (open_fds == NULL)
		return s->failed ? -ENOMEM : 0;
	size_t no = 0;
	for (size_t i = 0; i < s->n; i++)
		open_fds[no++] = s->e[i].fd;
	for (size_t i = 0; i < s->nhidden; i++)
		open_fds[no++] = s->hidden[i];
	qsort(open_fds, no, sizeof(int), cmp_int);
	for (unsigned dd = 0; dd < DIR_SLOTS; dd++) {
		struct fd_slot *c = atomic_load_explicit(&fd_dir[dd], memory_order_acquire);
		if (c == NULL)
			continue;
		for (int i = 0; i < CHUNK_SLOTS; i++) {
			uint64_t w = atomic_load_explicit(&c[i].word, memory_order_acquire);
			int fd = (int)(dd << CHUNK_BITS) + i;
			if (w == 0 || fd == dfd)
				continue;
			if (atomic_load_explicit(&c[i].born, memory_order_relaxed) >
			    s->at - STALE_MARGIN_NS)
				continue; /* may be newer than the listing */
			if (bsearch(&fd, open_fds, no, sizeof(int), cmp_int) != NULL)
				continue;
			/* Only if unchanged: a new record must not be wiped. */
			atomic_compare_exchange_strong(&c[i].word, &w, 0);
		}
	}
	nprof__arena_free(open_fds);
	(void)maxfd;
	return s->failed ? -ENOMEM : 0;
}


long nprof__fd_dropped(void)
{
	return atomic_load(&fd_dropped);
}
