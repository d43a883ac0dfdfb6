/*
 * stackwalk.c - unwinding another thread of this process without
 * stopping or signalling it.
 *
 * Why: a thread blocked in read, poll, epoll_wait or nanosleep that takes
 * a handled signal returns EINTR (poll, epoll_wait and nanosleep even
 * with SA_RESTART), so the classic "signal every thread and unwind in the
 * handler" dump changes the program. Instead, for a thread blocked in a
 * system call, the kernel reports its user stack pointer and program
 * counter in /proc/self/task/TID/syscall, and its stack is our own memory:
 * we unwind it from the outside (docs/internals/threads.md).
 *
 * How: a small DWARF CFI unwinder. For each frame's address, libdw
 * (dwarf_cfi_addrframe on the module's .eh_frame, or .debug_frame) gives
 * the rules: CFA = register + offset, where the return address and the
 * callee-saved registers were saved. A rule is reduced to a few integers
 * and cached by address, so the second thread blocked at the same place
 * costs a hash lookup per frame and no libdw call: 10,000 threads parked
 * in the same few functions unwind in a few milliseconds. Glibc has no
 * frame pointers, so CFI is the only way through its frames; only rsp and
 * rip are known at the start, which suffices because CFA rules are
 * rsp-based wherever rbp has not been set up as a frame pointer, and where
 * it has, the rule that saved rbp tells us its value.
 *
 * Safety: the other thread may wake up, rewrite or free its stack while we
 * read it. Every read of its memory goes through process_vm_readv on our
 * own pid, which fails with EFAULT instead of faulting; a page is read at
 * a time and cached for the walk. The result may be torn (threads.c
 * re-reads the syscall file afterwards to notice), never a crash. Walks
 * stop at 64 frames, at a CFA that does not grow, and at any rule this
 * unwinder does not model (DWARF expressions, signal frames): the stack is
 * then marked truncated.
 *
 * Locking: all state here (the Dwfl, the rule cache, the page cache)
 * belongs to the single dumping thread: threads.c's dump lock is held
 * around every call. libdw allocates with malloc; the dumper's hook guard
 * is up, so the heap profiler ignores it. Nothing here runs in a signal
 * handler.
 */
#include "arena.h"
#include "procmaps.h"
#include "threads_int.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* DWARF register numbers on x86-64. */
enum { R_RBX = 3, R_RBP = 6, R_RSP = 7, R_R12 = 12, R_R13, R_R14, R_R15, R_RA = 16, NREGS = 17 };

/* The callee-saved registers a rule tracks, and the return address. */
static const int tracked[] = {R_RBX, R_RBP, R_R12, R_R13, R_R14, R_R15, R_RA};
#define NTRACKED ((int)(sizeof tracked / sizeof tracked[0]))

enum reg_kind {
	RK_SAME = 0,       /* unchanged by this frame */
	RK_UNDEF,          /* not recoverable (for the return address: outermost frame) */
	RK_OFFSET,         /* saved at CFA + off */
	RK_VAL_OFFSET,     /* value is CFA + off */
	RK_UNSUPPORTED,    /* an expression we do not model */
};

/* One address's unwind rule, reduced. */
struct rule {
	uintptr_t addr;        /* key: the looked-up address; 0 = empty slot */
	uint8_t ok;            /* 0: no usable CFI here */
	uint8_t cfa_reg;       /* R_RSP or R_RBP (or another tracked register) */
	uint8_t kind[NTRACKED];
	int64_t cfa_off;
	int32_t off[NTRACKED];
	uintptr_t fstart;      /* start of the FDE (the function) covering addr; 0 unknown */
};

#define CACHE_BITS 13
#define CACHE_SLOTS (1u << CACHE_BITS)

static struct rule *cache;          /* arena, CACHE_SLOTS */
static unsigned cache_used;
static Dwfl *dwfl;
static unsigned long long seen_adds, seen_subs;
static pid_t self_pid;

/* ---------------------------------------------------------------- */
/* Reading the other thread's memory                                 */
/* ---------------------------------------------------------------- */

#define PAGE 4096
struct memcache {
	uintptr_t base[4];
	int valid[4];          /* bytes readable from base */
	unsigned next;
	unsigned char data[4][PAGE];
};

static struct memcache *mc;         /* arena; one walk at a time */

static void mc_reset(void)
{
	for (int i = 0; i < 4; i++)
		mc->valid[i] = -1;
}

