/*
 * pprof_encode.c - the last step of the profile builder: the interned
 * tables of a struct nprof_pb (pprof.c) written as profile.proto, gzipped
 * on the fly. Encoded bytes are handed to deflate in 64 KiB pieces, so the
 * uncompressed profile never exists whole; zlib allocates from nprof's
 * arena, so encoding never calls malloc.
 *
 * Failure: -ENOMEM (or -EIO from zlib); the caller (nprof__pb_finish)
 * restores `out` to what it was. No lock; not async-signal-safe.
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "arena.h"
#include "buf.h"
#include "pprof_int.h"
#include "proto.h"

/* Encoded bytes gathered before they are handed to deflate. */
#define PB_FLUSH_BYTES (64 * 1024)

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

int nprof__pb_encode(struct nprof_pb *pb, struct nprof_buf *out)
{
	struct nprof_buf enc = { 0 };
	struct gz g = { .out = out };
	int rc;

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
	if (g.live)
		deflateEnd(&g.z);
	nprof__buf_free(&enc);
	return rc;
}
