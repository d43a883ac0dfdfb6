/*
 * test_cli_profile.c - the profile.proto reader of `nprof top`/`diff`
 * (cli/profile.c, cli/wire.c and cli/profile_input.c): a hand-encoded
 * profile decodes to what was encoded,
 * gzipped or not, packed or not; each rule pprof enforces is an error;
 * and a fuzz loop (every truncation, every single-byte corruption, then
 * seeded random mutations of both the plain and the gzipped form) never
 * crashes and always explains a failure in one line. Run it under
 * `make SANITIZER=address` to catch out-of-bounds reads, too.
 *
 * The reader is compiled into this test directly: the unit rule links
 * libnprof.a, not the CLI's objects, and the reader needs only zlib.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../cli/profile.c"
#include "../../cli/profile_input.c"
#include "../../cli/wire.c"
#include "unit.h"

/* ------------------------------------------------------------------ */
/* A tiny protobuf encoder for building inputs                           */
/* ------------------------------------------------------------------ */

struct enc {
	uint8_t b[8192];
	size_t n;
};

static void put_varint(struct enc *e, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		e->b[e->n++] = c | (v ? 0x80 : 0);
	} while (v);
}

static void put_int(struct enc *e, uint32_t field, uint64_t v)
{
	put_varint(e, (uint64_t)field << 3 | 0);
	put_varint(e, v);
}

static void put_bytes(struct enc *e, uint32_t field, const void *p, size_t n)
{
	put_varint(e, (uint64_t)field << 3 | 2);
	put_varint(e, n);
	memcpy(e->b + e->n, p, n);
	e->n += n;
}

static void put_msg(struct enc *e, uint32_t field, const struct enc *m)
{
	put_bytes(e, field, m->b, m->n);
}

static void put_str(struct enc *e, const char *s)
{
	put_bytes(e, 6, s, strlen(s));
}

/* Strings: 0 "", 1 samples, 2 count, 3 cpu, 4 nanoseconds, 5 leaf,
 * 6 caller, 7 a.c, 8 /bin/prog, 9 thread, 10 worker. */
static const char *strings_tab[] = {"", "samples", "count", "cpu", "nanoseconds",
				    "leaf", "caller", "a.c", "/bin/prog", "thread",
				    "worker"};

/* A profile with two sample types, one mapping, two functions, two
 * locations (the first inlines `leaf` into `caller`), and two samples:
 * one with packed ids/values and a label, one unpacked. */
static void build_profile(struct enc *e)
{
	struct enc m = {0}, sub = {0};

	memset(e, 0, sizeof(*e));
	m.n = 0; put_int(&m, 1, 1); put_int(&m, 2, 2);
	put_msg(e, 1, &m);
	m.n = 0; put_int(&m, 1, 3); put_int(&m, 2, 4);
	put_msg(e, 1, &m);

	/* sample 1: packed location ids {10, 20}, packed values {1, 10000000},
	 * label thread=worker */
	m.n = 0;
	sub.n = 0; put_varint(&sub, 10); put_varint(&sub, 20);
	put_msg(&m, 1, &sub);
	sub.n = 0; put_varint(&sub, 1); put_varint(&sub, 10000000);
	put_msg(&m, 2, &sub);
	sub.n = 0; put_int(&sub, 1, 9); put_int(&sub, 2, 10);
	put_msg(&m, 3, &sub);
	put_msg(e, 2, &m);
	/* sample 2: unpacked, location 20 only, values {2, -5} */
	m.n = 0; put_int(&m, 1, 20); put_int(&m, 2, 2); put_int(&m, 2, (uint64_t)-5);
	put_msg(e, 2, &m);

	m.n = 0; put_int(&m, 1, 7); put_int(&m, 2, 0x400000); put_int(&m, 3, 0x401000);
	put_int(&m, 5, 8);
	put_msg(e, 3, &m);

	/* location 10 at 0x400010: leaf a.c:3 inlined into caller a.c:9 */
	m.n = 0; put_int(&m, 1, 10); put_int(&m, 2, 7); put_int(&m, 3, 0x400010);
	sub.n = 0; put_int(&sub, 1, 100); put_int(&sub, 2, 3);
	put_msg(&m, 4, &sub);
	sub.n = 0; put_int(&sub, 1, 200); put_int(&sub, 2, 9);
	put_msg(&m, 4, &sub);
	put_msg(e, 4, &m);
	m.n = 0; put_int(&m, 1, 20); put_int(&m, 2, 7); put_int(&m, 3, 0x400020);
	sub.n = 0; put_int(&sub, 1, 200); put_int(&sub, 2, 12);
	put_msg(&m, 4, &sub);
	put_msg(e, 4, &m);

	m.n = 0; put_int(&m, 1, 200); put_int(&m, 2, 6); put_int(&m, 4, 7);
	put_msg(e, 5, &m);
	m.n = 0; put_int(&m, 1, 100); put_int(&m, 2, 5); put_int(&m, 4, 7);
	put_msg(e, 5, &m);

	for (size_t i = 0; i < sizeof(strings_tab) / sizeof(strings_tab[0]); i++)
		put_str(e, strings_tab[i]);
	put_int(e, 9, 1700000000000000000ull);
	put_int(e, 10, 2000000000);
	m.n = 0; put_int(&m, 1, 3); put_int(&m, 2, 4);
	put_msg(e, 11, &m);
	put_int(e, 12, 10000000);
	put_int(e, 14, 3);
}

