/*
 * debuginfo.c - where nprof finds a module's file and its debug info:
 * the libdw callbacks of both Dwfls (symbolize.c's and stackwalk.c's) and
 * the debuginfod fetcher.
 *
 * The mapped file: always through /proc/self/map_files/START-END, the
 * very inode the process has mapped, so a binary deleted or replaced by a
 * deploy after start still gives the right names (its path now names
 * another file, or nothing). It is mapped with libelf (ELF_C_READ_MMAP)
 * and its descriptor closed at once (ELF_C_FDDONE): a module holds no
 * descriptor for its main file, and the two Dwfls never hold one each.
 *
 * Separate debug info (symbolizer only), as gdb looks for it:
 *   1. by build ID: DIR/.build-id/xx/rest.debug for each DIR of
 *      NPROF_DEBUG_DIRS (default /usr/lib/debug), the ID checked;
 *   2. by .gnu_debuglink: beside the file, in its .debug/, and in DIR +
 *      the file's directory, the CRC-32 checked;
 *   3. MiniDebugInfo (.gnu_debugdata, an xz-compressed symbol table in
 *      the binary itself) is read by libdw when nothing above is found
 *      and the file has no .symtab (Debian's libdw is built with lzma);
 *   4. debuginfod, when DEBUGINFOD_URLS is set and NPROF_DEBUGINFOD is not
 *      0: libdebuginfod, dlopen()ed (a missing library means no
 *      debuginfod), on a fetcher thread of nprof's own, never in a hook
 *      or a signal handler. A lookup waits for a fetch only until the
 *      current session's deadline (NPROF_DEBUGINFOD_MS after it opened),
 *      then goes on without; when the fetch completes later the
 *      generation counter moves and the symbolizer rebuilds its Dwfl at
 *      its next session, so later profiles have the names. Results,
 *      including failures, are kept per build ID for the process's life;
 *      the files themselves live in libdebuginfod's cache.
 *
 * Locking: the callbacks run under the caller's session lock (sym_lock
 * or the thread dump lock). The debuginfod table has its own mutex,
 * shared with the fetcher thread. Nothing here is async-signal-safe; all
 * of it runs with the hook guard up (libdw and libdebuginfod malloc).
 */
#include <dlfcn.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "arena.h"
#include "base.h"
#include "procmaps.h"

#define DELETED " (deleted)"

/* ---- the mapped file ------------------------------------------------- */

/* A path as the kernel printed it, without " (deleted)", into buf. */
static const char *clean_path(const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name), d = sizeof DELETED - 1;
	if (n > d && strcmp(name + n - d, DELETED) == 0)
		n -= d;
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, name, n);
	buf[n] = '\0';
	return buf;
}

/*
 * A copy of /proc/self/maps shared by the lookups of one Dwfl's modules
 * (libdw asks for each module's file separately; with 10,000 threads the
 * text is ~1.5 MB). Kept for a second; a range that has gone stale makes
 * the map_files open fail and the caller read afresh. maps_lock: the two
 * Dwfls' callbacks run under different locks.
 */
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static char *maps_text;
static int64_t maps_at;

/* The range "lo-hi" of one mapping of `name` (the path as maps prints
 * it), preferring the one starting at base. 0, or -1 when none. */