/* Copies `len` bytes at `addr` without ever faulting, a cached page at a
 * time. 0, or -1 when any byte is unreadable. */
static int read_mem(uintptr_t addr, void *out, size_t len)
{
	unsigned char *dst = out;
	while (len > 0) {
		uintptr_t base = addr & ~(uintptr_t)(PAGE - 1);
		int slot = -1;
		for (int i = 0; i < 4; i++)
			if (mc->valid[i] >= 0 && mc->base[i] == base) {
				slot = i;
				break;
			}
		if (slot < 0) {
			slot = (int)(mc->next++ & 3);
			struct iovec local = {mc->data[slot], PAGE};
			struct iovec remote = {(void *)base, PAGE};
			ssize_t n = process_vm_readv(self_pid, &local, 1, &remote, 1, 0);
			mc->base[slot] = base;
			mc->valid[slot] = n < 0 ? 0 : (int)n;
		}
		size_t off = addr - base, chunk = PAGE - off < len ? PAGE - off : len;
		if ((int)(off + chunk) > mc->valid[slot])
			return -1;
		memcpy(dst, mc->data[slot] + off, chunk);
		dst += chunk;
		addr += chunk;
		len -= chunk;
	}
	return 0;
}

/* Reads the stack slot at `addr`. 0 or -1. */
static int read_word(uintptr_t addr, uint64_t *out)
{
	if (addr & 7)
		return -1;           /* stack slots are aligned; anything else is garbage */
	return read_mem(addr, out, 8);
}

/* True when the bytes before `ra` end with a call instruction: E8 rel32,
 * or FF /2 (indirect call) in its register, disp8, disp32 and SIB forms. */
static int follows_call(uintptr_t ra)
{
	unsigned char b[8];
	if (ra < 8 || read_mem(ra - 8, b, 8) < 0)
		return 0;
	const unsigned char *e = b + 8;       /* e[-k] is the byte at ra - k */
	if (e[-5] == 0xe8)
		return 1;
	if (e[-2] == 0xff && (e[-1] & 0x38) == 0x10)
		return 1;
	if (e[-3] == 0xff && (e[-2] & 0x38) == 0x10)
		return 1;
	if (e[-6] == 0xff && (e[-5] & 0x38) == 0x10)
		return 1;
	if (e[-7] == 0xff && (e[-6] & 0x38) == 0x10)
		return 1;
	return 0;
}

/* The target of a direct call (E8 rel32) ending at `ra`, or 0 when the
 * call before `ra` is indirect or unreadable. */
static uintptr_t direct_call_target(uintptr_t ra)
{
	unsigned char b[5];
	if (ra < 5 || read_mem(ra - 5, b, 5) < 0 || b[0] != 0xe8)
		return 0;
	int32_t rel;
	memcpy(&rel, b + 1, 4);
	return ra + (uintptr_t)(intptr_t)rel;
}

/*
 * For a frame whose CFA is rbp-based (a function built with frame
 * pointers, such as nprof's own hooks) when rbp is unknown because every
 * frame below it left rbp alone: find the frame record [saved rbp, return
 * address] by scanning up from the stack pointer, accepting the first slot
 * whose next word is a return address right after a call instruction and
 * whose saved rbp is 0 or further up the stack. Returns the slot (the
 * frame's rbp) or 0.
 */
static const struct rule *rule_for(uintptr_t addr);

/* The return address of the frame above a candidate frame record `a`
 * ([saved rbp, ra] at a), by that caller's own rule: a second witness
 * that rejects code pointers that merely sit on the stack. 1 when it too
 * follows a call (or the caller is the outermost frame). */
static int record_checks_out(uint64_t a, uint64_t saved, uint64_t ra)
{
	struct rule r2 = *rule_for((uintptr_t)ra - 1);
	if (!r2.ok)
		return 0;
	uint64_t base;
	if (r2.cfa_reg == R_RSP)
		base = a + 16;
	else if (r2.cfa_reg == R_RBP && saved != 0)
		base = saved;
	else
		return 0;
	uint64_t cfa2 = base + (uint64_t)r2.cfa_off, ra2;
	int k = NTRACKED - 1;                 /* tracked[NTRACKED - 1] is R_RA */
	if (r2.kind[k] == RK_UNDEF)
		return 1;
	if (r2.kind[k] != RK_OFFSET || cfa2 <= a ||
	    read_word(cfa2 + (uint64_t)(int64_t)r2.off[k], &ra2) < 0)
		return 0;
	return ra2 > 4096 && follows_call((uintptr_t)ra2);
}

