/*
 * pprof.c - the profile builder: collects samples (stacks of return
 * addresses, values, labels), interns and symbolizes them, and has
 * pprof_encode.c write them as a gzipped perftools profile.proto, the
 * format `go tool pprof`, Parca and Pyroscope read.
 * The rules it follows (address - 1, main mapping first, has_* flags,
 * inlined Lines innermost first) are in docs/internals/pprof.md.
 *
 * Data structures, all in arena memory and owned by one struct nprof_pb:
 *   - strings: the future string_table. Entries point into a chunked
 *     string pool, so interned strings never move; index 0 is "".
 *   - locs: one entry per distinct address (pc - 1); id = index + 1.
 *     Filled at nprof__pb_add() time with the address only; mapping and
 *     Lines are attached by nprof__pb_finish(), which symbolizes each
 *     distinct address exactly once.
 *   - stacks: distinct stacks as runs of location indices in one pool;
 *     identical stacks share one entry.
 *   - samples / values / labels: one record per nprof__pb_add() call
 *     (samples are not merged), its n_sample_types values, its labels.
 *   - funcs: one per distinct (name, file) pair; maps: the output
 *     mappings, the main executable's first.
 * Every table that is searched has an open-addressing hash index
 * (struct ihash) of entry index + 1, so 50,000 stacks build in linear
 * time.
 *
 * Failure: an add that runs out of memory stores nothing, returns
 * -ENOMEM and is counted; the count is reported in a profile comment.
 * A finish that runs out of memory returns -ENOMEM and leaves `out` as it
 * found it: never a truncated body.
 *
 * Locking: none; a builder belongs to one thread. nprof__pb_finish()
 * opens a symbolization session (nprof__sym_open), so its caller must not
 * hold one. Not async-signal-safe. zlib runs with nprof's arena as its
 * allocator, so encoding never calls malloc.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "pprof.h"
#include "pprof_int.h"
#include "procmaps.h"
#include "stacks.h"
#include "symbolize.h"

/* Deepest stack one sample keeps (innermost frames kept). */
#define PB_MAX_PCS (4 * NPROF_MAX_FRAMES)
/* Inlined frames kept per address. */
#define PB_MAX_INLINE 32
/* Size of one string-pool chunk; longer strings get their own. */
#define PB_POOL_CHUNK (64 * 1024)

/* ---------------------------------------------------------------- */
/* small helpers                                                     */
/* ---------------------------------------------------------------- */

/* Makes room for `more` elements; 0 or -ENOMEM (the vector unchanged). */
static int vec_reserve(struct vec *v, size_t more, size_t elsz)
{
	if (v->cap - v->n >= more)
		return 0;
	size_t cap = v->cap ? v->cap * 2 : 64;
	while (cap < v->n + more)
		cap *= 2;
	if (cap > UINT32_MAX || cap > SIZE_MAX / elsz)
		return -ENOMEM;
	void *p = nprof__arena_realloc(v->p, cap * elsz);
	if (!p)
		return -ENOMEM;
	v->p = p;
	v->cap = cap;
	return 0;
}

static void vec_free(struct vec *v)
{
	nprof__arena_free(v->p);
	v->p = NULL;
	v->n = v->cap = 0;
}

static uint32_t hash_bytes(const void *p, size_t n)
{
	/* FNV-1a: short strings dominate, and it has no alignment demands. */
	const unsigned char *s = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u;
	return h;
}

