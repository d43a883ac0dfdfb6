/*
 * unwind.c - capturing stacks with libunwind, kept private.
 *
 * libunwind.so.8 exports backtrace() and the _Unwind_* functions. Linked
 * normally into a preloaded library it would sit in the global scope and
 * replace glibc's backtrace() and libgcc's unwinder for the whole program
 * (docs/safety.md, *Symbols*). Its static archive is not built -fPIC on Debian, so it cannot
 * be folded into libnprof.so either. We therefore dlopen it with
 * RTLD_LOCAL and call unw_backtrace() through a pointer: its symbols are
 * visible to nobody but us.
 *
 * unw_backtrace() is libunwind's fast path (about 140 ns for 21 frames with
 * the per-thread cache): it walks cached frame descriptions without the
 * sigprocmask pair per frame that unw_step() costs. Hooks call it.
 *
 * Signal handlers must not: its per-thread cache lives in libunwind's
 * thread-local storage, which is dynamic (the library is dlopen()ed), so
 * a thread's first touch goes through __tls_get_addr, which calls malloc
 * (and the loader's slot update after any later dlopen may malloc and
 * free). A SIGPROF landing while another thread's fork() held glibc's
 * malloc locks then hung the whole process
 * (tests/integration/cpu_fork_loop.sh). The handler therefore walks with
 * unw_init_local2() + unw_step() on the signal's own context, which
 * touch no thread-local storage and allocate nothing (the frame-info
 * cache is off, see UNW_CACHE_NONE below); about 10 us a sample instead
 * of 0.2, at 100 Hz a tenth of a percent of a busy thread.
 * tests/preload/cpu_handler_malloc.sh counts allocations in the handler.
 */
#include "base.h"
#include "stacks.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <ucontext.h>

typedef int (*unw_backtrace_fn)(void **buffer, int size);
typedef int (*unw_set_caching_fn)(void *as, int policy);

/* libunwind's x86_64 ABI (libunwind-x86_64.h), without its headers:
 * a cursor is 127 words, unw_context_t is ucontext_t, the IP is register
 * 16 (UNW_X86_64_RIP), and UNW_INIT_SIGNAL_FRAME says the context's IP is
 * the interrupted instruction, not a return address. */
typedef struct {
	uint64_t opaque[127];
} unw_cursor;
#define UNW_IP_REG 16
#define UNW_INIT_SIGNAL_FRAME 1
typedef int (*unw_init_local2_fn)(unw_cursor *c, void *uc, int flag);
typedef int (*unw_step_fn)(unw_cursor *c);
typedef int (*unw_get_reg_fn)(unw_cursor *c, int reg, uint64_t *val);

static unw_backtrace_fn unw_bt;
static unw_init_local2_fn unw_init2;
static unw_step_fn unw_stepf;
static unw_get_reg_fn unw_reg;

/* Executable range of libnprof.so itself: frames there (the thread
 * trampoline, hooks) are nprof's and never shown. Empty when nprof is
 * linked statically into the program, whose text it then shares. */
static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t me = (uintptr_t)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (me >= lo && me < hi) {
			/* The main program (empty name) shares its text with us
			 * only in a static link: filter nothing then. */
			if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
				self_lo = lo;
				self_hi = hi;
			}
			return 1;
		}
	}
	return 0;
}

int nprof__unwind_is_self(uintptr_t pc)
{
	return pc - self_lo < self_hi - self_lo;
}

static inline int is_self(uintptr_t pc)
{
	return nprof__unwind_is_self(pc);
}

