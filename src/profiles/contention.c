/*
 * contention.c - the block and mutex profiles: /debug/pprof/block and
 * /debug/pprof/mutex (proto, debug=1 text in Go's "--- contention:" /
 * "--- mutex:" form, seconds=N deltas), their rates (NPROF_BLOCK_RATE,
 * NPROF_MUTEX_FRACTION, nprof_set_block_rate, nprof_set_mutex_fraction),
 * and the table of waiters that lets a mutex's delay be charged to the
 * thread that releases it, as Go does. The overrides that feed it are in
 * sync_hooks.c; docs/internals/contention.md has the maths.
 *
 * Data: per profile, one bucket of counters per interned stack id, in
 * arena chunks indexed by id (as heap.c). Block buckets hold Go's
 * un-biased values (count in 1/1024ths, delay in ns); mutex buckets hold
 * the raw sampled values (for the debug=1 text, which pprof scales by the
 * "sampling period") and the values scaled by the fraction in force when
 * each event was sampled (for the proto).
 *
 * Mutex waiters: a small open-addressed table keyed by the mutex address.
 * A thread that blocks in pthread_mutex_lock adds its start time to the
 * slot of that mutex; the unlocker charges every registered waiter the
 * time since it started waiting or since the previous release, whichever
 * is later, and samples that delay onto its own stack. The unlock override
 * looks at the table only while some waiter is registered (one relaxed
 * load of `nprof__mutex_waiting` otherwise), which never happens with the
 * mutex profile off.
 *
 * Locking: counters are relaxed atomic adds, no lock. A waiter slot has a
 * spin flag held for a few instructions by the thread that updates it; a
 * thread that is already inside a slot (a signal handler interrupting it)
 * does not touch the table again, so the flag can never be waited for by
 * its own holder. Recording a sample unwinds and interns (stacks.c may
 * take its mutex): it raises the hook guard, and is skipped when the guard
 * is already raised (nprof's own code, a handler interrupting a record).
 * Nothing here is async-signal-safe, as the pthread functions it serves.
 * Handlers run on nprof's HTTP threads with the guard raised.
 */
#include "base.h"
#include "buf.h"
#include "frames.h"
#include "contention.h"
#include "nprof.h"
#include "pprof.h"
#include "profile.h"
#include "stacks.h"
#include "symbolize.h"
#include "threads_int.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT_ONE 1024          /* block counts are kept in 1/1024ths */
#define NSLOTS 1024             /* mutexes with registered waiters at once */
#define PROBES 8

/* Counters per stack, as pairs (stackcounts.c): block: un-biased
 * contentions and delay; mutex: raw sampled ones, then the same scaled by
 * the fraction. */
enum { COUNT, DELAY, SCOUNT, SDELAY };

struct table {
	struct nprof_stackcounts counts;
	atomic_long dropped;
};

static struct table block_tab, mutex_tab;

/* -1 until read from nprof__cfg (lazily: core.c configures at start). */
_Atomic long nprof__block_rate = -1;
_Atomic long nprof__mutex_fraction = -1;
_Atomic long nprof__mutex_waiting;

struct wslot {
	_Atomic uintptr_t obj;      /* the mutex; 0 when free */
	atomic_flag busy;
	int32_t waiters;            /* registered waiters (busy held) */
	int64_t sum_start;          /* sum of their effective start times */
	int64_t last_release;       /* the last charged release */
};

static struct wslot slots[NSLOTS];
static NPROF_TLS int in_slot;
static NPROF_TLS uint64_t rng;

/* ---------------------------------------------------------------- */
/* rates                                                             */
/* ---------------------------------------------------------------- */

/* Reads the configured rates the first time a wait is seen after
 * nprof_start (the config is parsed there); a rate set through the API
 * before that wins. */
static void configure(void)
{
	if (!nprof__running)
		return;
	long unset = -1;
	atomic_compare_exchange_strong(&nprof__block_rate, &unset, nprof__cfg.block_rate);
	unset = -1;
	atomic_compare_exchange_strong(&nprof__mutex_fraction, &unset, nprof__cfg.mutex_fraction);
}

