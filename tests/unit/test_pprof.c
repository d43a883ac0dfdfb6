/*
 * test_pprof.c - the profile builder against the real reader: profiles
 * built from return addresses inside this binary are written to a file
 * and read back with `go tool pprof -raw` and `-top -lines`. Also: a
 * zero-sample profile, a profile of 50,000 distinct stacks (timed), and
 * an out-of-memory loop (the arena's bound lowered step by step) that
 * must yield either a complete profile or -ENOMEM with `out` untouched.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "pprof.h"
#include "procmaps.h"
#include "symbolize.h"
#include "unit.h"

#define NOINLINE __attribute__((noinline))

/* Return addresses captured by a real call chain:
 * test -> pprof_test_outer -> pprof_test_middle -> pprof_test_leaf. */
static uintptr_t chain[3];

void pprof_test_leaf(void);
void pprof_test_middle(void);
void pprof_test_outer(void);

NOINLINE void pprof_test_leaf(void)
{
	chain[0] = (uintptr_t)__builtin_return_address(0);  /* in middle */
	__asm__ volatile("" ::: "memory");
}

NOINLINE void pprof_test_middle(void)
{
	pprof_test_leaf();
	/* The barrier keeps the call above from becoming a tail call. */
	__asm__ volatile("" ::: "memory");
	chain[1] = (uintptr_t)__builtin_return_address(0);  /* in outer */
	__asm__ volatile("" ::: "memory");
}

NOINLINE void pprof_test_outer(void)
{
	pprof_test_middle();
	__asm__ volatile("" ::: "memory");
	chain[2] = (uintptr_t)__builtin_return_address(0);  /* in main */
	__asm__ volatile("" ::: "memory");
}

static const struct nprof_value_type heap_types[] = {
	{ "alloc_objects", "count" },
	{ "alloc_space", "bytes" },
};

static struct nprof_profile_desc heap_desc(void)
{
	struct nprof_profile_desc d = {
		.sample_types = heap_types,
		.n_sample_types = 2,
		.period_type = { "space", "bytes" },
		.period = 524288,
		.default_sample_type = "alloc_space",
		.time_nanos = (int64_t)time(NULL) * 1000000000,
		.duration_nanos = 1000000000,
		.comment = "unit test",
	};
	return d;
}

static char tmpdir[] = "/tmp/nprof-test-pprof-XXXXXX";

/* Writes the buffer to tmpdir/name and returns the path (static). */
static const char *write_file(const char *name, const struct nprof_buf *b)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return NULL;
	fwrite(b->data, 1, b->len, f);
	fclose(f);
	return path;
}

/* Runs `go tool pprof ARGS FILE`; returns its output (malloc) and status. */
static char *run_pprof(const char *args, const char *file, int *status)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "go tool pprof %s '%s' 2>&1", args, file);
	FILE *p = popen(cmd, "r");
	if (!p) {
		*status = -1;
		return strdup("");
	}
	size_t len = 0, cap = 4096;
	char *out = malloc(cap);
	size_t n;
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 1024)
			out = realloc(out, cap *= 2);
	}
	out[len] = '\0';
	*status = pclose(p);
	return out;
}

