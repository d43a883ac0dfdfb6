/*
 * symbolize.c - addresses to functions, files, lines and mappings,
 * in-process, with libdwfl.
 *
 * Owns: the symbolization session (nprof__sym_open .. nprof__sym_close),
 * the cached libdwfl state, the per-address result cache and the string
 * intern table. procmaps.c supplies the mapping table and build IDs.
 *
 * Data structures, all in one static struct nprof_symtab:
 *   - dwfl: a Dwfl reported from /proc/self/maps. Building it (and letting
 *     it load symbol tables and DWARF) is the expensive part, so it is kept
 *     across sessions while the hash of the maps' executable lines and the
 *     pid are unchanged; a dlopen/dlclose or a fork rebuilds everything.
 *   - maps: the executable mappings, sorted by address (binary search).
 *   - cache: open-addressing hash table addr -> frames. A profile looks up
 *     the same return address once per sample; after the first lookup it
 *     costs one probe and a copy. Results (including "nothing known") live
 *     as long as the Dwfl, so repeated profiles are cheap too; the cache is
 *     flushed at session open when it grows past a bound.
 *   - strs: intern table of function and file names; equal strings share
 *     one pointer within a session, and each mangled name is demangled once.
 *   - pool: a chain of arena chunks holding frames and string bytes; freed
 *     all at once on flush or rebuild.
 *   - mods: per libdwfl module, its function symbols sorted by address
 *     (dwfl_module_addrinfo is a linear scan) and, when libdw cannot find
 *     a CU for an address (no .debug_aranges, as clang emits), a sorted
 *     table of CU ranges. Both live as long as the Dwfl.
 * Everything is arena memory (never malloc). libdw mallocs internally, and
 * the scope arrays it returns are released with free() as its API says.
 *
 * Locking: one session at a time. nprof__sym_open() takes sym_lock and
 * nprof__sym_close() releases it; every other function must be called
 * between the two by the thread that opened. The session raises the hook
 * guard so libdw's own allocations pass through the heap profiler. Nothing
 * here is async-signal-safe.
 *
 * Frames: innermost first. For an address inside inlined code, frame 0 is
 * the innermost inlined function at the address's own line; each outer
 * frame is the function the previous one was inlined into, at the call
 * site (DW_AT_call_file/DW_AT_call_line of the inlined instance); the last
 * frame is the real, out-of-line function. symoff (address minus the start
 * of the ELF symbol containing it, i.e. of the outermost function) is the
 * same in every frame of one address, as Go reports func+offset for
 * inlined frames. See docs/internals/symbols.md.
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "base.h"
#include "modindex.h"
#include "procmaps.h"
#include "stacks.h"
#include "symbolize.h"

/* Deepest inline chain kept for one address. */
#define SYM_MAX_INLINE 32

/* Pool chunk size; bigger requests get a chunk of their own. */
#define POOL_CHUNK (64 * 1024)

/* The result cache is flushed at open once its pool holds this much. */
#define CACHE_MAX_BYTES ((size_t)64 << 20)

typedef char *(*demangle_fn)(const char *mangled, char *buf, size_t *len, int *status);

struct pool_chunk {
	struct pool_chunk *next;
	size_t used, cap;
	char data[];
};

/* A cached lookup; addr 0 marks an empty slot (0 is never looked up). */
struct sym_entry {
	uintptr_t addr;
	struct nprof_frame *frames;
	int n;
};

/* An interned string; demangled is the display form, set on first use
 * as a function name (NULL until then). */
struct sym_str {
	uint64_t hash;
	const char *s;
	const char *demangled;
};

/* A function symbol of a module's ELF symbol table. */
struct nprof_symtab {
	Dwfl *dwfl;
	uint64_t maps_hash;
	pid_t pid;
	int stale;                  /* rebuild at the next open */
	struct nprof_mapping *maps; /* procmaps.c block */
	int nmaps;
	struct sym_entry *cache;
	size_t cache_cap, cache_n;  /* cap a power of two */
	struct sym_str *strs;
	size_t strs_cap, strs_n;
	struct pool_chunk *pool;
	size_t pool_bytes;
	struct mod_info *mods;      /* arena; lives with the Dwfl */
	int nmods, mods_cap, last_mod;
	demangle_fn demangle;
	int saved_guard;            /* the opener's hook guard, restored at close */
	unsigned di_gen;            /* debuginfo generation the Dwfl was built at */
};

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nprof_symtab sym_state;
static int64_t sym_last_close_ns;   /* under sym_lock */

