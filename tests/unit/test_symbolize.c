/*
 * test_symbolize.c - symbolize.c and procmaps.c against this very binary
 * (built -O2 -g, so it has DWARF, inlining and a build ID), libc, and a
 * library loaded from a file deleted after loading.
 *
 * Addresses are captured as real return addresses and looked up minus
 * one, as the profile builder does.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "procmaps.h"
#include "stacks.h"
#include "symbolize.h"
#include "unit.h"

/* Not static, so that the compiler keeps them whole under their names. */
uintptr_t test_where(void);
uintptr_t test_known_function(void);
uintptr_t test_inline_caller(void);

int test_known_line, test_leaf_line, test_caller_line;

__attribute__((noinline)) uintptr_t test_where(void)
{
	uintptr_t pc = (uintptr_t)__builtin_return_address(0);
	__asm__ volatile("" ::: "memory");
	return pc;
}

__attribute__((noinline)) uintptr_t test_known_function(void)
{
	uintptr_t pc;
	test_known_line = __LINE__ + 1;
	pc = test_where();
	/* Something after the call, so it is not a tail call. */
	__asm__ volatile("" ::: "memory");
	return pc;
}

static inline __attribute__((always_inline)) uintptr_t test_inlined_leaf(void)
{
	uintptr_t pc;
	test_leaf_line = __LINE__ + 1;
	pc = test_where();
	__asm__ volatile("" ::: "memory");
	return pc;
}

