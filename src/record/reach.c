/*
 * reach.c - which recorded heap blocks the program can still reach: the
 * heap half of `nprof check` and nprof_check_end(), found the way
 * LeakSanitizer finds leaks.
 *
 * With NPROF_HEAP_RATE=1 every allocation of the program is served from
 * nprof's sampled range (heap_region_slab.c), so the range's live blocks are
 * all the program's blocks. A conservative scan then looks for words that
 * point into a live block (anywhere inside it: interior pointers count),
 * starting from the roots:
 *   - the writable PT_LOAD segments (data, bss) of every loaded module
 *     but libnprof itself (dl_iterate_phdr);
 *   - the calling thread's registers (spilled to its stack) and its stack
 *     from the current stack pointer up;
 *   - every other thread's stack from its saved stack pointer up (read
 *     from /proc/self/task/TID/syscall) to the end of its mapping, which
 *     for glibc threads also holds the thread's static TLS; a thread seen
 *     running has no saved stack pointer, so every anonymous writable
 *     mapping is scanned instead;
 *   - the main thread's static TLS and TCB (the size the loader reports);
 *   - the brk heap ([heap]), where allocations made before nprof started
 *     or by nprof's own libraries live: they may point at program blocks.
 * Dynamic TLS and the loader's per-module tables are malloc'd, hence
 * blocks themselves, reached through the roots above. Reachable blocks are
 * flood-filled; what is left is leaked. A second fill from each leaked
 * block marks the blocks reachable only from other leaked blocks as
 * indirect leaks (LSan's "Indirect leak"), the rest are direct.
 *
 * Memory: the block table and the work list are mmap'd here, not taken
 * from the arena (a program may have millions of blocks) nor from malloc;
 * they are excluded from the scan. Anything that may be unmapped while it
 * is read (other threads' stacks, the brk heap, anonymous mappings) is
 * read with process_vm_readv, so a thread exiting meanwhile costs a
 * missed root, never a crash. Blocks themselves are read directly: the
 * range is never unmapped.
 *
 * Locking: the region lock is taken only while the block table is
 * copied. Runs on one program thread with the hook guard raised; not
 * async-signal-safe.
 */
#include "arena.h"
#include "base.h"
#include "heap_region.h"
#include "procmaps.h"
#include "reach.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Address of a static TLS variable of the main thread, taken by a
 * constructor (check.c): its mapping holds the main thread's TLS. */
uintptr_t nprof__reach_main_tls;
uintptr_t nprof__reach_main_tp;

struct scan {
	struct nprof_reach *r;
	uint32_t *work;                 /* block indices to scan */
	size_t nwork;
	uint8_t mark;                   /* state given to newly reached blocks */
	uintptr_t skip_lo[4], skip_hi[4];   /* our own tables */
	char buf[65536];                /* process_vm_readv bounce buffer */
};

static void *map_array(size_t bytes)
{
	if (bytes == 0)
		bytes = 1;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Index of the block containing `a`, or -1. Blocks are sorted by address. */
static long find_block(const struct nprof_reach *r, uintptr_t a)
{
	if (!nprof__region_owns((const void *)a) || r->n == 0)
		return -1;
	size_t lo = 0, hi = r->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->blocks[mid].addr <= a)
			lo = mid;
		else
			hi = mid;
	}
	const struct nprof_region_block *b = &r->blocks[lo];
	size_t len = b->size ? b->size : 1;
	if (a < b->addr || a - b->addr >= len)
		return -1;
	return (long)lo;
}

/* Reads whatever the roots hold, redzones included: not for a sanitizer
 * to check. */
__attribute__((no_sanitize_address)) static void scan_words(struct scan *s, const void *p, size_t len)
{
	const uintptr_t *w = p;
	size_t n = len / sizeof(uintptr_t);
	for (size_t i = 0; i < n; i++) {
		uintptr_t v = w[i];
		if (!nprof__region_owns((const void *)v))
			continue;
		long k = find_block(s->r, v);
		if (k < 0 || s->r->state[k] != NPROF_REACH_LEAKED)
			continue;
		s->r->state[k] = s->mark;
		s->work[s->nwork++] = (uint32_t)k;
	}
}

