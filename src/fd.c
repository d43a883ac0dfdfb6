/*
 * fd.c - the descriptor profile: /debug/pprof/fd.
 *
 * Owns the descriptor table (which stack created each open descriptor, and
 * when), its reconciliation with /proc/self/fd, the classification of each
 * descriptor into a kind and a target, and the handler (debug=0 proto,
 * debug=1 text, seconds=N delta). The libc overrides that feed the table
 * live in fd_hooks.c; docs/internals/fd.md explains the design.
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
#include "nprof_int.h"

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

static const char *const op_names[NPROF_FD_OP_COUNT] = {
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

enum fd_kind {
	K_FILE, K_TCP, K_UDP, K_UNIX, K_PIPE, K_EVENTFD, K_TIMERFD, K_EPOLL,
	K_SIGNALFD, K_MEMFD, K_OTHER, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
	"file", "socket-tcp", "socket-udp", "socket-unix", "pipe", "eventfd",
	"timerfd", "epoll", "signalfd", "memfd", "other",
};

static int64_t coarse_ns(void)
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
	int64_t now = coarse_ns();
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
		atomic_store_explicit(&s->born, coarse_ns(), memory_order_relaxed);
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

/* One open descriptor of the program. */
struct fd_ent {
	int fd;
	uint8_t kind;
	uint8_t op;
	uint8_t unknown;        /* no record: created before nprof or unseen */
	uint32_t stack;         /* 0 when unknown */
	int64_t born;
	uint32_t target;        /* offset of its target in snap.targets; debug=1 */
};

struct snap {
	struct fd_ent *e;
	size_t n, cap;
	int *hidden;            /* nprof's own descriptors, for debug=1 */
	size_t nhidden, cap_hidden;
	struct nprof_buf targets;
	int64_t at;             /* coarse ns of the listing */
	int failed;
};

