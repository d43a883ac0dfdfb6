/*
 * proto.c - the protocol-buffer writer behind pprof.c: tags, varints,
 * length-delimited fields and packed repeated integers, written straight
 * into a struct nprof_buf (see proto.h for the reserve-and-patch scheme
 * used for nested messages).
 *
 * Owns no state. Locking: none (a buffer belongs to one thread). Not
 * async-signal-safe: growing a buffer takes the arena's lock.
 */
#include <errno.h>
#include <string.h>

#include "base.h"
#include "buf.h"
#include "proto.h"

static int put_tag(struct nprof_buf *b, int field, int wire)
{
	return nprof__proto_put_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

/* Writes field `field` as a varint, whatever its value. */
int nprof__proto_uint(struct nprof_buf *b, int field, uint64_t v)
{
	put_tag(b, field, NPROF_PB_VARINT);
	return nprof__proto_put_varint(b, v);
}

/* int64 on the wire is the 64-bit two's complement as a varint. */
int nprof__proto_int(struct nprof_buf *b, int field, int64_t v)
{
	return nprof__proto_uint(b, field, (uint64_t)v);
}

/* Omits false: proto3 readers take an absent bool as false. */
int nprof__proto_bool(struct nprof_buf *b, int field, int v)
{
	if (!v)
		return b->failed ? -ENOMEM : 0;
	return nprof__proto_uint(b, field, 1);
}

/* Tag, length, then the bytes; used for strings (no NUL is written). */
int nprof__proto_bytes(struct nprof_buf *b, int field, const void *p, size_t n)
{
	put_tag(b, field, NPROF_PB_LEN);
	nprof__proto_put_varint(b, n);
	return nprof__buf_append(b, p, n);
}

/*
 * Writes the tag and a one-byte length placeholder; the mark is the offset
 * where the body starts. Most pprof messages are shorter than 128 bytes,
 * so the placeholder is usually right and end() just fills it in.
 */
size_t nprof__proto_begin(struct nprof_buf *b, int field)
{
	put_tag(b, field, NPROF_PB_LEN);
	nprof__proto_put_varint(b, 0);
	return b->len;
}

/*
 * Patches the length of the field opened at `mark`. When the body is 128
 * bytes or more its length needs k > 1 varint bytes: the body moves up by
 * k - 1 bytes (one memmove) to make room. A failed buffer is left alone,
 * since `mark` may not describe it any more.
 */
int nprof__proto_end(struct nprof_buf *b, size_t mark)
{
	if (b->failed || mark > b->len || mark == 0)
		return -ENOMEM;
	size_t len = b->len - mark;
	if (NPROF_LIKELY(len < 0x80)) {
		b->data[mark - 1] = (char)len;
		return 0;
	}
	size_t k = nprof__proto_varint_size(len);
	if (nprof__buf_reserve(b, k - 1) < 0)
		return -ENOMEM;
	memmove(b->data + mark - 1 + k, b->data + mark, len);
	unsigned char *p = (unsigned char *)b->data + mark - 1;
	uint64_t v = len;
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p = (unsigned char)v;
	b->len += k - 1;
	return 0;
}

/* Packed encoding: one tag and length, then the bare varints. */
int nprof__proto_packed_u64(struct nprof_buf *b, int field, const uint64_t *v, size_t n)
{
	if (n == 0)
		return b->failed ? -ENOMEM : 0;
	size_t mark = nprof__proto_begin(b, field);
	for (size_t i = 0; i < n; i++)
		nprof__proto_put_varint(b, v[i]);
	return nprof__proto_end(b, mark);
}

/* As nprof__proto_packed_u64; negative values take ten bytes each. */
int nprof__proto_packed_i64(struct nprof_buf *b, int field, const int64_t *v, size_t n)
{
	if (n == 0)
		return b->failed ? -ENOMEM : 0;
	size_t mark = nprof__proto_begin(b, field);
	for (size_t i = 0; i < n; i++)
		nprof__proto_put_varint(b, (uint64_t)v[i]);
	return nprof__proto_end(b, mark);
}