/* The first of our own tables overlapping [lo, hi), or -1. Our tables
 * are fresh anonymous mappings, which the kernel may merge with a root
 * mapping beside them (the loader's TLS), so a root is scanned around
 * them, never skipped whole. */
static int skipped(const struct scan *s, uintptr_t lo, uintptr_t hi)
{
	for (int i = 0; i < 4; i++)
		if (lo < s->skip_hi[i] && hi > s->skip_lo[i])
			return i;
	return -1;
}

static void scan_safe(struct scan *s, uintptr_t lo, uintptr_t hi);

/* Scans [lo, hi) directly (memory known to stay mapped). */
static void scan_direct(struct scan *s, uintptr_t lo, uintptr_t hi)
{
	lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
	if (hi <= lo)
		return;
	int k = skipped(s, lo, hi);
	if (k >= 0) {
		scan_direct(s, lo, s->skip_lo[k] > lo ? s->skip_lo[k] : lo);
		scan_direct(s, s->skip_hi[k] < hi ? s->skip_hi[k] : hi, hi);
		return;
	}
	scan_words(s, (const void *)lo, hi - lo);
}

/* Scans [lo, hi) through process_vm_readv (memory that may go away). */
static void scan_safe(struct scan *s, uintptr_t lo, uintptr_t hi)
{
	lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
	if (hi <= lo || nprof__region_owns((const void *)lo))
		return;
	/* The sampled range is mapped in pieces as it is used, and the
	 * kernel may merge a piece with anonymous memory beside it: a row of
	 * /proc/self/maps that starts outside the range can still cover part
	 * of it. The range's blocks are reached through the flood, never as
	 * roots (nprof's own blocks there hold addresses of program blocks). */
	uintptr_t rlo = nprof__region_lo, rhi = nprof__region_lo + nprof__region_len;
	if (nprof__region_len != 0 && lo < rhi && hi > rlo) {
		scan_safe(s, lo, rlo);
		scan_safe(s, rhi, hi);
		return;
	}
	int k = skipped(s, lo, hi);
	if (k >= 0) {
		scan_safe(s, lo, s->skip_lo[k] > lo ? s->skip_lo[k] : lo);
		scan_safe(s, s->skip_hi[k] < hi ? s->skip_hi[k] : hi, hi);
		return;
	}
	pid_t pid = getpid();
	while (lo < hi) {
		size_t n = hi - lo < sizeof s->buf ? hi - lo : sizeof s->buf;
		struct iovec local = {s->buf, n}, remote = {(void *)lo, n};
		ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (got <= 0) {
			/* Unreadable page: skip to the next one. */
			lo = (lo | 4095) + 1;
			continue;
		}
		scan_words(s, s->buf, (size_t)got);
		lo += (size_t)got;
	}
}

/* Empties the work list: scans every reached block's contents. */
static void flood(struct scan *s)
{
	while (s->nwork > 0) {
		const struct nprof_region_block *b = &s->r->blocks[s->work[--s->nwork]];
		scan_direct(s, b->addr, b->addr + b->size);
	}
}

/* ---------------------------------------------------------------- */
/* roots                                                             */
/* ---------------------------------------------------------------- */

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *s = arg;
	(void)size;
	/* libnprof's own data holds no program pointers worth keeping (when
	 * it is linked statically, its data is the program's and is kept).
	 * Only this copy's: a dormant second copy (a libnprof.so preloaded
	 * into a program linking libnprof.a, malloc_hooks.c) holds blocks the
	 * program's copy recorded for it, and is a root like any library. */
	const char *name = info->dlpi_name != NULL ? info->dlpi_name : "";
	const char *base = strrchr(name, '/');
	if (strncmp(base != NULL ? base + 1 : name, "libnprof", 8) == 0) {
		uintptr_t me = (uintptr_t)module_cb;
		for (int i = 0; i < info->dlpi_phnum; i++) {
			const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
			if (ph->p_type == PT_LOAD &&
			    me - (info->dlpi_addr + ph->p_vaddr) < ph->p_memsz)
				return 0;
		}
	}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		scan_direct(s, lo, lo + ph->p_memsz);
	}
	return 0;
}

