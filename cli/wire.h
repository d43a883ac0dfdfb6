/*
 * wire.h - the protobuf wire format, read with every bound checked
 * (wire.c), and the bump arena a decoded message's structs live in: what
 * profile.c's profile.proto decoder is built on.
 */
#ifndef NPROF_CLI_WIRE_H
#define NPROF_CLI_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct nprof_wire_block;

/* One decoding: the input, the first error, the arena. */
struct nprof_wire {
	const uint8_t *base;    /* start of the decoded buffer, for offsets */
	char *err;
	size_t errlen;
	struct nprof_wire_block *blocks;
	int failed;
};

/* A message being read: [p, end). */
struct nprof_wire_msg {
	const uint8_t *p, *end;
};

/* One field of a message. */
struct nprof_wire_field {
	uint32_t num;
	int wt;
	uint64_t u;             /* WT_VARINT, WT_I64, WT_I32 */
	const uint8_t *data;    /* WT_LEN payload */
	size_t len;
	const uint8_t *at;      /* where the key was, for messages */
};

/* Records the first error ("at byte N" in it) and returns -1. */
__attribute__((format(printf, 2, 3)))
int nprof_wire_fail(struct nprof_wire *c, const char *fmt, ...);
/* Offset of p in the input, for error messages. */
size_t nprof_wire_off(const struct nprof_wire *c, const uint8_t *p);
/* Zeroed storage for n objects of `size` bytes in c's arena, or NULL
 * after nprof_wire_fail(). */
void *nprof_wire_alloc(struct nprof_wire *c, size_t n, size_t size);
/* Frees an arena's blocks. */
void nprof_wire_free_blocks(struct nprof_wire_block *b);
int nprof_wire_varint(struct nprof_wire *c, struct nprof_wire_msg *r, uint64_t *v);
/* Reads the next field of message r. Returns 1 with *f set, 0 at the
 * end of the message, -1 on malformed input. */
int nprof_wire_next(struct nprof_wire *c, struct nprof_wire_msg *r, struct nprof_wire_field *f);
/* The payload of a WT_LEN field as a message. */
struct nprof_wire_msg nprof_wire_sub(const struct nprof_wire_field *f);
/* 0, or -1 (failed) when f is not a varint / a message. */
int nprof_wire_want_varint(struct nprof_wire *c, const struct nprof_wire_field *f, const char *what);
int nprof_wire_want_message(struct nprof_wire *c, const struct nprof_wire_field *f,
			    const char *what);
/*
 * The integers of one occurrence of a repeated numeric field, packed
 * (WT_LEN) or not (WT_VARINT). With dst NULL only counts them into *n;
 * else stores them at dst[*n...] and advances *n (the caller sized dst
 * with a counting pass over the same bytes).
 */
int nprof_wire_ints(struct nprof_wire *c, const struct nprof_wire_field *f, const char *what,
		    uint64_t *dst, size_t *n);

#endif /* NPROF_CLI_WIRE_H */
