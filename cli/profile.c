/*
 * profile.c - decodes a plain (already inflated) profile.proto message
 * into the plain structs of profile.h, for `nprof top` and `nprof diff`.
 * Getting the bytes - reading a file, inflating gzip, the size cap - is
 * profile_input.c's; what is printed from the structs is table.c's.
 *
 * Our own small protobuf decoder rather than a protobuf library: the
 * command needs one message type, and a hand-written reader keeps every
 * bound check in sight. The input is untrusted, so:
 *   - every read goes through next_field()/read_varint(), which check the
 *     remaining length before touching a byte;
 *   - sizes come from counting the input first, so an allocation is never
 *     larger than a small multiple of the (bounded) decompressed size;
 *   - IDs and string indexes are checked before they are followed.
 *
 * Decoding runs in passes over the top-level fields because protobuf
 * allows any field order: strings and counts first, then functions and
 * mappings (sorted by ID for bsearch), then locations, then samples.
 * Everything a profile points to lives in a bump arena owned by the
 * profile (`blocks`), so freeing is one walk. Not thread-safe per
 * profile; no global state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

/* Top-level fields of Profile in profile.proto. */
enum {
	F_SAMPLE_TYPE = 1, F_SAMPLE = 2, F_MAPPING = 3, F_LOCATION = 4,
	F_FUNCTION = 5, F_STRING_TABLE = 6, F_TIME = 9, F_DURATION = 10,
	F_PERIOD_TYPE = 11, F_PERIOD = 12, F_COMMENT = 13,
	F_DEFAULT_SAMPLE_TYPE = 14,
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ------------------------------------------------------------------ */
/* Arena and errors                                                     */
/* ------------------------------------------------------------------ */

struct block {
	struct block *next;
	size_t used, cap;
	max_align_t data[];
};

#define BLOCK_MIN (256u * 1024)

struct ctx {
	const uint8_t *base;    /* start of the decoded buffer, for offsets */
	char *err;
	size_t errlen;
	struct block *blocks;
	int failed;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	/* The first error is the cause; later ones are consequences. */
	if (!c->failed) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
		c->failed = 1;
	}
	return -1;
}

static size_t off(const struct ctx *c, const uint8_t *p)
{
	return (size_t)(p - c->base);
}

/* Zeroed storage for n objects of `size` bytes, or NULL after fail(). */
static void *arena_array(struct ctx *c, size_t n, size_t size)
{
	const size_t align = sizeof(max_align_t);
	struct block *b = c->blocks;
	size_t need;

	if (n == 0)
		n = 1;          /* a valid pointer even for empty arrays */
	if (n > (SIZE_MAX / 2) / size) {
		fail(c, "out of memory");
		return NULL;
	}
	need = (n * size + align - 1) / align * align;
	if (!b || b->cap - b->used < need) {
		size_t cap = need > BLOCK_MIN ? need : BLOCK_MIN;

		b = calloc(1, sizeof(*b) + cap);
		if (!b) {
			fail(c, "out of memory");
			return NULL;
		}
		b->cap = cap;
		b->next = c->blocks;
		c->blocks = b;
	}
	b->used += need;
	return (char *)b->data + b->used - need;
}

static void free_blocks(struct block *b)
{
	while (b) {
		struct block *next = b->next;

		free(b);
		b = next;
	}
}

/* ------------------------------------------------------------------ */
/* Wire format                                                          */
/* ------------------------------------------------------------------ */

/* A message being read: [p, end). */
struct rd {
	const uint8_t *p, *end;
};

struct fld {
	uint32_t num;
	int wt;
	uint64_t u;             /* WT_VARINT, WT_I64, WT_I32 */
	const uint8_t *data;    /* WT_LEN payload */
	size_t len;
	const uint8_t *at;      /* where the key was, for messages */
};

static int read_varint(struct ctx *c, struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return fail(c, "truncated varint at byte %zu", off(c, r->p));
		uint8_t b = *r->p++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return fail(c, "varint longer than 10 bytes at byte %zu", off(c, r->p));
}

/* Reads the next field of message r. Returns 1 with *f set, 0 at the
 * end of the message, -1 on malformed input. */