/* One line of /proc/self/maps. */
struct maprow {
	uintptr_t lo, hi;
	char perms[5];
	const char *name;       /* points into the text; "" when anonymous */
};

static int parse_row(char **cur, struct maprow *m)
{
	char *line = *cur;
	if (*line == '\0')
		return 0;
	char *nl = strchr(line, '\n');
	if (nl != NULL)
		*nl = '\0';
	*cur = nl != NULL ? nl + 1 : line + strlen(line);
	unsigned long lo, hi;
	int off = 0;
	if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &lo, &hi, m->perms, &off) < 3)
		return parse_row(cur, m);
	m->lo = lo;
	m->hi = hi;
	m->name = off > 0 ? line + off : "";
	return 1;
}

/* The mapping row containing `a` (copies the text). */
static int row_of(const char *text, size_t len, uintptr_t a, struct maprow *out, char *copy)
{
	memcpy(copy, text, len + 1);
	char *cur = copy;
	struct maprow m;
	while (parse_row(&cur, &m))
		if (a >= m.lo && a < m.hi) {
			*out = m;
			return 1;
		}
	return 0;
}

static int read_sp(pid_t tid, uintptr_t *sp)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, line, sizeof line - 1);
	close(fd);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	if (strncmp(line, "running", 7) == 0)
		return -1;
	/* "NR a1 .. a6 SP PC" or "-1 SP PC": SP is the second-to-last field. */
	char *f[10];
	int nf = 0;
	for (char *t = strtok(line, " \n"); t != NULL && nf < 10; t = strtok(NULL, " \n"))
		f[nf++] = t;
	if (nf < 3)
		return -1;
	*sp = (uintptr_t)strtoull(f[nf - 2], NULL, 16);
	return *sp != 0 ? 0 : -1;
}

/* Spills the callee-saved registers into a frame that the scan covers. */
static __attribute__((noinline)) void scan_own_stack(struct scan *s, const char *maps, size_t len,
						      char *copy)
{
	jmp_buf regs;
	setjmp(regs);
	__asm__ volatile("" : : "r"(&regs) : "memory");
	uintptr_t sp = (uintptr_t)&regs;
	struct maprow m;
	if (row_of(maps, len, sp, &m, copy))
		scan_direct(s, sp, m.hi);
}

static void scan_other_threads(struct scan *s, const char *maps, size_t len, char *copy)
{
	pid_t self = nprof__gettid();
	int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return;
	}
	int blind = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || tid == self || nprof__thread_is_internal(tid))
			continue;
		uintptr_t sp;
		struct maprow m;
		int got = 0;
		/* A thread seen running, or one of nprof's own just starting
		 * (it marks itself internal as its first act): look again a
		 * few times before giving up on its stack pointer. */
		for (int tries = 0; tries < 20 && !got; tries++) {
			if (tries > 0) {
				struct timespec ts = {0, 1000000};
				nanosleep(&ts, NULL);
				if (nprof__thread_is_internal(tid)) {
					got = -1;
					break;
				}
			}
			got = read_sp(tid, &sp) == 0 && row_of(maps, len, sp, &m, copy);
		}
		if (got > 0)
			scan_safe(s, sp > m.lo + 128 ? sp - 128 : m.lo, m.hi);
		else if (got == 0)
			blind = 1;
	}
	closedir(d);
	if (!blind)
		return;
	/* A thread without a saved stack pointer: its stack and registers
	 * may be anywhere, so every anonymous writable mapping counts. */
	memcpy(copy, maps, len + 1);
	char *cur = copy;
	struct maprow m;
	while (parse_row(&cur, &m))
		if (m.perms[0] == 'r' && m.perms[1] == 'w' && m.name[0] == '\0')
			scan_safe(s, m.lo, m.hi);
}

static void scan_named(struct scan *s, const char *maps, size_t len, char *copy,
		       const char *name)
{
	memcpy(copy, maps, len + 1);
	char *cur = copy;
	struct maprow m;
	while (parse_row(&cur, &m))
		if (strcmp(m.name, name) == 0 && m.perms[0] == 'r')
			scan_safe(s, m.lo, m.hi);
}

