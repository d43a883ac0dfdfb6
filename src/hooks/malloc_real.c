/*
 * malloc_real.c - the allocator nprof's malloc family forwards to, found
 * on first use, and what stands in for it until then.
 *
 * Real functions: found with dlsym on first use. When another allocator
 * was preloaded before nprof (jemalloc, tcmalloc), its definitions are the
 * global ones and nprof forwards to them (RTLD_DEFAULT); otherwise to the
 * next definition after nprof (RTLD_NEXT), glibc's or a later preload's.
 * valloc, pvalloc and reallocarray are built on memalign and realloc
 * rather than forwarded, because allocators such as jemalloc lack them and
 * glibc's would hand out glibc memory that the other allocator's free
 * cannot take. dlsym itself may calloc before the real functions are
 * known: those calls get memory from a static bootstrap pool, whose
 * blocks are never freed (free ignores them) and never reach the real free.
 *
 *
 * Two copies of nprof in one process (a program linking libnprof.a, run
 * with libnprof.so preloaded): the program's own definitions win the
 * global names, and forward with RTLD_NEXT to the preloaded copy's. Were
 * that copy to forward to the global malloc (as to a foreign allocator),
 * the two would bounce every call between them forever. Every module
 * carrying these overrides has an ELF note "nprof" (below); a copy whose
 * global malloc lies in another module with that note is *dormant*: it
 * forwards with RTLD_NEXT, never samples, and never starts (core.c),
 * while the copy that owns the names does the work (docs/internals/check.md).
 *
 *
 * Locking: resolve() runs once; a thread that finds it in progress on
 * another thread waits for it (sched_yield), the resolving thread's own
 * nested calls go to the pool. After that, everything here is read-only.
 */
#include "base.h"
#include "hooks.h"
#include "malloc_real.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static NPROF_TLS int tls_in_dlsym;     /* this thread is resolving the real functions */

/* Set when another allocator was preloaded before nprof: its free is the
 * global one, so nprof must never hand out a block of its own. */
int nprof__alloc_foreign;

/* Set when the global malloc is another copy of nprof's (a program linking
 * libnprof.a): this copy forwards to the next definition and stays idle. */
int nprof__alloc_other_copy;

/* The mark of a module that carries nprof's overrides: an ELF note, name
 * "nprof", type NPROF_NOTE_TYPE. A note, unlike a symbol, is there whether
 * or not the executable exports anything. */
#define NPROF_NOTE_TYPE 0x6e70
__asm__(".pushsection .note.nprof,\"a\",@note\n"
	".balign 4\n"
	".long 6\n"            /* namesz: "nprof\0" */
	".long 4\n"            /* descsz */
	".long 0x6e70\n"       /* type: NPROF_NOTE_TYPE */
	".asciz \"nprof\"\n"
	".balign 4\n"
	".long 1\n"            /* desc: version of the mark */
	".balign 4\n"
	".popsection\n");


static void *boot_malloc(size_t n);
static void *boot_calloc(size_t a, size_t b);
static void *boot_realloc(void *p, size_t n);
static void boot_free(void *p);
static void *boot_memalign(size_t a, size_t n);
static int boot_posix_memalign(void **pp, size_t a, size_t n);
static void *boot_aligned_alloc(size_t a, size_t n);
static size_t boot_usable(void *p);

/* Until resolved, each points at a stub that resolves first. */
malloc_fn nprof__real_malloc = boot_malloc;
calloc_fn nprof__real_calloc = boot_calloc;
realloc_fn nprof__real_realloc = boot_realloc;
free_fn nprof__real_free = boot_free;
memalign_fn nprof__real_memalign = boot_memalign;
posix_memalign_fn nprof__real_posix_memalign = boot_posix_memalign;
memalign_fn nprof__real_aligned_alloc = boot_aligned_alloc;
usable_fn nprof__real_usable = boot_usable;

static atomic_int resolve_state;       /* 0 not yet, 1 in progress, 2 done */