static int next_field(struct ctx *c, struct rd *r, struct fld *f)
{
	uint64_t key, n;

	if (r->p >= r->end)
		return 0;
	f->at = r->p;
	if (read_varint(c, r, &key) != 0)
		return -1;
	f->num = (uint32_t)(key >> 3);
	f->wt = (int)(key & 7);
	if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
		return fail(c, "bad field number at byte %zu", off(c, f->at));
	switch (f->wt) {
	case WT_VARINT:
		return read_varint(c, r, &f->u) == 0 ? 1 : -1;
	case WT_I64:
	case WT_I32:
		n = f->wt == WT_I64 ? 8 : 4;
		if ((size_t)(r->end - r->p) < n)
			return fail(c, "truncated field at byte %zu", off(c, f->at));
		f->u = 0;
		for (uint64_t i = 0; i < n; i++)
			f->u |= (uint64_t)r->p[i] << (8 * i);
		r->p += n;
		return 1;
	case WT_LEN:
		if (read_varint(c, r, &n) != 0)
			return -1;
		if (n > (uint64_t)(r->end - r->p))
			return fail(c, "field %u at byte %zu is longer than its message",
				    f->num, off(c, f->at));
		f->data = r->p;
		f->len = (size_t)n;
		r->p += n;
		return 1;
	default:
		/* Groups (3, 4) were never used by profile.proto. */
		return fail(c, "unsupported wire type %d at byte %zu", f->wt,
			    off(c, f->at));
	}
}

static struct rd sub(const struct fld *f)
{
	return (struct rd){f->data, f->data + f->len};
}

static int want_varint(struct ctx *c, const struct fld *f, const char *what)
{
	if (f->wt != WT_VARINT)
		return fail(c, "%s at byte %zu: wire type %d, want a varint", what,
			    off(c, f->at), f->wt);
	return 0;
}

static int want_message(struct ctx *c, const struct fld *f, const char *what)
{
	if (f->wt != WT_LEN)
		return fail(c, "%s at byte %zu: wire type %d, want a message", what,
			    off(c, f->at), f->wt);
	return 0;
}

/*
 * The integers of one occurrence of a repeated numeric field, packed
 * (WT_LEN) or not (WT_VARINT). With dst NULL only counts them into *n;
 * else stores them at dst[*n...] and advances *n (the caller sized dst
 * with a counting pass over the same bytes).
 */