/* ---------------------------------------------------------------- */
/* the scan                                                          */
/* ---------------------------------------------------------------- */

int nprof__reach_scan(struct nprof_reach *r)
{
	memset(r, 0, sizeof *r);
	size_t cap = 0, n = 0;
	for (;;) {
		n = nprof__region_blocks(r->blocks, cap);
		if (n <= cap)
			break;
		if (r->blocks != NULL)
			munmap(r->blocks, cap * sizeof *r->blocks);
		cap = n + n / 4 + 1024;
		r->blocks = map_array(cap * sizeof *r->blocks);
		if (r->blocks == NULL)
			return -ENOMEM;
	}
	r->n = n;
	r->cap = cap;
	r->state = map_array(n + 1);
	struct scan *s = map_array(sizeof *s);
	if (s != NULL)
		s->work = map_array((n + 1) * sizeof *s->work);
	char *maps = NULL, *copy = NULL;
	size_t mlen = 0;
	int rc = nprof__procmaps_read(&maps, &mlen);
	if (rc == 0)
		copy = map_array(mlen + 1);
	if (r->state == NULL || s == NULL || s->work == NULL || copy == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	s->r = r;
	s->skip_lo[0] = (uintptr_t)r->blocks;
	s->skip_hi[0] = (uintptr_t)r->blocks + cap * sizeof *r->blocks;
	s->skip_lo[1] = (uintptr_t)r->state;
	s->skip_hi[1] = (uintptr_t)r->state + n + 1;
	s->skip_lo[2] = (uintptr_t)s;
	s->skip_hi[2] = (uintptr_t)s + sizeof *s;
	s->skip_lo[3] = (uintptr_t)s->work;
	s->skip_hi[3] = (uintptr_t)s->work + (n + 1) * sizeof *s->work;

	s->mark = NPROF_REACH_REACHABLE;
	dl_iterate_phdr(module_cb, s);
	flood(s);
	scan_own_stack(s, maps, mlen, copy);
	flood(s);
	scan_other_threads(s, maps, mlen, copy);
	flood(s);
	/* The main thread's static TLS: below its thread pointer, the size
	 * the loader reports (LSan asks the same), and its TCB above. Only
	 * that range: the loader's mapping around it may be merged with
	 * other anonymous memory (nprof's own) holding stale words. */
	if (nprof__reach_main_tp != 0) {
		size_t size = 64 << 10, align = 0;
		void (*info)(size_t *, size_t *) =
			(void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
		if (info != NULL)
			info(&size, &align);
		scan_safe(s, nprof__reach_main_tp - size, nprof__reach_main_tp + 4096);
	}
	flood(s);
	scan_named(s, maps, mlen, copy, "[heap]");
	flood(s);

	/* What is left is leaked; blocks reachable from another leaked block
	 * are indirect leaks. */
	s->mark = NPROF_REACH_INDIRECT;
	for (size_t i = 0; i < n; i++) {
		if (r->state[i] != NPROF_REACH_LEAKED)
			continue;
		scan_direct(s, r->blocks[i].addr, r->blocks[i].addr + r->blocks[i].size);
		flood(s);
	}
	/* A cycle of leaked blocks leaves every member indirect; LSan
	 * reports those as indirect leaks too. */
	rc = 0;
out:
	if (s != NULL) {
		if (s->work != NULL)
			munmap(s->work, (n + 1) * sizeof *s->work);
		munmap(s, sizeof *s);
	}
	if (copy != NULL)
		munmap(copy, mlen + 1);
	nprof__arena_free(maps);
	if (rc < 0)
		nprof__reach_free(r);
	return rc;
}

void nprof__reach_free(struct nprof_reach *r)
{
	if (r->blocks != NULL)
		munmap(r->blocks, (r->cap ? r->cap : 1) * sizeof *r->blocks);
	if (r->state != NULL)
		munmap(r->state, r->n + 1);
	memset(r, 0, sizeof *r);
}