/*
 * When a signal handler may unwind. libunwind finds unwind tables with
 * dl_iterate_phdr, which takes the loader's recursive write lock. A thread
 * interrupted inside glibc's lock or unlock of that mutex (the lock word
 * set, the owner not yet recorded, or the reverse) would wait on it
 * forever in its own handler; and a handler waiting for another thread
 * that holds it may wait on a lock its own thread holds. Both hung
 * tests/integration/cpu_dl_stress.sh. So the handler unwinds only when the
 * loader's lock is free or held by its own thread (a recursive take then
 * succeeds); otherwise the sample keeps its leaf frame alone.
 *
 * The mutex is found at start, version-independently: inside a
 * dl_iterate_phdr callback nprof holds it, so it is the one mutex in
 * ld.so's _rtld_global whose lock word is set and whose owner is us.
 * Samples on a thread already inside the unwinder keep their leaf too.
 */
static const int *loader_lock;             /* glibc's __data.{__lock, __count, __owner} */
static NPROF_TLS int in_unwind;

struct lock_scan {
	const int *base;
	size_t words;
	const int *found;
	int matches;
};

static int scan_loader_lock(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info;
	(void)size;
	struct lock_scan *sc = arg;
	int tid = (int)nprof__gettid();
	for (size_t i = 0; i + 2 < sc->words; i++)
		if (sc->base[i] != 0 && sc->base[i + 1] >= 1 && sc->base[i + 2] == tid) {
			sc->found = &sc->base[i];
			sc->matches++;
		}
	return 1; /* one callback is enough: the lock is held during it */
}

static void loader_lock_init(void)
{
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	void *g = dlsym(RTLD_DEFAULT, "_rtld_global");
	if (g == NULL || dladdr1(g, &info, (void **)&sym, RTLD_DL_SYMENT) == 0 || sym == NULL)
		return;
	struct lock_scan sc = {.base = g, .words = sym->st_size / sizeof(int)};
	dl_iterate_phdr(scan_loader_lock, &sc);
	/* Exactly one match, and free again once the iteration is over. */
	if (sc.matches == 1 && __atomic_load_n(sc.found, __ATOMIC_RELAXED) == 0)
		loader_lock = sc.found;
}

/* Non-zero when a handler on this thread may call dl_iterate_phdr now. */
static int loader_lock_ok_sigsafe(void)
{
	if (loader_lock == NULL)
		return 1; /* not found: behave as before (documented risk) */
	if (__atomic_load_n(&loader_lock[0], __ATOMIC_ACQUIRE) == 0)
		return 1;
	return __atomic_load_n(&loader_lock[2], __ATOMIC_RELAXED) == (int)nprof__gettid();
}

/*
 * libunwind's register-state cache, UNW_CACHE_NONE (libunwind.h's
 * unw_caching_policy_t). Debian builds libunwind without thread-local
 * storage, so UNW_CACHE_PER_THREAD silently becomes the global cache,
 * guarded by a mutex. A SIGPROF handler that takes that mutex deadlocks
 * with a thread holding it while it waits for the loader's lock, which
 * the handler's own thread may hold (interrupted inside dl_iterate_phdr,
 * dlopen or dlclose): tests/integration/cpu_dl_stress.sh. Without the
 * cache no libunwind lock is taken; unw_backtrace keeps its own lock-free
 * per-thread trace cache, so the cost stays on the rare cache misses.
 */
#define UNW_CACHE_NONE 0