static void snap_free(struct snap *s)
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
static int snap_take(struct snap *s, int want_targets)
{
	memset(s, 0, sizeof *s);
	s->at = coarse_ns();
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

/* ------------------------------------------------------------------ */
/* Grouping                                                            */
/* ------------------------------------------------------------------ */

/* Descriptors of one (stack, kind): a profile sample. */
struct group {
	uint32_t stack;         /* 0 = unknown origin */
	uint8_t kind;
	int64_t count;
	size_t first;           /* index of its first entry in the sorted snapshot */
};

static int cmp_ent(const void *a, const void *b)
{
	const struct fd_ent *x = a, *y = b;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* Sorts the snapshot by (stack, kind, fd) and returns its groups; NULL
 * with *ng = 0 for an empty snapshot or when out of memory. */
static struct group *group_snap(struct snap *s, size_t *ng)
{
	*ng = 0;
	if (s->n == 0)
		return NULL;
	qsort(s->e, s->n, sizeof *s->e, cmp_ent);
	struct group *g = nprof__arena_alloc(sizeof *g * s->n);
	if (g == NULL)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (n == 0 || g[n - 1].stack != s->e[i].stack || g[n - 1].kind != s->e[i].kind) {
			g[n].stack = s->e[i].stack;
			g[n].kind = s->e[i].kind;
			g[n].count = 0;
			g[n].first = i;
			n++;
		}
		g[n - 1].count++;
	}
	*ng = n;
	return g;
}

static int cmp_group_count(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return (x->kind > y->kind) - (x->kind < y->kind);
}

/*
 * The frame that descriptors of unknown origin are charged to: a real
 * function, so that every pprof view (top, traces, flame graphs) shows
 * them under a name that says what they are. Never called.
 */
static __attribute__((noinline, used)) void fd_unknown_origin(void)
{
	__asm__ volatile("" ::: "memory");
}

/* The stack of a group: its interned frames, or the synthetic one. */
static const uintptr_t *group_pcs(uint32_t stack, int *n, uintptr_t *synthetic)
{
	if (stack != 0) {
		const uintptr_t *p = nprof__stack_get(stack, n);
		if (p != NULL)
			return p;
	}
	/* +1: the builder symbolizes return addresses minus one. */
	*synthetic = (uintptr_t)fd_unknown_origin + 1;
	*n = 1;
	return synthetic;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static const struct nprof_value_type fd_types[] = { {"fds", "count"} };

static struct nprof_pb *new_builder(int64_t duration_ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct nprof_profile_desc d = {
		.sample_types = fd_types, .n_sample_types = 1,
		.period_type = {"fds", "count"}, .period = 1,
		.time_nanos = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec,
		.duration_nanos = duration_ns,
	};
	return nprof__pb_new(&d);
}

static int add_group(struct nprof_pb *pb, uint32_t stack, int kind, int64_t value)
{
	uintptr_t synth;
	int n;
	const uintptr_t *pcs = group_pcs(stack, &n, &synth);
	struct nprof_label labels[2] = {
		{ .key = "kind", .str = kind_names[kind] },
		{ .key = "origin", .str = "unknown" },
	};
	return nprof__pb_add(pb, pcs, n, &value, labels, stack == 0 ? 2 : 1);
}

static void finish(struct nprof_pb *pb, int rc, struct nprof_reply *rep)
{
	if (rc < 0 || nprof__pb_finish(pb, &rep->body) < 0) {
		if (rc < 0)
			nprof__pb_free(pb);
		nprof__buf_free(&rep->body);
		nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
		return;
	}
	rep->content_type = "application/octet-stream";
	rep->attachment = "fd";
}

static void reply_proto(struct snap *s, struct nprof_reply *rep)
{
	size_t ng;
	struct group *g = group_snap(s, &ng);
	struct nprof_pb *pb = new_builder(0);
	if (pb == NULL || (g == NULL && s->n > 0)) {
		nprof__arena_free(g);
		nprof__pb_free(pb);
		nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
		return;
	}
	int rc = 0;
	for (size_t i = 0; i < ng && rc == 0; i++)
		rc = add_group(pb, g[i].stack, g[i].kind, g[i].count);
	nprof__arena_free(g);
	finish(pb, rc, rep);
}

/* "#\t0xPC\tfunc+0xOFF\tfile:line" lines of one stack, as Go prints them. */
static void print_stack(struct nprof_buf *b, struct nprof_symtab *st, const uintptr_t *pcs, int n)
{
	struct nprof_frame fr[32];
	for (int i = 0; i < n; i++) {
		uintptr_t pc = pcs[i] - 1;
		int nf = st ? nprof__sym_lookup(st, pc, fr, 32) : 0;
		if (nf <= 0) {
			const struct nprof_mapping *m = st ? nprof__sym_mapping(st, pc) : NULL;
			if (m != NULL && m->file != NULL && m->file[0] != '\0')
				nprof__buf_printf(b, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR "\n", pc, m->file,
						  (uintptr_t)(pc - m->start + m->offset));
			else
				nprof__buf_printf(b, "#\t%#" PRIxPTR "\n", pc);
			continue;
		}
		for (int k = 0; k < nf; k++)
			nprof__buf_printf(b, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR "\t%s:%d\n", pc,
					  fr[k].function[0] ? fr[k].function : "?", fr[k].symoff,
					  fr[k].file[0] ? fr[k].file : "?", fr[k].line);
	}
}

static void reply_text(struct snap *s, struct nprof_reply *rep)
{
	struct nprof_buf *b = &rep->body;
	size_t ng;
	struct group *g = group_snap(s, &ng);
	if (g == NULL && s->n > 0) {
		nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
		return;
	}
	/* Per-kind totals in the header comment: what scripts and people
	 * look at first. */
	int64_t per_kind[K_COUNT] = {0};
	for (size_t i = 0; i < s->n; i++)
		per_kind[s->e[i].kind]++;
	nprof__buf_printf(b, "fd profile: total %zu\n", s->n);
	nprof__buf_printf(b, "# kinds:");
	for (int k = 0; k < K_COUNT; k++)
		if (per_kind[k] > 0)
			nprof__buf_printf(b, " %s=%" PRId64, kind_names[k], per_kind[k]);
	nprof__buf_printf(b, "\n");
	if (ng > 0)
		qsort(g, ng, sizeof *g, cmp_group_count);
	struct nprof_symtab *st = nprof__sym_open();
	int64_t now = coarse_ns();
	for (size_t i = 0; i < ng; i++) {
		uintptr_t synth;
		int n;
		const uintptr_t *pcs = group_pcs(g[i].stack, &n, &synth);
		nprof__buf_printf(b, "%" PRId64 " @", g[i].count);
		for (int k = 0; k < n; k++)
			nprof__buf_printf(b, " %#" PRIxPTR, pcs[k]);
		nprof__buf_printf(b, "\n# labels: {\"kind\":\"%s\"%s}\n", kind_names[g[i].kind],
				  g[i].stack == 0 ? ",\"origin\":\"unknown\"" : "");
		if (g[i].stack == 0)
			nprof__buf_printf(b, "#\tunknown origin: open before nprof started, or created by "
					  "a call nprof does not intercept\n");
		else
			print_stack(b, st, pcs, n);
		for (size_t j = g[i].first; j < s->n && s->e[j].stack == g[i].stack &&
		     s->e[j].kind == g[i].kind; j++) {
			const struct fd_ent *e = &s->e[j];
			const char *t = s->targets.data ? s->targets.data + e->target : "";
			nprof__buf_printf(b, "#\tfd %d\t%s\t%s", e->fd, kind_names[e->kind], t);
			if (e->unknown)
				nprof__buf_printf(b, "\tage ?\n");
			else
				nprof__buf_printf(b, "\tage %.1fs\tby %s\n",
						  (double)(now - e->born) / 1e9,
						  e->op < NPROF_FD_OP_COUNT && op_names[e->op] ?
						  op_names[e->op] : "?");
		}
		nprof__buf_printf(b, "\n");
	}
	nprof__sym_close(st);
	/* Listed so that a reader comparing with /proc/PID/fd can account
	 * for every descriptor of the process. Listed again now rather than
	 * taken from the snapshot: symbolizing may have opened more (libdw
	 * keeps the ELF files it reads open). */
	nprof__buf_printf(b, "# nprof's own descriptors, not counted:");
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			int fd = atoi(de->d_name);
			if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd != dirfd(d) &&
			    nprof__fd_is_internal_sigsafe(fd))
				nprof__buf_printf(b, " %d", fd);
		}
		closedir(d);
	}
	nprof__buf_printf(b, "\n");
	long dropped = atomic_load(&fd_dropped);
	if (dropped > 0)
		nprof__buf_printf(b, "# records lost (nprof memory full): %ld\n", dropped);
	nprof__arena_free(g);
}

