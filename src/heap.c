/*
 * heap.c - the heap and allocs profiles: sampling state, per-stack
 * counters, /debug/pprof/heap and /debug/pprof/allocs (proto, debug=1
 * text, seconds=N deltas), and the heap files NPROF_OUT asks for at exit.
 *
 * Data: one bucket of four counters (allocations, bytes allocated, frees,
 * bytes freed; raw sampled values) per interned stack id. Stack ids are
 * dense (stacks.c), so buckets live in an array indexed by id, allocated
 * from the arena in chunks of 4096 as ids appear. Which bucket a live
 * block belongs to, and its size, are kept beside the block by
 * heap_region.c; the block itself is served from nprof's sampled range
 * (malloc_hooks.c decides which allocations are sampled).
 *
 * Locking: counters are updated with relaxed atomic adds by the hooks, no
 * lock; chunks are published with a compare-and-swap. A snapshot reads
 * frees before allocations, so in-use counts are never negative. Handlers
 * run on nprof's HTTP threads (hook guard raised). Nothing here is
 * async-signal-safe.
 *
 * Values in the proto are un-sampled per bucket as Go's scaleHeapSample
 * does: scale = 1 / (1 - exp(-avg_size / rate)), where avg_size is the
 * bucket's bytes over its count; rate 1 is exact. The debug=1 text carries
 * the raw sampled counts under Go's "@ heap/<2*rate>" header, which tells
 * pprof to un-sample them itself. docs/internals/heap.md has the maths.
 */
#include "nprof_int.h"
#include "heap_int.h"
#include "nprof.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096
#define MAX_CHUNKS 1024                 /* 4M stack ids; stacks.c holds fewer */

struct bucket {
	_Atomic int64_t allocs, alloc_bytes, frees, free_bytes;
};

volatile long nprof__heap_rate = -1;  /* -1: not configured yet */
static long profile_rate;               /* the configured rate, for the profile */
static struct bucket *_Atomic chunks[MAX_CHUNKS];
static atomic_long dropped;

/* ---------------------------------------------------------------- */
/* recording                                                         */
/* ---------------------------------------------------------------- */

/* The bucket of stack `id`; creates its chunk when `make`. NULL if none. */
static struct bucket *bucket_of(uint32_t id, int make)
{
	uint32_t c = id / CHUNK;
	if (c >= MAX_CHUNKS)
		return NULL;
	struct bucket *b = atomic_load_explicit(&chunks[c], memory_order_acquire);
	if (b == NULL && make) {
		struct bucket *fresh = nprof__arena_alloc(sizeof *fresh * CHUNK);
		if (fresh == NULL)
			return NULL;
		if (atomic_compare_exchange_strong(&chunks[c], &b, fresh))
			b = fresh;
		else
			nprof__arena_free(fresh); /* another thread won; b is its chunk */
	}
	return b != NULL ? &b[id % CHUNK] : NULL;
}

/* True when `pc` is in nprof's own code: the fallback for trimming hook
 * frames when the caller's return address is not found in the stack. */
static int is_ours(uintptr_t pc)
{
	static void *self;
	Dl_info info;
	if (self == NULL && dladdr((void *)is_ours, &info) != 0)
		self = info.dli_fbase;
	return dladdr((void *)pc, &info) != 0 && info.dli_fbase == self;
}

uint32_t nprof__heap_capture(const void *ra)
{
	uintptr_t pcs[NPROF_MAX_FRAMES + 8];
	int n = nprof__unwind_here(pcs, NPROF_MAX_FRAMES + 8, 0);
	int start = -1;
	/* The stack starts at the caller of the interposed function: the
	 * frame whose return address the hook saw. */
	for (int i = 0; i < n && i < 8; i++)
		if (pcs[i] == (uintptr_t)ra) {
			start = i;
			break;
		}
	if (start < 0)
		for (start = 0; start < n && start < 8 && is_ours(pcs[start]); start++)
			;
	int m = n - start;
	if (m > NPROF_MAX_FRAMES)
		m = NPROF_MAX_FRAMES;
	uint32_t id = nprof__stack_intern(pcs + start, m);
	if (id == 0 || bucket_of(id, 1) == NULL) {
		nprof__heap_note_drop();
		return 0;
	}
	return id;
}

