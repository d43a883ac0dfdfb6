/*
 * profile.c - decodes a plain (already inflated) profile.proto message
 * into the plain structs of profile.h, for `nprof top` and `nprof diff`.
 * Getting the bytes - reading a file, inflating gzip, the size cap - is
 * profile_input.c's; what is printed from the structs is table.c's.
 *
 * Our own small protobuf decoder rather than a protobuf library: the
 * command needs one message type, and a hand-written reader keeps every
 * bound check in sight. The input is untrusted, so:
 *   - every read goes through wire.c (nprof_wire_next, nprof_wire_varint),
 *     which checks the remaining length before touching a byte;
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
#include "wire.h"

/* Top-level fields of Profile in profile.proto. */
enum {
	F_SAMPLE_TYPE = 1, F_SAMPLE = 2, F_MAPPING = 3, F_LOCATION = 4,
	F_FUNCTION = 5, F_STRING_TABLE = 6, F_TIME = 9, F_DURATION = 10,
	F_PERIOD_TYPE = 11, F_PERIOD = 12, F_COMMENT = 13,
	F_DEFAULT_SAMPLE_TYPE = 14,
};

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

struct dec {
	struct nprof_wire c;
	struct nprof_wire_msg top;
	struct nprof_profile *p;
};

static int string_at(struct dec *d, uint64_t idx, const char *what,
		     const uint8_t *at, const char **out)
{
	if (idx >= d->p->nstrings)
		return nprof_wire_fail(&d->c, "%s at byte %zu: string index %lld out of range "
			    "(%zu strings)", what, nprof_wire_off(&d->c, at), (long long)idx,
			    d->p->nstrings);
	*out = d->p->strings[idx];
	return 0;
}

/* Pass 1: counts of every repeated top-level field, and the structure
 * of the top-level message checked once. */
static int count_top(struct dec *d)
{
	struct nprof_wire_msg r = d->top;
	struct nprof_wire_field f;
	size_t ncomment = 0;
	int got;

	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		switch (f.num) {
		case F_SAMPLE_TYPE: d->p->nsample_type++; break;
		case F_SAMPLE: d->p->nsample++; break;
		case F_MAPPING: d->p->nmapping++; break;
		case F_LOCATION: d->p->nlocation++; break;
		case F_FUNCTION: d->p->nfunction++; break;
		case F_STRING_TABLE: d->p->nstrings++; break;
		case F_COMMENT:
			if (nprof_wire_ints(&d->c, &f, "comment", NULL, &ncomment) != 0)
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
	struct nprof_wire_msg r = d->top;
	struct nprof_wire_field f;
	size_t ns = 0, nc = 0;
	int got;

	p->strings = nprof_wire_alloc(&d->c, p->nstrings, sizeof(char *));
	if (!p->strings)
		return -1;
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		switch (f.num) {
		case F_STRING_TABLE: {
			char *s;

			if (nprof_wire_want_message(&d->c, &f, "string") != 0)
				return -1;
			s = nprof_wire_alloc(&d->c, f.len + 1, 1);
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
			if (nprof_wire_want_varint(&d->c, &f, "profile scalar") != 0)
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
			if (nprof_wire_ints(&d->c, &f, "comment", comment_idx, &nc) != 0)
				return -1;
			break;
		default:
			break;
		}
	}
	if (got < 0)
		return -1;
	if (p->nstrings == 0)
		return nprof_wire_fail(&d->c, "no string table");
	if (p->strings[0][0] != '\0')
		return nprof_wire_fail(&d->c, "string_table[0] is not empty");
	return 0;
}

static int decode_value_type(struct dec *d, const struct nprof_wire_field *outer,
			     struct nprof_profile_value_type *vt)
{
	struct nprof_wire_msg r = nprof_wire_sub(outer);
	struct nprof_wire_field f;
	int got;

	vt->type = vt->unit = "";
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		if (f.num != 1 && f.num != 2)
			continue;
		if (nprof_wire_want_varint(&d->c, &f, "value type") != 0 ||
		    string_at(d, f.u, "value type", f.at,
			      f.num == 1 ? &vt->type : &vt->unit) != 0)
			return -1;
	}
	return got;
}