char nprof__pool[NPROF_POOL_SIZE] __attribute__((aligned(64)));
static atomic_size_t pool_used;

/* A zeroed block of the static pool, its size stored just before it. */
void *nprof__pool_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	if (n > NPROF_POOL_SIZE || align > 4096)
		return NULL;
	size_t need = n + 16 + align;
	size_t off = atomic_fetch_add(&pool_used, need);
	if (off + need > NPROF_POOL_SIZE)
		return NULL;
	uintptr_t p = ((uintptr_t)nprof__pool + off + 16 + align - 1) & ~(uintptr_t)(align - 1);
	((size_t *)p)[-1] = n;
	return (void *)p;
}

/* The load base of the object defining `f` (ours, libc's, jemalloc's). */
static void *object_of(void *f)
{
	Dl_info info;
	return f != NULL && dladdr(f, &info) != 0 ? info.dli_fbase : NULL;
}

struct note_hunt {
	uintptr_t addr;   /* in: an address of the module wanted */
	int found;        /* out: that module has the nprof note */
};

/* dl_iterate_phdr callback: does the module holding h->addr carry the
 * nprof note? Returns 1 (stop) at that module. */
static int hunt_note(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct note_hunt *h = arg;
	int mine = 0;
	for (int i = 0; i < info->dlpi_phnum && !mine; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		mine = ph->p_type == PT_LOAD && h->addr - lo < ph->p_memsz;
	}
	if (!mine)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		const char *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof *n;
			size_t step = sizeof *n + ((n->n_namesz + 3) & ~3u) + ((n->n_descsz + 3) & ~3u);
			if (n->n_type == NPROF_NOTE_TYPE && n->n_namesz == 6 &&
			    name + 6 <= end && memcmp(name, "nprof", 6) == 0)
				h->found = 1;
			p += step;
		}
	}
	return 1;
}

/* Non-zero when the module defining `f` carries nprof's overrides. */
static int is_nprof_module(void *f)
{
	struct note_hunt h = {(uintptr_t)f, 0};
	dl_iterate_phdr(hunt_note, &h);
	return h.found;
}

/*
 * The function to forward `name` to: the global definition when another
 * allocator owns the global names and has one, else the next one after us.
 */
static void *pick(const char *name, void *self)
{
	if (nprof__alloc_foreign) {
		void *f = dlsym(RTLD_DEFAULT, name);
		if (f != NULL && object_of(f) != self)
			return f;
	}
	return dlsym(RTLD_NEXT, name);
}

/*
 * Finds the real functions. The thread doing it may re-enter the hooks
 * (dlsym allocates): tls_in_dlsym sends those calls to the pool. Other
 * threads wait for it to finish.
 */
static void resolve(void)
{
	if (atomic_load_explicit(&resolve_state, memory_order_acquire) == 2 || tls_in_dlsym)
		return;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&resolve_state, &expect, 1)) {
		while (atomic_load_explicit(&resolve_state, memory_order_acquire) != 2)
			sched_yield();
		return;
	}
	int saved = errno;
	tls_in_dlsym = 1;
	/* Another allocator preloaded before us owns the global names. */
	void *self = object_of((void *)resolve);
	void *global = dlsym(RTLD_DEFAULT, "malloc");
	/* Loaded late by `nprof attach`, the global malloc is libc's, the
	 * very one after us: not another allocator (got_patch.c binds the
	 * program's references to ours). */
	nprof__alloc_foreign = global != NULL && object_of(global) != self &&
			global != dlsym(RTLD_NEXT, "malloc");
	/* ...nor is nprof again (a program linking libnprof.a), which
	 * forwards to us: forwarding back would never end. */
	if (nprof__alloc_foreign && is_nprof_module(global)) {
		nprof__alloc_other_copy = 1;
		nprof__alloc_foreign = 0;
	}
	malloc_fn m = (malloc_fn)pick("malloc", self);
	calloc_fn c = (calloc_fn)pick("calloc", self);
	realloc_fn r = (realloc_fn)pick("realloc", self);
	free_fn f = (free_fn)pick("free", self);
	memalign_fn ma = (memalign_fn)pick("memalign", self);
	posix_memalign_fn pm = (posix_memalign_fn)pick("posix_memalign", self);
	memalign_fn aa = (memalign_fn)pick("aligned_alloc", self);
	usable_fn us = (usable_fn)pick("malloc_usable_size", self);
	if (m != NULL && c != NULL && r != NULL && f != NULL) {
		nprof__real_malloc = m;
		nprof__real_calloc = c;
		nprof__real_realloc = r;
		nprof__real_free = f;
		if (ma != NULL)
			nprof__real_memalign = ma;
		if (pm != NULL)
			nprof__real_posix_memalign = pm;
		nprof__real_aligned_alloc = aa != NULL ? aa : nprof__real_memalign;
		if (us != NULL)
			nprof__real_usable = us;
	}
	tls_in_dlsym = 0;
	if (!nprof__alloc_foreign && !nprof__alloc_other_copy)
		nprof__as_learn();
	atomic_store_explicit(&resolve_state, 2, memory_order_release);
	errno = saved;
}