void nprof__heap_note_alloc(uint32_t id, size_t size)
{
	struct bucket *b = bucket_of(id, 0);
	atomic_fetch_add_explicit(&b->alloc_bytes, (int64_t)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->allocs, 1, memory_order_release);
}

void nprof__heap_note_free(uint32_t id, size_t size)
{
	struct bucket *b = bucket_of(id, 0);
	if (b == NULL)
		return;
	atomic_fetch_add_explicit(&b->free_bytes, (int64_t)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->frees, 1, memory_order_release);
}

void nprof__heap_note_drop(void)
{
	atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

long nprof__heap_dropped(void)
{
	return atomic_load_explicit(&dropped, memory_order_relaxed);
}

/* ---------------------------------------------------------------- */
/* life cycle                                                        */
/* ---------------------------------------------------------------- */

void nprof__heap_init(void)
{
	long rate = nprof__cfg.heap_rate;
	profile_rate = rate;
	if (rate <= 0) {
		nprof__heap_rate = 0;
		return;
	}
	if (nprof__heap_foreign()) {
		nprof__log("another malloc was preloaded before nprof; the heap profile stays "
			   "empty (put libnprof.so first in LD_PRELOAD to profile it)");
		nprof__heap_rate = 0;
		return;
	}
	if (nprof__region_init() < 0) {
		nprof__log("cannot reserve address space for sampled blocks; heap profiling off");
		nprof__heap_rate = 0;
		return;
	}
	nprof__heap_rate = rate;
}

void nprof__heap_prefork(void)
{
	nprof__region_prefork();
}

void nprof__heap_postfork(int child)
{
	nprof__region_postfork();
	/* A child is dormant: it frees the parent's sampled blocks correctly
	 * (the range is inherited) but records nothing new. */
	if (child)
		nprof__heap_rate = 0;
}

/* ---------------------------------------------------------------- */
/* snapshots                                                         */
/* ---------------------------------------------------------------- */

struct row {
	uint32_t id;
	int64_t allocs, alloc_bytes, frees, free_bytes;
};

/* Every bucket with an allocation, in id order; arena memory. */
static struct row *snapshot(size_t *nrows)
{
	uint32_t n = nprof__stack_count();
	size_t cap = 64, len = 0;
	struct row *rows = nprof__arena_alloc(sizeof *rows * cap);
	for (uint32_t id = 1; rows != NULL && id <= n; id++) {
		struct bucket *b = bucket_of(id, 0);
		if (b == NULL) {
			id = (id / CHUNK + 1) * CHUNK - 1; /* skip the missing chunk */
			continue;
		}
		struct row r = {.id = id};
		r.frees = atomic_load_explicit(&b->frees, memory_order_acquire);
		r.free_bytes = atomic_load_explicit(&b->free_bytes, memory_order_relaxed);
		r.allocs = atomic_load_explicit(&b->allocs, memory_order_acquire);
		r.alloc_bytes = atomic_load_explicit(&b->alloc_bytes, memory_order_relaxed);
		if (r.allocs == 0)
			continue;
		if (len == cap) {
			struct row *g = nprof__arena_realloc(rows, sizeof *rows * cap * 2);
			if (g == NULL) {
				nprof__arena_free(rows);
				return NULL;
			}
			rows = g;
			cap *= 2;
		}
		rows[len++] = r;
	}
	*nrows = len;
	return rows;
}

/* `now` minus `base` for the cumulative (alloc) values; rows of `now`
 * with nothing allocated in between and nothing in use are dropped. */
static size_t subtract(struct row *now, size_t n, const struct row *base, size_t nb)
{
	size_t j = 0, out = 0;
	for (size_t i = 0; i < n; i++) {
		struct row r = now[i];
		while (j < nb && base[j].id < r.id)
			j++;
		if (j < nb && base[j].id == r.id) {
			r.allocs -= base[j].allocs;
			r.alloc_bytes -= base[j].alloc_bytes;
			/* In use stays absolute: shift frees with allocs. */
			r.frees -= base[j].allocs;
			r.free_bytes -= base[j].alloc_bytes;
		}
		if (r.allocs > 0 || r.allocs - r.frees > 0)
			now[out++] = r;
	}
	return out;
}

long nprof__heap_count(void)
{
	size_t n = 0;
	struct row *rows = snapshot(&n);
	nprof__arena_free(rows);
	return (long)n;
}

/* ---------------------------------------------------------------- */
/* output                                                            */
/* ---------------------------------------------------------------- */

/* Go's scaleHeapSample, except that rate 1 is exact even for size 0. */
static void unsample(int64_t count, int64_t bytes, long rate, int64_t *oc, int64_t *ob)
{
	if (rate <= 1) {
		*oc = count;
		*ob = bytes;
		return;
	}
	if (count <= 0 || bytes <= 0) {
		*oc = *ob = 0;
		return;
	}
	double avg = (double)bytes / (double)count;
	double scale = 1.0 / (1.0 - exp(-avg / (double)rate));
	*oc = (int64_t)((double)count * scale);
	*ob = (int64_t)((double)bytes * scale);
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int build_proto(const struct row *rows, size_t n, const char *default_type,
		       int64_t t0, int64_t dur, struct nprof_buf *out)
{
	static const struct nprof_value_type types[] = {
		{"alloc_objects", "count"}, {"alloc_space", "bytes"},
		{"inuse_objects", "count"}, {"inuse_space", "bytes"},
	};
	char comment[128];
	long drops = nprof__heap_dropped() + nprof__stack_dropped();
	snprintf(comment, sizeof comment, "nprof: %ld heap samples dropped (nprof memory full)",
		 drops);
	struct nprof_profile_desc d = {
		.sample_types = types, .n_sample_types = 4,
		.period_type = {"space", "bytes"}, .period = profile_rate,
		.default_sample_type = default_type,
		.time_nanos = t0, .duration_nanos = dur,
		.comment = drops > 0 ? comment : NULL,
	};
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (pb == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		int64_t v[4];
		unsample(r->allocs, r->alloc_bytes, profile_rate, &v[0], &v[1]);
		unsample(r->allocs - r->frees, r->alloc_bytes - r->free_bytes, profile_rate, &v[2],
			 &v[3]);
		/* Go labels each sample with its block size. */
		struct nprof_label l = {.key = "bytes",
					.num = r->allocs > 0 ? r->alloc_bytes / r->allocs : 0};
		int npcs;
		const uintptr_t *pcs = nprof__stack_get(r->id, &npcs);
		if (nprof__pb_add(pb, pcs, npcs, v, &l, 1) < 0) {
			nprof__pb_free(pb);
			return -ENOMEM;
		}
	}
	return nprof__pb_finish(pb, out);
}

static int by_inuse_desc(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int64_t ix = x->alloc_bytes - x->free_bytes, iy = y->alloc_bytes - y->free_bytes;
	return ix < iy ? 1 : ix > iy ? -1 : (x->id > y->id) - (x->id < y->id);
}

/* Go's legacy text (runtime/pprof writeHeapInternal, debug=1). */
static void build_text(struct row *rows, size_t n, struct nprof_buf *b)
{
	int64_t t[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < n; i++) {
		t[0] += rows[i].allocs;
		t[1] += rows[i].alloc_bytes;
		t[2] += rows[i].frees;
		t[3] += rows[i].free_bytes;
	}
	qsort(rows, n, sizeof *rows, by_inuse_desc);
	nprof__buf_printf(b, "heap profile: %lld: %lld [%lld: %lld] @ heap/%ld\n",
			  (long long)(t[0] - t[2]), (long long)(t[1] - t[3]), (long long)t[0],
			  (long long)t[1], 2 * profile_rate);
	struct nprof_symtab *st = nprof__sym_open();
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		int npcs;
		const uintptr_t *pcs = nprof__stack_get(r->id, &npcs);
		nprof__buf_printf(b, "%lld: %lld [%lld: %lld] @", (long long)(r->allocs - r->frees),
				  (long long)(r->alloc_bytes - r->free_bytes), (long long)r->allocs,
				  (long long)r->alloc_bytes);
		for (int k = 0; k < npcs; k++)
			nprof__buf_printf(b, " %#lx", (unsigned long)pcs[k]);
		nprof__buf_putc(b, '\n');
		for (int k = 0; k < npcs; k++) {
			struct nprof_frame fr[16];
			uintptr_t pc = pcs[k] - 1;
			const struct nprof_mapping *m = st != NULL ? nprof__sym_mapping(st, pc) : NULL;
			int nf = st != NULL ? nprof__sym_lookup(st, pc, fr, 16) : 0;
			if (nf <= 0 && m != NULL && m->file != NULL && m->file[0] != '\0')
				nprof__buf_printf(b, "#\t%#lx\t%s+%#lx\n", (unsigned long)pc, m->file,
						  (unsigned long)(pc - m->start + m->offset));
			else if (nf <= 0)
				nprof__buf_printf(b, "#\t%#lx\n", (unsigned long)pc);
			for (int f = 0; f < nf; f++)
				nprof__buf_printf(b, "#\t%#lx\t%s+%#lx\t%s:%d\n", (unsigned long)pc,
						  fr[f].function[0] ? fr[f].function : "?",
						  (unsigned long)fr[f].symoff,
						  fr[f].file[0] ? fr[f].file : "?", fr[f].line);
		}
		nprof__buf_putc(b, '\n');
	}
	if (st != NULL)
		nprof__sym_close(st);
	/* pprof skips comment lines; people read them. */
	nprof__buf_printf(b, "\n# nprof heap\n# SampleRate = %ld\n# InUseBytesSampled = %lld\n"
			  "# DroppedSamples = %ld\n# ArenaBytes = %zu\n", profile_rate,
			  (long long)(t[1] - t[3]), nprof__heap_dropped(), nprof__arena_used());
}



static void serve(const struct nprof_req *req, struct nprof_reply *rep, const char *default_type,
		  const char *name)
{
	if (req->seconds > 0 && req->debug != 0) {
		nprof__reply_error(rep, 400, "nprof: seconds and debug params are incompatible");
		return;
	}
	int64_t t0 = realtime_ns(), dur = 0;
	size_t nbase = 0, n = 0;
	struct row *base = NULL, *rows;
	if (req->seconds > 0) {
		base = snapshot(&nbase);
		if (base == NULL)
			goto oom;
		int64_t m0 = nprof__mono_ns();
		if (nprof__req_sleep_until(req, m0 + (int64_t)req->seconds * 1000000000LL) < 0) {
			nprof__arena_free(base);
			nprof__reply_error(rep, 499, "nprof: client closed the connection");
			return;
		}
		dur = nprof__mono_ns() - m0;
	}
	rows = snapshot(&n);
	if (rows == NULL)
		goto oom;
	if (base != NULL)
		n = subtract(rows, n, base, nbase);
	nprof__arena_free(base);
	if (req->debug != 0) {
		build_text(rows, n, &rep->body);
		nprof__arena_free(rows);
		if (rep->body.failed)
			goto oom;
		return;
	}
	int rc = build_proto(rows, n, default_type, t0, dur, &rep->body);
	nprof__arena_free(rows);
	if (rc < 0)
		goto oom;
	rep->content_type = "application/octet-stream";
	rep->attachment = name;
	return;
oom:
	nprof__buf_free(&rep->body);
	nprof__reply_error(rep, 503, "nprof: out of memory building the %s profile", name);
}

void nprof__heap_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	serve(req, rep, NULL, "heap");
}