/* Snapshot groups as (stack, kind) -> count, for deltas. */
struct counts {
	struct group *g;
	size_t n;
};

static int cmp_group_key(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return (x->kind > y->kind) - (x->kind < y->kind);
}

static int take_counts(struct counts *c)
{
	struct snap s;
	int rc = snap_take(&s, 0);
	if (rc < 0) {
		snap_free(&s);
		return rc;
	}
	c->g = group_snap(&s, &c->n);
	int fail = c->g == NULL && s.n > 0;
	snap_free(&s);
	return fail ? -ENOMEM : 0;
}

/*
 * seconds=N: counts now minus counts N seconds ago, per (stack, kind), as
 * Go's delta for count profiles (groups that shrank are negative; equal
 * ones are left out).
 */
static void reply_delta(const struct nprof_req *req, struct nprof_reply *rep)
{
	struct counts a = {0}, b = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (take_counts(&a) < 0)
		goto oom;
	int64_t end = (int64_t)t0.tv_sec * 1000000000LL + t0.tv_nsec +
		      (int64_t)req->seconds * 1000000000LL;
	if (nprof__req_sleep_until(req, end) < 0) {
		nprof__arena_free(a.g);
		nprof__reply_error(rep, 499, "nprof: client closed the connection");
		return;
	}
	if (take_counts(&b) < 0)
		goto oom;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct nprof_pb *pb = new_builder((int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
					  (t1.tv_nsec - t0.tv_nsec));
	if (pb == NULL)
		goto oom;
	/* Both lists sorted by key: one merge walk. */
	if (a.n)
		qsort(a.g, a.n, sizeof *a.g, cmp_group_key);
	if (b.n)
		qsort(b.g, b.n, sizeof *b.g, cmp_group_key);
	int rc = 0;
	size_t i = 0, j = 0;
	while (rc == 0 && (i < a.n || j < b.n)) {
		int c = i >= a.n ? 1 : j >= b.n ? -1 : cmp_group_key(&a.g[i], &b.g[j]);
		if (c < 0) {
			rc = add_group(pb, a.g[i].stack, a.g[i].kind, -a.g[i].count);
			i++;
		} else if (c > 0) {
			rc = add_group(pb, b.g[j].stack, b.g[j].kind, b.g[j].count);
			j++;
		} else {
			if (b.g[j].count != a.g[i].count)
				rc = add_group(pb, b.g[j].stack, b.g[j].kind,
					       b.g[j].count - a.g[i].count);
			i++;
			j++;
		}
	}
	nprof__arena_free(a.g);
	nprof__arena_free(b.g);
	finish(pb, rc, rep);
	return;
oom:
	nprof__arena_free(a.g);
	nprof__arena_free(b.g);
	nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
}

void nprof__fd_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	if (req->seconds > 0) {
		if (req->debug != 0)
			nprof__reply_error(rep, 400, "seconds and debug params are incompatible");
		else
			reply_delta(req, rep);
		nprof__guard = guard;
		return;
	}
	struct snap s;
	int rc = snap_take(&s, req->debug > 0);
	if (rc < 0)
		nprof__reply_error(rep, 503, "nprof: cannot list /proc/self/fd: %s", strerror(-rc));
	else if (req->debug > 0)
		reply_text(&s, rep);
	else
		reply_proto(&s, rep);
	snap_free(&s);
	nprof__guard = guard;
}

