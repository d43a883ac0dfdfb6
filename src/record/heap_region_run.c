/*
 * heap_region_run.c - the sampled range and its runs of units (the
 * allocator's lower half; heap_region_int.h says what heap_region_slab.c
 * owns).
 *
 * The range is found by mapping it and unmapping it at once; nothing is
 * reserved, because every mapping counts against the program's RLIMIT_AS.
 * A reservation either made every later mapping of a program that lowers
 * RLIMIT_AS fail, or, served from, let sampled blocks bypass the limit
 * (tests/preload/rlimit_as.sh). The range then grows from its bottom with
 * MAP_FIXED_NOREPLACE, 2 MiB at a time, while the kernel places the
 * program's own mappings top-down, so the two meet only when the range is
 * used up (then the program's mapping simply stays there and the sampled
 * range stops growing: later samples fall back to the real allocator).
 *
 * Layout: the range is cut into 64 KiB units, handed out by a bump pointer
 * and recycled through free runs. A run is a slab or a large block
 * (heap_region_slab.c) or free.
 *   - spans[u] describes the run starting at unit u; owner[u] names the
 *     run containing unit u (set for every unit of a slab and for the first
 *     and last unit of every run, which is what lookups and coalescing
 *     read). Both cover the mapped units only and grow with them (mremap,
 *     under region_lock, which every reader holds).
 *   - Free runs coalesce with their neighbours and sit in bins by length
 *     (1..62 units exact, longer ones in one first-fit list). Freed memory
 *     is kept for reuse up to 32 MiB; beyond that it is returned to the
 *     kernel with MADV_DONTNEED. Runs carry a `dirty` flag so calloc only
 *     clears memory that may be non-zero.
 *   - Address space is mapped 2 MiB at a time as the bump pointer
 *     advances; a failed mapping (the program's RLIMIT_AS, or its own
 *     mapping in the way) fails that sample only. Every 2 MiB chunk wholly
 *     inside a free run is unmapped, at the top or below a live block, and
 *     its byte in nprof__region_chunk[] cleared: region_owns() reads it, so
 *     a program mapping that lands in such a hole is never taken for ours.
 *     Taking a run over a released chunk maps it again.
 *
 * Locking: region_lock (nprof__region_lock, defined here) guards
 * everything in this file; every function but nprof__region_run_find()
 * and nprof__region_run_init() (called once, at init) runs with it held.
 * nprof__region_lo, nprof__region_len and nprof__region_chunk[] are also
 * read without it, by region_owns() and the lock-free slot lookup: they
 * are written with release stores. Nothing here calls malloc or takes
 * another lock. Not async-signal-safe.
 */
#include "heap_region_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REGION_MAX ((size_t)64 << 30)
#define REGION_MIN ((size_t)64 << 20)
#define NBINS 64                         /* bins[1..62]: exact; bins[63]: longer */
#define DIRTY_MAX ((size_t)32 << 20)     /* freed memory kept for reuse */

uintptr_t nprof__region_lo;
size_t nprof__region_len;
_Static_assert(COMMIT_STEP == (size_t)1 << NPROF_REGION_CHUNK_SHIFT, "chunk size");
/* Written under region_lock, read by nprof__region_owns() without it. */
unsigned char nprof__region_chunk[REGION_MAX / COMMIT_STEP];

pthread_mutex_t nprof__region_lock = PTHREAD_MUTEX_INITIALIZER;
struct span *nprof__region_spans;
uint32_t *nprof__region_owner;
uint32_t nprof__region_units, nprof__region_bump;
static uint32_t committed_units;
static uint32_t table_units;             /* capacity of spans and owner */
static uint32_t bins[NBINS];
static size_t dirty_bytes;

/*
 * Where the range goes when the program started under an address-space
 * limit (ulimit -v), which the 64 GiB probe below cannot pass. A smaller
 * probe would land where glibc's arena heaps and the program's mappings
 * go next, and they would soon block the range's growth (measured: 183 MB
 * instead of 200 of 1 KiB blocks in one run in thirty, tests/preload/
 * rlimit_as.sh). Instead, the largest gap between the mappings of
 * /proc/self/maps (read with raw calls: no hook, no malloc), and a window
 * REGION_MAX long ending GAP_MARGIN below the gap's top, which the
 * kernel's top-down placement takes a terabyte of mappings to reach.
 * Nothing is mapped. Returns 0, or -1 when there is no such gap.
 */
#define GAP_MARGIN ((uintptr_t)1 << 40)
#define USER_TOP ((uintptr_t)1 << 47)