static const char sym_empty[] = "";
static int sym_warned;

/* ---- pool and intern table ------------------------------------------ */

static void *pool_alloc(struct nprof_symtab *st, size_t size)
{
	struct pool_chunk *c = st->pool;
	void *p;

	size = (size + 15) & ~(size_t)15;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > POOL_CHUNK ? size : POOL_CHUNK;
		c = nprof__arena_alloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = st->pool;
		st->pool = c;
		st->pool_bytes += sizeof(*c) + cap;
	}
	p = c->data + c->used;
	c->used += size;
	return p;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int strs_grow(struct nprof_symtab *st)
{
	size_t cap = st->strs_cap ? st->strs_cap * 2 : 4096;
	struct sym_str *t = nprof__arena_alloc(cap * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < st->strs_cap; i++) {
		struct sym_str *o = &st->strs[i];
		size_t j;
		if (!o->s)
			continue;
		for (j = o->hash & (cap - 1); t[j].s; j = (j + 1) & (cap - 1))
			;
		t[j] = *o;
	}
	nprof__arena_free(st->strs);
	st->strs = t;
	st->strs_cap = cap;
	return 0;
}

/* The interned copy of s (a slot in strs), or NULL when out of memory.
 * The slot pointer is valid only until the next intern. */
static struct sym_str *intern_slot(struct nprof_symtab *st, const char *s)
{
	uint64_t h = str_hash(s);
	size_t j, len;
	char *copy;

	if ((st->strs_n + 1) * 2 > st->strs_cap && strs_grow(st) != 0)
		return NULL;
	for (j = h & (st->strs_cap - 1); st->strs[j].s; j = (j + 1) & (st->strs_cap - 1))
		if (st->strs[j].hash == h && strcmp(st->strs[j].s, s) == 0)
			return &st->strs[j];
	len = strlen(s);
	copy = pool_alloc(st, len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len + 1);
	st->strs[j].hash = h;
	st->strs[j].s = copy;
	st->strs[j].demangled = NULL;
	st->strs_n++;
	return &st->strs[j];
}

/* An interned file name; "" for NULL or empty; NULL when out of memory. */
static const char *intern(struct nprof_symtab *st, const char *s)
{
	struct sym_str *e;

	if (!s || !*s)
		return sym_empty;
	e = intern_slot(st, s);
	return e ? e->s : NULL;
}

/*
 * An interned function name in display form: C++ names demangled with
 * the host's __cxa_demangle when it has one (libstdc++ is not linked into
 * nprof, so a pure C host keeps raw names, which are C names anyway).
 */
static const char *function_name(struct nprof_symtab *st, const char *raw)
{
	struct sym_str *e;
	const char *shown;
	char *d = NULL;
	int status = -1;

	if (!raw || !*raw)
		return sym_empty;
	e = intern_slot(st, raw);
	if (!e)
		return NULL;
	if (e->demangled)
		return e->demangled;
	shown = e->s;
	if (raw[0] == '_' && raw[1] == 'Z' && st->demangle)
		d = st->demangle(raw, NULL, NULL, &status);
	if (d && status == 0) {
		struct sym_str *de = intern_slot(st, d);
		if (de)
			shown = de->s;
		/* Interning may have moved the table: find raw's slot again. */
		e = intern_slot(st, raw);
	}
	free(d); /* __cxa_demangle's buffer is the host malloc's, not ours */
	if (!e)
		return NULL;
	e->demangled = shown;
	return shown;
}

/* ---- address cache -------------------------------------------------- */