static uint32_t hash_u64(uint64_t x)
{
	/* murmur3's finaliser: addresses differ in few low bits. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

/*
 * Keeps the index at most half full for `n` entries (n counting the one
 * about to be added), rehashing with hash_of(pb, entry index). 0 or
 * -ENOMEM (the old index kept).
 */
static int ihash_fit(struct nprof_pb *pb, struct ihash *ix, size_t n,
		     uint32_t (*hash_of)(struct nprof_pb *, uint32_t))
{
	size_t slots = ix->slots ? (size_t)ix->mask + 1 : 0;
	if (n * 2 <= slots)
		return 0;
	size_t ns = slots ? slots * 2 : 256;
	while (ns < n * 2)
		ns *= 2;
	if (ns > (size_t)UINT32_MAX + 1)
		return -ENOMEM;
	uint32_t *s = nprof__arena_alloc(ns * sizeof(*s));
	if (!s)
		return -ENOMEM;
	uint32_t mask = (uint32_t)(ns - 1);
	for (size_t i = 0; i < slots; i++) {
		uint32_t e = ix->slots[i];
		if (!e)
			continue;
		uint32_t j = hash_of(pb, e - 1) & mask;
		while (s[j])
			j = (j + 1) & mask;
		s[j] = e;
	}
	nprof__arena_free(ix->slots);
	ix->slots = s;
	ix->mask = mask;
	return 0;
}

static uint32_t str_hash_of(struct nprof_pb *pb, uint32_t i)
{
	return VEC_AT(&pb->strings, struct str_ent, i).hash;
}

static uint32_t loc_hash_of(struct nprof_pb *pb, uint32_t i)
{
	return hash_u64(VEC_AT(&pb->locs, struct loc_ent, i).addr);
}

static uint32_t stack_hash_of(struct nprof_pb *pb, uint32_t i)
{
	return VEC_AT(&pb->stacks, struct stack_ent, i).hash;
}

static uint32_t func_hash_of(struct nprof_pb *pb, uint32_t i)
{
	return VEC_AT(&pb->funcs, struct func_ent, i).hash;
}

static uint32_t map_hash_of(struct nprof_pb *pb, uint32_t i)
{
	return hash_u64((uintptr_t)VEC_AT(&pb->maps, struct map_ent, i).m);
}

/* Copies n bytes into the string pool; the copy never moves. */
static const char *pool_copy(struct nprof_pb *pb, const char *s, size_t n)
{
	struct pool_chunk *c = pb->pool;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > PB_POOL_CHUNK ? n : PB_POOL_CHUNK;
		c = nprof__arena_alloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		/* A big one-off string goes behind the current chunk so that the
		 * current chunk's free space stays in use. */
		if (n > PB_POOL_CHUNK && pb->pool) {
			c->next = pb->pool->next;
			pb->pool->next = c;
		} else {
			c->next = pb->pool;
			pb->pool = c;
		}
	}
	char *p = c->data + c->used;
	memcpy(p, s, n);
	c->used += n;
	return p;
}

/* ---------------------------------------------------------------- */
/* interning                                                         */
/* ---------------------------------------------------------------- */

/* The string-table index of `s` (NULL and "" are 0); -ENOMEM as -1. */
static int64_t intern_str(struct nprof_pb *pb, const char *s)
{
	if (!s || !*s)
		return 0;
	size_t len = strlen(s);
	if (len > UINT32_MAX)
		return -1;
	uint32_t h = hash_bytes(s, len);
	if (ihash_fit(pb, &pb->strings_ix, pb->strings.n + 1, str_hash_of) < 0)
		return -1;
	uint32_t mask = pb->strings_ix.mask, j = h & mask, e;
	while ((e = pb->strings_ix.slots[j])) {
		struct str_ent *se = &VEC_AT(&pb->strings, struct str_ent, e - 1);
		if (se->hash == h && se->len == len && memcmp(se->s, s, len) == 0)
			return e - 1;
		j = (j + 1) & mask;
	}
	if (vec_reserve(&pb->strings, 1, sizeof(struct str_ent)) < 0)
		return -1;
	const char *copy = pool_copy(pb, s, len);
	if (!copy)
		return -1;
	uint32_t idx = (uint32_t)pb->strings.n++;
	VEC_AT(&pb->strings, struct str_ent, idx) = (struct str_ent){ copy, (uint32_t)len, h };
	pb->strings_ix.slots[j] = idx + 1;
	return idx;
}

