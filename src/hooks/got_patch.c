/*
 * got_patch.c - when libnprof is loaded into a running process (`nprof
 * attach`: dlopen, not LD_PRELOAD), the process's references to the libc
 * functions nprof overrides are already bound to libc's. This file binds
 * them to nprof's, as the loader would have under LD_PRELOAD, and puts
 * them back at detach.
 *
 * How: dl_iterate_phdr walks every loaded module (the executable, libc,
 * every library, libnprof itself; not the loader or the vDSO); each module's
 * dynamic relocations (DT_RELA and DT_JMPREL: JUMP_SLOT, GLOB_DAT, and
 * absolute 64-bit pointers) name the symbol a slot holds. A slot naming a
 * function nprof exports has its value replaced by nprof's, atomically
 * (an aligned 8-byte store: a thread calling through it sees either
 * function). Slots in the module's RELRO region are made writable for the
 * store and read-only again right after.
 *
 * Every slot changed is remembered (address, previous value, whether it
 * is of the malloc family) in an mmap'ed array, so detach can restore
 * them. The malloc family stays redirected at detach: blocks nprof handed
 * out from its sampled range must keep being freed by nprof's free, which
 * with sampling off costs one range compare.
 *
 * Our own definitions are looked up with dlsym before the walk: dlsym
 * inside the dl_iterate_phdr callback would take the loader's locks in
 * the opposite order to a concurrent dlopen.
 *
 * Modules the program dlopen()s after the attach: every module's
 * reference to dlopen is redirected too, to attach_dlopen(), which calls
 * libc's dlopen and then walks the modules again, so a library loaded
 * later binds to nprof's functions as it would have under LD_PRELOAD (a
 * later library freeing a block nprof sampled must reach nprof's free).
 * Under LD_PRELOAD dlopen is never overridden: the loader binds new
 * modules itself.
 *
 * Locking: walk_lock serializes the walks (nprof_start/nprof_stop under
 * their own lock, and attach_dlopen on any program thread); it is taken
 * with the hook guard raised, so nprof's pthread overrides do not record
 * it, and nothing under it takes another nprof lock.
 */
#include "base.h"
#include "hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The libc functions libnprof.map exports as overrides; keep in sync.
 * The first N_MALLOC are the malloc family. */
static const char *const names[] = {
	"malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
	"aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
	"pthread_create", "sigaction", "signal",
	"open", "open64", "openat", "openat64", "creat", "creat64",
	"__open_2", "__open64_2", "__openat_2", "__openat64_2",
	"socket", "socketpair", "accept", "accept4", "pipe", "pipe2",
	"dup", "dup2", "dup3", "fcntl", "fcntl64",
	"eventfd", "timerfd_create", "signalfd", "epoll_create", "epoll_create1",
	"memfd_create", "inotify_init", "inotify_init1",
	"fopen", "fopen64", "fdopen", "opendir", "recvmsg", "recvmmsg",
	"close", "fclose", "closedir", "close_range", "closefrom",
	"pthread_cond_wait", "pthread_cond_timedwait", "pthread_cond_clockwait",
	"pthread_mutex_lock", "pthread_mutex_timedlock", "pthread_mutex_clocklock",
	"pthread_mutex_unlock",
	"pthread_rwlock_rdlock", "pthread_rwlock_wrlock",
	"pthread_rwlock_timedrdlock", "pthread_rwlock_timedwrlock",
	"sem_wait", "sem_timedwait", "sem_clockwait",
	"pthread_join", "pthread_timedjoin_np", "pthread_clockjoin_np", "pthread_barrier_wait",
	"setrlimit", "setrlimit64", "prlimit", "prlimit64",
};
#define N_NAMES (sizeof names / sizeof names[0])
#define N_MALLOC 11

static void *ours[N_NAMES];

/* dlopen, redirected only after an attach (see the header). */
static void *(*libc_dlopen)(const char *, int);
static void *attach_dlopen(const char *file, int mode);
static void *ours_dlopen;
static pthread_mutex_t walk_lock = PTHREAD_MUTEX_INITIALIZER;