static int find_gap(uintptr_t *lo)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[4096];
	size_t have = 0;
	uintptr_t prev = 0, best = 0, best_len = 0;
	long got;
	while ((got = syscall(SYS_read, fd, buf + have, sizeof buf - have)) > 0) {
		have += (size_t)got;
		size_t line = 0;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			uintptr_t a = 0, b = 0, *v = &a;
			for (size_t k = line; k < i && buf[k] != ' '; k++) {
				char c = buf[k];
				if (c == '-')
					v = &b;
				else
					*v = *v * 16 + (uintptr_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
			}
			if (a < USER_TOP && a > prev && a - prev > best_len) {
				best = prev;
				best_len = a - prev;
			}
			if (b > prev)
				prev = b;
			line = i + 1;
		}
		memmove(buf, buf + line, have - line);
		have -= line;
		if (have == sizeof buf)
			have = 0;       /* a line longer than the buffer: skipped */
	}
	syscall(SYS_close, fd);
	if (best_len < REGION_MAX + 2 * GAP_MARGIN)
		return -1;
	*lo = (best + best_len - GAP_MARGIN - REGION_MAX) & ~(uintptr_t)(UNIT - 1);
	return 0;
}

int nprof__region_run_find(uintptr_t *lo, size_t *lenp)
{
	/* Find a free range: map it, note where it is, unmap it at once.
	 * Under an address-space limit, a gap of the maps (find_gap), else
	 * a smaller range is all we can probe; nothing stays mapped either
	 * way. */
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	size_t len = REGION_MAX;
	void *base = mmap(NULL, len + UNIT, PROT_NONE, flags, -1, 0);
	if (base == MAP_FAILED && find_gap(lo) == 0) {
		*lenp = REGION_MAX;
		return 0;
	}
	while (base == MAP_FAILED && (len /= 2) >= REGION_MIN)
		base = mmap(NULL, len + UNIT, PROT_NONE, flags, -1, 0);
	if (base == MAP_FAILED)
		return -ENOMEM;
	munmap(base, len + UNIT);
	/* Units are aligned to their size, so slots of a power-of-two class
	 * are aligned to theirs. */
	*lo = ((uintptr_t)base + UNIT - 1) & ~(uintptr_t)(UNIT - 1);
	*lenp = len;
	return 0;
}

void nprof__region_run_init(uintptr_t lo, size_t len)
{
	for (int i = 0; i < NBINS; i++)
		bins[i] = NONE;
	nprof__region_units = (uint32_t)(len >> UNIT_SHIFT);
	nprof__region_lo = lo;
	/* nprof__region_len (what region_owns() compares with) stays 0 until
	 * units are mapped: no pointer is ours before that. */
}

/* ---------------------------------------------------------------- */
/* 2 MiB chunks: mapped, released, remapped; region_lock held         */
/* ---------------------------------------------------------------- */

/*
 * Invariant: a chunk below committed_units is unmapped only while it lies
 * wholly inside one free run. So every unit of a live run is mapped, and
 * a chunk only partly covered by a free run is mapped (it holds a live
 * unit). Nothing here ever munmaps or madvises a chunk not marked ours:
 * the program may have mapped its own memory there.
 */
static int chunk_ours(uint32_t c)
{
	return nprof__region_chunk[c] != 0;
}

static void chunk_mark(uint32_t c, int ours)
{
	__atomic_store_n(&nprof__region_chunk[c], (unsigned char)ours, __ATOMIC_RELEASE);
}

/* Throws away the contents of the mapped parts of [u, u + n). */
static void discard(uint32_t u, uint32_t n)
{
	for (uint32_t end = u + n; u < end;) {
		uint32_t ce = (u / CHUNK_UNITS + 1) * CHUNK_UNITS;
		if (ce > end)
			ce = end;
		if (chunk_ours(u / CHUNK_UNITS))
			madvise(unit_addr(u), (size_t)(ce - u) << UNIT_SHIFT, MADV_DONTNEED);
		u = ce;
	}
}

/* Unmaps every chunk wholly inside the free run [u, u + n): freed space
 * anywhere in the range stops counting against RLIMIT_AS. */
static void release(uint32_t u, uint32_t n)
{
	uint32_t c1 = (u + n) / CHUNK_UNITS;
	for (uint32_t c = (u + CHUNK_UNITS - 1) / CHUNK_UNITS; c < c1; c++)
		if (chunk_ours(c)) {
			chunk_mark(c, 0);
			munmap(unit_addr(c * CHUNK_UNITS), COMMIT_STEP);
		}
}

