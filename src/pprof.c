/*
 * pprof.c - the profile builder: collects samples (stacks of return
 * addresses, values, labels) and turns them into a gzipped perftools
 * profile.proto, the format `go tool pprof`, Parca and Pyroscope read.
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
#include <zlib.h>

#include "nprof_int.h"
#include "proto.h"

/* profile.proto field numbers (github.com/google/pprof/proto/profile.proto). */
enum {
	PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4, PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9, PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12, PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
	LABEL_KEY = 1, LABEL_STR = 2, LABEL_NUM = 3, LABEL_NUM_UNIT = 4,
	MAPPING_ID = 1, MAPPING_MEMORY_START = 2, MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILE_OFFSET = 4, MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7, MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9, MAPPING_HAS_INLINE_FRAMES = 10,
	LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1, LINE_LINE = 2,
	FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

/* Deepest stack one sample keeps (innermost frames kept). */
#define PB_MAX_PCS (4 * NPROF_MAX_FRAMES)
/* Inlined frames kept per address. */
#define PB_MAX_INLINE 32
/* Encoded bytes gathered before they are handed to deflate. */
#define PB_FLUSH_BYTES (64 * 1024)
/* Size of one string-pool chunk; longer strings get their own. */
#define PB_POOL_CHUNK (64 * 1024)

/* An open-addressing index of entries: slots hold entry index + 1. */
struct ihash {
	uint32_t *slots;
	uint32_t mask;          /* slot count - 1; slot count a power of two */
};

struct str_ent {
	const char *s;          /* in the pool; not NUL-terminated */
	uint32_t len;
	uint32_t hash;
};

struct loc_ent {
	uint64_t addr;          /* return address - 1 */
	uint32_t mapping;       /* output mapping id; 0 = none */
	uint32_t line_off;      /* first of nlines entries in pb->lines */
	uint32_t nlines;
};

struct line_ent {
	uint32_t func;          /* function id (index + 1) */
	int32_t line;
};

struct func_ent {
	uint32_t name, file;    /* string indices */
	uint32_t hash;
};

struct stack_ent {
	uint32_t off;           /* first of n location indices in stack_locs */
	uint32_t n;
	uint32_t hash;
};

struct sample_ent {
	uint32_t stack;
	uint32_t label_off;     /* first of nlabels entries in pb->labels */
	uint32_t nlabels;
};

struct label_ent {
	uint32_t key, str, unit; /* string indices; str 0 = numeric label */
	int64_t num;
};

struct map_ent {
	const struct nprof_mapping *m;  /* valid only while the session is open */
	uint32_t file, build_id;        /* string indices */
	/* Copied from m once every address is looked up (lookups set the
	 * has_* flags), so that encoding runs after the session is closed. */
	uint64_t start, limit, offset;
	uint8_t has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct pool_chunk {
	struct pool_chunk *next;
	size_t used, cap;
	char data[];
};

/* A growable array of fixed-size elements in arena memory. */
struct vec {
	void *p;
	size_t n, cap;
};

struct nprof_pb {
	int n_types;
	uint32_t *type_str, *unit_str;  /* per sample type */
	uint32_t period_type, period_unit;
	int has_period_type;
	int64_t period, time_nanos, duration_nanos;
	uint32_t default_type;          /* string index; 0 = none */
	uint32_t comment;               /* string index; 0 = none */
	long dropped;                   /* adds refused for lack of memory */
	uint32_t drop_note;             /* string index of the drop comment */

	struct pool_chunk *pool;
	struct vec strings;  struct ihash strings_ix;   /* struct str_ent */
	struct vec locs;     struct ihash locs_ix;      /* struct loc_ent */
	struct vec stacks;   struct ihash stacks_ix;    /* struct stack_ent */
	struct vec stack_locs;                          /* uint32_t */
	struct vec samples;                             /* struct sample_ent */
	struct vec values;                              /* int64_t */
	struct vec labels;                              /* struct label_ent */
	struct vec funcs;    struct ihash funcs_ix;     /* struct func_ent */
	struct vec lines;                               /* struct line_ent */
	struct vec maps;     struct ihash maps_ix;      /* struct map_ent */
};

#define VEC_AT(v, type, i) (((type *)(v)->p)[i])

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
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
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

/* ---------------------------------------------------------------- */
/* encoding and gzip                                                 */
/* ---------------------------------------------------------------- */

struct gz {
	z_stream z;
	int live;               /* deflateInit2 succeeded */
	struct nprof_buf *out;
};

static voidpf gz_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	/* zlib's memory comes from the arena too: bounded, and no malloc
	 * from inside whatever thread asked for the profile. */
	return nprof__arena_alloc((size_t)items * size);
}

static void gz_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	nprof__arena_free(p);
}