struct slot {
	uintptr_t *addr;
	uintptr_t old;
	int malloc_family;
	int relro;
};

static struct slot *slots;
static size_t n_slots, cap_slots;

struct walk {
	uintptr_t self_base;
	size_t changed;
};

static int remember(uintptr_t *addr, uintptr_t old, int malloc_family, int relro)
{
	if (n_slots == cap_slots) {
		size_t cap = cap_slots ? cap_slots * 2 : 1024;
		void *p = mmap(NULL, cap * sizeof *slots, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		if (slots != NULL) {
			memcpy(p, slots, n_slots * sizeof *slots);
			munmap(slots, cap_slots * sizeof *slots);
		}
		slots = p;
		cap_slots = cap;
	}
	slots[n_slots].addr = addr;
	slots[n_slots].old = old;
	slots[n_slots].malloc_family = malloc_family;
	slots[n_slots].relro = relro;
	n_slots++;
	return 0;
}

/* Stores `value` into a slot, opening a read-only (RELRO) page for it. */
static void store(uintptr_t *addr, uintptr_t value, int relro)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = (void *)((uintptr_t)addr & ~(uintptr_t)(page - 1));
	if (relro && mprotect(p, (size_t)page, PROT_READ | PROT_WRITE) != 0)
		return;
	__atomic_store_n(addr, value, __ATOMIC_RELEASE);
	if (relro)
		mprotect(p, (size_t)page, PROT_READ);
}

#define DLOPEN_INDEX (-2)

static int name_index(const char *name)
{
	if (ours_dlopen != NULL && strcmp(name, "dlopen") == 0)
		return DLOPEN_INDEX;
	for (size_t i = 0; i < N_NAMES; i++)
		if (ours[i] != NULL && strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
	/* The loader rewrites most d_ptr in place to absolute addresses;
	 * read-only dynamic sections keep them relative. */
	return v >= base ? v : v + base;
}

/* Where `addr` lies in the module: 1 RELRO, 0 writable, -1 neither. */
static int slot_kind(const struct dl_phdr_info *info, uintptr_t addr)
{
	int writable = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (addr < lo || addr + sizeof(uintptr_t) > hi)
			continue;
		if (ph->p_type == PT_GNU_RELRO)
			return 1;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
			writable = 1;
	}
	return writable ? 0 : -1;
}

static void patch_table(const struct dl_phdr_info *info, const ElfW(Rela) *rel, size_t n,
			const ElfW(Sym) *symtab, const char *strtab, struct walk *w)
{
	for (size_t i = 0; i < n; i++) {
		unsigned type = (unsigned)ELF64_R_TYPE(rel[i].r_info);
		unsigned sym = (unsigned)ELF64_R_SYM(rel[i].r_info);
		if (sym == 0)
			continue;
		if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT &&
		    !(type == R_X86_64_64 && rel[i].r_addend == 0))
			continue;
		int k = name_index(strtab + symtab[sym].st_name);
		if (k < 0 && k != DLOPEN_INDEX)
			continue;
		uintptr_t want = (uintptr_t)(k == DLOPEN_INDEX ? ours_dlopen : ours[k]);
		uintptr_t *addr = (uintptr_t *)(info->dlpi_addr + rel[i].r_offset);
		int kind = slot_kind(info, (uintptr_t)addr);
		uintptr_t now = __atomic_load_n(addr, __ATOMIC_ACQUIRE);
		if (kind < 0 || now == want)
			continue;
		if (remember(addr, now, k >= 0 && k < N_MALLOC, kind) != 0)
			return;
		store(addr, want, kind);
		w->changed++;
	}
}