/* The location index of address `addr`, adding it; -1 when out of memory. */
static int64_t intern_loc(struct nprof_pb *pb, uint64_t addr)
{
	if (ihash_fit(pb, &pb->locs_ix, pb->locs.n + 1, loc_hash_of) < 0)
		return -1;
	uint32_t mask = pb->locs_ix.mask, j = hash_u64(addr) & mask, e;
	while ((e = pb->locs_ix.slots[j])) {
		if (VEC_AT(&pb->locs, struct loc_ent, e - 1).addr == addr)
			return e - 1;
		j = (j + 1) & mask;
	}
	if (vec_reserve(&pb->locs, 1, sizeof(struct loc_ent)) < 0)
		return -1;
	uint32_t idx = (uint32_t)pb->locs.n++;
	VEC_AT(&pb->locs, struct loc_ent, idx) = (struct loc_ent){ .addr = addr };
	pb->locs_ix.slots[j] = idx + 1;
	return idx;
}

/* The stack index of the location run ids[0..n), adding it; -1 on ENOMEM. */
static int64_t intern_stack(struct nprof_pb *pb, const uint32_t *ids, uint32_t n)
{
	uint32_t h = hash_bytes(ids, n * sizeof(*ids)) ^ n;
	if (ihash_fit(pb, &pb->stacks_ix, pb->stacks.n + 1, stack_hash_of) < 0)
		return -1;
	uint32_t mask = pb->stacks_ix.mask, j = h & mask, e;
	while ((e = pb->stacks_ix.slots[j])) {
		struct stack_ent *se = &VEC_AT(&pb->stacks, struct stack_ent, e - 1);
		if (se->hash == h && se->n == n &&
		    memcmp(&VEC_AT(&pb->stack_locs, uint32_t, se->off), ids,
			   n * sizeof(*ids)) == 0)
			return e - 1;
		j = (j + 1) & mask;
	}
	if (vec_reserve(&pb->stacks, 1, sizeof(struct stack_ent)) < 0 ||
	    vec_reserve(&pb->stack_locs, n, sizeof(uint32_t)) < 0)
		return -1;
	uint32_t off = (uint32_t)pb->stack_locs.n;
	if (n)
		memcpy(&VEC_AT(&pb->stack_locs, uint32_t, off), ids, n * sizeof(*ids));
	pb->stack_locs.n += n;
	uint32_t idx = (uint32_t)pb->stacks.n++;
	VEC_AT(&pb->stacks, struct stack_ent, idx) = (struct stack_ent){ off, n, h };
	pb->stacks_ix.slots[j] = idx + 1;
	return idx;
}

/* The function id (index + 1) of (name, file), adding it; -1 on ENOMEM. */
static int64_t intern_func(struct nprof_pb *pb, const char *name, const char *file)
{
	int64_t ns = intern_str(pb, name), fs = intern_str(pb, file);
	if (ns < 0 || fs < 0)
		return -1;
	uint32_t h = hash_u64(((uint64_t)ns << 32) | (uint64_t)fs);
	if (ihash_fit(pb, &pb->funcs_ix, pb->funcs.n + 1, func_hash_of) < 0)
		return -1;
	uint32_t mask = pb->funcs_ix.mask, j = h & mask, e;
	while ((e = pb->funcs_ix.slots[j])) {
		struct func_ent *fe = &VEC_AT(&pb->funcs, struct func_ent, e - 1);
		if (fe->name == ns && fe->file == fs)
			return e;
		j = (j + 1) & mask;
	}
	if (vec_reserve(&pb->funcs, 1, sizeof(struct func_ent)) < 0)
		return -1;
	uint32_t idx = (uint32_t)pb->funcs.n++;
	VEC_AT(&pb->funcs, struct func_ent, idx) =
		(struct func_ent){ (uint32_t)ns, (uint32_t)fs, h };
	pb->funcs_ix.slots[j] = idx + 1;
	return idx + 1;
}

/*
 * The output mapping id of `m`, adding it (and interning its file name and
 * build id now, since the string table is written before anything that
 * could add to it later); -1 on ENOMEM.
 */
