/*
 * pprof_int.h - the profile builder's tables, shared by pprof.c (which
 * interns and symbolizes into them) and pprof_encode.c (which writes them
 * as gzipped profile.proto). Private to those two files.
 */
#ifndef NPROF_PPROF_INT_H
#define NPROF_PPROF_INT_H

#include <stdint.h>

#include "buf.h"
#include "procmaps.h"

/* Element i of a struct vec holding `type`s. */
#define VEC_AT(v, type, i) (((type *)(v)->p)[i])

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

/*
 * Writes the builder's tables (already symbolized) to `out` as gzipped
 * profile.proto. Returns 0, -ENOMEM or -EIO; on failure `out` may hold a
 * partial body, which the caller discards.
 */
int nprof__pb_encode(struct nprof_pb *pb, struct nprof_buf *out);

#endif /* NPROF_PPROF_INT_H */