/*
 * What a record's return address says about being the call into the
 * function starting at `fstart`: 2 when it follows a direct call to
 * exactly that entry, 0 when it follows a direct call to another
 * function's entry, 1 when it is no evidence either way (an indirect call,
 * a call to a PLT stub, an unknown function start).
 *
 * Why it matters: the stack region of a frame's locals holds stale frame
 * records of calls it made earlier. mariadbd's main thread, blocked in
 * poll under handle_connections_sockets(), has an old record of
 * init_slave() and one of a strlen@plt call below the live record; each
 * passes every other test, and taking one adds a frame that is not there.
 */
static int call_evidence(uint64_t ra, uintptr_t fstart)
{
	uintptr_t target = direct_call_target((uintptr_t)ra);
	if (fstart == 0 || target == 0)
		return 1;
	if (target == fstart)
		return 2;
	return rule_for(target)->fstart == target ? 0 : 1;
}

static uint64_t find_frame_record(uint64_t sp, uintptr_t fstart)
{
	uint64_t neutral = 0, other = 0;
	/* A record proven by a direct call to this function wins anywhere
	 * in 64 KiB (frames with buffers or pollfd arrays put their record
	 * far above sp); a doubtful one is taken only near sp, neutral
	 * evidence first. */
	for (uint64_t a = (sp + 7) & ~7ULL; a < sp + 65536; a += 8) {
		uint64_t saved, ra;
		if (read_word(a, &saved) < 0 || read_word(a + 8, &ra) < 0)
			break;
		if (saved != 0 && (saved <= a || saved - a > (64u << 20)))
			continue;
		if (ra > 4096 && follows_call((uintptr_t)ra) && record_checks_out(a, saved, ra)) {
			int ev = call_evidence(ra, fstart);
			if (ev == 2)
				return a;
			if (a >= sp + 2048)
				continue;
			if (ev == 1 && neutral == 0)
				neutral = a;
			if (ev == 0 && other == 0)
				other = a;      /* reached by a tail call, perhaps */
		}
	}
	return neutral != 0 ? neutral : other;
}

/* ---------------------------------------------------------------- */
/* Rules                                                             */
/* ---------------------------------------------------------------- */

/* Reduces dwarf_frame_register's answer for one register. */
static void reduce_reg(Dwarf_Frame *fr, int regno, uint8_t *kind, int32_t *off)
{
	Dwarf_Op mem[3], *ops = NULL;
	size_t n = 0;
	*off = 0;
	if (dwarf_frame_register(fr, regno, mem, &ops, &n) != 0) {
		*kind = RK_UNSUPPORTED;
		return;
	}
	if (n == 0) {
		*kind = ops == NULL ? RK_SAME : RK_UNDEF;
		return;
	}
	/* libdw spells "offset(N)" as call_frame_cfa [, plus_uconst N | consts N, plus]
	 * and "val_offset(N)" the same followed by stack_value. */
	int value = ops[n - 1].atom == DW_OP_stack_value;
	if (value)
		n--;
	if (n == 0 || ops[0].atom != DW_OP_call_frame_cfa) {
		*kind = RK_UNSUPPORTED;
		return;
	}
	int64_t o = 0;
	if (n == 1)
		o = 0;
	else if (n == 2 && ops[1].atom == DW_OP_plus_uconst)
		o = (int64_t)ops[1].number;
	else if (n == 3 && (ops[1].atom == DW_OP_consts || ops[1].atom == DW_OP_constu) &&
		 ops[2].atom == DW_OP_plus)
		o = (int64_t)ops[1].number;
	else {
		*kind = RK_UNSUPPORTED;
		return;
	}
	*kind = value ? RK_VAL_OFFSET : RK_OFFSET;
	*off = (int32_t)o;
}

/*
 * The start of the function (the FDE's initial location) covering pc,
 * from the loaded object's .eh_frame_hdr search table: the largest start
 * at or below pc. That table is in memory for every object linked with
 * --eh-frame-hdr (all of them on a GNU system), needs no symbols, and
 * dl_iterate_phdr's lock keeps the object mapped while we read it. libdw
 * gives a row's range, not the FDE's start. 0 when unknown.
 */
struct fde_query {
	uintptr_t pc, start;
};