static int64_t intern_map(struct nprof_pb *pb, const struct nprof_mapping *m)
{
	uint32_t h = hash_u64((uintptr_t)m);
	if (ihash_fit(pb, &pb->maps_ix, pb->maps.n + 1, map_hash_of) < 0)
		return -1;
	uint32_t mask = pb->maps_ix.mask, j = h & mask, e;
	while ((e = pb->maps_ix.slots[j])) {
		if (VEC_AT(&pb->maps, struct map_ent, e - 1).m == m)
			return e;
		j = (j + 1) & mask;
	}
	int64_t file = intern_str(pb, m->file), bid = intern_str(pb, m->build_id);
	if (file < 0 || bid < 0 || vec_reserve(&pb->maps, 1, sizeof(struct map_ent)) < 0)
		return -1;
	uint32_t idx = (uint32_t)pb->maps.n++;
	VEC_AT(&pb->maps, struct map_ent, idx) =
		(struct map_ent){ .m = m, .file = (uint32_t)file, .build_id = (uint32_t)bid };
	pb->maps_ix.slots[j] = idx + 1;
	return idx + 1;
}

/* ---------------------------------------------------------------- */
/* building                                                          */
/* ---------------------------------------------------------------- */

/*
 * Creates a builder for a profile described by `d`. Every string of `d`
 * is copied, so `d` need not outlive the call. Returns NULL when out of
 * memory or when d has no sample type.
 */
struct nprof_pb *nprof__pb_new(const struct nprof_profile_desc *d)
{
	if (!d || d->n_sample_types <= 0)
		return NULL;
	struct nprof_pb *pb = nprof__arena_alloc(sizeof(*pb));
	if (!pb)
		return NULL;
	pb->n_types = d->n_sample_types;
	pb->type_str = nprof__arena_alloc(2 * (size_t)pb->n_types * sizeof(uint32_t));
	if (!pb->type_str)
		goto fail;
	pb->unit_str = pb->type_str + pb->n_types;

	/* string_table[0] must be "": pprof resolves absent fields to it. */
	if (vec_reserve(&pb->strings, 1, sizeof(struct str_ent)) < 0)
		goto fail;
	VEC_AT(&pb->strings, struct str_ent, 0) = (struct str_ent){ "", 0, hash_bytes("", 0) };
	pb->strings.n = 1;

	for (int i = 0; i < pb->n_types; i++) {
		int64_t t = intern_str(pb, d->sample_types[i].type);
		int64_t u = intern_str(pb, d->sample_types[i].unit);
		if (t < 0 || u < 0)
			goto fail;
		pb->type_str[i] = (uint32_t)t;
		pb->unit_str[i] = (uint32_t)u;
	}
	if (d->period_type.type) {
		int64_t t = intern_str(pb, d->period_type.type);
		int64_t u = intern_str(pb, d->period_type.unit);
		if (t < 0 || u < 0)
			goto fail;
		pb->period_type = (uint32_t)t;
		pb->period_unit = (uint32_t)u;
		pb->has_period_type = 1;
	}
	int64_t dt = intern_str(pb, d->default_sample_type);
	int64_t cm = intern_str(pb, d->comment);
	if (dt < 0 || cm < 0)
		goto fail;
	pb->default_type = (uint32_t)dt;
	pb->comment = (uint32_t)cm;
	pb->period = d->period;
	pb->time_nanos = d->time_nanos;
	pb->duration_nanos = d->duration_nanos;
	return pb;
fail:
	nprof__pb_free(pb);
	return NULL;
}

/*
 * Adds one sample: `pcs` are return addresses, innermost first (each is
 * recorded as the Location at pcs[i] - 1; zero entries are skipped; a
 * stack deeper than PB_MAX_PCS keeps its innermost frames). `values` has
 * n_sample_types entries. Label strings are copied. Returns 0, -EINVAL on
 * bad arguments, or -ENOMEM, in which case nothing of the sample is
 * recorded and the drop is counted (and reported in the profile).
 */