static int decode_function(struct dec *d, const struct nprof_wire_field *outer,
			   struct nprof_profile_function *fn)
{
	struct nprof_wire_msg r = nprof_wire_sub(outer);
	struct nprof_wire_field f;
	int got;

	fn->name = fn->system_name = fn->filename = "";
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		if (f.num < 1 || f.num > 5)
			continue;
		if (nprof_wire_want_varint(&d->c, &f, "function field") != 0)
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
		return nprof_wire_fail(&d->c, "function at byte %zu has id 0", nprof_wire_off(&d->c, outer->at));
	return got;
}

static int decode_mapping(struct dec *d, const struct nprof_wire_field *outer,
			  struct nprof_profile_mapping *m)
{
	struct nprof_wire_msg r = nprof_wire_sub(outer);
	struct nprof_wire_field f;
	int got;

	m->file = m->build_id = "";
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		if (f.num < 1 || f.num > 10)
			continue;
		if (nprof_wire_want_varint(&d->c, &f, "mapping field") != 0)
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
		return nprof_wire_fail(&d->c, "mapping at byte %zu has id 0", nprof_wire_off(&d->c, outer->at));
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
				return nprof_wire_fail(&(d)->c, "two %ss have id %llu", \
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

static int decode_line(struct dec *d, const struct nprof_wire_field *outer,
		       struct nprof_profile_line *ln)
{
	struct nprof_wire_msg r = nprof_wire_sub(outer);
	struct nprof_wire_field f;
	int got;

	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		if (f.num != 1 && f.num != 2)
			continue;       /* column (3) is not used */
		if (nprof_wire_want_varint(&d->c, &f, "line field") != 0)
			return -1;
		if (f.num == 2) {
			ln->line = (int64_t)f.u;
		} else if (f.u != 0) {
			ln->function = find_function(d->p, f.u);
			if (!ln->function)
				return nprof_wire_fail(&d->c, "line at byte %zu refers to unknown "
					    "function %llu", nprof_wire_off(&d->c, f.at),
					    (unsigned long long)f.u);
		}
	}
	return got;
}

static int decode_location(struct dec *d, const struct nprof_wire_field *outer,
			   struct nprof_profile_location *l)
{
	struct nprof_wire_msg r = nprof_wire_sub(outer);
	struct nprof_wire_field f;
	size_t nline = 0;
	int got;

	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1)
		if (f.num == 4)
			nline++;
	if (got < 0)
		return -1;
	l->line = nprof_wire_alloc(&d->c, nline, sizeof(*l->line));
	if (!l->line)
		return -1;
	r = nprof_wire_sub(outer);
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		switch (f.num) {
		case 1:
		case 2:
		case 3:
			if (nprof_wire_want_varint(&d->c, &f, "location field") != 0)
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
			if (nprof_wire_want_message(&d->c, &f, "line") != 0 ||
			    decode_line(d, &f, &l->line[l->nline++]) != 0)
				return -1;
			break;
		default:
			break;
		}
	}
	if (got == 0 && l->id == 0)
		return nprof_wire_fail(&d->c, "location at byte %zu has id 0", nprof_wire_off(&d->c, outer->at));
	return got;
}

static int decode_label(struct dec *d, const struct nprof_wire_field *outer,
			struct nprof_profile_label *lb)
{
	struct nprof_wire_msg r = nprof_wire_sub(outer);
	struct nprof_wire_field f;
	int got;

	lb->key = lb->str = lb->num_unit = "";
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		if (f.num < 1 || f.num > 4)
			continue;
		if (nprof_wire_want_varint(&d->c, &f, "label field") != 0)
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

static int decode_sample(struct dec *d, const struct nprof_wire_field *outer,
			 struct nprof_profile_sample *s)
{
	struct nprof_wire_msg r = nprof_wire_sub(outer);
	struct nprof_wire_field f;
	size_t nloc = 0, nval = 0, nlab = 0;
	uint64_t *ids;
	int got;