static int patch_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct walk *w = arg;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	/* libnprof itself too: under LD_PRELOAD its own references bind to
	 * its own definitions, and its arena-served allocations (core.c)
	 * must be freed by its own free. */
	(void)w->self_base;
	if (strstr(name, "/ld-linux") || strstr(name, "linux-vdso") || strstr(name, "/ld64.so"))
		return 0;
	const ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	if (dyn == NULL)
		return 0;
	uintptr_t symtab = 0, strtab = 0, rela = 0, relasz = 0, jmprel = 0, pltsz = 0;
	int pltrel = DT_RELA;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr); break;
		case DT_STRTAB: strtab = dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr); break;
		case DT_RELA: rela = dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr); break;
		case DT_RELASZ: relasz = dyn->d_un.d_val; break;
		case DT_JMPREL: jmprel = dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: pltsz = dyn->d_un.d_val; break;
		case DT_PLTREL: pltrel = (int)dyn->d_un.d_val; break;
		}
	}
	if (symtab == 0 || strtab == 0)
		return 0;
	if (rela)
		patch_table(info, (const void *)rela, relasz / sizeof(ElfW(Rela)),
			    (const void *)symtab, (const char *)strtab, w);
	if (jmprel && pltrel == DT_RELA)
		patch_table(info, (const void *)jmprel, pltsz / sizeof(ElfW(Rela)),
			    (const void *)symtab, (const char *)strtab, w);
	return 0;
}

size_t nprof__got_redirect(void)
{
#if defined(__x86_64__)
	Dl_info self;
	if (dladdr((void *)nprof__got_redirect, &self) == 0 || self.dli_fname == NULL)
		return 0;
	void *h = dlopen(self.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
	if (h == NULL)
		return 0;
	for (size_t i = 0; i < N_NAMES; i++) {
		Dl_info di;
		void *f = dlsym(h, names[i]);
		/* Only where the definition is nprof's own. */
		ours[i] = f != NULL && dladdr(f, &di) != 0 && di.dli_fbase == self.dli_fbase ? f
											     : NULL;
	}
	struct link_map *lm = NULL;
	struct walk w = {0, 0};
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL)
		w.self_base = lm->l_addr;
	dlclose(h);
	if (libc_dlopen == NULL)
		libc_dlopen = (void *(*)(const char *, int))dlsym(RTLD_DEFAULT, "dlopen");
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&walk_lock);
	if (libc_dlopen != NULL && libc_dlopen != attach_dlopen)
		ours_dlopen = (void *)attach_dlopen;
	dl_iterate_phdr(patch_module, &w);
	pthread_mutex_unlock(&walk_lock);
	nprof__guard = guard;
	return w.changed;
#else
	return 0;
#endif
}

/*
 * dlopen as the program sees it after an attach: libc's dlopen, then the
 * new modules' references bound to nprof's functions. errno and dlerror()
 * are what libc's dlopen left.
 */
static void *attach_dlopen(const char *file, int mode)
{
	void *h = libc_dlopen(file, mode);
	if (h == NULL)
		return NULL;
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&walk_lock);
	if (ours_dlopen != NULL) {
		struct walk w = {0, 0};
		dl_iterate_phdr(patch_module, &w);
	}
	pthread_mutex_unlock(&walk_lock);
	nprof__guard = guard;
	errno = saved;
	return h;
}

size_t nprof__got_restore(void)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&walk_lock);
	/* Modules loaded from now on are not redirected: detach is the end. */
	ours_dlopen = NULL;
	size_t kept = 0, restored = 0;
	for (size_t i = 0; i < n_slots; i++) {
		if (slots[i].malloc_family) {
			slots[kept++] = slots[i];
			continue;
		}
		/* A slot already changed again by someone else is left alone. */
		uintptr_t now = __atomic_load_n(slots[i].addr, __ATOMIC_ACQUIRE);
		int found = now == (uintptr_t)attach_dlopen;
		for (size_t k = 0; k < N_NAMES; k++)
			found |= ours[k] != NULL && now == (uintptr_t)ours[k];
		if (!found)
			continue;
		store(slots[i].addr, slots[i].old, slots[i].relro);
		restored++;
	}
	n_slots = kept;
	pthread_mutex_unlock(&walk_lock);
	nprof__guard = guard;
	return restored;
}