int nprof__pb_add(struct nprof_pb *pb, const uintptr_t *pcs, int npcs,
		  const int64_t *values, const struct nprof_label *labels, int nlabels)
{
	uint32_t ids[PB_MAX_PCS];
	uint32_t n = 0;

	if (!pb || npcs < 0 || nlabels < 0 || (npcs && !pcs) || !values ||
	    (nlabels && !labels))
		return -EINVAL;
	for (int i = 0; i < npcs && n < PB_MAX_PCS; i++) {
		if (!pcs[i])
			continue;
		int64_t li = intern_loc(pb, (uint64_t)pcs[i] - 1);
		if (li < 0)
			goto nomem;
		ids[n++] = (uint32_t)li;
	}
	int64_t si = intern_stack(pb, ids, n);
	if (si < 0)
		goto nomem;
	/* Reserve everything first so that the commit below cannot fail
	 * halfway and leave values misaligned with samples. */
	if (vec_reserve(&pb->samples, 1, sizeof(struct sample_ent)) < 0 ||
	    vec_reserve(&pb->values, (size_t)pb->n_types, sizeof(int64_t)) < 0 ||
	    vec_reserve(&pb->labels, (size_t)nlabels, sizeof(struct label_ent)) < 0)
		goto nomem;
	uint32_t loff = (uint32_t)pb->labels.n;
	for (int i = 0; i < nlabels; i++) {
		int64_t k = intern_str(pb, labels[i].key);
		int64_t s = intern_str(pb, labels[i].str);
		int64_t u = intern_str(pb, labels[i].num_unit);
		if (k < 0 || s < 0 || u < 0)
			goto nomem;
		VEC_AT(&pb->labels, struct label_ent, loff + (uint32_t)i) = (struct label_ent){
			(uint32_t)k, (uint32_t)s, (uint32_t)u, labels[i].num };
	}
	memcpy(&VEC_AT(&pb->values, int64_t, pb->values.n), values,
	       (size_t)pb->n_types * sizeof(int64_t));
	pb->values.n += (size_t)pb->n_types;
	pb->labels.n += (size_t)nlabels;
	VEC_AT(&pb->samples, struct sample_ent, pb->samples.n) =
		(struct sample_ent){ (uint32_t)si, loff, (uint32_t)nlabels };
	pb->samples.n++;
	return 0;
nomem:
	pb->dropped++;
	return -ENOMEM;
}

/*
 * Symbolizes every distinct address once: its mapping (as an output
 * mapping id) and its Lines, innermost inlined frame first. The main
 * executable's mapping is registered before anything else so that it gets
 * id 1 and comes first in the mapping list, where pprof looks for the
 * main binary.
 */
static int symbolize(struct nprof_pb *pb, struct nprof_symtab *st)
{
	/* The symbolizer names the executable's mappings as the program was
	 * started (redis-server, not the redis-check-rdb it links to). */
	const char *exe = nprof__sym_exe_path(st);
	if (exe[0]) {
		const struct nprof_mapping *all;
		int nm = nprof__sym_mappings(st, &all);
		for (int i = 0; i < nm; i++) {
			if (all[i].file && strcmp(all[i].file, exe) == 0) {
				if (intern_map(pb, &all[i]) < 0)
					return -ENOMEM;
				break;
			}
		}
	}

	struct nprof_frame fr[PB_MAX_INLINE];
	const struct nprof_mapping *last = NULL;
	uint32_t last_id = 0;
	for (size_t i = 0; i < pb->locs.n; i++) {
		struct loc_ent *l = &VEC_AT(&pb->locs, struct loc_ent, i);
		uintptr_t addr = (uintptr_t)l->addr;
		/* Neighbouring addresses share a mapping: skip the lookup. */
		const struct nprof_mapping *m = last;
		if (!m || addr < m->start || addr >= m->limit)
			m = nprof__sym_mapping(st, addr);
		if (m && m != last) {
			int64_t id = intern_map(pb, m);
			if (id < 0)
				return -ENOMEM;
			last = m;
			last_id = (uint32_t)id;
		}
		l->mapping = m ? last_id : 0;

		int nf = nprof__sym_lookup(st, addr, fr, PB_MAX_INLINE);
		if (nf < 0)
			nf = 0;
		if (vec_reserve(&pb->lines, (size_t)nf, sizeof(struct line_ent)) < 0)
			return -ENOMEM;
		l->line_off = (uint32_t)pb->lines.n;
		l->nlines = 0;
		for (int k = 0; k < nf; k++) {
			const char *fn = fr[k].function ? fr[k].function : "";
			const char *file = fr[k].file ? fr[k].file : "";
			/* A frame that says nothing would only show as "??". */
			if (!*fn && !*file)
				continue;
			int64_t fid = intern_func(pb, fn, file);
			if (fid < 0)
				return -ENOMEM;
			VEC_AT(&pb->lines, struct line_ent, pb->lines.n++) =
				(struct line_ent){ (uint32_t)fid, fr[k].line };
			l->nlines++;
		}
	}
	for (size_t i = 0; i < pb->maps.n; i++) {
		struct map_ent *me = &VEC_AT(&pb->maps, struct map_ent, i);
		me->start = me->m->start;
		me->limit = me->m->limit;
		me->offset = me->m->offset;
		me->has_functions = !!me->m->has_functions;
		me->has_filenames = !!me->m->has_filenames;
		me->has_line_numbers = !!me->m->has_line_numbers;
		me->has_inline_frames = !!me->m->has_inline_frames;
		me->m = NULL;
	}
	return 0;
}

