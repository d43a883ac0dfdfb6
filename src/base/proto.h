/*
 * proto.h - nprof's own minimal protocol-buffer writer (private to proto.c,
 * pprof.c and buf.c). Only what profile.proto needs: varints, length-
 * delimited fields (strings, nested messages, packed repeated integers).
 *
 * Everything writes into a struct nprof_buf. Errors are sticky: after an
 * out-of-memory the buffer's `failed` flag is set and every later call is
 * a no-op returning -ENOMEM, so an encoder can write a whole message and
 * check b->failed once at the end.
 *
 * Nested messages are reserve-and-patch: nprof__proto_begin() writes the
 * tag and one placeholder length byte; nprof__proto_end() stores the real
 * length, shifting the body up in the rare case the length needs more than
 * one byte (bodies >= 128 bytes). Nesting needs no extra state, since each
 * mark is an offset in the same buffer and an inner message always ends
 * before its parent does.
 */
#ifndef NPROF_PROTO_H
#define NPROF_PROTO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "buf.h"

/* Wire types. */
#define NPROF_PB_VARINT 0
#define NPROF_PB_LEN 2

/*
 * Makes room for `extra` more bytes in `b` (buf.c). 0, or -ENOMEM with
 * b->failed set. Declared here rather than in buf.h because only
 * the encoders need it.
 */
int nprof__buf_reserve(struct nprof_buf *b, size_t extra);

/* Bytes a varint encoding of v takes (1..10). */
static inline size_t nprof__proto_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Appends v as a base-128 varint (no tag): the hot path of every encoder. */
static inline int nprof__proto_put_varint(struct nprof_buf *b, uint64_t v)
{
	if (NPROF_UNLIKELY(b->cap - b->len < 10) && nprof__buf_reserve(b, 10) < 0)
		return -ENOMEM;
	if (NPROF_UNLIKELY(b->failed))
		return -ENOMEM;
	unsigned char *p = (unsigned char *)b->data + b->len;
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	b->len = (size_t)((char *)p - b->data);
	return 0;
}

/* Field `field` as a varint (wire type 0); written even when zero. */
int nprof__proto_uint(struct nprof_buf *b, int field, uint64_t v);

/* An int64 field: two's complement, as protobuf's int64 (not sint64). */
int nprof__proto_int(struct nprof_buf *b, int field, int64_t v);

/* A bool field: 1 when v is non-zero, omitted (the default) otherwise. */
int nprof__proto_bool(struct nprof_buf *b, int field, int v);

/* A length-delimited field holding n raw bytes (strings, bytes). */
int nprof__proto_bytes(struct nprof_buf *b, int field, const void *p, size_t n);

/*
 * Opens a length-delimited field (nested message or packed repeated
 * scalars). Returns the mark to pass to nprof__proto_end().
 */
size_t nprof__proto_begin(struct nprof_buf *b, int field);

/* Closes the field opened at `mark`, patching in its length. */
int nprof__proto_end(struct nprof_buf *b, size_t mark);

/* A packed repeated uint64 / int64 field; nothing is written when n is 0. */
int nprof__proto_packed_u64(struct nprof_buf *b, int field, const uint64_t *v, size_t n);
int nprof__proto_packed_i64(struct nprof_buf *b, int field, const int64_t *v, size_t n);

#endif /* NPROF_PROTO_H */