long nprof__fd_count(void)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	long n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		int dfd = dirfd(d);
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			int fd = atoi(de->d_name);
			if (fd != dfd && !nprof__fd_is_internal_sigsafe(fd))
				n++;
		}
		closedir(d);
	}
	nprof__guard = guard;
	return n;
}

long nprof__fd_dropped(void)
{
	return atomic_load(&fd_dropped);
}

/*
 * For /metrics (metrics.c): the program's open descriptors by kind, from
 * the same reconciled listing as the profile (nprof's own excluded), so
 * that the sum equals the profile's total. Stores the kind names and
 * counts of every kind, zero counts included (a series that disappears
 * at zero would break rate() and alerts), and returns how many kinds
 * (at most `max`), or a negative errno when /proc/self/fd cannot be read.
 */
int nprof__fd_count_by_kind(const char **names, long *counts, int max)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	struct snap s;
	int rc = snap_take(&s, 0);
	int n = max < K_COUNT ? max : K_COUNT;
	for (int k = 0; k < n; k++) {
		names[k] = kind_names[k];
		counts[k] = 0;
	}
	for (size_t i = 0; rc == 0 && i < s.n; i++)
		if (s.e[i].kind < n)
			counts[s.e[i].kind]++;
	snap_free(&s);
	nprof__guard = guard;
	return rc < 0 ? rc : n;
}

/*
 * For the leak snapshots (leaks.c): calls fn(ctx, stack, kind, count) for
 * every (creating stack, kind) group of the program's open descriptors,
 * reconciled with /proc/self/fd exactly as the fd profile; stack 0 is
 * "unknown origin". `kind` is one of the profile's kind names (static
 * strings). Returns 0 or a negative errno (nothing reported then). Not for
 * signal handlers.
 */
int nprof__fd_each_group(void (*fn)(void *ctx, uint32_t stack, const char *kind,
				    int64_t count), void *ctx)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	struct snap s;
	size_t ng = 0;
	int rc = snap_take(&s, 0);
	struct group *g = rc == 0 ? group_snap(&s, &ng) : NULL;
	if (rc == 0 && g == NULL && s.n > 0)
		rc = -ENOMEM;
	for (size_t i = 0; i < ng; i++)
		fn(ctx, g[i].stack, kind_names[g[i].kind], g[i].count);
	nprof__arena_free(g);
	snap_free(&s);
	nprof__guard = guard;
	return rc;
}