static size_t addr_slot(uintptr_t addr, size_t cap)
{
	uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ull;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct sym_entry *cache_find(struct nprof_symtab *st, uintptr_t addr)
{
	if (!st->cache)
		return NULL;
	for (size_t j = addr_slot(addr, st->cache_cap);; j = (j + 1) & (st->cache_cap - 1)) {
		if (st->cache[j].addr == addr)
			return &st->cache[j];
		if (st->cache[j].addr == 0)
			return NULL;
	}
}

static int cache_grow(struct nprof_symtab *st)
{
	size_t cap = st->cache_cap ? st->cache_cap * 2 : 16384;
	struct sym_entry *t = nprof__arena_alloc(cap * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < st->cache_cap; i++) {
		size_t j;
		if (!st->cache[i].addr)
			continue;
		for (j = addr_slot(st->cache[i].addr, cap); t[j].addr; j = (j + 1) & (cap - 1))
			;
		t[j] = st->cache[i];
	}
	nprof__arena_free(st->cache);
	st->cache = t;
	st->cache_cap = cap;
	return 0;
}

/* Remembers a result; failure only costs a later recomputation. */
static void cache_put(struct nprof_symtab *st, uintptr_t addr, const struct nprof_frame *fr, int n)
{
	struct nprof_frame *copy = NULL;
	size_t j;

	if ((st->cache_n + 1) * 2 > st->cache_cap && cache_grow(st) != 0)
		return;
	if (n > 0) {
		copy = pool_alloc(st, (size_t)n * sizeof(*copy));
		if (!copy)
			return;
		memcpy(copy, fr, (size_t)n * sizeof(*copy));
	}
	for (j = addr_slot(addr, st->cache_cap); st->cache[j].addr; j = (j + 1) & (st->cache_cap - 1))
		;
	st->cache[j].addr = addr;
	st->cache[j].frames = copy;
	st->cache[j].n = n;
	st->cache_n++;
}

/* Forgets every result and string (between sessions only). */
static void cache_flush(struct nprof_symtab *st)
{
	while (st->pool) {
		struct pool_chunk *next = st->pool->next;
		nprof__arena_free(st->pool);
		st->pool = next;
	}
	st->pool_bytes = 0;
	nprof__arena_free(st->cache);
	st->cache = NULL;
	st->cache_cap = st->cache_n = 0;
	nprof__arena_free(st->strs);
	st->strs = NULL;
	st->strs_cap = st->strs_n = 0;
}

/* ---- state ---------------------------------------------------------- */

static void state_reset(struct nprof_symtab *st)
{
	cache_flush(st);
	for (int i = 0; i < st->nmods; i++) {
		nprof__arena_free(st->mods[i].syms);
		nprof__arena_free(st->mods[i].cus);
	}
	nprof__arena_free(st->mods);
	st->mods = NULL;
	st->nmods = st->mods_cap = st->last_mod = 0;
	if (st->dwfl)
		dwfl_end(st->dwfl);
	st->dwfl = NULL;
	nprof__arena_free(st->maps);
	st->maps = NULL;
	st->nmaps = 0;
	st->stale = 1;
}

/* 1 when path names the same file as st0 (a stat of /proc/self/exe). */
static int same_file(const char *path, const struct stat *st0)
{
	struct stat st1;
	return stat(path, &st1) == 0 && st1.st_dev == st0->st_dev && st1.st_ino == st0->st_ino;
}

/* Looks for `name` (no slash) in the directories of PATH, then in dir;
 * into out when it is the executable. */
static int find_as_started(const char *name, const char *dir, const struct stat *st0, char *out,
			   size_t cap)
{
	const char *path = getenv("PATH");
	char cand[PATH_MAX];

	if (!name[0] || strchr(name, '/'))
		return 0;
	if (dir && snprintf(cand, sizeof cand, "%s/%s", dir, name) < (int)sizeof cand &&
	    same_file(cand, st0))
		return snprintf(out, cap, "%s", cand) < (int)cap;
	while (path && *path) {
		const char *e = strchr(path, ':');
		int n = e ? (int)(e - path) : (int)strlen(path);
		if (n > 0 && snprintf(cand, sizeof cand, "%.*s/%s", n, path, name) < (int)sizeof cand &&
		    same_file(cand, st0))
			return snprintf(out, cap, "%s", cand) < (int)cap;
		path = e ? e + 1 : NULL;
	}
	return 0;
}

/*
 * The main executable's path as the user started it: /usr/bin/redis-server,
 * not the /usr/bin/redis-check-rdb its symlink points to (what
 * /proc/self/exe says, and pprof shows as "File:"). argv[0] (as given, or
 * found in PATH; up to its first space, for programs that rewrite their
 * argv into a title), then the command name (set by the kernel from the
 * name exec'd) beside the executable or in PATH; each must name the very
 * file /proc/self/exe is. Empty when none does (then the kernel's path
 * stays).
 */
static void exe_as_started(const char *exe, char *out, size_t cap)
{
	char buf[PATH_MAX], dir[PATH_MAX];
	struct stat st0;
	ssize_t n;
	int fd;

	out[0] = '\0';
	if (stat("/proc/self/exe", &st0) != 0)
		return;
	snprintf(dir, sizeof dir, "%s", exe);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = '\0';
		for (int pass = 0; pass < 2; pass++) {
			if (pass == 1 && strchr(buf, ' '))
				*strchr(buf, ' ') = '\0';
			else if (pass == 1)
				break;
			if (strchr(buf, '/')) {
				if (buf[0] == '/' && same_file(buf, &st0)) {
					snprintf(out, cap, "%s", buf);
					return;
				}
			} else if (find_as_started(buf, NULL, &st0, out, cap)) {
				return;
			}
		}
	}
	fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, 64) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = '\0';
		if (strchr(buf, '\n'))
			*strchr(buf, '\n') = '\0';
		if (find_as_started(buf, dir, &st0, out, cap))
			return;
	}
	out[0] = '\0';
}

