/*
 * wire.c - the protobuf wire format for `nprof top` and `nprof diff`:
 * varints, field keys, length-delimited payloads, packed repeated
 * integers, each read only after the remaining length is checked (the
 * input is untrusted), and the bump arena the decoded structs live in
 * (freed in one walk). The first error is kept, with its byte offset.
 * No global state; one struct nprof_wire per decoding.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

struct nprof_wire_block {
	struct nprof_wire_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define BLOCK_MIN (256u * 1024)

int nprof_wire_fail(struct nprof_wire *c, const char *fmt, ...)
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

size_t nprof_wire_off(const struct nprof_wire *c, const uint8_t *p)
{
	return (size_t)(p - c->base);
}

/* Zeroed storage for n objects of `size` bytes, or NULL after nprof_wire_fail(). */
void *nprof_wire_alloc(struct nprof_wire *c, size_t n, size_t size)
{
	const size_t align = sizeof(max_align_t);
	struct nprof_wire_block *b = c->blocks;
	size_t need;

	if (n == 0)
		n = 1;          /* a valid pointer even for empty arrays */
	if (n > (SIZE_MAX / 2) / size) {
		nprof_wire_fail(c, "out of memory");
		return NULL;
	}
	need = (n * size + align - 1) / align * align;
	if (!b || b->cap - b->used < need) {
		size_t cap = need > BLOCK_MIN ? need : BLOCK_MIN;

		b = calloc(1, sizeof(*b) + cap);
		if (!b) {
			nprof_wire_fail(c, "out of memory");
			return NULL;
		}
		b->cap = cap;
		b->next = c->blocks;
		c->blocks = b;
	}
	b->used += need;
	return (char *)b->data + b->used - need;
}

void nprof_wire_free_blocks(struct nprof_wire_block *b)
{
	while (b) {
		struct nprof_wire_block *next = b->next;

		free(b);
		b = next;
	}
}

int nprof_wire_varint(struct nprof_wire *c, struct nprof_wire_msg *r, uint64_t *v)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return nprof_wire_fail(c, "truncated varint at byte %zu", nprof_wire_off(c, r->p));
		uint8_t b = *r->p++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return nprof_wire_fail(c, "varint longer than 10 bytes at byte %zu", nprof_wire_off(c, r->p));
}

/* Reads the next field of message r. Returns 1 with *f set, 0 at the
 * end of the message, -1 on malformed input. */
int nprof_wire_next(struct nprof_wire *c, struct nprof_wire_msg *r, struct nprof_wire_field *f)
{
	uint64_t key, n;

	if (r->p >= r->end)
		return 0;
	f->at = r->p;
	if (nprof_wire_varint(c, r, &key) != 0)
		return -1;
	f->num = (uint32_t)(key >> 3);
	f->wt = (int)(key & 7);
	if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
		return nprof_wire_fail(c, "bad field number at byte %zu", nprof_wire_off(c, f->at));
	switch (f->wt) {
	case WT_VARINT:
		return nprof_wire_varint(c, r, &f->u) == 0 ? 1 : -1;
	case WT_I64:
	case WT_I32:
		n = f->wt == WT_I64 ? 8 : 4;
		if ((size_t)(r->end - r->p) < n)
			return nprof_wire_fail(c, "truncated field at byte %zu", nprof_wire_off(c, f->at));
		f->u = 0;
		for (uint64_t i = 0; i < n; i++)
			f->u |= (uint64_t)r->p[i] << (8 * i);
		r->p += n;
		return 1;
	case WT_LEN:
		if (nprof_wire_varint(c, r, &n) != 0)
			return -1;
		if (n > (uint64_t)(r->end - r->p))
			return nprof_wire_fail(c, "field %u at byte %zu is longer than its message",
				    f->num, nprof_wire_off(c, f->at));
		f->data = r->p;
		f->len = (size_t)n;
		r->p += n;
		return 1;
	default:
		/* Groups (3, 4) were never used by profile.proto. */
		return nprof_wire_fail(c, "unsupported wire type %d at byte %zu", f->wt,
			    nprof_wire_off(c, f->at));
	}
}

struct nprof_wire_msg nprof_wire_sub(const struct nprof_wire_field *f)
{
	return (struct nprof_wire_msg){f->data, f->data + f->len};
}

int nprof_wire_want_varint(struct nprof_wire *c, const struct nprof_wire_field *f, const char *what)
{
	if (f->wt != WT_VARINT)
		return nprof_wire_fail(c, "%s at byte %zu: wire type %d, want a varint", what,
			    nprof_wire_off(c, f->at), f->wt);
	return 0;
}

int nprof_wire_want_message(struct nprof_wire *c, const struct nprof_wire_field *f, const char *what)
{
	if (f->wt != WT_LEN)
		return nprof_wire_fail(c, "%s at byte %zu: wire type %d, want a message", what,
			    nprof_wire_off(c, f->at), f->wt);
	return 0;
}

/*
 * The integers of one occurrence of a repeated numeric field, packed
 * (WT_LEN) or not (WT_VARINT). With dst NULL only counts them into *n;
 * else stores them at dst[*n...] and advances *n (the caller sized dst
 * with a counting pass over the same bytes).
 */
int nprof_wire_ints(struct nprof_wire *c, const struct nprof_wire_field *f, const char *what,
			 uint64_t *dst, size_t *n)
{
	struct nprof_wire_msg r;
	uint64_t v;

	if (f->wt == WT_VARINT) {
		if (dst)
			dst[*n] = f->u;
		(*n)++;
		return 0;
	}
	if (f->wt != WT_LEN)
		return nprof_wire_fail(c, "%s at byte %zu: wire type %d, want varints", what,
			    nprof_wire_off(c, f->at), f->wt);
	r = nprof_wire_sub(f);
	while (r.p < r.end) {
		if (nprof_wire_varint(c, &r, &v) != 0)
			return -1;
		if (dst)
			dst[*n] = v;
		(*n)++;
	}
	return 0;
}