/*
 * Symbolizes, encodes and gzips the profile, appending the .pb.gz bytes
 * to `out`; then frees the builder (whatever the outcome). Returns 0;
 * -ENOMEM when memory ran out (the arena's bound) or -EIO on a zlib
 * error, in both cases leaving `out` exactly as it was on entry (an empty
 * buffer is freed), so that no caller can serve a truncated profile.
 * Opens and closes its own symbolization session.
 */
int nprof__pb_finish(struct nprof_pb *pb, struct nprof_buf *out)
{
	int rc = -ENOMEM;

	if (!out) {
		nprof__pb_free(pb);
		return -EINVAL;
	}
	if (!pb)
		return -EINVAL;
	if (out->failed) {
		/* Someone else's failure: not ours to clear. */
		nprof__pb_free(pb);
		return -ENOMEM;
	}
	size_t out_len = out->len;

	if (pb->dropped) {
		/* Interned before the string table is written. */
		char note[96];
		snprintf(note, sizeof(note), "nprof: %ld samples dropped (memory limit)",
			 pb->dropped);
		int64_t c = intern_str(pb, note);
		if (c < 0)
			goto done;
		pb->drop_note = (uint32_t)c;
	}

	/* Without a symbolizer the profile is still valid: bare addresses,
	 * no mappings. */
	struct nprof_symtab *st = nprof__sym_open();
	if (st) {
		rc = symbolize(pb, st);
		/* Everything needed is copied out: release the session before
		 * the (slower) encoding so other readers are not held up. */
		nprof__sym_close(st);
		if (rc < 0)
			goto done;
	}

	rc = nprof__pb_encode(pb, out);
done:
	if (rc < 0) {
		/* out was sound on entry and growing it never alters the bytes
		 * already there, so cutting back restores it exactly. */
		if (out_len == 0) {
			nprof__buf_free(out);
		} else {
			out->len = out_len;
			out->failed = 0;
		}
	}
	nprof__pb_free(pb);
	return rc;
}

/* Frees a builder and everything it holds; NULL is ignored. */
void nprof__pb_free(struct nprof_pb *pb)
{
	if (!pb)
		return;
	while (pb->pool) {
		struct pool_chunk *c = pb->pool;
		pb->pool = c->next;
		nprof__arena_free(c);
	}
	struct vec *vs[] = { &pb->strings, &pb->locs, &pb->stacks, &pb->stack_locs,
			     &pb->samples, &pb->values, &pb->labels, &pb->funcs,
			     &pb->lines, &pb->maps };
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
		vec_free(vs[i]);
	struct ihash *ix[] = { &pb->strings_ix, &pb->locs_ix, &pb->stacks_ix,
			       &pb->funcs_ix, &pb->maps_ix };
	for (size_t i = 0; i < sizeof(ix) / sizeof(ix[0]); i++)
		nprof__arena_free(ix[i]->slots);
	nprof__arena_free(pb->type_str);
	nprof__arena_free(pb);
}