static int repeated_ints(struct ctx *c, const struct fld *f, const char *what,
			 uint64_t *dst, size_t *n)
{
	struct rd r;
	uint64_t v;

	if (f->wt == WT_VARINT) {
		if (dst)
			dst[*n] = f->u;
		(*n)++;
		return 0;
	}
	if (f->wt != WT_LEN)
		return fail(c, "%s at byte %zu: wire type %d, want varints", what,
			    off(c, f->at), f->wt);
	r = sub(f);
	while (r.p < r.end) {
		if (read_varint(c, &r, &v) != 0)
			return -1;
		if (dst)
			dst[*n] = v;
		(*n)++;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

struct dec {
	struct ctx c;
	struct rd top;
	struct nprof_profile *p;
};

static int string_at(struct dec *d, uint64_t idx, const char *what,
		     const uint8_t *at, const char **out)
{
	if (idx >= d->p->nstrings)
		return fail(&d->c, "%s at byte %zu: string index %lld out of range "
			    "(%zu strings)", what, off(&d->c, at), (long long)idx,
			    d->p->nstrings);
	*out = d->p->strings[idx];
	return 0;
}

/* Pass 1: counts of every repeated top-level field, and the structure
 * of the top-level message checked once. */
static int count_top(struct dec *d)
{
	struct rd r = d->top;
	struct fld f;
	size_t ncomment = 0;
	int got;

	while ((got = next_field(&d->c, &r, &f)) == 1) {
		switch (f.num) {
		case F_SAMPLE_TYPE: d->p->nsample_type++; break;
		case F_SAMPLE: d->p->nsample++; break;
		case F_MAPPING: d->p->nmapping++; break;
		case F_LOCATION: d->p->nlocation++; break;
		case F_FUNCTION: d->p->nfunction++; break;
		case F_STRING_TABLE: d->p->nstrings++; break;
		case F_COMMENT:
			if (repeated_ints(&d->c, &f, "comment", NULL, &ncomment) != 0)
				return -1;
			break;
		default: break;
		}
	}
	if (got < 0)
		return -1;
	d->p->ncomment = ncomment;
	return 0;
}

/* Pass 2: the string table (copied, NUL-terminated) and the scalars. */
static int read_strings_and_scalars(struct dec *d, uint64_t *dst_idx,
				    uint64_t *comment_idx)
{
	struct nprof_profile *p = d->p;
	struct rd r = d->top;
	struct fld f;
	size_t ns = 0, nc = 0;
	int got;

	p->strings = arena_array(&d->c, p->nstrings, sizeof(char *));
	if (!p->strings)
		return -1;
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		switch (f.num) {
		case F_STRING_TABLE: {
			char *s;

			if (want_message(&d->c, &f, "string") != 0)
				return -1;
			s = arena_array(&d->c, f.len + 1, 1);
			if (!s)
				return -1;
			memcpy(s, f.data, f.len);
			p->strings[ns++] = s;
			break;
		}
		case F_TIME:
		case F_DURATION:
		case F_PERIOD:
		case F_DEFAULT_SAMPLE_TYPE:
			if (want_varint(&d->c, &f, "profile scalar") != 0)
				return -1;
			if (f.num == F_TIME)
				p->time_nanos = (int64_t)f.u;
			else if (f.num == F_DURATION)
				p->duration_nanos = (int64_t)f.u;
			else if (f.num == F_PERIOD)
				p->period = (int64_t)f.u;
			else
				*dst_idx = f.u;
			break;
		case F_COMMENT:
			if (repeated_ints(&d->c, &f, "comment", comment_idx, &nc) != 0)
				return -1;
			break;
		default:
			break;
		}
	}
	if (got < 0)
		return -1;
	if (p->nstrings == 0)
		return fail(&d->c, "no string table");
	if (p->strings[0][0] != '\0')
		return fail(&d->c, "string_table[0] is not empty");
	return 0;
}

static int decode_value_type(struct dec *d, const struct fld *outer,
			     struct nprof_profile_value_type *vt)
{
	struct rd r = sub(outer);
	struct fld f;
	int got;

	vt->type = vt->unit = "";
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		if (f.num != 1 && f.num != 2)
			continue;
		if (want_varint(&d->c, &f, "value type") != 0 ||
		    string_at(d, f.u, "value type", f.at,
			      f.num == 1 ? &vt->type : &vt->unit) != 0)
			return -1;
	}
	return got;
}

static int decode_function(struct dec *d, const struct fld *outer,
			   struct nprof_profile_function *fn)
{
	struct rd r = sub(outer);
	struct fld f;
	int got;

	fn->name = fn->system_name = fn->filename = "";
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		if (f.num < 1 || f.num > 5)
			continue;
		if (want_varint(&d->c, &f, "function field") != 0)
			return -1;
		switch (f.num) {
		case 1: fn->id = f.u; break;
		case 2: got = string_at(d, f.u, "function name", f.at, &fn->name); break;
		case 3: got = string_at(d, f.u, "function system_name", f.at,
					&fn->system_name); break;
		case 4: got = string_at(d, f.u, "function filename", f.at,
					&fn->filename); break;
		case 5: fn->start_line = (int64_t)f.u; break;
		}
		if (got < 0)
			return -1;
	}
	if (got == 0 && fn->id == 0)
		return fail(&d->c, "function at byte %zu has id 0", off(&d->c, outer->at));
	return got;
}

static int decode_mapping(struct dec *d, const struct fld *outer,
			  struct nprof_profile_mapping *m)
{
	struct rd r = sub(outer);
	struct fld f;
	int got;

	m->file = m->build_id = "";
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		if (f.num < 1 || f.num > 10)
			continue;
		if (want_varint(&d->c, &f, "mapping field") != 0)
			return -1;
		switch (f.num) {
		case 1: m->id = f.u; break;
		case 2: m->start = f.u; break;
		case 3: m->limit = f.u; break;
		case 4: m->offset = f.u; break;
		case 5: got = string_at(d, f.u, "mapping filename", f.at, &m->file); break;
		case 6: got = string_at(d, f.u, "mapping build_id", f.at, &m->build_id); break;
		default: break;         /* has_functions ... : not needed */
		}
		if (got < 0)
			return -1;
	}
	if (got == 0 && m->id == 0)
		return fail(&d->c, "mapping at byte %zu has id 0", off(&d->c, outer->at));
	return got;
}