static size_t gzip_bytes(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		return 0;
	}
	deflateEnd(&z);
	return cap - z.avail_out;
}

/* ------------------------------------------------------------------ */
/* Checks                                                               */
/* ------------------------------------------------------------------ */

static void check_decoded(const struct nprof_profile *p)
{
	const struct nprof_profile_location *l10;
	char err[200];

	CHECK(p->nsample_type == 2);
	CHECK(strcmp(p->sample_type[1].type, "cpu") == 0);
	CHECK(strcmp(p->sample_type[1].unit, "nanoseconds") == 0);
	CHECK(p->nsample == 2);
	CHECK(p->sample[0].nlocation == 2 && p->sample[0].value[1] == 10000000);
	CHECK(p->sample[1].nlocation == 1 && p->sample[1].value[1] == -5);
	CHECK(p->sample[0].nlabel == 1 && strcmp(p->sample[0].label[0].key, "thread") == 0 &&
	      strcmp(p->sample[0].label[0].str, "worker") == 0);
	l10 = p->sample[0].location[0];
	CHECK(l10->id == 10 && l10->address == 0x400010 && l10->nline == 2);
	CHECK(l10->mapping && strcmp(l10->mapping->file, "/bin/prog") == 0);
	CHECK(strcmp(l10->line[0].function->name, "leaf") == 0 && l10->line[0].line == 3);
	CHECK(strcmp(l10->line[1].function->name, "caller") == 0);
	CHECK(p->sample[0].location[1]->id == 20);
	CHECK(p->time_nanos == 1700000000000000000ll && p->duration_nanos == 2000000000);
	CHECK(p->period == 10000000 && strcmp(p->period_type.type, "cpu") == 0);
	CHECK(strcmp(p->default_sample_type, "cpu") == 0);
	CHECK(nprof_profile_sample_index(p, NULL, err, sizeof(err)) == 1);
	CHECK(nprof_profile_sample_index(p, "samples", err, sizeof(err)) == 0);
	CHECK(nprof_profile_sample_index(p, "0", err, sizeof(err)) == 0);
	CHECK(nprof_profile_sample_index(p, "alloc_space", err, sizeof(err)) == -1);
	CHECK(strstr(err, "samples, cpu") != NULL);
}

/* A failure must come with one line of explanation. */
static int parse_ok(const uint8_t *b, size_t n)
{
	struct nprof_profile *p = (void *)1;
	char err[300] = "";
	int rc = nprof_profile_parse(b, n, &p, err, sizeof(err));

	if (rc == 0) {
		CHECK(p != NULL);
		nprof_profile_free(p);
		return 1;
	}
	CHECK(p == NULL);
	CHECK_MSG(err[0] && !strchr(err, '\n'), "bad error text '%s'", err);
	return 0;
}

static void expect_error(const struct enc *e, const char *what)
{
	struct nprof_profile *p;
	char err[300] = "";

	CHECK_MSG(nprof_profile_parse(e->b, e->n, &p, err, sizeof(err)) == -1 &&
		  strstr(err, what), "want '%s', got '%s'", what, err);
}