/* The main executable's mappings are named as the program was started;
 * sym_exe is that name (or the kernel's path), "" when unknown. */
static char sym_exe_shown[PATH_MAX], sym_exe[PATH_MAX];

static void name_main_executable(struct nprof_symtab *st)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	sym_exe[0] = '\0';
	if (n <= 0)
		return;
	exe[n] = '\0';
	memcpy(sym_exe, exe, (size_t)n + 1);
	exe_as_started(exe, sym_exe_shown, sizeof sym_exe_shown);
	if (!sym_exe_shown[0] || strcmp(sym_exe_shown, exe) == 0)
		return;
	memcpy(sym_exe, sym_exe_shown, strlen(sym_exe_shown) + 1);
	for (int i = 0; i < st->nmaps; i++)
		if (strcmp(st->maps[i].file, exe) == 0)
			st->maps[i].file = sym_exe_shown;
}

/*
 * Builds the mapping table and the Dwfl. A Dwfl that cannot be built
 * leaves a usable session that knows mappings but no symbols, and is
 * retried at the next open.
 */
static int state_build(struct nprof_symtab *st, const char *text, size_t len, uint64_t hash)
{
	int n = nprof__procmaps_load(text, len, &st->maps);

	if (n < 0)
		return n;
	st->nmaps = n;
	name_main_executable(st);
	st->maps_hash = hash;
	st->pid = getpid();
	st->stale = 0;
	st->di_gen = nprof__debuginfo_generation();
	st->dwfl = dwfl_begin(&nprof__dwfl_callbacks);
	if (!st->dwfl)
		goto fail_dwfl;
	dwfl_report_begin(st->dwfl);
	if (dwfl_linux_proc_report(st->dwfl, st->pid) != 0)
		goto fail_report;
	if (dwfl_report_end(st->dwfl, NULL, NULL) != 0)
		goto fail_report;
	return 0;

fail_report:
	dwfl_end(st->dwfl);
	st->dwfl = NULL;
fail_dwfl:
	/* Retried at every open: say so once, not on every request. */
	if (!sym_warned) {
		sym_warned = 1;
		nprof__log("symbols: libdw could not read this process's modules: %s",
			   dwfl_errmsg(-1));
	}
	st->stale = 1;
	return 0;
}

/*
 * Takes the session lock (waiting for any other session), raises the hook
 * guard, and makes sure the state matches the process: rebuilt when the
 * executable lines of /proc/self/maps or the pid changed, else reused with
 * its caches (flushed if they grew too big). NULL, with the lock released,
 * when the maps cannot be read or the arena is exhausted.
 */
struct nprof_symtab *nprof__sym_open(void)
{
	struct nprof_symtab *st = &sym_state;
	char *text;
	size_t len;
	uint64_t hash;

