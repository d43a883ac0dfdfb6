/*
 * profile.h - a reader of pprof profiles (profile.proto, gzipped or not)
 * for the commands that analyse them: `nprof top` and `nprof diff`.
 *
 * The decoded profile is one immutable tree of plain C structs: IDs are
 * already resolved to pointers and string-table indexes to C strings, so
 * a command walks samples without lookups. Field numbers are those of
 * github.com/google/pprof/proto/profile.proto.
 *
 * The input is untrusted (any file a user names, any body a server
 * sends): every length, index and ID is checked, and a malformed input
 * is a one-line error, never a crash or an unbounded allocation.
 */
#ifndef NPROF_CLI_PROFILE_H
#define NPROF_CLI_PROFILE_H

#include <stddef.h>
#include <stdint.h>

/* A decompressed profile larger than this is refused (a gzip bomb, or
 * not what a user meant to read in a terminal). */
#define NPROF_PROFILE_MAX ((size_t)1 << 30)

struct nprof_profile_value_type {
	const char *type;       /* "cpu", "alloc_space", ... ("" if unset) */
	const char *unit;       /* "nanoseconds", "bytes", "count", ... */
};

struct nprof_profile_mapping {
	uint64_t id, start, limit, offset;
	const char *file, *build_id;
};

struct nprof_profile_function {
	uint64_t id;
	const char *name, *system_name, *filename;
	int64_t start_line;
};

struct nprof_profile_line {
	const struct nprof_profile_function *function; /* NULL: id 0 */
	int64_t line;
};

struct nprof_profile_location {
	uint64_t id, address;
	const struct nprof_profile_mapping *mapping;   /* NULL: none or unknown */
	/* line[0] is the innermost (inlined) frame, line[nline-1] the
	 * function the code was compiled into, as in profile.proto. */
	struct nprof_profile_line *line;
	size_t nline;
};

struct nprof_profile_label {
	const char *key, *str;  /* str is "" for a numeric label */
	int64_t num;
	const char *num_unit;
};

struct nprof_profile_sample {
	/* location[0] is the leaf (where the sample was taken). */
	const struct nprof_profile_location **location;
	size_t nlocation;
	int64_t *value;         /* one per sample type */
	struct nprof_profile_label *label;
	size_t nlabel;
};

struct nprof_profile {
	struct nprof_profile_value_type *sample_type;
	size_t nsample_type;
	struct nprof_profile_sample *sample;
	size_t nsample;
	struct nprof_profile_mapping *mapping;
	size_t nmapping;
	struct nprof_profile_location *location;
	size_t nlocation;
	struct nprof_profile_function *function;
	size_t nfunction;
	const char **comment;
	size_t ncomment;
	struct nprof_profile_value_type period_type;
	int64_t period, time_nanos, duration_nanos;
	const char *default_sample_type;        /* "" when unset */

	/* Storage owned by the profile (freed by nprof_profile_free). */
	char **strings;
	size_t nstrings;
	void *blocks;
};

/*
 * Decodes `len` bytes at `data`: a gzip stream (one or more members, as
 * Go's reader accepts) or a bare profile.proto. On success returns 0 and
 * sets *out (free it with nprof_profile_free). On failure returns -1,
 * leaves *out NULL and writes a one-line reason to `err`, such as
 * "not gzip or profile.proto: truncated field at byte 12" or "sample 3
 * refers to unknown location 99". It checks what go tool pprof checks:
 * string_table[0] is "", IDs are non-zero and unique, every sample has
 * one value per sample type, every index and ID refers to something.
 */
int nprof_profile_parse(const void *data, size_t len, struct nprof_profile **out,
			char *err, size_t errlen);

/*
 * The decoder behind nprof_profile_parse(): `len` bytes of a plain
 * (inflated, size-checked) profile.proto. On failure returns -1, leaves
 * *out NULL and writes the bare reason (no "not a profile.proto:"
 * prefix) to `why`.
 */
int nprof_profile_decode(const uint8_t *in, size_t len, struct nprof_profile **out,
			 char *why, size_t whylen);

/*
 * Reads file `path` (at most NPROF_PROFILE_MAX bytes) and decodes it with
 * nprof_profile_parse(). Errors name the file: "cpu.pb.gz: No such file
 * or directory", "cpu.pb.gz: empty file".
 */
int nprof_profile_read_file(const char *path, struct nprof_profile **out,
			    char *err, size_t errlen);

/* Releases a profile; NULL is allowed. */
void nprof_profile_free(struct nprof_profile *p);

/*
 * Chooses the sample value to report, as go tool pprof's -sample_index
 * does: `name` is a sample type ("alloc_space") or its index ("0"); NULL
 * or "" means default_sample_type when set, else the last type. Returns
 * the index, or -1 with "no sample type 'x' (have: cpu, samples)" in
 * `err`.
 */
int nprof_profile_sample_index(const struct nprof_profile *p, const char *name,
			       char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* table.c: the flat/cum table of `nprof top` and `nprof diff`         */
/* ------------------------------------------------------------------ */

/* One profile feeding the table. */
struct nprof_top_source {
	const struct nprof_profile *p;
	int index;              /* the sample value reported, from
				 * nprof_profile_sample_index() */
	int sign;               /* +1; -1 for the BASE of a diff */
	const char *label;      /* file name or target, for headers */
};

struct nprof_top_options {
	long nodecount;         /* rows to show at most; 0 = all */
	int cum;                /* sort by cum instead of flat */
	int lines;              /* nodes are "function file:line" */
};

/*
 * Prints the table `go tool pprof -top` prints, to `out`: the header
 * (File, Type, Time, Duration and total), then one row per function
 * "flat flat% sum% cum cum% name", same nodes, order, units, cut-off
 * (nodes whose |cum| is under 0.5% of the total are dropped, and said
 * so) and "(inline)" marks. One source is `nprof top`; two sources
 * (BASE with sign -1, then NEW with +1) are `nprof diff`, with pprof
 * -base's totals and signed values. Returns 0, -ENOMEM, or -EIO when
 * writing failed.
 */
int nprof_top_report(FILE *out, const struct nprof_top_source *src, size_t nsrc,
		     const struct nprof_top_options *o);

/*
 * top.c: the options `nprof top` and `nprof diff` share (--cum, --lines,
 * --nodecount N, --sample-index NAME) at argv[*i]. Returns 1 when it was
 * one (advancing *i past a separate value, filling `o` or *sample_index),
 * 0 when it is another argument, and -1 after reporting a usage error
 * for command `cmd` (the caller exits with NPROF_EXIT_USAGE).
 */
int nprof_cli_table_option(const char *cmd, int argc, char **argv, int *i,
			   struct nprof_top_options *o, const char **sample_index);

#endif /* NPROF_CLI_PROFILE_H */