int nprof__unwind_init(void)
{
	if (unw_bt != NULL)
		return 0;
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return -ENOENT;
	unw_set_caching_fn set_caching = (unw_set_caching_fn)dlsym(h, "_ULx86_64_set_caching_policy");
	void **as = (void **)dlsym(h, "_ULx86_64_local_addr_space");
	if (set_caching != NULL && as != NULL)
		set_caching(*as, UNW_CACHE_NONE);
	dl_iterate_phdr(find_self, (void *)(uintptr_t)nprof__unwind_init);
	loader_lock_init();
	unw_backtrace_fn bt = (unw_backtrace_fn)dlsym(h, "unw_backtrace");
	if (bt == NULL)
		return -ENOENT;
	unw_init_local2_fn i2 = (unw_init_local2_fn)dlsym(h, "_ULx86_64_init_local2");
	unw_step_fn st = (unw_step_fn)dlsym(h, "_ULx86_64_step");
	unw_get_reg_fn gr = (unw_get_reg_fn)dlsym(h, "_ULx86_64_get_reg");
	if (i2 != NULL && st != NULL && gr != NULL) {
		unw_stepf = st;
		unw_reg = gr;
		__atomic_store_n(&unw_init2, i2, __ATOMIC_RELEASE);
	}
	/* Warm libunwind's tables now, on a thread that may allocate, rather
	 * than inside the first signal handler. */
	void *warm[8];
	bt(warm, 8);
	__atomic_store_n(&unw_bt, bt, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Calls libunwind with nprof's hook guard raised, restoring both flags
 * after (calls nest: a handler may interrupt an unwind on its thread).
 * libunwind takes locks of its own (its memory pools, under sigprocmask)
 * through pthread_mutex_lock, which resolves to nprof's override. Without
 * the guard a contended pool lock was recorded into the block profile,
 * whose capture unwound again and took the same pool lock on the same
 * thread: a self-deadlock that hung mariadbd and every thread behind it
 * under a CPU profile with the block profile on
 * (tests/preload/real_mariadb.sh). Async-signal-safe: two initial-exec
 * TLS variables.
 */
static int guarded_backtrace_sigsafe(unw_backtrace_fn bt, void **buf, int size)
{
	int guard = nprof__guard, inside = in_unwind;
	nprof__guard = 1;
	in_unwind = 1;
	int n = bt(buf, size);
	in_unwind = inside;
	nprof__guard = guard;
	return n;
}

__attribute__((noinline)) int nprof__unwind_here(uintptr_t *pcs, int max, int skip)
{
	void *buf[NPROF_MAX_FRAMES + 16];
	unw_backtrace_fn bt = __atomic_load_n(&unw_bt, __ATOMIC_ACQUIRE);
	if (bt == NULL || max <= 0)
		return 0;
	int want = max + skip + 1;
	if (want > (int)(sizeof buf / sizeof buf[0]))
		want = (int)(sizeof buf / sizeof buf[0]);
	int n = guarded_backtrace_sigsafe(bt, buf, want);
	int out = 0;
	/* buf[0] is this function's own return into the caller. */
	for (int i = skip + 1; i < n && out < max; i++)
		if (!is_self((uintptr_t)buf[i]))
			pcs[out++] = (uintptr_t)buf[i];
	return out;
}

int nprof__unwind_signal_sigsafe(void *ucontext, uintptr_t *pcs, int max)
{
	const ucontext_t *uc = ucontext;
	uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	if (max <= 0)
		return 0;
	/* The leaf is the interrupted instruction itself, not a return
	 * address: store ip + 1 so the common "minus one" lands on it. */
	pcs[0] = ip + 1;
	unw_init_local2_fn init2 = __atomic_load_n(&unw_init2, __ATOMIC_ACQUIRE);
	if (init2 == NULL || in_unwind || !loader_lock_ok_sigsafe())
		return 1;
	/* Start at the interrupted frame itself: no handler frame, no
	 * trampoline to skip. libunwind only reads the context. */
	unw_cursor cur;
	int out = 1;
	/* The hook guard is raised for the same reason as in
	 * guarded_backtrace_sigsafe: libunwind's own locks must never be
	 * recorded by nprof's pthread overrides. */
	int guard = nprof__guard;
	nprof__guard = 1;
	in_unwind = 1;
	if (init2(&cur, ucontext, UNW_INIT_SIGNAL_FRAME) == 0) {
		while (out < max && unw_stepf(&cur) > 0) {
			uint64_t pc;
			if (unw_reg(&cur, UNW_IP_REG, &pc) != 0 || pc == 0)
				break;
			if (!is_self((uintptr_t)pc))
				pcs[out++] = (uintptr_t)pc;
		}
	}
	in_unwind = 0;
	nprof__guard = guard;
	return out;
}