	pthread_mutex_lock(&sym_lock);
	st->saved_guard = nprof__guard;
	nprof__guard = 1;
	if (nprof__procmaps_read(&text, &len) != 0)
		goto fail_read;
	hash = nprof__procmaps_hash(text, len);
	nprof__debuginfo_session(nprof__mono_ns());
	if (st->dwfl && st->di_gen != nprof__debuginfo_generation()) {
		/* Debug files arrived from debuginfod after a lookup gave up on
		 * them: libdw remembers the miss, so start over with a fresh
		 * Dwfl (and forget the answers given without them). */
		st->stale = 1;
	}
	if (st->stale || !st->maps || hash != st->maps_hash || st->pid != getpid()) {
		state_reset(st);
		if (state_build(st, text, len, hash) != 0)
			goto fail_build;
	} else if (st->pool_bytes > CACHE_MAX_BYTES || st->pool_bytes > nprof__arena_limit() / 4) {
		cache_flush(st);
	}
	nprof__arena_free(text);
	/* Looked up per session: the host may have loaded libstdc++ since. */
	st->demangle = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
	return st;

fail_build:
	state_reset(st);
	nprof__arena_free(text);
fail_read:
	nprof__guard = st->saved_guard;
	pthread_mutex_unlock(&sym_lock);
	return NULL;
}

/* Ends the session: restores the hook guard and releases the lock. The
 * state and its caches stay for the next session; pointers handed out
 * must no longer be used. NULL is ignored. */
void nprof__sym_close(struct nprof_symtab *st)
{
	if (!st)
		return;
	sym_last_close_ns = nprof__mono_ns();
	nprof__guard = st->saved_guard;
	pthread_mutex_unlock(&sym_lock);
}

/*
 * Drops the whole state (the Dwfl with its debug files' descriptors and
 * libdw's memory, the caches) when no session has run for idle_ns: a
 * service profiled once an hour should not hold them in between. The next
 * session rebuilds it (the first-profile cost again). Never waits: a
 * session in progress is simply not idle.
 */
void nprof__sym_release_idle(int64_t idle_ns)
{
	struct nprof_symtab *st = &sym_state;

	if (pthread_mutex_trylock(&sym_lock) != 0)
		return;
	if (st->dwfl && sym_last_close_ns != 0 && nprof__mono_ns() - sym_last_close_ns > idle_ns) {
		int guard = nprof__guard;
		nprof__guard = 1;
		state_reset(st);
		nprof__guard = guard;
	}
	pthread_mutex_unlock(&sym_lock);
}

/* ---- lookups -------------------------------------------------------- */

static struct nprof_mapping *find_mapping(struct nprof_symtab *st, uintptr_t addr)
{
	int lo = 0, hi = st->nmaps;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (addr < st->maps[mid].start)
			hi = mid;
		else if (addr >= st->maps[mid].limit)
			lo = mid + 1;
		else
			return &st->maps[mid];
	}
	return NULL;
}

/* The executable mapping containing addr (binary search), or NULL. */
const struct nprof_mapping *nprof__sym_mapping(struct nprof_symtab *st, uintptr_t addr)
{
	return st ? find_mapping(st, addr) : NULL;
}

/* The session's executable mappings in address order; the has_* flags
 * reflect the lookups made so far (under this Dwfl, across sessions). */
int nprof__sym_mappings(struct nprof_symtab *st, const struct nprof_mapping **out)
{
	if (!st) {
		*out = NULL;
		return 0;
	}
	*out = st->maps;
	return st->nmaps;
}

/* The main executable's path as its mappings are named ("" unknown). */
const char *nprof__sym_exe_path(struct nprof_symtab *st)
{
	return st ? sym_exe : "";
}

/* ---- modules ------------------------------------------------------- */

/* The index entry of `mod` (modindex.c), created and its symbols sorted on
 * first use; the last one found is remembered, as lookups come in runs. */
static struct mod_info *mod_info_get(struct nprof_symtab *st, Dwfl_Module *mod)
{
	struct mod_info *ms;

	if (st->last_mod < st->nmods && st->mods[st->last_mod].mod == mod)
		return &st->mods[st->last_mod];
	for (int i = 0; i < st->nmods; i++) {
		if (st->mods[i].mod == mod) {
			st->last_mod = i;
			return &st->mods[i];
		}
	}
	if (st->nmods == st->mods_cap) {
		int cap = st->mods_cap ? st->mods_cap * 2 : 64;
		struct mod_info *t = nprof__arena_realloc(st->mods, (size_t)cap * sizeof(*t));
		if (!t)
			return NULL;
		st->mods = t;
		st->mods_cap = cap;
	}
	ms = &st->mods[st->nmods];
	memset(ms, 0, sizeof(*ms));
	ms->mod = mod;
	nprof__modindex_syms(ms);
	st->last_mod = st->nmods++;
	return ms;
}

