/*
 * unwind.c - capturing stacks with libunwind, kept private.
 *
 * libunwind.so.8 exports backtrace() and the _Unwind_* functions. Linked
 * normally into a preloaded library it would sit in the global scope and
 * replace glibc's backtrace() and libgcc's unwinder for the whole program
 * (FACTS.md). Its static archive is not built -fPIC on Debian, so it cannot
 * be folded into libnprof.so either. We therefore dlopen it with
 * RTLD_LOCAL and call unw_backtrace() through a pointer: its symbols are
 * visible to nobody but us.
 *
 * unw_backtrace() is libunwind's fast path (about 140 ns for 21 frames with
 * the per-thread cache): it walks cached frame descriptions without the
 * sigprocmask pair per frame that unw_step() costs. The per-thread cache
 * also makes it usable from a signal handler, which is how the CPU profiler
 * calls it.
 */
#include "nprof_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <ucontext.h>

typedef int (*unw_backtrace_fn)(void **buffer, int size);
typedef int (*unw_set_caching_fn)(void *as, int policy);

static unw_backtrace_fn unw_bt;

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

#define UNW_CACHE_PER_THREAD 2   /* libunwind.h's unw_caching_policy_t */

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
		set_caching(*as, UNW_CACHE_PER_THREAD);
	dl_iterate_phdr(find_self, (void *)(uintptr_t)nprof__unwind_init);
	unw_backtrace_fn bt = (unw_backtrace_fn)dlsym(h, "unw_backtrace");
	if (bt == NULL)
		return -ENOENT;
	/* Warm libunwind's tables now, on a thread that may allocate, rather
	 * than inside the first signal handler. */
	void *warm[8];
	bt(warm, 8);
	__atomic_store_n(&unw_bt, bt, __ATOMIC_RELEASE);
	return 0;
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
	int n = bt(buf, want);
	int out = 0;
	/* buf[0] is this function's own return into the caller. */
	for (int i = skip + 1; i < n && out < max; i++)
		if (!is_self((uintptr_t)buf[i]))
			pcs[out++] = (uintptr_t)buf[i];
	return out;
}

int nprof__unwind_signal_sigsafe(void *ucontext, uintptr_t *pcs, int max)
{
	void *buf[NPROF_MAX_FRAMES + 16];
	const ucontext_t *uc = ucontext;
	uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	if (max <= 0)
		return 0;
	/* The leaf is the interrupted instruction itself, not a return
	 * address: store ip + 1 so the common "minus one" lands on it. */
	pcs[0] = ip + 1;
	unw_backtrace_fn bt = __atomic_load_n(&unw_bt, __ATOMIC_ACQUIRE);
	if (bt == NULL)
		return 1;
	int n = bt(buf, (int)(sizeof buf / sizeof buf[0]));
	/* Skip the handler's frames and the signal trampoline: the walk
	 * reaches the interrupted frame, whose address is exactly ip. */
	int i = 0;
	while (i < n && (uintptr_t)buf[i] != ip)
		i++;
	int out = 1;
	for (i++; i < n && out < max; i++)
		if (!is_self((uintptr_t)buf[i]))
			pcs[out++] = (uintptr_t)buf[i];
	return out;
}