static long rate_now(_Atomic long *v)
{
	long r = atomic_load_explicit(v, memory_order_relaxed);
	if (r < 0) {
		configure();
		r = atomic_load_explicit(v, memory_order_relaxed);
	}
	return r < 0 ? 0 : r;
}

/* Go's contract: a negative value reads without changing. */
static long set_rate(_Atomic long *v, long want)
{
	long prev = rate_now(v);
	if (want >= 0)
		atomic_store_explicit(v, want, memory_order_relaxed);
	return prev;
}

NPROF_API long nprof_set_block_rate(long ns)
{
	return set_rate(&nprof__block_rate, ns);
}

NPROF_API long nprof_set_mutex_fraction(long fraction)
{
	return set_rate(&nprof__mutex_fraction, fraction);
}

/* xorshift64*, per thread: sampling must not share a cache line. */
static uint64_t rand64(void)
{
	uint64_t x = rng;
	if (x == 0)
		x = ((uint64_t)nprof__gettid() << 32) ^ (uint64_t)nprof__mono_ns() ^ 0x9e3779b97f4a7c15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* ---------------------------------------------------------------- */
/* recording                                                         */
/* ---------------------------------------------------------------- */

/* The calling program's stack (starting at the caller of the override)
 * as an interned id, with the guard raised; 0 when it cannot be kept. */
static uint32_t capture(struct table *tb)
{
	uintptr_t pcs[NPROF_MAX_FRAMES + 16];
	int n = nprof__unwind_here(pcs, NPROF_MAX_FRAMES + 16, 0);
	n = nprof__threads_strip_self(pcs, n, 1);
	if (n > NPROF_MAX_FRAMES)
		n = NPROF_MAX_FRAMES;
	uint32_t id = n > 0 ? nprof__stack_intern(pcs, n) : 0;
	if (id == 0 || nprof__stackcounts_at(&tb->counts, id, 1) == NULL) {
		atomic_fetch_add_explicit(&tb->dropped, 1, memory_order_relaxed);
		return 0;
	}
	return id;
}

void nprof__contention_block(int64_t start_ns)
{
	long rate = rate_now(&nprof__block_rate);
	if (rate <= 0 || nprof__guard)
		return;
	int64_t d = nprof__mono_ns() - start_ns;
	if (d <= 0)
		d = 1;
	/* Go's blocksampled: every wait of at least `rate`, a shorter one
	 * with probability d/rate. */
	if (rate > d && (int64_t)(rand64() % (uint64_t)rate) > d)
		return;
	int saved = errno;
	nprof__guard = 1;
	uint32_t id = capture(&block_tab);
	if (id != 0) {
		struct nprof_counts *b = nprof__stackcounts_at(&block_tab.counts, id, 0);
		/* Go's saveblockevent: an event below the rate stands for
		 * rate/d events of its size (un-biased at record time). */
		int64_t c = COUNT_ONE, v = d;
		if (d < rate) {
			c = (int64_t)((double)rate / (double)d * COUNT_ONE);
			v = rate;
		}
		atomic_fetch_add_explicit(&b->v[DELAY], v, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->v[COUNT], c, memory_order_relaxed);
	}
	nprof__guard = 0;
	errno = saved;
}

/* A mutex delay `d` observed by its unlocker: Go's mutexevent. */
static void mutex_event(int64_t d)
{
	long frac = rate_now(&nprof__mutex_fraction);
	if (frac <= 0 || d <= 0)
		return;
	if (frac > 1 && rand64() % (uint64_t)frac != 0)
		return;
	int saved = errno;
	nprof__guard = 1;
	uint32_t id = capture(&mutex_tab);
	if (id != 0) {
		struct nprof_counts *b = nprof__stackcounts_at(&mutex_tab.counts, id, 0);
		atomic_fetch_add_explicit(&b->v[DELAY], d, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->v[COUNT], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->v[SDELAY], d * frac, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->v[SCOUNT], frac, memory_order_relaxed);
	}
	nprof__guard = 0;
	errno = saved;
}

/* ---------------------------------------------------------------- */
/* mutex waiters                                                     */
/* ---------------------------------------------------------------- */

static size_t slot_hash(uintptr_t m)
{
	return (size_t)((m >> 4) * 0x9e3779b97f4a7c15ULL >> 40) % NSLOTS;
}

static void slot_lock(struct wslot *s)
{
	for (int i = 0; atomic_flag_test_and_set_explicit(&s->busy, memory_order_acquire); i++)
		if (i > 64)
			sched_yield(); /* the holder was preempted */
}

static void slot_unlock(struct wslot *s)
{
	atomic_flag_clear_explicit(&s->busy, memory_order_release);
}

int nprof__mutex_wait_begin(const void *m, int64_t start_ns)
{
	if (rate_now(&nprof__mutex_fraction) <= 0 || nprof__guard || in_slot)
		return -1;
	uintptr_t key = (uintptr_t)m;
	size_t h = slot_hash(key);
	in_slot = 1;
	for (int p = 0; p < PROBES; p++) {
		size_t i = (h + (size_t)p) % NSLOTS;
		struct wslot *s = &slots[i];
		uintptr_t o = atomic_load_explicit(&s->obj, memory_order_relaxed);
		if (o != 0 && o != key)
			continue;
		slot_lock(s);
		o = atomic_load_explicit(&s->obj, memory_order_relaxed);
		if (o == 0) {
			atomic_store_explicit(&s->obj, key, memory_order_relaxed);
			s->waiters = 0;
			s->sum_start = 0;
			s->last_release = 0;
		} else if (o != key) {
			slot_unlock(s);
			continue;
		}
		s->waiters++;
		s->sum_start += start_ns;
		slot_unlock(s);
		atomic_fetch_add_explicit(&nprof__mutex_waiting, 1, memory_order_relaxed);
		in_slot = 0;
		return (int)i;
	}
	in_slot = 0;
	atomic_fetch_add_explicit(&mutex_tab.dropped, 1, memory_order_relaxed);
	return -1;
}

void nprof__mutex_wait_end(int slot, int64_t start_ns)
{
	if (slot < 0)
		return;
	struct wslot *s = &slots[slot];
	int saved = in_slot;
	in_slot = 1;
	slot_lock(s);
	/* Releases after this waiter arrived have charged it up to the
	 * last one already: only that part leaves the sum. */
	s->sum_start -= start_ns > s->last_release ? start_ns : s->last_release;
	if (--s->waiters <= 0)
		atomic_store_explicit(&s->obj, 0, memory_order_relaxed);
	slot_unlock(s);
	in_slot = saved;
	atomic_fetch_sub_explicit(&nprof__mutex_waiting, 1, memory_order_relaxed);
}

void nprof__mutex_unlocking(const void *m)
{
	if (nprof__guard || in_slot)
		return;
	uintptr_t key = (uintptr_t)m;
	size_t h = slot_hash(key);
	for (int p = 0; p < PROBES; p++) {
		struct wslot *s = &slots[(h + (size_t)p) % NSLOTS];
		if (atomic_load_explicit(&s->obj, memory_order_relaxed) != key)
			continue;
		in_slot = 1;
		slot_lock(s);
		int64_t d = 0;
		if (atomic_load_explicit(&s->obj, memory_order_relaxed) == key && s->waiters > 0) {
			int64_t now = nprof__mono_ns();
			d = (int64_t)s->waiters * now - s->sum_start;
			s->sum_start = (int64_t)s->waiters * now;
			s->last_release = now;
		}
		slot_unlock(s);
		in_slot = 0;
		mutex_event(d);
		return;
	}
}

/* In a forked child only the forking thread exists: waiters registered by
 * the others are gone, and a slot flag may be held by one of them. */
static void child_reset(void)
{
	memset(slots, 0, sizeof slots);
	atomic_store(&nprof__mutex_waiting, 0);
	in_slot = 0;
}

__attribute__((constructor)) static void contention_ctor(void)
{
	pthread_atfork(NULL, NULL, child_reset);
}

/* ---------------------------------------------------------------- */
/* snapshots                                                         */
/* ---------------------------------------------------------------- */

/* Every stack with an event, in id order; arena memory, NULL when full. */
static struct nprof_counts_row *snapshot(struct table *tb, size_t *nrows)
{
	return nprof__stackcounts_rows(&tb->counts, nrows);
}

/* `now` minus `base`, keeping the rows that changed. */
static size_t subtract(struct nprof_counts_row *now, size_t n, const struct nprof_counts_row *base, size_t nb)
{
	size_t j = 0, out = 0;
	for (size_t i = 0; i < n; i++) {
		struct nprof_counts_row r = now[i];
		while (j < nb && base[j].id < r.id)
			j++;
		if (j < nb && base[j].id == r.id) {
			r.v[COUNT] -= base[j].v[COUNT];
			r.v[DELAY] -= base[j].v[DELAY];
			r.v[SCOUNT] -= base[j].v[SCOUNT];
			r.v[SDELAY] -= base[j].v[SDELAY];
		}
		if (r.v[COUNT] > 0)
			now[out++] = r;
	}
	return out;
}

static void count_one(void *ctx, uint32_t id, const int64_t v[4])
{
	(void)id;
	(void)v;
	++*(long *)ctx;
}

/* Stacks with an event, for the index: counted without a snapshot. */
static long count_rows(struct table *tb)
{
	long n = 0;
	nprof__stackcounts_each(&tb->counts, count_one, &n);
	return n;
}

long nprof__block_count(void)
{
	return count_rows(&block_tab);
}

long nprof__mutex_count(void)
{
	return count_rows(&mutex_tab);
}

/* ---------------------------------------------------------------- */
/* output                                                            */
/* ---------------------------------------------------------------- */

static int is_mutex(const struct table *tb)
{
	return tb == &mutex_tab;
}

/* The values a profile shows for row `r`: contentions, delay (ns). */
static void values_of(const struct table *tb, const struct nprof_counts_row *r, int64_t v[2])
{
	if (is_mutex(tb)) {
		v[0] = r->v[SCOUNT];
		v[1] = r->v[SDELAY];
	} else {
		v[0] = (r->v[COUNT] + COUNT_ONE / 2) / COUNT_ONE;
		v[1] = r->v[DELAY];
	}
}

static int by_delay_desc(const void *a, const void *b)
{
	const struct nprof_counts_row *x = a, *y = b;
	return x->v[DELAY] < y->v[DELAY] ? 1 : x->v[DELAY] > y->v[DELAY] ? -1 : (x->id > y->id) - (x->id < y->id);
}

static int build_proto(const struct table *tb, const struct nprof_counts_row *rows, size_t n, int64_t t0,
		       int64_t dur, struct nprof_buf *out)
{
	/* Go's printCountCycleProfile: exactly these types, period 1. */
	static const struct nprof_value_type types[] = {
		{"contentions", "count"}, {"delay", "nanoseconds"},
	};
	char comment[128];
	long drops = atomic_load(&((struct table *)tb)->dropped) + nprof__stack_dropped();
	snprintf(comment, sizeof comment, "nprof: %ld %s events dropped (nprof memory full)", drops,
		 is_mutex(tb) ? "mutex" : "block");
	struct nprof_profile_desc d = {
		.sample_types = types, .n_sample_types = 2,
		.period_type = {"contentions", "count"}, .period = 1,
		.time_nanos = t0, .duration_nanos = dur,
		.comment = drops > 0 ? comment : NULL,
	};
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (pb == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int64_t v[2];
		values_of(tb, &rows[i], v);
		int npcs;
		const uintptr_t *pcs = nprof__stack_get(rows[i].id, &npcs);
		if (nprof__pb_add(pb, pcs, npcs, v, NULL, 0) < 0) {
			nprof__pb_free(pb);
			return -ENOMEM;
		}
	}
	return nprof__pb_finish(pb, out);
}

/* Go's legacy text (runtime/pprof writeProfileInternal, debug=1):
 * "CYCLES COUNT @ pcs" with nanoseconds as cycles. The mutex text carries
 * the raw sampled values; pprof multiplies them by "sampling period". */
static void build_text(const struct table *tb, const struct nprof_counts_row *rows, size_t n,
		       struct nprof_buf *b)
{
	long frac = rate_now(&nprof__mutex_fraction);
	nprof__buf_printf(b, "--- %s:\ncycles/second=1000000000\n",
			  is_mutex(tb) ? "mutex" : "contention");
	if (is_mutex(tb))
		nprof__buf_printf(b, "sampling period=%ld\n", frac);
	struct nprof_symtab *st = nprof__sym_open();
	for (size_t i = 0; i < n; i++) {
		const struct nprof_counts_row *r = &rows[i];
		int64_t v[2];
		if (is_mutex(tb)) {
			v[0] = r->v[COUNT];
			v[1] = r->v[DELAY];
		} else {
			values_of(tb, r, v);
		}
		int npcs;
		const uintptr_t *pcs = nprof__stack_get(r->id, &npcs);
		nprof__buf_printf(b, "%lld %lld @", (long long)v[1], (long long)v[0]);
		for (int k = 0; k < npcs; k++)
			nprof__buf_printf(b, " %#lx", (unsigned long)pcs[k]);
		nprof__buf_putc(b, '\n');
		nprof__frames_print_text(b, st, pcs, npcs);
		nprof__buf_putc(b, '\n');
	}
	if (st != NULL)
		nprof__sym_close(st);
	nprof__buf_printf(b, "\n# nprof %s\n# %s = %ld\n# DroppedEvents = %ld\n",
			  is_mutex(tb) ? "mutex" : "block",
			  is_mutex(tb) ? "MutexProfileFraction" : "BlockProfileRate",
			  is_mutex(tb) ? frac : rate_now(&nprof__block_rate),
			  (long)atomic_load(&((struct table *)tb)->dropped));
}

static struct nprof_counts_row *rows_snapshot(const void *self, size_t *n)
{
	return snapshot((struct table *)self, n);
}

static size_t rows_subtract(const void *self, struct nprof_counts_row *now, size_t n,
			    const struct nprof_counts_row *base, size_t nb)
{
	(void)self;
	return subtract(now, n, base, nb);
}

/* Both forms list the stacks by delay, largest first, as Go does. */
static void rows_text(const void *self, struct nprof_counts_row *rows, size_t n, struct nprof_buf *b)
{
	qsort(rows, n, sizeof *rows, by_delay_desc);
	build_text(self, rows, n, b);
}

static int rows_proto(const void *self, struct nprof_counts_row *rows, size_t n, int64_t t0,
		      int64_t dur, struct nprof_buf *out)
{
	qsort(rows, n, sizeof *rows, by_delay_desc);
	return build_proto(self, rows, n, t0, dur, out);
}

static const struct nprof_rows_profile block_rows = {
	&block_tab, rows_snapshot, rows_subtract, rows_text, rows_proto,
};
static const struct nprof_rows_profile mutex_rows = {
	&mutex_tab, rows_snapshot, rows_subtract, rows_text, rows_proto,
};

static const struct nprof_profile_ops block_ops = NPROF_ROWS_OPS("block", &block_rows);
static const struct nprof_profile_ops mutex_ops = NPROF_ROWS_OPS("mutex", &mutex_rows);

void nprof__block_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	nprof__profile_serve(&block_ops, req, rep);
}

void nprof__mutex_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	nprof__profile_serve(&mutex_ops, req, rep);
}