/* Compresses `len` bytes into gz->out; Z_FINISH ends the stream. */
static int gz_write(struct gz *g, const char *data, size_t len, int flush)
{
	g->z.next_in = (Bytef *)(uintptr_t)data;
	g->z.avail_in = (uInt)len;
	for (;;) {
		if (nprof__buf_reserve(g->out, PB_FLUSH_BYTES) < 0)
			return -ENOMEM;
		size_t room = g->out->cap - g->out->len;
		if (room > UINT_MAX)
			room = UINT_MAX;
		g->z.next_out = (Bytef *)g->out->data + g->out->len;
		g->z.avail_out = (uInt)room;
		int rc = deflate(&g->z, flush);
		g->out->len = (size_t)((char *)g->z.next_out - g->out->data);
		if (rc == Z_STREAM_END)
			return 0;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return rc == Z_MEM_ERROR ? -ENOMEM : -EIO;
		/* Z_NO_FLUSH is done once all input is taken and output had
		 * room left; Z_FINISH only at Z_STREAM_END. */
		if (flush == Z_NO_FLUSH && g->z.avail_in == 0 && g->z.avail_out != 0)
			return 0;
	}
}

/* Hands a full scratch buffer to deflate at a top-level field boundary. */
static int maybe_flush(struct gz *g, struct nprof_buf *enc)
{
	if (enc->failed)
		return -ENOMEM;
	if (enc->len < PB_FLUSH_BYTES)
		return 0;
	int rc = gz_write(g, enc->data, enc->len, Z_NO_FLUSH);
	enc->len = 0;
	return rc;
}

static void put_value_type(struct nprof_buf *enc, int field, uint32_t type, uint32_t unit)
{
	size_t m = nprof__proto_begin(enc, field);
	if (type)
		nprof__proto_uint(enc, VALUETYPE_TYPE, type);
	if (unit)
		nprof__proto_uint(enc, VALUETYPE_UNIT, unit);
	nprof__proto_end(enc, m);
}

