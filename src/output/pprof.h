/*
 * pprof.h - the profile.proto builder (pprof.c, encoded by
 * pprof_encode.c): a profile's description, then one sample per stack;
 * finishing symbolizes, encodes and gzips into a buffer.
 */
#ifndef NPROF_PPROF_H
#define NPROF_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct nprof_value_type {
	const char *type;
	const char *unit;
};

struct nprof_label {
	const char *key;
	const char *str;        /* string label, or NULL for a numeric one */
	int64_t num;
	const char *num_unit;   /* optional unit of a numeric label */
};

struct nprof_profile_desc {
	const struct nprof_value_type *sample_types;
	int n_sample_types;
	struct nprof_value_type period_type;
	int64_t period;
	const char *default_sample_type; /* type name, or NULL */
	int64_t time_nanos;              /* wall-clock start */
	int64_t duration_nanos;
	const char *comment;             /* optional */
};

struct nprof_pb;

/* A profile builder; NULL when out of memory. */
struct nprof_pb *nprof__pb_new(const struct nprof_profile_desc *d);

/*
 * Adds one sample. `pcs` are return addresses, innermost first (the
 * builder symbolizes pcs[i] - 1). `values` has n_sample_types entries.
 * Identical stacks get one Location set; samples are not merged.
 */
int nprof__pb_add(struct nprof_pb *pb, const uintptr_t *pcs, int npcs,
		  const int64_t *values, const struct nprof_label *labels, int nlabels);

/* Symbolizes, encodes and gzips into `out`, then frees the builder. */
int nprof__pb_finish(struct nprof_pb *pb, struct nprof_buf *out);

/* Frees a builder without output. */
void nprof__pb_free(struct nprof_pb *pb);

#endif /* NPROF_PPROF_H */