/* A DIE's function name, following abstract_origin/specification; the
 * linkage name first so that C++ shows its qualified, demangled form. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *s;

	s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
	if (!s)
		s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
	if (!s)
		s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
	return s;
}

/*
 * The inline chain at addr from DWARF scopes, innermost first, as raw
 * (un-interned) names and libdw-owned file strings. dwarf_getscopes()
 * follows an inlined instance into its abstract definition (what a
 * debugger wants for variables), so, like eu-addr2line -i, we take its
 * innermost DIE and walk the physical nesting with dwarf_getscopes_die().
 * Returns the number of frames, 0 when the scopes are unusable.
 */
static int inline_chain(Dwarf_Die *cudie, Dwarf_Addr bias, uintptr_t addr, const char *file0,
			int line0, const char *elfname, const char **names, const char **files,
			int *lines, int max)
{
	Dwarf_Die *scopes = NULL, inner;
	Dwarf_Files *srcfiles = NULL;
	const char *file = file0;
	int ns, n = 0, line = line0;

	ns = dwarf_getscopes(cudie, addr - bias, &scopes);
	if (ns <= 0) {
		free(scopes);
		return 0;
	}
	inner = scopes[0];
	free(scopes);
	scopes = NULL;
	ns = dwarf_getscopes_die(&inner, &scopes);
	if (ns <= 0) {
		free(scopes);
		return 0;
	}
	if (dwarf_getsrcfiles(cudie, &srcfiles, NULL) != 0)
		srcfiles = NULL;
	for (int i = 0; i < ns && n < max; i++) {
		Dwarf_Die *d = &scopes[i];
		int tag = dwarf_tag(d);
		Dwarf_Attribute a;
		Dwarf_Word v;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram &&
		    tag != DW_TAG_entry_point)
			continue;
		names[n] = die_name(d);
		if (!names[n] && tag != DW_TAG_inlined_subroutine)
			names[n] = elfname;
		files[n] = file;
		lines[n] = line;
		n++;
		if (tag != DW_TAG_inlined_subroutine)
			break;
		/* The next outer frame is at this instance's call site. */
		line = dwarf_formudata(dwarf_attr(d, DW_AT_call_line, &a), &v) == 0 ? (int)v : 0;
		file = NULL;
		if (srcfiles && dwarf_formudata(dwarf_attr(d, DW_AT_call_file, &a), &v) == 0)
			file = dwarf_filesrc(srcfiles, v, NULL, NULL);
	}
	free(scopes);
	return n;
}

/*
 * Computes the frames for addr into fr[SYM_MAX_INLINE] and marks the
 * mapping's has_* flags. Returns the frame count (0 when nothing is
 * known) or -ENOMEM when a string could not be interned.
 */
static int resolve(struct nprof_symtab *st, struct nprof_mapping *m, uintptr_t addr,
		   struct nprof_frame *fr)
{
	const char *names[SYM_MAX_INLINE], *files[SYM_MAX_INLINE];
	int lines[SYM_MAX_INLINE];
	const char *elfname = NULL, *file0 = NULL;
	const struct fsym *fs;
	struct mod_info *ms;
	Dwfl_Module *mod;
	Dwarf_Die *cudie;
	Dwarf_Addr bias = 0;
	uintptr_t off = 0;
	int n = 0, line0 = 0;