/* Maps again the released chunks of [u, u + n), about to be used; fails
 * when the limit or a mapping of the program is in the way. */
static int remap(uint32_t u, uint32_t n)
{
	for (uint32_t c = u / CHUNK_UNITS; (uint64_t)c * CHUNK_UNITS < (uint64_t)u + n; c++) {
		if (chunk_ours(c))
			continue;
		void *want = unit_addr(c * CHUNK_UNITS);
		void *got = mmap(want, COMMIT_STEP, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (got == MAP_FAILED)
			return -1;
		if (got != want) {
			munmap(got, COMMIT_STEP);
			return -1;
		}
		madvise(got, COMMIT_STEP, MADV_NOHUGEPAGE);
		chunk_mark(c, 1);
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* runs of units; region_lock held                                    */
/* ---------------------------------------------------------------- */

static int bin_of(uint32_t nunits)
{
	return nunits < NBINS - 1 ? (int)nunits : NBINS - 1;
}

void nprof__region_run_mark(uint32_t u, uint32_t n, int kind)
{
	nprof__region_spans[u].nunits = n;
	nprof__region_spans[u].kind = (uint8_t)kind;
	nprof__region_owner[u] = u;
	nprof__region_owner[u + n - 1] = u;
}

/* Puts a free run in its bin (no coalescing). */
static void bin_insert(uint32_t u, uint32_t n, int dirty)
{
	nprof__region_run_mark(u, n, SPAN_FREE);
	nprof__region_spans[u].dirty = (uint8_t)dirty;
	if (dirty)
		dirty_bytes += (size_t)n << UNIT_SHIFT;
	list_push(&bins[bin_of(n)], u);
}

static void bin_take(uint32_t u)
{
	list_remove(&bins[bin_of(nprof__region_spans[u].nunits)], u);
	if (nprof__region_spans[u].dirty)
		dirty_bytes -= (size_t)nprof__region_spans[u].nunits << UNIT_SHIFT;
	nprof__region_spans[u].kind = SPAN_UNUSED;
}

/* Gives back a run: coalesces, bins, and returns memory past DIRTY_MAX. */
void nprof__region_run_free(uint32_t u, uint32_t n, int dirty)
{
	/* Only heads of live runs keep a kind: a stale one could mislead a
	 * lookup of a wild pointer later. */
	nprof__region_spans[u].kind = SPAN_UNUSED;
	if (u > 0) {
		uint32_t p = nprof__region_owner[u - 1];
		if (p < u && nprof__region_spans[p].kind == SPAN_FREE &&
		    p + nprof__region_spans[p].nunits == u) {
			dirty |= nprof__region_spans[p].dirty;
			n += nprof__region_spans[p].nunits;
			bin_take(p);
			u = p;
		}
	}
	uint32_t nx = u + n;
	if (nx < nprof__region_bump && nprof__region_spans[nx].kind == SPAN_FREE &&
	    nprof__region_owner[nx] == nx) {
		dirty |= nprof__region_spans[nx].dirty;
		n += nprof__region_spans[nx].nunits;
		bin_take(nx);
	}
	if (u + n == nprof__region_bump) {
		/* The top of the used range: give the address space back (it
		 * counts against RLIMIT_AS), keeping the current 2 MiB step.
		 * Below the top, release() unmaps whole free chunks. */
		uint32_t keep = (u + CHUNK_UNITS - 1) / CHUNK_UNITS * CHUNK_UNITS;
		nprof__region_bump = u;
		/* Fresh units must read as zero (calloc relies on it). */
		if (dirty && keep > u)
			discard(u, keep - u);
		if (keep < committed_units) {
			__atomic_store_n(&nprof__region_len, (size_t)keep << UNIT_SHIFT,
					 __ATOMIC_RELEASE);
			release(keep, committed_units - keep);
			committed_units = keep;
		}
		return;
	}
	release(u, n);
	if (dirty && dirty_bytes + ((size_t)n << UNIT_SHIFT) > DIRTY_MAX) {
		discard(u, n);
		dirty = 0;
	}
	bin_insert(u, n, dirty);
}

/* Grows nprof__region_spans and nprof__region_owner to cover `units` units. */
static int tables_grow(uint32_t units)
{
	if (units <= table_units)
		return 0;
	uint32_t cap = table_units ? table_units : 1024;
	while (cap < units)
		cap *= 2;
	if (cap > nprof__region_units)
		cap = nprof__region_units;
	size_t so = sizeof(struct span) * table_units, sn = sizeof(struct span) * cap;
	size_t oo = sizeof(uint32_t) * table_units, on = sizeof(uint32_t) * cap;
	void *sp = table_units ? mremap(nprof__region_spans, so, sn, MREMAP_MAYMOVE)
			       : mmap(NULL, sn, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sp == MAP_FAILED)
		return -1;
	nprof__region_spans = sp;
	void *ow = table_units ? mremap(nprof__region_owner, oo, on, MREMAP_MAYMOVE)
			       : mmap(NULL, on, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ow == MAP_FAILED) {
		if (table_units == 0) { /* keep the pair consistent */
			munmap(nprof__region_spans, sn);
			nprof__region_spans = NULL;
		} else if ((sp = mremap(nprof__region_spans, sn, so, 0)) != MAP_FAILED) {
			nprof__region_spans = sp;
		}
		return -1;
	}
	nprof__region_owner = ow;
	table_units = cap;
	return 0;
}

/* Maps units up to `end`, at the bottom of the chosen range. */
static int commit_to(uint32_t end)
{
	if (end <= committed_units)
		return 0;
	uint32_t step = (uint32_t)(COMMIT_STEP >> UNIT_SHIFT);
	uint32_t to = (end + step - 1) / step * step;
	if (to > nprof__region_units)
		to = nprof__region_units;
	size_t len = (size_t)(to - committed_units) << UNIT_SHIFT;
	void *want = unit_addr(committed_units);
	void *got = mmap(want, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (got == MAP_FAILED)
		return -1;
	/* A kernel without MAP_FIXED_NOREPLACE takes it as a hint; and the
	 * side tables grow only once the units exist (a refused 8 GiB
	 * calloc must not leave them grown). */
	if (got != want || tables_grow(to) < 0) {
		munmap(got, len);
		return -1;
	}
	/* Sampled blocks are sparse: huge pages would inflate RSS. */
	madvise(got, len, MADV_NOHUGEPAGE);
	for (uint32_t c = committed_units / CHUNK_UNITS; c < to / CHUNK_UNITS; c++)
		chunk_mark(c, 1);
	committed_units = to;
	__atomic_store_n(&nprof__region_len, (size_t)to << UNIT_SHIFT, __ATOMIC_RELEASE);
	return 0;
}

/*
 * A run of `n` units whose start is a multiple of `au` units. Returns its
 * first unit or NONE; *dirty says whether it may hold old data.
 */
uint32_t nprof__region_run_alloc(uint32_t n, uint32_t au, int *dirty)
{
	if (au <= 1) {
		uint32_t u = NONE;
		for (int b = bin_of(n); b < NBINS - 1 && u == NONE; b++)
			u = bins[b];
		if (u == NONE)
			for (uint32_t v = bins[NBINS - 1]; v != NONE; v = nprof__region_spans[v].next)
				if (nprof__region_spans[v].nunits >= n) {
					u = v;
					break;
				}
		if (u != NONE) {
			uint32_t have = nprof__region_spans[u].nunits;
			*dirty = nprof__region_spans[u].dirty;
			bin_take(u);
			if (remap(u, n) < 0) {
				/* Put it back as it was; try fresh space. */
				release(u, have);
				bin_insert(u, have, *dirty);
				goto fresh;
			}
			if (have > n)
				bin_insert(u + n, have - n, *dirty);
			return u;
		}
	}
fresh:;
	/* Fresh address space; alignment gaps become free runs. Alignment is
	 * of the address, so counted from unit 0 of the address space. */
	uint64_t a = au > 1 ? au : 1, first = nprof__region_lo >> UNIT_SHIFT;
	uint64_t abs = (first + nprof__region_bump + a - 1) / a * a;
	if (abs - first > nprof__region_units || n > nprof__region_units ||
	    abs - first > nprof__region_units - n)
		return NONE;
	uint32_t u = (uint32_t)(abs - first);
	if (commit_to(u + n) < 0)
		return NONE;
	uint32_t gap = nprof__region_bump;
	nprof__region_bump = u + n;
	if (u > gap)
		nprof__region_run_free(gap, u - gap, 0);
	*dirty = 0;
	return u;
}

void nprof__region_prefork(void)
{
	pthread_mutex_lock(&nprof__region_lock);
}

void nprof__region_postfork(void)
{
	pthread_mutex_unlock(&nprof__region_lock);
}