int nprof__alloc_usable;

int nprof__alloc_ready_slow(void)
{
	resolve();
	int ok = atomic_load_explicit(&resolve_state, memory_order_acquire) == 2 &&
		 nprof__real_malloc != boot_malloc;
	if (ok)
		__atomic_store_n(&nprof__alloc_usable, 1, __ATOMIC_RELEASE);
	return ok;
}

static void *boot_malloc(size_t n)
{
	if (!nprof__alloc_ready())
		return nprof__pool_alloc(n, 16);
	return nprof__real_malloc(n);
}

static void *boot_calloc(size_t a, size_t b)
{
	size_t n;
	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!nprof__alloc_ready())
		return nprof__pool_alloc(n, 16);
	return nprof__real_calloc(a, b);
}

static void *boot_realloc(void *p, size_t n)
{
	if (!nprof__alloc_ready()) {
		void *q = nprof__pool_alloc(n, 16);
		if (q != NULL && p != NULL)
			memcpy(q, p, ((size_t *)p)[-1] < n ? ((size_t *)p)[-1] : n);
		return q;
	}
	return nprof__real_realloc(p, n);
}

static void boot_free(void *p)
{
	if (p != NULL && nprof__alloc_ready())
		nprof__real_free(p);
}

static void *boot_memalign(size_t a, size_t n)
{
	if (!nprof__alloc_ready())
		return nprof__pool_alloc(n, a);
	if (nprof__real_memalign == boot_memalign) {
		void *p = NULL;
		int rc = nprof__real_posix_memalign(&p, a < sizeof(void *) ? sizeof(void *) : a, n);
		if (rc != 0)
			errno = rc;
		return p;
	}
	return nprof__real_memalign(a, n);
}

static int boot_posix_memalign(void **pp, size_t a, size_t n)
{
	if (!nprof__alloc_ready()) {
		*pp = nprof__pool_alloc(n, a);
		return *pp ? 0 : ENOMEM;
	}
	if (nprof__real_posix_memalign == boot_posix_memalign)
		return ENOMEM;
	return nprof__real_posix_memalign(pp, a, n);
}

static void *boot_aligned_alloc(size_t a, size_t n)
{
	return boot_memalign(a, n);
}

static size_t boot_usable(void *p)
{
	(void)p;
	return 0;
}

int nprof__heap_foreign(void)
{
	resolve();
	return nprof__alloc_foreign;
}

int nprof__heap_other_copy(void)
{
	resolve();
	return nprof__alloc_other_copy;
}

int nprof__heap_copy_behind(void)
{
	resolve();
	/* This copy owns the global malloc (it is not dormant), and the
	 * next definition after it is another copy's. */
	if (nprof__alloc_other_copy || nprof__alloc_foreign)
		return 0;
	void *next = dlsym(RTLD_NEXT, "malloc");
	return next != NULL && object_of(next) != object_of((void *)resolve) &&
	       is_nprof_module(next);
}