	/* Count first: packed runs hold any number of integers. */
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		if (f.num == 1 && nprof_wire_ints(&d->c, &f, "location_id", NULL, &nloc) != 0)
			return -1;
		if (f.num == 2 && nprof_wire_ints(&d->c, &f, "value", NULL, &nval) != 0)
			return -1;
		if (f.num == 3)
			nlab++;
	}
	if (got < 0)
		return -1;
	if (nval != d->p->nsample_type)
		return nprof_wire_fail(&d->c, "sample at byte %zu has %zu values for %zu sample types",
			    nprof_wire_off(&d->c, outer->at), nval, d->p->nsample_type);
	ids = nprof_wire_alloc(&d->c, nloc, sizeof(*ids));
	s->location = nprof_wire_alloc(&d->c, nloc, sizeof(*s->location));
	s->value = nprof_wire_alloc(&d->c, nval, sizeof(*s->value));
	s->label = nprof_wire_alloc(&d->c, nlab, sizeof(*s->label));
	if (!ids || !s->location || !s->value || !s->label)
		return -1;

	r = nprof_wire_sub(outer);
	nval = 0;
	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		if (f.num == 1) {
			if (nprof_wire_ints(&d->c, &f, "location_id", ids,
					  &s->nlocation) != 0)
				return -1;
		} else if (f.num == 2) {
			/* int64 on the wire is the two's complement varint. */
			if (nprof_wire_ints(&d->c, &f, "value", (uint64_t *)s->value,
					  &nval) != 0)
				return -1;
		} else if (f.num == 3) {
			if (nprof_wire_want_message(&d->c, &f, "label") != 0 ||
			    decode_label(d, &f, &s->label[s->nlabel++]) != 0)
				return -1;
		}
	}
	if (got < 0)
		return -1;
	for (size_t i = 0; i < s->nlocation; i++) {
		s->location[i] = find_location(d->p, ids[i]);
		if (!s->location[i])
			return nprof_wire_fail(&d->c, "sample at byte %zu refers to unknown location %llu",
				    nprof_wire_off(&d->c, outer->at), (unsigned long long)ids[i]);
	}
	return 0;
}

/* Pass 3 (`which` = functions and mappings), 4 (locations), 5 (samples,
 * sample types, period type): fills the arrays counted by pass 1. */
static int decode_messages(struct dec *d, int which)
{
	struct nprof_profile *p = d->p;
	struct nprof_wire_msg r = d->top;
	struct nprof_wire_field f;
	size_t nf = 0, nm = 0, nl = 0, ns = 0, nst = 0;
	int got, rc = 0;

	while ((got = nprof_wire_next(&d->c, &r, &f)) == 1) {
		int mine = which == 3 ? (f.num == F_FUNCTION || f.num == F_MAPPING)
			 : which == 4 ? f.num == F_LOCATION
			 : (f.num == F_SAMPLE || f.num == F_SAMPLE_TYPE ||
			    f.num == F_PERIOD_TYPE);

		if (!mine)
			continue;
		if (nprof_wire_want_message(&d->c, &f, "profile message") != 0)
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
	p->sample_type = nprof_wire_alloc(&d->c, p->nsample_type, sizeof(*p->sample_type));
	p->sample = nprof_wire_alloc(&d->c, p->nsample, sizeof(*p->sample));
	p->mapping = nprof_wire_alloc(&d->c, p->nmapping, sizeof(*p->mapping));
	p->location = nprof_wire_alloc(&d->c, p->nlocation, sizeof(*p->location));
	p->function = nprof_wire_alloc(&d->c, p->nfunction, sizeof(*p->function));
	p->comment = nprof_wire_alloc(&d->c, p->ncomment, sizeof(*p->comment));
	comment_idx = nprof_wire_alloc(&d->c, p->ncomment, sizeof(*comment_idx));
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
		return nprof_wire_fail(&d->c, "no sample types");
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
	d.top = (struct nprof_wire_msg){in, in + len};
	d.p = calloc(1, sizeof(*d.p));
	if (!d.p) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	rc = len == 0 ? nprof_wire_fail(&d.c, "no data") : decode(&d);
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
	nprof_wire_free_blocks(p->blocks);
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