__attribute__((noinline)) uintptr_t test_inline_caller(void)
{
	uintptr_t pc;
	test_caller_line = __LINE__ + 1;
	pc = test_inlined_leaf();
	__asm__ volatile("" ::: "memory");
	return pc;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int is_hex(const char *s, size_t want)
{
	return strlen(s) == want && strspn(s, "0123456789abcdef") == want;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_known(struct nprof_symtab *st)
{
	struct nprof_frame fr[8];
	uintptr_t pc = test_known_function() - 1;
	int n = nprof__sym_lookup(st, pc, fr, 8);

	CHECK(n >= 1);
	if (n < 1)
		return;
	CHECK_MSG(strcmp(fr[n - 1].function, "test_known_function") == 0, "got %s",
		  fr[n - 1].function);
	CHECK_MSG(ends_with(fr[n - 1].file, "test_symbolize.c"), "got %s", fr[n - 1].file);
	CHECK_MSG(fr[0].line == test_known_line, "got %d want %d", fr[0].line, test_known_line);
	CHECK(fr[n - 1].symoff > 0 && fr[n - 1].symoff < 256);

	/* A second lookup comes from the cache: same interned strings. */
	struct nprof_frame again[8];
	CHECK(nprof__sym_lookup(st, pc, again, 8) == n);
	CHECK(again[n - 1].function == fr[n - 1].function);
	CHECK(again[0].line == fr[0].line);
	/* max smaller than the chain: truncated, innermost kept. */
	CHECK(nprof__sym_lookup(st, pc, again, 1) == 1);
	CHECK(nprof__sym_lookup(st, pc, again, 0) == 0);

	const struct nprof_mapping *m = nprof__sym_mapping(st, pc);
	char exe[PATH_MAX];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(m != NULL);
	CHECK(el > 0);
	if (!m || el <= 0)
		return;
	exe[el] = '\0';
	CHECK_MSG(strcmp(m->file, exe) == 0, "got %s want %s", m->file, exe);
	CHECK_MSG(is_hex(m->build_id, 40), "build id '%s'", m->build_id);
	CHECK(m->has_functions && m->has_filenames && m->has_line_numbers);
	CHECK(m->has_inline_frames);
	CHECK(m->start <= pc && pc < m->limit);
}

static void test_inline(struct nprof_symtab *st)
{
	struct nprof_frame fr[8];
	uintptr_t pc = test_inline_caller() - 1;
	int n = nprof__sym_lookup(st, pc, fr, 8);

	CHECK_MSG(n >= 2, "got %d frames", n);
	if (n < 2)
		return;
	CHECK_MSG(strcmp(fr[0].function, "test_inlined_leaf") == 0, "got %s", fr[0].function);
	CHECK_MSG(fr[0].line == test_leaf_line, "got %d want %d", fr[0].line, test_leaf_line);
	CHECK(ends_with(fr[0].file, "test_symbolize.c"));
	CHECK_MSG(strcmp(fr[n - 1].function, "test_inline_caller") == 0, "got %s",
		  fr[n - 1].function);
	CHECK_MSG(fr[n - 1].line == test_caller_line, "got %d want %d", fr[n - 1].line,
		  test_caller_line);
	CHECK(ends_with(fr[n - 1].file, "test_symbolize.c"));
	CHECK(fr[0].symoff == fr[n - 1].symoff);
}

static void test_libc(struct nprof_symtab *st)
{
	struct nprof_frame fr[8];
	/* dlsym, not &getpid: a non-PIE build would give the PLT stub. */
	uintptr_t fn = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	int n;

	CHECK(fn != 0);
	n = nprof__sym_lookup(st, fn, fr, 8);
	CHECK(n >= 1);
	if (n >= 1)
		CHECK_MSG(strstr(fr[n - 1].function, "getpid") != NULL, "got %s",
			  fr[n - 1].function);
	const struct nprof_mapping *m = nprof__sym_mapping(st, fn);
	CHECK(m != NULL && m->has_functions && strstr(m->file, "libc") != NULL);
}

static void test_nowhere(struct nprof_symtab *st)
{
	struct nprof_frame fr[8];
	int local = 0;

	/* Address 1 is NPROF_PC_RUNNING - 1, the pseudo frame of a thread
	 * caught running; any other unmapped low address is nowhere. */
	CHECK(nprof__sym_lookup(st, 16, fr, 8) == 0);
	CHECK(nprof__sym_mapping(st, 16) == NULL);
	CHECK(nprof__sym_lookup(st, NPROF_PC_RUNNING - 1, fr, 8) == 1 &&
	      strcmp(fr[0].function, "[running]") == 0);
	/* The stack is mapped but not executable. */
	CHECK(nprof__sym_lookup(st, (uintptr_t)&local, fr, 8) == 0);
	CHECK(nprof__sym_mapping(st, (uintptr_t)&local) == NULL);
	CHECK(nprof__sym_lookup(st, UINTPTR_MAX - 4096, fr, 8) == 0);
	CHECK(nprof__sym_lookup(st, 0, fr, 8) == 0);
}

static void test_mappings(struct nprof_symtab *st)
{
	const struct nprof_mapping *maps;
	int n = nprof__sym_mappings(st, &maps), vdso = 0, sorted = 1;

	CHECK(n >= 3);
	for (int i = 0; i < n; i++) {
		CHECK(maps[i].id == (uint64_t)i + 1);
		CHECK(maps[i].start < maps[i].limit);
		if (i > 0 && maps[i].start < maps[i - 1].limit)
			sorted = 0;
		if (strcmp(maps[i].file, "[vdso]") == 0)
			vdso = 1;
		CHECK(maps[i].build_id[0] == '\0' || is_hex(maps[i].build_id, strlen(maps[i].build_id)));
	}
	CHECK(sorted);
	CHECK(vdso);
}

/* Many distinct addresses, then a heap-profile's worth of cached lookups. */
static void test_speed(struct nprof_symtab *st)
{
	enum { DISTINCT = 4096, STACKS = 50000, DEPTH = 20 };
	static uintptr_t addrs[DISTINCT];
	struct nprof_frame fr[NPROF_MAX_FRAMES];
	const struct nprof_mapping *m = nprof__sym_mapping(st, (uintptr_t)dlsym(RTLD_DEFAULT, "getpid"));
	double t0, t1, t2;
	long frames = 0;

	CHECK(m != NULL);
	if (!m)
		return;
	for (int i = 0; i < DISTINCT; i++)
		addrs[i] = m->start + ((uintptr_t)i * 977) % (m->limit - m->start);
	t0 = now_s();
	for (int i = 0; i < DISTINCT; i++)
		frames += nprof__sym_lookup(st, addrs[i], fr, NPROF_MAX_FRAMES);
	t1 = now_s();
	for (int s = 0; s < STACKS; s++)
		for (int d = 0; d < DEPTH; d++)
			frames += nprof__sym_lookup(st, addrs[(s * 7 + d * 131) % DISTINCT], fr,
						    NPROF_MAX_FRAMES);
	t2 = now_s();
	fprintf(stderr, "test_symbolize: %d new addresses %.3f s; %d cached lookups %.3f s (%ld frames)\n",
		DISTINCT, t1 - t0, STACKS * DEPTH, t2 - t1, frames);
	CHECK(frames > 0);
#if defined(__SANITIZE_THREAD__)
	CHECK(t2 - t1 < 10.0); /* ThreadSanitizer: every access is checked, 5-15x */
#elif defined(__SANITIZE_ADDRESS__)
	CHECK(t2 - t1 < 2.0);
#else
	CHECK(t2 - t1 < 0.2);
#endif
}

/* The cached state survives sessions while the maps are unchanged. */
static void test_reuse(void)
{
	struct nprof_symtab *st = nprof__sym_open();
	struct nprof_frame a[8], b[8];
	uintptr_t pc = test_known_function() - 1;
	int n;

	CHECK(st != NULL);
	if (!st)
		return;
	n = nprof__sym_lookup(st, pc, a, 8);
	nprof__sym_close(st);
	st = nprof__sym_open();
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK(nprof__sym_lookup(st, pc, b, 8) == n);
	CHECK(n > 0 && a[n - 1].function == b[n - 1].function);
	nprof__sym_close(st);
}

/* A library loaded from a file that is then deleted, and C++ demangling
 * once libstdc++ is in the process. */
static void test_dlopen_deleted(void)
{
	Dl_info di;
	char tmp[] = "/tmp/nprof-symtest-XXXXXX";
	char buf[65536];
	ssize_t r;
	int in, out;
	void *h, *cxx;

	/* Copy libelf (already loaded through libdw) to a new inode. */
	CHECK(dladdr((void *)dlsym(RTLD_DEFAULT, "elf_version"), &di) != 0 && di.dli_fname);
	in = open(di.dli_fname, O_RDONLY);
	out = mkstemp(tmp);
	CHECK(in >= 0 && out >= 0);
	if (in < 0 || out < 0)
		return;
	while ((r = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, (size_t)r) == r);
	close(in);
	close(out);
	h = dlopen(tmp, RTLD_NOW | RTLD_LOCAL);
	unlink(tmp);
	CHECK_MSG(h != NULL, "%s", dlerror());
	/* RTLD_GLOBAL, as a C++ host has it: nprof finds __cxa_demangle there. */
	cxx = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL);

	struct nprof_symtab *st = nprof__sym_open();
	CHECK(st != NULL);
	if (!st)
		return;
	if (h) {
		uintptr_t fn = (uintptr_t)dlsym(h, "elf_version");
		const struct nprof_mapping *m = nprof__sym_mapping(st, fn);
		struct nprof_frame fr[8];
		int n = nprof__sym_lookup(st, fn, fr, 8);

		CHECK(m != NULL);
		if (m) {
			CHECK_MSG(ends_with(m->file, " (deleted)"), "got %s", m->file);
			/* From the image in memory: the file is gone. */
			CHECK_MSG(is_hex(m->build_id, 40), "build id '%s'", m->build_id);
		}
		/* libdw cannot open the deleted file; no frames, and no crash. */
		CHECK(n >= 0 && n <= 8);
	}
	if (cxx) {
		/* A mangled libstdc++ symbol comes back demangled. */
		uintptr_t fn = (uintptr_t)dlsym(cxx, "_ZNSt9exceptionD2Ev");
		struct nprof_frame fr[8];
		int n = fn ? nprof__sym_lookup(st, fn, fr, 8) : 0;

		CHECK(fn != 0 && n >= 1);
		if (n >= 1)
			CHECK_MSG(strstr(fr[n - 1].function, "std::exception::~exception") != NULL,
				  "got %s", fr[n - 1].function);
	}
	/* Test-binary addresses still resolve after the rebuild. */
	struct nprof_frame fr[8];
	CHECK(nprof__sym_lookup(st, test_known_function() - 1, fr, 8) >= 1);
	nprof__sym_close(st);
}

int main(void)
{
	struct nprof_symtab *st = nprof__sym_open();

	CHECK(st != NULL);
	if (st) {
		test_known(st);
		test_inline(st);
		test_libc(st);
		test_nowhere(st);
		test_mappings(st);
		test_speed(st);
		nprof__sym_close(st);
	}
	test_reuse();
	test_dlopen_deleted();
	return unit_done("test_symbolize");
}