static int mapping_of(const char *name, uintptr_t base, int fresh, unsigned long *lo,
		      unsigned long *hi)
{
	char want[4096], have[4096];
	size_t len;
	int found = -1;

	clean_path(name, want, sizeof want);
	pthread_mutex_lock(&maps_lock);
	if (fresh || !maps_text || nprof__mono_ns() - maps_at > 1000000000) {
		nprof__arena_free(maps_text);
		maps_text = NULL;
		if (nprof__procmaps_read(&maps_text, &len) != 0) {
			maps_text = NULL;
			pthread_mutex_unlock(&maps_lock);
			return -1;
		}
		maps_at = nprof__mono_ns();
	}
	for (const char *line = maps_text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char one[4200];
		unsigned long a, b;
		int path_at = 0;
		if (n < sizeof one) {
			memcpy(one, line, n);
			one[n] = '\0';
			if (sscanf(one, "%lx-%lx %*s %*s %*s %*s %n", &a, &b, &path_at) == 2 &&
			    path_at > 0 && one[path_at] == '/' &&
			    strcmp(clean_path(one + path_at, have, sizeof have), want) == 0) {
				if (found < 0 || a == base) {
					*lo = a;
					*hi = b;
					found = 0;
				}
				if (a == base)
					break;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	pthread_mutex_unlock(&maps_lock);
	return found;
}

/* The mapped file of `name` through /proc/self/map_files, or -1. */
static int open_mapped(const char *name, uintptr_t base)
{
	unsigned long lo, hi;
	char path[64];

	for (int fresh = 0; fresh < 2; fresh++) {
		if (mapping_of(name, base, fresh, &lo, &hi) != 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", lo, hi);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

static int find_elf_mapped(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
			   char **file_name, Elf **elfp)
{
	int fd = -1;

	*elfp = NULL;
	if (name[0] == '/')
		fd = open_mapped(name, (uintptr_t)base);
	if (fd < 0) {
		/* No map_files (an old kernel, a hardened one): the path, when
		 * it still names the file, or libdw's reading of memory. */
		fd = dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
		if (fd >= 0)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		return fd;
	}
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf == NULL || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -1;
	}
	/* Mapped whole: libelf needs the descriptor no more. */
	elf_cntl(elf, ELF_C_FDDONE);
	close(fd);
	char clean[4096];
	*file_name = strdup(clean_path(name, clean, sizeof clean));
	*elfp = elf;
	return -1;
}

/* ---- debug directories ----------------------------------------------- */

/* The next directory of NPROF_DEBUG_DIRS after *cursor, into buf; NULL at
 * the end. */
static const char *next_dir(const char **cursor, char *buf, size_t cap)
{
	const char *s = *cursor;
	while (s && *s == ':')
		s++;
	if (!s || !*s)
		return NULL;
	const char *e = strchr(s, ':');
	size_t n = e ? (size_t)(e - s) : strlen(s);
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*cursor = e;
	return buf;
}

static const char *debug_dirs(void)
{
	return nprof__cfg.debug_dirs[0] ? nprof__cfg.debug_dirs : "/usr/lib/debug";
}

/* 1 when the ELF file open on fd carries exactly this build ID. */
static int has_build_id(int fd, const unsigned char *id, int len)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *got = NULL;
	int ok = 0;
	if (elf) {
		ssize_t n = dwelf_elf_gnu_build_id(elf, &got);
		ok = n == len && memcmp(got, id, (size_t)len) == 0;
		elf_end(elf);
	}
	return ok;
}

static int open_by_build_id(const unsigned char *id, int len, char **found)
{
	const char *cur = debug_dirs();
	char dir[1024], path[1200], hex[2 * 64 + 1];

	if (len < 2 || len > 64)
		return -1;
	for (int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	while (next_dir(&cur, dir, sizeof dir)) {
		snprintf(path, sizeof path, "%s/.build-id/%.2s/%s.debug", dir, hex, hex + 2);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (has_build_id(fd, id, len)) {
			*found = strdup(path);
			return fd;
		}
		close(fd);
	}
	return -1;
}

/* The GNU debuglink CRC-32 (zlib's) of the whole file on fd; -1 on error. */
static int64_t file_crc(int fd)
{
	unsigned char *buf = nprof__arena_alloc(1 << 16);
	uLong crc = crc32(0L, Z_NULL, 0);
	off_t off = 0;
	ssize_t n;
	if (!buf)
		return -1;
	while ((n = pread(fd, buf, 1 << 16, off)) > 0) {
		crc = crc32(crc, buf, (uInt)n);
		off += n;
	}
	nprof__arena_free(buf);
	return n < 0 ? -1 : (int64_t)(crc & 0xffffffffu);
}

static int open_by_debuglink(const char *file_name, const char *link, GElf_Word crc, char **found)
{
	char clean[4096], dir[4096], root[1024], path[8192];
	const char *cur = debug_dirs();
	struct stat self, cand;

	if (!file_name || !link || !*link || strchr(link, '/'))
		return -1;
	clean_path(file_name, clean, sizeof clean);
	const char *slash = strrchr(clean, '/');
	if (!slash)
		return -1;
	snprintf(dir, sizeof dir, "%.*s", (int)(slash - clean), clean);
	int have_self = stat(clean, &self) == 0;
	for (int k = 0;; k++) {
		if (k == 0)
			snprintf(path, sizeof path, "%s/%s", dir, link);
		else if (k == 1)
			snprintf(path, sizeof path, "%s/.debug/%s", dir, link);
		else if (next_dir(&cur, root, sizeof root))
			snprintf(path, sizeof path, "%s%s/%s", root, dir, link);
		else
			break;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* The binary itself, when its link names its own file name. */
		if (have_self && fstat(fd, &cand) == 0 && cand.st_dev == self.st_dev &&
		    cand.st_ino == self.st_ino) {
			close(fd);
			continue;
		}
		if (file_crc(fd) == (int64_t)crc) {
			*found = strdup(path);
			return fd;
		}
		close(fd);
	}
	return -1;
}

/* ---- debuginfod ------------------------------------------------------ */

/* libdwfl.h declares the opaque debuginfod_client type. */
struct dfd_api {
	debuginfod_client *(*begin)(void);
	int (*find_debuginfo)(debuginfod_client *, const unsigned char *, int, char **);
	void (*end)(debuginfod_client *);
};

enum { DI_PENDING, DI_FETCHING, DI_DONE, DI_FAILED };

struct di_entry {
	unsigned char id[64];
	int len;
	int state;
	int missed;             /* a lookup gave up waiting: rebuild when done */
	char *path;             /* DI_DONE: libdebuginfod's cached file (malloc) */
};

#define DI_MAX 512

static pthread_mutex_t di_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t di_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t di_done;          /* CLOCK_MONOTONIC, set up once */
static int di_cond_ready;
static struct di_entry *di_tab;         /* arena, DI_MAX */
static int di_n;
static int di_thread;                   /* the fetcher runs */
static int di_unavailable;              /* no libdebuginfod, or it failed */
static struct dfd_api di_api;
static unsigned di_gen;                 /* moves when a late fetch lands */
static int64_t di_deadline_ns;          /* the current session's */

int nprof__debuginfo_debuginfod_on(void)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	return nprof__cfg.debuginfod && urls && *urls && !di_unavailable;
}

unsigned nprof__debuginfo_generation(void)
{
	return __atomic_load_n(&di_gen, __ATOMIC_ACQUIRE);
}

void nprof__debuginfo_session(int64_t start_ns)
{
	di_deadline_ns = start_ns + (int64_t)nprof__cfg.debuginfod_ms * 1000000;
}

static int di_load_api(void)
{
	void *h = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
	di_api.begin = (debuginfod_client * (*)(void)) dlsym(h, "debuginfod_begin");
	di_api.find_debuginfo = (int (*)(debuginfod_client *, const unsigned char *, int, char **))
		dlsym(h, "debuginfod_find_debuginfo");
	di_api.end = (void (*)(debuginfod_client *))dlsym(h, "debuginfod_end");
	if (!di_api.begin || !di_api.find_debuginfo || !di_api.end) {
		dlclose(h);
		return -1;
	}
	return 0;
}

static void *di_main(void *unused)
{
	(void)unused;
	nprof__guard = 1;
	nprof__block_signals(NULL);
	debuginfod_client *client = di_api.begin();
	pthread_mutex_lock(&di_lock);
	for (;;) {
		int k = -1;
		for (int i = 0; i < di_n; i++)
			if (di_tab[i].state == DI_PENDING) {
				k = i;
				break;
			}
		if (k < 0) {
			pthread_cond_wait(&di_work, &di_lock);
			continue;
		}
		struct di_entry *e = &di_tab[k];
		unsigned char id[64];
		int len = e->len;
		memcpy(id, e->id, (size_t)len);
		e->state = DI_FETCHING;
		pthread_mutex_unlock(&di_lock);
		char *path = NULL;
		int fd = client ? di_api.find_debuginfo(client, id, len, &path) : -ENOSYS;
		if (fd >= 0)
			close(fd);
		pthread_mutex_lock(&di_lock);
		e = &di_tab[k];
		if (fd >= 0 && path) {
			e->state = DI_DONE;
			e->path = path;
			if (e->missed)
				__atomic_add_fetch(&di_gen, 1, __ATOMIC_RELEASE);
		} else {
			free(path);
			e->state = DI_FAILED;
		}
		pthread_cond_broadcast(&di_done);
	}
	return NULL;
}

/* Starts the fetcher once; under di_lock. 0 or -1. */
static int di_start(void)
{
	if (di_thread)
		return 0;
	if (di_unavailable)
		return -1;
	if (!di_tab) {
		di_tab = nprof__arena_alloc(sizeof *di_tab * DI_MAX);
		if (!di_tab)
			return -1;
	}
	if (!di_cond_ready) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&di_done, &ca);
		pthread_condattr_destroy(&ca);
		di_cond_ready = 1;
	}
	if (di_api.begin == NULL && di_load_api() != 0) {
		di_unavailable = 1;
		nprof__log("symbols: DEBUGINFOD_URLS is set but libdebuginfod.so.1 cannot be loaded; "
			   "no debuginfod");
		return -1;
	}
	pthread_t t;
	pthread_attr_t attr;
	sigset_t old;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	nprof__block_signals(&old);
	int rc = pthread_create(&t, &attr, di_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		nprof__log("symbols: cannot start the debuginfod thread: %s", strerror(rc));
		return -1;
	}
	di_thread = 1;
	return 0;
}

/* The debug file for this build ID from debuginfod: waits for the fetch
 * until the session's deadline. An fd, or -1. */
static int open_by_debuginfod(const unsigned char *id, int len, char **found)
{
	struct di_entry *e = NULL;
	int fd = -1;

	if (len <= 0 || len > 64 || !nprof__debuginfo_debuginfod_on())
		return -1;
	pthread_mutex_lock(&di_lock);
	if (di_start() != 0)
		goto out;
	for (int i = 0; i < di_n; i++)
		if (di_tab[i].len == len && memcmp(di_tab[i].id, id, (size_t)len) == 0) {
			e = &di_tab[i];
			break;
		}
	if (!e) {
		if (di_n == DI_MAX)
			goto out;
		e = &di_tab[di_n++];
		memset(e, 0, sizeof *e);
		memcpy(e->id, id, (size_t)len);
		e->len = len;
		e->state = DI_PENDING;
		pthread_cond_signal(&di_work);
	}
	while (e->state == DI_PENDING || e->state == DI_FETCHING) {
		if (nprof__mono_ns() >= di_deadline_ns) {
			e->missed = 1;
			goto out;
		}
		struct timespec until = {(time_t)(di_deadline_ns / 1000000000),
					 (long)(di_deadline_ns % 1000000000)};
		pthread_cond_timedwait(&di_done, &di_lock, &until);
	}
	if (e->state == DI_DONE) {
		fd = open(e->path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			*found = strdup(e->path);
	}
out:
	pthread_mutex_unlock(&di_lock);
	return fd;
}

/* debuginfod entries: fetched, failed, waiting. */
void nprof__debuginfo_stats(int *done, int *failed, int *waiting)
{
	*done = *failed = *waiting = 0;
	pthread_mutex_lock(&di_lock);
	for (int i = 0; i < di_n; i++) {
		if (di_tab[i].state == DI_DONE)
			(*done)++;
		else if (di_tab[i].state == DI_FAILED)
			(*failed)++;
		else
			(*waiting)++;
	}
	pthread_mutex_unlock(&di_lock);
}

void nprof__debuginfo_postfork_child(void)
{
	/* The fetcher did not survive the fork; what it was fetching is
	 * asked again by the child's own fetcher, if it ever needs it. */
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, m2 = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	maps_lock = m2;
	di_lock = m;
	di_work = c;
	di_cond_ready = 0;
	di_thread = 0;
	for (int i = 0; i < di_n; i++)
		if (di_tab[i].state == DI_FETCHING)
			di_tab[i].state = DI_PENDING;
}

/* ---- the callbacks --------------------------------------------------- */

static int find_debuginfo_all(Dwfl_Module *mod, void **userdata, const char *modname,
			      Dwarf_Addr base, const char *file_name, const char *debuglink,
			      GElf_Word crc, char **debuginfo_name)
{
	const unsigned char *id = NULL;
	GElf_Addr vaddr;
	int len, fd;

	(void)userdata;
	(void)modname;
	(void)base;
	len = dwfl_module_build_id(mod, &id, &vaddr);
	if (len > 0 && (fd = open_by_build_id(id, len, debuginfo_name)) >= 0)
		return fd;
	if ((fd = open_by_debuglink(file_name, debuglink, crc, debuginfo_name)) >= 0)
		return fd;
	if (len > 0 && (fd = open_by_debuginfod(id, len, debuginfo_name)) >= 0)
		return fd;
	return -1;
}

/* The unwinder needs only .eh_frame, in the file itself. */
static int find_debuginfo_none(Dwfl_Module *mod, void **userdata, const char *modname,
			       Dwarf_Addr base, const char *file_name, const char *debuglink,
			       GElf_Word crc, char **debuginfo_name)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
	(void)debuglink, (void)crc, (void)debuginfo_name;
	return -1;
}

/* dwfl keeps a pointer to its callbacks and to the path: both static. */
static char *no_debuginfo_path;

const Dwfl_Callbacks nprof__dwfl_callbacks = {
	.find_elf = find_elf_mapped,
	.find_debuginfo = find_debuginfo_all,
	.debuginfo_path = &no_debuginfo_path,
};

const Dwfl_Callbacks nprof__dwfl_callbacks_cfi = {
	.find_elf = find_elf_mapped,
	.find_debuginfo = find_debuginfo_none,
	.debuginfo_path = &no_debuginfo_path,
};