static void test_real_stacks(void)
{
	pprof_test_outer();
	CHECK(chain[0] && chain[1] && chain[2]);

	struct nprof_profile_desc d = heap_desc();
	struct nprof_pb *pb = nprof__pb_new(&d);
	CHECK(pb != NULL);
	if (!pb)
		return;
	int64_t v1[2] = { 3, 300 }, v2[2] = { 1, 4096 }, v3[2] = { 2, 20 };
	struct nprof_label labels[2] = {
		{ .key = "kind", .str = "file" },
		{ .key = "size", .num = 4096, .num_unit = "bytes" },
	};
	/* An address in no mapping: a Location with no mapping and no Line. */
	uintptr_t odd[2] = { 0x1001, chain[2] };
	CHECK(nprof__pb_add(pb, chain, 3, v1, NULL, 0) == 0);
	CHECK(nprof__pb_add(pb, chain + 1, 2, v2, labels, 2) == 0);
	CHECK(nprof__pb_add(pb, chain, 3, v3, NULL, 0) == 0);   /* same stack */
	CHECK(nprof__pb_add(pb, odd, 2, v3, NULL, 0) == 0);
	CHECK(nprof__pb_add(pb, chain, 3, NULL, NULL, 0) == -EINVAL);

	struct nprof_buf out = { 0 };
	CHECK(nprof__pb_finish(pb, &out) == 0);
	CHECK(out.len > 20 && (unsigned char)out.data[0] == 0x1f &&
	      (unsigned char)out.data[1] == 0x8b);
	const char *file = write_file("heap.pb.gz", &out);
	CHECK(file != NULL);
	nprof__buf_free(&out);
	if (!file)
		return;

	int st;
	char *raw = run_pprof("-raw", file, &st);
	CHECK_MSG(st == 0, "go tool pprof -raw failed:\n%s", raw);
	CHECK(strstr(raw, "alloc_objects/count") != NULL);
	CHECK(strstr(raw, "alloc_space/bytes") != NULL);
	CHECK(strstr(raw, "PeriodType: space bytes") != NULL);
	CHECK(strstr(raw, "pprof_test_middle") != NULL);
	CHECK(strstr(raw, "pprof_test_outer") != NULL);
	CHECK(strstr(raw, "kind:[file]") != NULL);
	CHECK(strstr(raw, "size:[4096 bytes]") != NULL);
	/* Addresses are return address - 1. */
	char want[64];
	snprintf(want, sizeof(want), "0x%lx", (unsigned long)(chain[0] - 1));
	CHECK_MSG(strstr(raw, want) != NULL, "no %s in -raw output", want);
	CHECK(strstr(raw, "0x1000") != NULL);
	/* The first mapping is this executable. */
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	const char *maps = strstr(raw, "\nMappings\n");
	CHECK(maps != NULL);
	if (maps) {
		const char *first = maps + strlen("\nMappings\n");
		const char *eol = strchr(first, '\n');
		CHECK(strncmp(first, "1: ", 3) == 0);
		CHECK_MSG(eol && n > 0 && memmem(first, (size_t)(eol - first), exe, strlen(exe)),
			  "first mapping is not %s:\n%.*s", exe,
			  eol ? (int)(eol - first) : 0, first);
	}
	if (unit_failures)
		fprintf(stderr, "%s\n", raw);
	free(raw);

	char *top = run_pprof("-top -lines", file, &st);
	CHECK_MSG(st == 0, "go tool pprof -top -lines failed:\n%s", top);
	CHECK(strstr(top, "pprof_test_middle") != NULL);
	CHECK(strstr(top, "pprof_test_outer") != NULL);
	/* The symbolizer gives file and line to -lines. */
	CHECK_MSG(strstr(top, "test_pprof.c:") != NULL, "no file:line in\n%s", top);
	/* 300 + 20 bytes at the middle frame, the default type alloc_space. */
	CHECK_MSG(strstr(top, "320B") != NULL, "no 320B in\n%s", top);
	free(top);
}