void nprof__allocs_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	serve(req, rep, "alloc_space", "allocs");
}

/* ---------------------------------------------------------------- */
/* NPROF_OUT                                                         */
/* ---------------------------------------------------------------- */

void nprof__heap_write_out(void)
{
	if (nprof__cfg.out_dir[0] == '\0' || !nprof__running || getpid() != nprof__owner_pid)
		return;
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	mkdir(nprof__cfg.out_dir, 0755);
	for (int debug = 0; debug <= 1; debug++) {
		char path[512];
		snprintf(path, sizeof path, "%s/heap.%d.%s", nprof__cfg.out_dir, (int)getpid(),
			 debug ? "txt" : "pb.gz");
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			nprof__log("NPROF_OUT: cannot create %s: %s", path, strerror(errno));
			break;
		}
		int rc = nprof_write_profile("heap", fd, debug);
		close(fd);
		if (rc < 0)
			nprof__log("NPROF_OUT: writing %s: %s", path, nprof_strerror(rc));
	}
	nprof__guard = guard;
	errno = saved;
}

/* ---------------------------------------------------------------- */
/* totals for /metrics (metrics.c)                                   */
/* ---------------------------------------------------------------- */

/*
 * Process-wide totals, each the sum over stacks of the same un-sampled
 * estimate the heap profile reports, so that /metrics and a heap profile
 * taken at the same moment agree. Reads the counters without allocating
 * (a scrape must not grow nprof's memory); frees are read before
 * allocations, as snapshot() does, so in-use values are never negative.
 * The alloc totals never decrease (the estimate count * g(avg) grows with
 * every sample; docs/internals/metrics.md), as a Prometheus counter must.
 */