	if (!st->dwfl || !(mod = dwfl_addrmodule(st->dwfl, addr)))
		return 0;
	if (!(ms = mod_info_get(st, mod)))
		return -ENOMEM;
	/* Same answer as dwfl_module_addrinfo(), from a sorted table. */
	fs = nprof__modindex_symbol(ms, addr);
	if (fs) {
		elfname = fs->name;
		off = addr - fs->start;
	}
	cudie = nprof__modindex_cu(ms, addr, &bias);
	if (cudie) {
		Dwarf_Line *dl = dwarf_getsrc_die(cudie, addr - bias);
		if (dl && dwarf_lineno(dl, &line0) == 0)
			file0 = dwarf_linesrc(dl, NULL, NULL);
		else
			line0 = 0;
		n = inline_chain(cudie, bias, addr, file0, line0, elfname, names, files, lines,
				 SYM_MAX_INLINE);
	}
	if (n > 0) {
		m->has_inline_frames = 1;
	} else {
		/* No usable scopes: the ELF symbol, with a line if the line
		 * table knows one. */
		if (!elfname && !file0)
			return 0;
		names[0] = elfname;
		files[0] = file0;
		lines[0] = line0;
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		fr[i].function = function_name(st, names[i]);
		fr[i].file = intern(st, files[i]);
		if (!fr[i].function || !fr[i].file)
			return -ENOMEM;
		fr[i].line = lines[i] > 0 ? lines[i] : 0;
		fr[i].symoff = off;
		if (fr[i].function[0])
			m->has_functions = 1;
		if (fr[i].file[0])
			m->has_filenames = 1;
		if (fr[i].line)
			m->has_line_numbers = 1;
	}
	return n;
}

/*
 * The last resort for an address in a known mapping without any symbol:
 * one frame named "module+0xOFFSET", the file's base name and the
 * address's offset in the file (for libraries and PIE executables also
 * the address eu-addr2line -e FILE and objdump use); never a bare address. The has_functions flag stays
 * as it was: this is no symbol.
 */
static int module_offset(struct nprof_symtab *st, const struct nprof_mapping *m, uintptr_t addr,
			 struct nprof_frame *fr)
{
	char name[300], clean[256];
	const char *base = m->file[0] ? strrchr(m->file, '/') : NULL;
	size_t n;

	if (m->file[0] == '\0')
		snprintf(clean, sizeof clean, "[anon]");
	else
		snprintf(clean, sizeof clean, "%s", base ? base + 1 : m->file);
	n = strlen(clean);
	if (n > 10 && strcmp(clean + n - 10, " (deleted)") == 0)
		clean[n - 10] = '\0';
	snprintf(name, sizeof name, "%s+0x%" PRIxPTR, clean,
		 (uintptr_t)(addr - m->start + m->offset));
	fr[0].function = intern(st, name);
	fr[0].file = sym_empty;
	fr[0].line = 0;
	fr[0].symoff = 0;
	return fr[0].function ? 1 : -ENOMEM;
}

/*
 * Frames for addr (a return address minus one, or an exact pc), innermost
 * first, at most max; the count, 0 when nothing is known. Answered from
 * the cache when seen before (one hash probe); otherwise resolved, marked
 * on the mapping's has_* flags and cached, including "nothing known".
 * Out of memory yields 0 frames, uncached.
 */
int nprof__sym_lookup(struct nprof_symtab *st, uintptr_t addr,
		      struct nprof_frame *out, int max)
{
	struct nprof_frame fr[SYM_MAX_INLINE];
	const struct sym_entry *e;
	struct nprof_mapping *m;
	int n;

	if (!st || max <= 0 || addr == 0)
		return 0;
	if (addr == NPROF_PC_RUNNING - 1) {
		out[0] = (struct nprof_frame){.function = "[running]", .file = sym_empty};
		return 1;
	}
	e = cache_find(st, addr);
	if (NPROF_LIKELY(e != NULL)) {
		n = e->n < max ? e->n : max;
		if (n > 0)
			memcpy(out, e->frames, (size_t)n * sizeof(*out));
		return n;
	}
	m = find_mapping(st, addr);
	n = m ? resolve(st, m, addr, fr) : 0;
	if (n == 0 && m)
		n = module_offset(st, m, addr, fr);
	/* A line without a function (DWARF lines, no symbol): still named. */
	for (int i = 0; i < n && m; i++) {
		struct nprof_frame named;
		if (fr[i].function[0] == '\0' && module_offset(st, m, addr, &named) == 1)
			fr[i].function = named.function;
	}
	if (n < 0)
		return 0; /* out of memory: report nothing, cache nothing */
	cache_put(st, addr, fr, n);
	if (n > max)
		n = max;
	if (n > 0)
		memcpy(out, fr, (size_t)n * sizeof(*out));
	return n;
}

void nprof__sym_postfork_child(void)
{
	/* The child inherits the lock in whatever state the parent's
	 * threads left it; the state itself is rebuilt on a pid change. */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	sym_lock = fresh;
	nprof__debuginfo_postfork_child();
}