static void test_zero_samples(void)
{
	static const struct nprof_value_type t[] = { { "goroutine", "count" } };
	struct nprof_profile_desc d = {
		.sample_types = t, .n_sample_types = 1,
		.period_type = { "goroutine", "count" }, .period = 1,
	};
	struct nprof_pb *pb = nprof__pb_new(&d);
	CHECK(pb != NULL);
	struct nprof_buf out = { 0 };
	CHECK(nprof__pb_finish(pb, &out) == 0);
	const char *file = write_file("empty.pb.gz", &out);
	nprof__buf_free(&out);
	if (!file)
		return;
	int st;
	char *raw = run_pprof("-raw", file, &st);
	CHECK_MSG(st == 0, "go tool pprof -raw failed on an empty profile:\n%s", raw);
	CHECK(strstr(raw, "goroutine/count") != NULL);
	free(raw);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds the last encode_many() spent in nprof__pb_add(). */
static double add_s;

/* Builds and encodes 50,000 distinct stacks; returns seconds, -1 on error. */
static double encode_many(uintptr_t lo, uintptr_t hi, size_t *bytes)
{
	static const struct nprof_value_type t[] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	struct nprof_profile_desc d = {
		.sample_types = t, .n_sample_types = 4,
		.period_type = { "space", "bytes" }, .period = 524288,
	};
	double t0 = now_s();
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (!pb)
		return -1;
	uint64_t x = 88172645463325252ULL;
	size_t span = hi - lo;
	for (int i = 0; i < 50000; i++) {
		uintptr_t pcs[24];
		int depth = 8 + i % 16;
		/* Frames come from pools of addresses (8192 for the innermost,
		 * 4096 for callers), as real programs share callers; random
		 * depths and picks make the 50,000 stacks distinct. */
		pcs[0] = lo + 1 + (size_t)(i % 8192) * (span / 8192);
		for (int k = 1; k < depth; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			pcs[k] = lo + 1 + (x % 4096) * (span / 4096);
		}
		int64_t v[4] = { 1, 64 + i, 1, 64 + i };
		if (nprof__pb_add(pb, pcs, depth, v, NULL, 0) < 0) {
			nprof__pb_free(pb);
			return -1;
		}
	}
	struct nprof_buf out = { 0 };
	double t1 = now_s();
	int rc = nprof__pb_finish(pb, &out);
	double dt = now_s() - t0;
	add_s = t1 - t0;
	*bytes = out.len;
	if (rc == 0 && lo > 0x100000)
		write_file("many.pb.gz", &out);
	nprof__buf_free(&out);
	return rc == 0 ? dt : -1;
}

static void test_many_stacks(void)
{
	/* Unsymbolizable addresses: the builder and encoder alone. */
	size_t bytes = 0;
	double enc = encode_many(0x1000, 0x1000 + (1u << 20), &bytes);
	CHECK(enc >= 0);
	fprintf(stderr, "test_pprof: 50,000 stacks, no symbols: %.3f s (add %.3f s), "
		"%zu bytes gzipped\n", enc, add_s, bytes);

	/* Addresses inside this executable's text: with symbolization. */
	uintptr_t lo = 0, hi = 0;
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct nprof_symtab *st = nprof__sym_open();
	if (st && n > 0) {
		exe[n] = '\0';
		const struct nprof_mapping *m;
		int nm = nprof__sym_mappings(st, &m);
		for (int i = 0; i < nm; i++)
			if (strcmp(m[i].file, exe) == 0) {
				lo = m[i].start;
				hi = m[i].limit;
				break;
			}
	}
	nprof__sym_close(st);
	CHECK(hi > lo);
	if (hi <= lo)
		return;
	double full = encode_many(lo, hi, &bytes);
	CHECK(full >= 0);
	fprintf(stderr, "test_pprof: 50,000 stacks, symbolized: %.3f s (add %.3f s), "
		"%zu bytes gzipped\n", full, add_s, bytes);

	char path[256];
	snprintf(path, sizeof(path), "%s/many.pb.gz", tmpdir);
	int status;
	char *top = run_pprof("-top -nodecount=5", path, &status);
	CHECK_MSG(status == 0, "go tool pprof -top failed on 50,000 stacks:\n%s", top);
	free(top);
}

/* An add refused for lack of memory is counted and named in a comment. */
static void test_dropped_note(void)
{
	struct nprof_profile_desc d = heap_desc();
	struct nprof_pb *pb = nprof__pb_new(&d);
	CHECK(pb != NULL);
	if (!pb)
		return;
	int64_t v[2] = { 1, 10 };
	CHECK(nprof__pb_add(pb, chain, 3, v, NULL, 0) == 0);
	size_t old = nprof__arena_limit();
	nprof__arena_set_limit(nprof__arena_used());
	uintptr_t pcs[1 << 10];
	for (int i = 0; i < (1 << 10); i++)
		pcs[i] = 0x40000 + 16 * (uintptr_t)i;
	int rc = 0;
	for (int i = 0; i < 64 && rc == 0; i++)
		rc = nprof__pb_add(pb, pcs + 16 * i, 16, v, NULL, 0);
	nprof__arena_set_limit(old);
	CHECK(rc == -ENOMEM);
	struct nprof_buf out = { 0 };
	CHECK(nprof__pb_finish(pb, &out) == 0);
	const char *file = write_file("dropped.pb.gz", &out);
	nprof__buf_free(&out);
	if (!file)
		return;
	int st;
	char *raw = run_pprof("-raw", file, &st);
	CHECK_MSG(st == 0, "go tool pprof -raw failed:\n%s", raw);
	CHECK_MSG(strstr(raw, "1 samples dropped") != NULL, "no drop comment in\n%s", raw);
	free(raw);
}

/*
 * Fault injection: the arena's bound is set a little higher each round.
 * Every round must end in a complete profile or a clean -ENOMEM that
 * leaves `out` exactly as it was.
 */
static void test_out_of_memory(void)
{
	size_t old = nprof__arena_limit();
	int failures = 0, ok = 0;
	for (size_t extra = 0; extra < ((size_t)8 << 20) && !ok; extra += 8192) {
		struct nprof_buf out = { 0 };
		nprof__buf_append(&out, "PRE", 3);
		nprof__arena_set_limit(nprof__arena_used() + extra);
		struct nprof_profile_desc d = heap_desc();
		struct nprof_pb *pb = nprof__pb_new(&d);
		int rc = -ENOMEM;
		if (pb) {
			int64_t v[2] = { 1, 10 };
			for (int i = 0; i < 2000; i++) {
				uintptr_t pcs[4] = { chain[0], chain[1], chain[2], 0x2000 + (uintptr_t)i };
				nprof__pb_add(pb, pcs, 4, v, NULL, 0);
			}
			rc = nprof__pb_finish(pb, &out);
		}
		nprof__arena_set_limit(old);
		if (rc == 0) {
			ok = 1;
			CHECK(out.len > 3 && memcmp(out.data, "PRE", 3) == 0);
			CHECK((unsigned char)out.data[3] == 0x1f);
			struct nprof_buf body = { 0 };
			nprof__buf_append(&body, out.data + 3, out.len - 3);
			const char *file = write_file("oom.pb.gz", &body);
			nprof__buf_free(&body);
			int st = -1;
			char *raw = file ? run_pprof("-raw", file, &st) : strdup("");
			CHECK_MSG(st == 0, "profile after memory pressure unreadable:\n%s", raw);
			free(raw);
		} else {
			failures++;
			CHECK(rc == -ENOMEM);
			CHECK(out.len == 3 && !out.failed && memcmp(out.data, "PRE", 3) == 0);
		}
		nprof__buf_free(&out);
	}
	CHECK(ok);
	fprintf(stderr, "test_pprof: %d clean -ENOMEM rounds before success\n", failures);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	if (!getenv("HOME"))
		setenv("HOME", "/tmp", 1);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_real_stacks();
	test_zero_samples();
	test_many_stacks();
	test_dropped_note();
	test_out_of_memory();
	if (!unit_failures) {
		/* Removed here, not with `rm -rf`: under `nprof check` a child
		 * would be checked too, and rm never frees its memory. */
		if (nftw(tmpdir, remove_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
			fprintf(stderr, "test_pprof: could not remove %s\n", tmpdir);
	} else {
		fprintf(stderr, "test_pprof: files kept in %s\n", tmpdir);
	}
	return unit_done("test_pprof");
}