static void rule_checks(void)
{
	struct enc e, m;

	/* No string table. */
	memset(&e, 0, sizeof(e));
	put_int(&e, 12, 1);
	expect_error(&e, "no string table");
	/* string_table[0] must be "". */
	memset(&e, 0, sizeof(e));
	put_str(&e, "x");
	expect_error(&e, "string_table[0]");
	/* No sample types. */
	memset(&e, 0, sizeof(e));
	put_str(&e, "");
	expect_error(&e, "no sample types");
	/* A string index out of range. */
	memset(&e, 0, sizeof(e));
	put_str(&e, "");
	memset(&m, 0, sizeof(m));
	put_int(&m, 1, 5);
	put_msg(&e, 1, &m);
	expect_error(&e, "out of range");
	/* Values that do not match the sample types. */
	build_profile(&e);
	memset(&m, 0, sizeof(m));
	put_int(&m, 2, 1);
	put_msg(&e, 2, &m);
	expect_error(&e, "1 values for 2 sample types");
	/* An unknown location. */
	build_profile(&e);
	memset(&m, 0, sizeof(m));
	put_int(&m, 1, 99);
	put_int(&m, 2, 1);
	put_int(&m, 2, 1);
	put_msg(&e, 2, &m);
	expect_error(&e, "unknown location 99");
	/* An unknown function. */
	build_profile(&e);
	memset(&m, 0, sizeof(m));
	{
		struct enc ln = {0};

		put_int(&m, 1, 30);
		put_int(&ln, 1, 4242);
		put_msg(&m, 4, &ln);
	}
	put_msg(&e, 4, &m);
	expect_error(&e, "unknown function 4242");
	/* Duplicate and zero IDs. */
	build_profile(&e);
	memset(&m, 0, sizeof(m));
	put_int(&m, 1, 100);
	put_msg(&e, 5, &m);
	expect_error(&e, "two functions have id 100");
	build_profile(&e);
	memset(&m, 0, sizeof(m));
	put_int(&m, 2, 5);
	put_msg(&e, 4, &m);
	expect_error(&e, "has id 0");
	/* An 11-byte varint, a length past the end, a group. */
	memset(&e, 0, sizeof(e));
	memcpy(e.b, "\x48\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
	e.n = 12;
	expect_error(&e, "longer than 10 bytes");
	memset(&e, 0, sizeof(e));
	memcpy(e.b, "\x32\xff\xff\xff\xff\x0f" "abc", 9);
	e.n = 9;
	expect_error(&e, "longer than its message");
	memset(&e, 0, sizeof(e));
	memcpy(e.b, "\x0b\x0c", 2);
	e.n = 2;
	expect_error(&e, "wire type 3");
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Every truncation, every byte xor'ed with a few masks, then random
 * multi-byte mutations (including lengths and inserted 0xff runs). */
static void fuzz(const uint8_t *good, size_t n, const char *name)
{
	uint8_t *b = malloc(n + 64);
	static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x7f, 0x08};
	size_t ok = 0, runs = 0;

	for (size_t len = 0; len < n; len++, runs++)
		ok += (size_t)parse_ok(good, len);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(masks); k++, runs++) {
			memcpy(b, good, n);
			b[i] ^= masks[k];
			ok += (size_t)parse_ok(b, n);
		}
	for (int it = 0; it < 20000; it++, runs++) {
		size_t len = n;
		int edits = 1 + (int)(next_rand() % 6);

		memcpy(b, good, n);
		for (int k = 0; k < edits; k++) {
			size_t at = (size_t)(next_rand() % len);

			switch (next_rand() % 4) {
			case 0: b[at] = (uint8_t)next_rand(); break;
			case 1: b[at] = 0xff; break;
			case 2: len = at + 1; break;                  /* cut */
			case 3:                                         /* insert */
				if (len + 4 <= n + 64) {
					memmove(b + at + 4, b + at, len - at);
					memset(b + at, 0xff, 4);
					len += 4;
				}
				break;
			}
		}
		ok += (size_t)parse_ok(b, len);
	}
	fprintf(stderr, "fuzz %s: %zu inputs, %zu decoded\n", name, runs, ok);
	free(b);
}

int main(void)
{
	struct enc e;
	struct nprof_profile *p = NULL;
	uint8_t gz[8192];
	size_t gzn;
	char err[300];

	build_profile(&e);
	CHECK_MSG(nprof_profile_parse(e.b, e.n, &p, err, sizeof(err)) == 0, "%s", err);
	if (p)
		check_decoded(p);
	nprof_profile_free(p);

	gzn = gzip_bytes(e.b, e.n, gz, sizeof(gz));
	CHECK(gzn > 0);
	p = NULL;
	CHECK_MSG(nprof_profile_parse(gz, gzn, &p, err, sizeof(err)) == 0, "%s", err);
	if (p)
		check_decoded(p);
	nprof_profile_free(p);

	/* Gzip-specific failures. */
	CHECK(nprof_profile_parse(gz, gzn / 2, &p, err, sizeof(err)) == -1 &&
	      strstr(err, "truncated gzip"));
	CHECK(nprof_profile_parse(gz, 0, &p, err, sizeof(err)) == -1 &&
	      strstr(err, "empty"));
	{
		uint8_t two[16384];

		/* Trailing garbage is refused; a second member is read. */
		memcpy(two, gz, gzn);
		memcpy(two + gzn, "junk", 4);
		CHECK(nprof_profile_parse(two, gzn + 4, &p, err, sizeof(err)) == -1 &&
		      strstr(err, "trailing garbage"));
	}

	rule_checks();
	fuzz(e.b, e.n, "plain");
	fuzz(gz, gzn, "gzip");
	return unit_done("test_cli_profile");
}