static int fde_start_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct fde_query *q = arg;
	const ElfW(Phdr) *hdr = NULL;
	int inside = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && q->pc >= lo && q->pc - lo < ph->p_memsz)
			inside = 1;
		if (ph->p_type == PT_GNU_EH_FRAME)
			hdr = ph;
	}
	if (!inside)
		return 0;
	if (hdr == NULL)
		return 1;
	const unsigned char *h = (const unsigned char *)(info->dlpi_addr + hdr->p_vaddr);
	/* version 1; eh_frame_ptr pcrel|sdata4; fde_count udata4; table
	 * datarel|sdata4: what GNU ld and lld write. Anything else: unknown. */
	if (h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b)
		return 1;
	uint32_t count;
	memcpy(&count, h + 8, 4);
	const unsigned char *tab = h + 12;
	size_t lo = 0, hi = count;
	while (lo < hi) {                       /* first entry starting above pc */
		size_t mid = lo + (hi - lo) / 2;
		int32_t rel;
		memcpy(&rel, tab + mid * 8, 4);
		if ((uintptr_t)h + (uintptr_t)(intptr_t)rel <= q->pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		int32_t rel;
		memcpy(&rel, tab + (lo - 1) * 8, 4);
		q->start = (uintptr_t)h + (uintptr_t)(intptr_t)rel;
	}
	return 1;
}

static uintptr_t fde_start(uintptr_t pc)
{
	struct fde_query q = {pc, 0};
	dl_iterate_phdr(fde_start_cb, &q);
	return q.start;
}

/* Builds the rule for `addr` with libdw. */
static void build_rule(uintptr_t addr, struct rule *r)
{
	memset(r, 0, sizeof *r);
	r->addr = addr;
	Dwfl_Module *mod = dwfl != NULL ? dwfl_addrmodule(dwfl, addr) : NULL;
	if (mod == NULL)
		return;
	Dwarf_Addr bias = 0;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
	Dwarf_Frame *fr = NULL;
	if (cfi == NULL || dwarf_cfi_addrframe(cfi, addr - bias, &fr) != 0) {
		cfi = dwfl_module_dwarf_cfi(mod, &bias);
		if (cfi == NULL || dwarf_cfi_addrframe(cfi, addr - bias, &fr) != 0)
			return;
	}
	r->fstart = fde_start(addr);
	Dwarf_Op *ops = NULL;
	size_t n = 0;
	if (dwarf_frame_cfa(fr, &ops, &n) == 0 && n == 1 && ops[0].atom == DW_OP_bregx &&
	    ops[0].number < NREGS) {
		r->cfa_reg = (uint8_t)ops[0].number;
		r->cfa_off = (int64_t)ops[0].number2;
		r->ok = 1;
		for (int i = 0; i < NTRACKED; i++)
			reduce_reg(fr, tracked[i], &r->kind[i], &r->off[i]);
	}
	free(fr);
}

static const struct rule *rule_for(uintptr_t addr)
{
	uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ULL;
	unsigned i = (unsigned)(h >> (64 - CACHE_BITS));
	for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
		if (cache[i].addr == addr)
			return &cache[i];
		if (cache[i].addr == 0)
			break;
	}
	if (cache_used >= CACHE_SLOTS * 3 / 4) {
		memset(cache, 0, sizeof *cache * CACHE_SLOTS);
		cache_used = 0;
		i = (unsigned)(h >> (64 - CACHE_BITS));
	}
	build_rule(addr, &cache[i]);
	cache_used++;
	return &cache[i];
}

/* ---------------------------------------------------------------- */
/* Modules                                                           */
/* ---------------------------------------------------------------- */

static int count_objects(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	unsigned long long *c = arg;
	c[0] = info->dlpi_adds;
	c[1] = info->dlpi_subs;
	return 1;
}

static int rebuild_dwfl(void)
{
	if (dwfl != NULL)
		dwfl_end(dwfl);
	dwfl = dwfl_begin(&nprof__dwfl_callbacks_cfi);
	if (dwfl == NULL)
		return -ENOENT;
	dwfl_report_begin(dwfl);
	if (dwfl_linux_proc_report(dwfl, self_pid) != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0) {
		dwfl_end(dwfl);
		dwfl = NULL;
		return -ENOENT;
	}
	return 0;
}