void nprof__heap_totals(struct nprof_heap_totals *t)
{
	uint32_t n = nprof__stack_count();
	memset(t, 0, sizeof *t);
	for (uint32_t id = 1; id <= n; id++) {
		struct bucket *b = bucket_of(id, 0);
		if (b == NULL) {
			id = (id / CHUNK + 1) * CHUNK - 1; /* skip the missing chunk */
			continue;
		}
		int64_t frees = atomic_load_explicit(&b->frees, memory_order_acquire);
		int64_t free_bytes = atomic_load_explicit(&b->free_bytes, memory_order_relaxed);
		int64_t allocs = atomic_load_explicit(&b->allocs, memory_order_acquire);
		int64_t alloc_bytes = atomic_load_explicit(&b->alloc_bytes, memory_order_relaxed);
		if (allocs == 0)
			continue;
		int64_t c, v;
		unsample(allocs, alloc_bytes, profile_rate, &c, &v);
		t->alloc_objects += c;
		t->alloc_bytes += v;
		unsample(allocs - frees, alloc_bytes - free_bytes, profile_rate, &c, &v);
		t->inuse_objects += c;
		t->inuse_bytes += v;
	}
}

/*
 * For the leak snapshots (leaks.c): calls fn(ctx, stack, bytes, objects)
 * for every stack that has live sampled blocks now, with the in-use values
 * un-sampled exactly as the heap profile's inuse_space/inuse_objects, so
 * that /debug/pprof/leaks and the heap profile agree. Reads the counters
 * lock-free like a profile does and allocates nothing. Not for signal
 * handlers (fn is whatever the caller does).
 */
void nprof__heap_each_inuse(void (*fn)(void *ctx, uint32_t stack, int64_t bytes,
				       int64_t objects), void *ctx)
{
	uint32_t n = nprof__stack_count();
	for (uint32_t id = 1; id <= n; id++) {
		struct bucket *b = bucket_of(id, 0);
		if (b == NULL) {
			id = (id / CHUNK + 1) * CHUNK - 1; /* skip the missing chunk */
			continue;
		}
		/* Frees before allocations, as snapshot(): never negative. */
		int64_t frees = atomic_load_explicit(&b->frees, memory_order_acquire);
		int64_t free_bytes = atomic_load_explicit(&b->free_bytes, memory_order_relaxed);
		int64_t allocs = atomic_load_explicit(&b->allocs, memory_order_acquire);
		int64_t alloc_bytes = atomic_load_explicit(&b->alloc_bytes, memory_order_relaxed);
		if (allocs - frees <= 0)
			continue;
		int64_t c, v;
		unsample(allocs - frees, alloc_bytes - free_bytes, profile_rate, &c, &v);
		if (v > 0)
			fn(ctx, id, v, c);
	}
}
