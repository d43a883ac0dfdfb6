/*
 * symbolize.c - addresses to functions, files, lines and mappings,
 * in-process, with libdwfl.
 *
 * Owns: the symbolization session (nprof__sym_open .. nprof__sym_close),
 * the cached libdwfl state and the lookup of one address (cache first).
 * procmaps.c supplies the mapping table and build IDs; symcache.c keeps
 * the result cache and the intern table; symdwarf.c computes an address's
 * frames from its module (sym_int.h is what the three share).
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
#include "procmaps.h"
#include "stacks.h"
#include "sym_int.h"
#include "symbolize.h"

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nprof_symtab sym_state;
static int64_t sym_last_close_ns;   /* under sym_lock */

static int sym_warned;

/* ---- state ---------------------------------------------------------- */

static void state_reset(struct nprof_symtab *st)
{
	nprof__symcache_flush(st);
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
		nprof__symcache_flush(st);
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
		out[0] = (struct nprof_frame){.function = "[running]", .file = nprof__sym_empty};
		return 1;
	}
	e = nprof__symcache_find(st, addr);
	if (NPROF_LIKELY(e != NULL)) {
		n = e->n < max ? e->n : max;
		if (n > 0)
			memcpy(out, e->frames, (size_t)n * sizeof(*out));
		return n;
	}
	m = find_mapping(st, addr);
	n = m ? nprof__symdwarf_resolve(st, m, addr, fr) : 0;
	if (n == 0 && m)
		n = nprof__symdwarf_module_offset(st, m, addr, fr);
	/* A line without a function (DWARF lines, no symbol): still named. */
	for (int i = 0; i < n && m; i++) {
		struct nprof_frame named;
		if (fr[i].function[0] == '\0' && nprof__symdwarf_module_offset(st, m, addr, &named) == 1)
			fr[i].function = named.function;
	}
	if (n < 0)
		return 0; /* out of memory: report nothing, cache nothing */
	nprof__symcache_put(st, addr, fr, n);
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