/* Writes the whole Profile message, in field order, through deflate. */
static int encode(struct nprof_pb *pb, struct gz *g, struct nprof_buf *enc)
{
	int rc;

	for (int i = 0; i < pb->n_types; i++)
		put_value_type(enc, PROFILE_SAMPLE_TYPE, pb->type_str[i], pb->unit_str[i]);

	for (size_t i = 0; i < pb->samples.n; i++) {
		const struct sample_ent *s = &VEC_AT(&pb->samples, struct sample_ent, i);
		const struct stack_ent *st = &VEC_AT(&pb->stacks, struct stack_ent, s->stack);
		size_t m = nprof__proto_begin(enc, PROFILE_SAMPLE);
		if (st->n) {
			const uint32_t *ids = &VEC_AT(&pb->stack_locs, uint32_t, st->off);
			size_t pm = nprof__proto_begin(enc, SAMPLE_LOCATION_ID);
			for (uint32_t k = 0; k < st->n; k++)
				nprof__proto_put_varint(enc, (uint64_t)ids[k] + 1);
			nprof__proto_end(enc, pm);
		}
		nprof__proto_packed_i64(enc, SAMPLE_VALUE,
					&VEC_AT(&pb->values, int64_t, i * (size_t)pb->n_types),
					(size_t)pb->n_types);
		for (uint32_t k = 0; k < s->nlabels; k++) {
			const struct label_ent *l =
				&VEC_AT(&pb->labels, struct label_ent, s->label_off + k);
			size_t lm = nprof__proto_begin(enc, SAMPLE_LABEL);
			nprof__proto_uint(enc, LABEL_KEY, l->key);
			if (l->str)
				nprof__proto_uint(enc, LABEL_STR, l->str);
			else
				nprof__proto_int(enc, LABEL_NUM, l->num);
			if (l->unit)
				nprof__proto_uint(enc, LABEL_NUM_UNIT, l->unit);
			nprof__proto_end(enc, lm);
		}
		nprof__proto_end(enc, m);
		if ((rc = maybe_flush(g, enc)) < 0)
			return rc;
	}

	for (size_t i = 0; i < pb->maps.n; i++) {
		const struct map_ent *mp = &VEC_AT(&pb->maps, struct map_ent, i);
		size_t m = nprof__proto_begin(enc, PROFILE_MAPPING);
		nprof__proto_uint(enc, MAPPING_ID, i + 1);
		nprof__proto_uint(enc, MAPPING_MEMORY_START, mp->start);
		nprof__proto_uint(enc, MAPPING_MEMORY_LIMIT, mp->limit);
		nprof__proto_uint(enc, MAPPING_FILE_OFFSET, mp->offset);
		if (mp->file)
			nprof__proto_uint(enc, MAPPING_FILENAME, mp->file);
		if (mp->build_id)
			nprof__proto_uint(enc, MAPPING_BUILD_ID, mp->build_id);
		nprof__proto_bool(enc, MAPPING_HAS_FUNCTIONS, mp->has_functions);
		nprof__proto_bool(enc, MAPPING_HAS_FILENAMES, mp->has_filenames);
		nprof__proto_bool(enc, MAPPING_HAS_LINE_NUMBERS, mp->has_line_numbers);
		nprof__proto_bool(enc, MAPPING_HAS_INLINE_FRAMES, mp->has_inline_frames);
		nprof__proto_end(enc, m);
	}

	for (size_t i = 0; i < pb->locs.n; i++) {
		const struct loc_ent *l = &VEC_AT(&pb->locs, struct loc_ent, i);
		size_t m = nprof__proto_begin(enc, PROFILE_LOCATION);
		nprof__proto_uint(enc, LOCATION_ID, i + 1);
		if (l->mapping)
			nprof__proto_uint(enc, LOCATION_MAPPING_ID, l->mapping);
		nprof__proto_uint(enc, LOCATION_ADDRESS, l->addr);
		for (uint32_t k = 0; k < l->nlines; k++) {
			const struct line_ent *ln = &VEC_AT(&pb->lines, struct line_ent, l->line_off + k);
			size_t lm = nprof__proto_begin(enc, LOCATION_LINE);
			nprof__proto_uint(enc, LINE_FUNCTION_ID, ln->func);
			if (ln->line)
				nprof__proto_int(enc, LINE_LINE, ln->line);
			nprof__proto_end(enc, lm);
		}
		nprof__proto_end(enc, m);
		if ((rc = maybe_flush(g, enc)) < 0)
			return rc;
	}

	for (size_t i = 0; i < pb->funcs.n; i++) {
		const struct func_ent *f = &VEC_AT(&pb->funcs, struct func_ent, i);
		size_t m = nprof__proto_begin(enc, PROFILE_FUNCTION);
		nprof__proto_uint(enc, FUNCTION_ID, i + 1);
		if (f->name) {
			nprof__proto_uint(enc, FUNCTION_NAME, f->name);
			/* Only demangled names are known; pprof shows system_name
			 * with -symbolize=none, so give it the same. */
			nprof__proto_uint(enc, FUNCTION_SYSTEM_NAME, f->name);
		}
		if (f->file)
			nprof__proto_uint(enc, FUNCTION_FILENAME, f->file);
		nprof__proto_end(enc, m);
		if ((rc = maybe_flush(g, enc)) < 0)
			return rc;
	}

	/* Entry 0 is "" and must be written although empty. */
	for (size_t i = 0; i < pb->strings.n; i++) {
		const struct str_ent *s = &VEC_AT(&pb->strings, struct str_ent, i);
		nprof__proto_bytes(enc, PROFILE_STRING_TABLE, s->s, s->len);
		if ((rc = maybe_flush(g, enc)) < 0)
			return rc;
	}

	if (pb->time_nanos)
		nprof__proto_int(enc, PROFILE_TIME_NANOS, pb->time_nanos);
	if (pb->duration_nanos)
		nprof__proto_int(enc, PROFILE_DURATION_NANOS, pb->duration_nanos);
	if (pb->has_period_type)
		put_value_type(enc, PROFILE_PERIOD_TYPE, pb->period_type, pb->period_unit);
	if (pb->period)
		nprof__proto_int(enc, PROFILE_PERIOD, pb->period);
	if (pb->comment)
		nprof__proto_uint(enc, PROFILE_COMMENT, pb->comment);
	if (pb->drop_note)
		nprof__proto_uint(enc, PROFILE_COMMENT, pb->drop_note);
	if (pb->default_type)
		nprof__proto_uint(enc, PROFILE_DEFAULT_SAMPLE_TYPE, pb->default_type);

	if (enc->failed)
		return -ENOMEM;
	rc = gz_write(g, enc->data ? enc->data : "", enc->len, Z_FINISH);
	enc->len = 0;
	return rc;
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
	struct nprof_buf enc = { 0 };
	struct gz g = { .out = out };
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

	g.z.zalloc = gz_alloc;
	g.z.zfree = gz_free;
	/* windowBits 31 = 15 + 16: a gzip wrapper; BestSpeed as Go's
	 * runtime/pprof, since a profile is written once and read once. */
	int zrc = deflateInit2(&g.z, Z_BEST_SPEED, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	if (zrc == Z_OK) {
		g.live = 1;
		rc = encode(pb, &g, &enc);
	} else {
		rc = zrc == Z_MEM_ERROR ? -ENOMEM : -EIO;
	}
done:
	if (g.live)
		deflateEnd(&g.z);
	nprof__buf_free(&enc);
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