static int cmp_function(const void *a, const void *b)
{
	uint64_t x = ((const struct nprof_profile_function *)a)->id;
	uint64_t y = ((const struct nprof_profile_function *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmp_mapping(const void *a, const void *b)
{
	uint64_t x = ((const struct nprof_profile_mapping *)a)->id;
	uint64_t y = ((const struct nprof_profile_mapping *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmp_location(const void *a, const void *b)
{
	uint64_t x = ((const struct nprof_profile_location *)a)->id;
	uint64_t y = ((const struct nprof_profile_location *)b)->id;

	return x < y ? -1 : x > y;
}

/* Sorts `n` objects with a leading-by-convention `id` and rejects
 * duplicates, which would make references ambiguous. */
#define SORT_UNIQUE(d, arr, n, cmp, what)                                    \
	do {                                                                 \
		qsort((arr), (n), sizeof(*(arr)), (cmp));                    \
		for (size_t i_ = 1; i_ < (n); i_++)                          \
			if ((arr)[i_].id == (arr)[i_ - 1].id)                \
				return fail(&(d)->c, "two %ss have id %llu", \
					    (what),                          \
					    (unsigned long long)(arr)[i_].id); \
	} while (0)

static const struct nprof_profile_function *find_function(const struct nprof_profile *p,
							  uint64_t id)
{
	struct nprof_profile_function key = {.id = id};

	return bsearch(&key, p->function, p->nfunction, sizeof(key), cmp_function);
}

static const struct nprof_profile_mapping *find_mapping(const struct nprof_profile *p,
							uint64_t id)
{
	struct nprof_profile_mapping key = {.id = id};

	return bsearch(&key, p->mapping, p->nmapping, sizeof(key), cmp_mapping);
}

static const struct nprof_profile_location *find_location(const struct nprof_profile *p,
							  uint64_t id)
{
	struct nprof_profile_location key = {.id = id};

	return bsearch(&key, p->location, p->nlocation, sizeof(key), cmp_location);
}

static int decode_line(struct dec *d, const struct fld *outer,
		       struct nprof_profile_line *ln)
{
	struct rd r = sub(outer);
	struct fld f;
	int got;

	while ((got = next_field(&d->c, &r, &f)) == 1) {
		if (f.num != 1 && f.num != 2)
			continue;       /* column (3) is not used */
		if (want_varint(&d->c, &f, "line field") != 0)
			return -1;
		if (f.num == 2) {
			ln->line = (int64_t)f.u;
		} else if (f.u != 0) {
			ln->function = find_function(d->p, f.u);
			if (!ln->function)
				return fail(&d->c, "line at byte %zu refers to unknown "
					    "function %llu", off(&d->c, f.at),
					    (unsigned long long)f.u);
		}
	}
	return got;
}

static int decode_location(struct dec *d, const struct fld *outer,
			   struct nprof_profile_location *l)
{
	struct rd r = sub(outer);
	struct fld f;
	size_t nline = 0;
	int got;

	while ((got = next_field(&d->c, &r, &f)) == 1)
		if (f.num == 4)
			nline++;
	if (got < 0)
		return -1;
	l->line = arena_array(&d->c, nline, sizeof(*l->line));
	if (!l->line)
		return -1;
	r = sub(outer);
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		switch (f.num) {
		case 1:
		case 2:
		case 3:
			if (want_varint(&d->c, &f, "location field") != 0)
				return -1;
			if (f.num == 1)
				l->id = f.u;
			else if (f.num == 3)
				l->address = f.u;
			else if (f.u != 0)
				/* An unknown mapping is tolerated, as pprof
				 * does: the frame just has no object file. */
				l->mapping = find_mapping(d->p, f.u);
			break;
		case 4:
			if (want_message(&d->c, &f, "line") != 0 ||
			    decode_line(d, &f, &l->line[l->nline++]) != 0)
				return -1;
			break;
		default:
			break;
		}
	}
	if (got == 0 && l->id == 0)
		return fail(&d->c, "location at byte %zu has id 0", off(&d->c, outer->at));
	return got;
}

static int decode_label(struct dec *d, const struct fld *outer,
			struct nprof_profile_label *lb)
{
	struct rd r = sub(outer);
	struct fld f;
	int got;

	lb->key = lb->str = lb->num_unit = "";
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		if (f.num < 1 || f.num > 4)
			continue;
		if (want_varint(&d->c, &f, "label field") != 0)
			return -1;
		switch (f.num) {
		case 1: got = string_at(d, f.u, "label key", f.at, &lb->key); break;
		case 2: got = string_at(d, f.u, "label value", f.at, &lb->str); break;
		case 3: lb->num = (int64_t)f.u; break;
		case 4: got = string_at(d, f.u, "label unit", f.at, &lb->num_unit); break;
		}
		if (got < 0)
			return -1;
	}
	return got;
}

static int decode_sample(struct dec *d, const struct fld *outer,
			 struct nprof_profile_sample *s)
{
	struct rd r = sub(outer);
	struct fld f;
	size_t nloc = 0, nval = 0, nlab = 0;
	uint64_t *ids;
	int got;

	/* Count first: packed runs hold any number of integers. */
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		if (f.num == 1 && repeated_ints(&d->c, &f, "location_id", NULL, &nloc) != 0)
			return -1;
		if (f.num == 2 && repeated_ints(&d->c, &f, "value", NULL, &nval) != 0)
			return -1;
		if (f.num == 3)
			nlab++;
	}
	if (got < 0)
		return -1;
	if (nval != d->p->nsample_type)
		return fail(&d->c, "sample at byte %zu has %zu values for %zu sample types",
			    off(&d->c, outer->at), nval, d->p->nsample_type);
	ids = arena_array(&d->c, nloc, sizeof(*ids));
	s->location = arena_array(&d->c, nloc, sizeof(*s->location));
	s->value = arena_array(&d->c, nval, sizeof(*s->value));
	s->label = arena_array(&d->c, nlab, sizeof(*s->label));
	if (!ids || !s->location || !s->value || !s->label)
		return -1;

	r = sub(outer);
	nval = 0;
	while ((got = next_field(&d->c, &r, &f)) == 1) {
		if (f.num == 1) {
			if (repeated_ints(&d->c, &f, "location_id", ids,
					  &s->nlocation) != 0)
				return -1;
		} else if (f.num == 2) {
			/* int64 on the wire is the two's complement varint. */
			if (repeated_ints(&d->c, &f, "value", (uint64_t *)s->value,
					  &nval) != 0)
				return -1;
		} else if (f.num == 3) {
			if (want_message(&d->c, &f, "label") != 0 ||
			    decode_label(d, &f, &s->label[s->nlabel++]) != 0)
				return -1;
		}
	}
	if (got < 0)
		return -1;
	for (size_t i = 0; i < s->nlocation; i++) {
		s->location[i] = find_location(d->p, ids[i]);
		if (!s->location[i])
			return fail(&d->c, "sample at byte %zu refers to unknown location %llu",
				    off(&d->c, outer->at), (unsigned long long)ids[i]);
	}
	return 0;
}

/* Pass 3 (`which` = functions and mappings), 4 (locations), 5 (samples,
 * sample types, period type): fills the arrays counted by pass 1. */
static int decode_messages(struct dec *d, int which)
{
	struct nprof_profile *p = d->p;
	struct rd r = d->top;
	struct fld f;
	size_t nf = 0, nm = 0, nl = 0, ns = 0, nst = 0;
	int got, rc = 0;

	while ((got = next_field(&d->c, &r, &f)) == 1) {
		int mine = which == 3 ? (f.num == F_FUNCTION || f.num == F_MAPPING)
			 : which == 4 ? f.num == F_LOCATION
			 : (f.num == F_SAMPLE || f.num == F_SAMPLE_TYPE ||
			    f.num == F_PERIOD_TYPE);

		if (!mine)
			continue;
		if (want_message(&d->c, &f, "profile message") != 0)
			return -1;
		switch (f.num) {
		case F_FUNCTION: rc = decode_function(d, &f, &p->function[nf++]); break;
		case F_MAPPING: rc = decode_mapping(d, &f, &p->mapping[nm++]); break;
		case F_LOCATION: rc = decode_location(d, &f, &p->location[nl++]); break;
		case F_SAMPLE: rc = decode_sample(d, &f, &p->sample[ns++]); break;
		case F_SAMPLE_TYPE:
			rc = decode_value_type(d, &f, &p->sample_type[nst++]);
			break;
		case F_PERIOD_TYPE: rc = decode_value_type(d, &f, &p->period_type); break;
		}
		if (rc != 0)
			return -1;
	}
	return got < 0 ? -1 : 0;
}

static int decode(struct dec *d)
{
	struct nprof_profile *p = d->p;
	uint64_t dst_idx = 0, *comment_idx;

	if (count_top(d) != 0)
		return -1;
	p->sample_type = arena_array(&d->c, p->nsample_type, sizeof(*p->sample_type));
	p->sample = arena_array(&d->c, p->nsample, sizeof(*p->sample));
	p->mapping = arena_array(&d->c, p->nmapping, sizeof(*p->mapping));
	p->location = arena_array(&d->c, p->nlocation, sizeof(*p->location));
	p->function = arena_array(&d->c, p->nfunction, sizeof(*p->function));
	p->comment = arena_array(&d->c, p->ncomment, sizeof(*p->comment));
	comment_idx = arena_array(&d->c, p->ncomment, sizeof(*comment_idx));
	if (!p->sample_type || !p->sample || !p->mapping || !p->location ||
	    !p->function || !p->comment || !comment_idx)
		return -1;
	p->period_type.type = p->period_type.unit = "";

	if (read_strings_and_scalars(d, &dst_idx, comment_idx) != 0)
		return -1;
	if (string_at(d, dst_idx, "default_sample_type", d->top.p,
		      &p->default_sample_type) != 0)
		return -1;
	for (size_t i = 0; i < p->ncomment; i++)
		if (string_at(d, comment_idx[i], "comment", d->top.p, &p->comment[i]) != 0)
			return -1;

	/* decode_sample() checks its value count against nsample_type,
	 * known since pass 1, so sample types may come in any order. */
	if (decode_messages(d, 3) != 0)
		return -1;
	SORT_UNIQUE(d, p->function, p->nfunction, cmp_function, "function");
	SORT_UNIQUE(d, p->mapping, p->nmapping, cmp_mapping, "mapping");
	if (decode_messages(d, 4) != 0)
		return -1;
	SORT_UNIQUE(d, p->location, p->nlocation, cmp_location, "location");
	if (decode_messages(d, 5) != 0)
		return -1;
	if (p->nsample_type == 0)
		return fail(&d->c, "no sample types");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Public                                                               */
/* ------------------------------------------------------------------ */

int nprof_profile_decode(const uint8_t *in, size_t len, struct nprof_profile **out,
			 char *why, size_t whylen)
{
	struct dec d;
	int rc;

	*out = NULL;
	memset(&d, 0, sizeof(d));
	d.c.base = in;
	d.c.err = why;
	d.c.errlen = whylen;
	d.top = (struct rd){in, in + len};
	d.p = calloc(1, sizeof(*d.p));
	if (!d.p) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	rc = len == 0 ? fail(&d.c, "no data") : decode(&d);
	d.p->blocks = d.c.blocks;
	if (rc != 0) {
		nprof_profile_free(d.p);
		return -1;
	}
	*out = d.p;
	return 0;
}

void nprof_profile_free(struct nprof_profile *p)
{
	if (!p)
		return;
	free_blocks(p->blocks);
	free(p);
}

int nprof_profile_sample_index(const struct nprof_profile *p, const char *name,
			       char *err, size_t errlen)
{
	size_t used;

	if (!name || !*name) {
		for (size_t i = 0; p->default_sample_type[0] && i < p->nsample_type; i++)
			if (strcmp(p->sample_type[i].type, p->default_sample_type) == 0)
				return (int)i;
		return (int)p->nsample_type - 1;
	}
	for (size_t i = 0; i < p->nsample_type; i++)
		if (strcmp(p->sample_type[i].type, name) == 0)
			return (int)i;
	if (name[strspn(name, "0123456789")] == '\0' && strlen(name) < 6) {
		long i = strtol(name, NULL, 10);

		if (i < (long)p->nsample_type)
			return (int)i;
	}
	used = (size_t)snprintf(err, errlen, "no sample type '%s' (have:", name);
	for (size_t i = 0; i < p->nsample_type && used < errlen; i++)
		used += (size_t)snprintf(err + used, errlen - used, "%s %s",
					 i ? "," : "", p->sample_type[i].type);
	if (used < errlen)
		snprintf(err + used, errlen - used, ")");
	return -1;
}