int nprof__walk_begin(void)
{
	if (cache == NULL) {
		cache = nprof__arena_alloc(sizeof *cache * CACHE_SLOTS);
		mc = nprof__arena_alloc(sizeof *mc);
		if (cache == NULL || mc == NULL) {
			nprof__arena_free(cache);
			nprof__arena_free(mc);
			cache = NULL;
			mc = NULL;
			return -ENOMEM;
		}
	}
	self_pid = getpid();
	unsigned long long c[2] = {0, 0};
	dl_iterate_phdr(count_objects, c);
	if (dwfl == NULL || c[0] != seen_adds || c[1] != seen_subs) {
		/* A library came or went: addresses may mean something else now. */
		memset(cache, 0, sizeof *cache * CACHE_SLOTS);
		cache_used = 0;
		seen_adds = c[0];
		seen_subs = c[1];
		return rebuild_dwfl();
	}
	return 0;
}

void nprof__walk_forget(void)
{
	/* The child must not free what the parent's libdw owns mid-use; it
	 * simply starts over if it ever dumps. */
	dwfl = NULL;
	cache = NULL;
	mc = NULL;
	cache_used = 0;
}

/* ---------------------------------------------------------------- */
/* The walk                                                          */
/* ---------------------------------------------------------------- */

int nprof__walk_remote(uintptr_t sp, uintptr_t pc, uintptr_t *pcs, int max, int *flags)
{
	uint64_t regs[NREGS];
	uint32_t known = (1u << R_RSP);
	int n = 0;
	*flags = 0;
	if (max <= 0)
		return 0;
	pcs[n++] = pc;
	if (cache == NULL || mc == NULL) {
		*flags |= NPROF_WALK_TRUNCATED;
		return n;
	}
	mc_reset();
	regs[R_RSP] = sp;
	/* The leaf's pc is where the thread resumes (after the syscall
	 * instruction), inside the function: look it up as is. Callers' pcs
	 * are return addresses: look up the call instruction (pc - 1). */
	uintptr_t lookup = pc;
	while (n < max) {
		/* A copy: the scan below may look up (and evict) other rules. */
		const struct rule rule = *rule_for(lookup), *r = &rule;
		if (r->ok && r->cfa_reg == R_RBP && !(known & (1u << R_RBP))) {
			uint64_t rec = find_frame_record(regs[R_RSP], r->fstart);
			if (rec != 0) {
				regs[R_RBP] = rec;
				known |= 1u << R_RBP;
			}
		}
		if (!r->ok || !(known & (1u << r->cfa_reg))) {
			*flags |= NPROF_WALK_TRUNCATED;
			break;
		}
		uint64_t cfa = regs[r->cfa_reg] + (uint64_t)r->cfa_off;
		uint64_t nregs[NREGS] = {0};
		uint32_t nknown = 0;
		int ra_undef = 0, bad = 0;
		for (int i = 0; i < NTRACKED; i++) {
			int reg = tracked[i];
			switch (r->kind[i]) {
			case RK_SAME:
				if (known & (1u << reg)) {
					nregs[reg] = regs[reg];
					nknown |= 1u << reg;
				}
				break;
			case RK_UNDEF:
				if (reg == R_RA)
					ra_undef = 1;
				break;
			case RK_OFFSET:
				if (read_word(cfa + (uint64_t)(int64_t)r->off[i], &nregs[reg]) == 0)
					nknown |= 1u << reg;
				else if (reg == R_RA)
					bad = 1;
				break;
			case RK_VAL_OFFSET:
				nregs[reg] = cfa + (uint64_t)(int64_t)r->off[i];
				nknown |= 1u << reg;
				break;
			default:
				if (reg == R_RA)
					bad = 1;
				break;
			}
		}
		if (ra_undef)
			break;               /* the outermost frame: a complete stack */
		if (bad || !(nknown & (1u << R_RA)) || nregs[R_RA] == 0) {
			*flags |= NPROF_WALK_TRUNCATED;
			break;
		}
		/* The caller's stack pointer is the CFA; a stack that does not
		 * grow towards its base is garbage. */
		if (cfa <= regs[R_RSP] || cfa - regs[R_RSP] > (64u << 20)) {
			*flags |= NPROF_WALK_TRUNCATED;
			break;
		}
		nregs[R_RSP] = cfa;
		nknown |= 1u << R_RSP;
		pcs[n++] = (uintptr_t)nregs[R_RA];
		lookup = (uintptr_t)nregs[R_RA] - 1;
		memcpy(regs, nregs, sizeof regs);
		known = nknown;
	}
	if (n == max)
		*flags |= NPROF_WALK_TRUNCATED;
	return n;
}
