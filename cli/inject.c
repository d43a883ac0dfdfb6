/*
 * inject.c - makes a running process call a function of ours, through
 * ptrace: how `nprof attach` loads libnprof.so into a process started
 * without it, and how `nprof detach` calls nprof_stop() there.
 *
 * Method (docs/internals/attach.md): every thread is looked at from
 * /proc/PID/task/TID/syscall without stopping it; one thread blocked in a
 * system call the kernel restarts by itself (read, accept, poll,
 * nanosleep, ...) is chosen, seized (PTRACE_SEIZE, so no SIGSTOP is ever
 * queued) and interrupted (PTRACE_INTERRUPT). Its registers, its whole
 * extended FPU state (XSAVE area: AVX string functions in dlopen clobber
 * ymm registers) and the bytes below its red zone are saved; the thread is
 * refused when its program counter or a return address on its stack lies
 * in the dynamic loader, in libc's allocator or loader entry points, or is
 * libc's signal-return trampoline (it would be in a handler), and the next
 * one is tried. Then a call is set up on its own stack with return address
 * 0, orig_rax = -1 so the kernel does not apply syscall restart to the
 * call, and the thread is continued: the return faults at address 0
 * (SIGSEGV stop, never delivered), rax holds the result. Finally every
 * register and byte is put back exactly and the thread detached: the
 * kernel then restarts the interrupted call as if nothing had happened.
 * A call that returned -EINTR because of our interrupt (epoll_wait, which
 * the kernel never restarts) is rewound to be issued again, and so is one
 * stopped with ERESTART_RESTARTBLOCK (see restored_regs). Signals are
 * blocked in the thread while it runs our calls.
 *
 * Other threads are never stopped: they keep running, so a lock one of
 * them holds (malloc's, the loader's) is released in its time instead of
 * deadlocking the injected dlopen.
 *
 * Symbols are found by reading the ELF .dynsym of the file behind each
 * mapping (libc's dlopen, libnprof's nprof_start; procelf.c); libdw is not
 * linked in the command. x86-64 only.
 *
 * Not reentrant (one session at a time); signals that would end this
 * command are blocked while the target runs our call, so the target is
 * never left with a return address of 0.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "procelf.h"

#if defined(__x86_64__)

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define RED_ZONE 128
#define SCRATCH 4096            /* bytes below the red zone we use */
#define STACK_SCAN 16384        /* bytes above sp searched for return addresses */
#define XSTATE_MAX (64 * 1024)

/* Kernel-internal restart codes as seen in rax at a stop inside a call. */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

/* ------------------------------------------------------------------ */
/* target memory                                                        */
/* ------------------------------------------------------------------ */

static int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -1;
}

static int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	/* Fallback through ptrace words (a mapping process_vm_writev refuses). */
	for (size_t i = 0; i < len; i += sizeof(long)) {
		long word;
		size_t chunk = len - i < sizeof word ? len - i : sizeof word;
		errno = 0;
		word = ptrace(PTRACE_PEEKDATA, pid, (void *)(uintptr_t)(addr + i), NULL);
		if (errno != 0)
			return -1;
		memcpy(&word, (const char *)buf + i, chunk);
		if (ptrace(PTRACE_POKEDATA, pid, (void *)(uintptr_t)(addr + i), (void *)word) != 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* a session: one stopped thread                                        */
/* ------------------------------------------------------------------ */

struct session {
	pid_t pid, tid;
	struct user_regs_struct saved;
	uint64_t sigmask;                /* the thread's blocked signals */
	int mask_set;                    /* ours is in place of sigmask */
	unsigned char *xstate;
	struct iovec xiov;
	uint64_t scratch;                /* lowest byte of the area we write */
	unsigned char scratch_saved[SCRATCH];
	struct nprof_procelf_module libc, ldso;
	struct nprof_procelf_range unsafe[24];         /* libc functions a thread must not be in */
	int n_unsafe;
	uint64_t restore_rt;             /* libc's signal-return trampoline */
	int has_handlers;
	sigset_t old_mask;
	double stopped_ms;
	struct timespec t0;
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Functions that hold malloc's or the loader's locks, or run in fork. */
static const char *const unsafe_names[] = {
	"malloc", "free", "calloc", "realloc", "memalign", "posix_memalign",
	"aligned_alloc", "valloc", "pvalloc", "malloc_trim", "malloc_usable_size",
	"mallinfo", "mallinfo2", "malloc_stats", "malloc_info", "fork", "_Fork",
	"dlopen", "dlclose", "dlsym", "dlvsym", "dladdr", "dladdr1", "dl_iterate_phdr",
	"dlmopen", NULL,
};

static int in_range(const struct nprof_procelf_range *r, uint64_t a)
{
	return a >= r->lo && a < r->hi;
}

/* True when `a` in the target follows a call instruction: a return
 * address rather than a function pointer or stale data. */
static int after_call(pid_t pid, uint64_t a)
{
	unsigned char b[8];
	if (a < 8 || mem_read(pid, a - 8, b, sizeof b) != 0)
		return 0;
	/* b[7] is the byte at a-1. */
	if (b[3] == 0xe8)                                   /* call rel32 */
		return 1;
	if (b[6] == 0xff && (b[7] & 0x38) == 0x10)          /* call *%reg */
		return 1;
	if (b[5] == 0xff && (b[6] & 0x38) == 0x10)          /* call *disp8(%reg) */
		return 1;
	if (b[2] == 0xff && (b[3] & 0x38) == 0x10)          /* call *disp32(...) */
		return 1;
	if (b[1] == 0xff && (b[2] & 0x38) == 0x10)          /* call *disp32(sib) */
		return 1;
	return 0;
}

/* Why the stopped thread's place is unsafe, or NULL. */
static const char *unsafe_place(struct session *s, const struct user_regs_struct *r, int in_syscall)
{
	uint64_t pc = r->rip;
	if (in_range(&s->ldso.text, pc))
		return "in the dynamic loader";
	for (int i = 0; i < s->n_unsafe; i++)
		if (in_range(&s->unsafe[i], pc))
			return "in malloc or the loader";
	if (!in_syscall && in_range(&s->libc.text, pc))
		return "running inside libc";
	static uint64_t words[STACK_SCAN / 8];
	size_t n = 0;
	for (size_t off = 0; off < STACK_SCAN; off += 4096) {
		uint64_t addr = (r->rsp & ~(uint64_t)7) + off;
		size_t chunk = 4096 - (addr & 4095);
		if (off + chunk > STACK_SCAN)
			chunk = STACK_SCAN - off;
		if (mem_read(s->pid, addr, (char *)words + off, chunk) != 0)
			break;
		n = (off + chunk) / 8;
		if (chunk < 4096)
			off -= 4096 - chunk;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t w = words[i];
		if (s->restore_rt && w == s->restore_rt)
			return "inside a signal handler";
		int hit = in_range(&s->ldso.text, w);
		for (int k = 0; !hit && k < s->n_unsafe; k++)
			hit = in_range(&s->unsafe[k], w);
		if (hit && after_call(s->pid, w))
			return "called from malloc or the loader";
	}
	return NULL;
}

/* System calls the kernel restarts by itself when a ptrace stop
 * interrupts them (ERESTARTSYS / ERESTARTNOHAND / restart_block). */
static int restartable(long nr)
{
	switch (nr) {
	case SYS_read: case SYS_readv: case SYS_pread64: case SYS_write: case SYS_writev:
	case SYS_accept: case SYS_accept4: case SYS_recvfrom: case SYS_recvmsg:
	case SYS_sendto: case SYS_sendmsg: case SYS_wait4: case SYS_waitid: case SYS_pause:
	case SYS_select: case SYS_pselect6:
		return 2;       /* resumed exactly (ERESTARTSYS / ERESTARTNOHAND) */
	case SYS_poll: case SYS_ppoll: case SYS_nanosleep: case SYS_clock_nanosleep:
		return 1;       /* may be re-issued with its timeout (restored_regs) */
	}
	return 0;
}

/* Preference of a thread from its /proc syscall line: 3 blocked in a call
 * resumed exactly, 2 in one re-issued or in futex (maybe a lock),
 * 1 running, 0 never (epoll_wait: no restart at all, and others). */
static int thread_score(pid_t pid, pid_t tid)
{
	char path[96], line[256];
	snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, line, sizeof line - 1);
	close(fd);
	if (n <= 0)
		return 0;
	line[n] = '\0';
	if (strncmp(line, "running", 7) == 0)
		return 1;
	long nr = strtol(line, NULL, 10);
	if (nr == SYS_futex)
		return 2;       /* maybe a lock wait: after the others */
	int r = restartable(nr);
	return r == 2 ? 3 : r == 1 ? 2 : 0;
}

static int wait_stop(pid_t tid, int *status)
{
	for (;;) {
		pid_t w = waitpid(tid, status, __WALL);
		if (w == tid)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

/* Stops `tid` by seize + interrupt. 0, or -errno (EPERM: no rights). */
static int seize_stop(pid_t tid)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0) {
		int e = -errno;
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return e;
	}
	for (;;) {
		int st;
		if (wait_stop(tid, &st) != 0 || !WIFSTOPPED(st))
			return -ESRCH;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/* A signal arrived first: let it through and wait for our stop. */
		ptrace(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(st));
	}
}

/* The registers to put back: a call our interrupt broke with EINTR (the
 * kernel never restarts epoll_wait) is rewound so it is issued again. */
static struct user_regs_struct restored_regs(const struct session *s)
{
	struct user_regs_struct r = s->saved;
	/*
	 * A call stopped with ERESTART_RESTARTBLOCK (poll, nanosleep, futex
	 * with a timeout) would be resumed from the kernel's per-thread
	 * restart block, but any nanosleep during our calls resets that
	 * block, and the resumed call would then fail with EINTR. It is
	 * issued again instead, from its arguments still in the registers:
	 * an absolute or infinite timeout is unchanged, a relative one
	 * starts again (the wait lasts longer by what was already waited).
	 */
	if ((long)r.orig_rax >= 0 &&
	    ((long)r.rax == -EINTR || (long)r.rax == -ERESTART_RESTARTBLOCK)) {
		r.rax = r.orig_rax;
		r.rip -= 2;
	}
	return r;
}

static void release(struct session *s, int restore)
{
	if (restore) {
		struct user_regs_struct r = restored_regs(s);
		mem_write(s->pid, s->scratch, s->scratch_saved, SCRATCH);
		ptrace(PTRACE_SETREGSET, s->tid, (void *)NT_X86_XSTATE, &s->xiov);
		ptrace(PTRACE_SETREGS, s->tid, NULL, &r);
	}
	if (s->mask_set)
		ptrace(PTRACE_SETSIGMASK, s->tid, (void *)sizeof s->sigmask, &s->sigmask);
	s->mask_set = 0;
	ptrace(PTRACE_DETACH, s->tid, NULL, NULL);
	s->stopped_ms += ms_since(&s->t0);
	s->tid = 0;
}

static int prepare(struct session *s, pid_t pid, char *err, size_t errlen)
{
	static const char *const libc_names[] = {"libc.so", "libc-2.", NULL};
	static const char *const ld_names[] = {"ld-linux", "ld64.so", "ld-2.", NULL};
	memset(s, 0, sizeof *s);
	s->pid = pid;
	int rc = nprof_procelf_find_module(pid, libc_names, NULL, &s->libc);
	/* /proc/PID/syscall needs the very rights ptrace needs. */
	char probe[64];
	snprintf(probe, sizeof probe, "/proc/%d/syscall", (int)pid);
	int pfd = open(probe, O_RDONLY | O_CLOEXEC);
	char junk[256];
	ssize_t got = pfd >= 0 ? read(pfd, junk, sizeof junk) : -1;
	int perr = errno;
	if (pfd >= 0)
		close(pfd);
	if (rc == 0 && got < 0 && (perr == EACCES || perr == EPERM))
		rc = -EACCES;
	if (rc == -EACCES || rc == -EPERM) {
		snprintf(err, errlen, "no right to ptrace process %d: run as its user with "
			 "sysctl kernel.yama.ptrace_scope=0, or as root / with CAP_SYS_PTRACE",
			 (int)pid);
		return -EPERM;
	}
	if (rc == -ENOENT && kill(pid, 0) != 0 && errno == ESRCH) {
		snprintf(err, errlen, "no process %d", (int)pid);
		return -ESRCH;
	}
	if (rc != 0) {
		snprintf(err, errlen, "process %d has no libc.so mapped (statically linked?): "
			 "nprof can only be loaded into dynamically linked programs", (int)pid);
		return -ENOEXEC;
	}
	nprof_procelf_find_module(pid, ld_names, NULL, &s->ldso);
	struct nprof_procelf_file e;
	if (nprof_procelf_open(pid, s->libc.path, &e) != 0) {
		snprintf(err, errlen, "cannot read %s", s->libc.path);
		return -ENOEXEC;
	}
	for (int i = 0; unsafe_names[i] && s->n_unsafe < 24; i++) {
		uint64_t v, sz;
		if (nprof_procelf_sym(&e, unsafe_names[i], &v, &sz) == 0 && sz > 0) {
			s->unsafe[s->n_unsafe].lo = s->libc.base + v;
			s->unsafe[s->n_unsafe].hi = s->libc.base + v + sz;
			s->n_unsafe++;
		}
	}
	/* __restore_rt: mov $15,%rax; syscall (rt_sigreturn). */
	static const unsigned char rt[] = {0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05};
	uint64_t off = nprof_procelf_find_code(&e, rt, sizeof rt);
	s->restore_rt = off ? s->libc.base + off : 0;
	nprof_procelf_close(&e);
	s->xstate = calloc(1, XSTATE_MAX);
	if (s->xstate == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/*
 * Chooses and stops a thread at a safe point, within `budget_ms`.
 * 0, or -errno with `err` set.
 */
static int stop_one(struct session *s, int budget_ms, char *err, size_t errlen)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	const char *last = "no thread found";
	for (int round = 0;; round++) {
		char dir[64];
		snprintf(dir, sizeof dir, "/proc/%d/task", (int)s->pid);
		DIR *d = opendir(dir);
		if (d == NULL) {
			snprintf(err, errlen, "no process %d", (int)s->pid);
			return -ESRCH;
		}
		pid_t cand[3][256];
		int nc[3] = {0, 0, 0};
		struct dirent *de;
		/* Tests choose the thread, to put each kind of blocked call
		 * through the injection; the safety checks still apply. */
		const char *forced = getenv("NPROF_ATTACH_THREAD");
		pid_t only = forced ? (pid_t)atoi(forced) : 0;
		while ((de = readdir(d)) != NULL) {
			pid_t tid = (pid_t)atoi(de->d_name);
			if (tid <= 0 || (only && tid != only))
				continue;
			int sc = only ? 3 : thread_score(s->pid, tid);
			if (sc > 0 && nc[3 - sc] < 256)
				cand[3 - sc][nc[3 - sc]++] = tid;
		}
		closedir(d);
		for (int pass = 0; pass < 3; pass++) {
			for (int i = 0; i < nc[pass]; i++) {
				pid_t tid = cand[pass][i];
				clock_gettime(CLOCK_MONOTONIC, &s->t0);
				int rc = seize_stop(tid);
				if (rc == -EPERM) {
					snprintf(err, errlen, "no right to ptrace process %d: run as its "
						 "user with sysctl kernel.yama.ptrace_scope=0, or as root / "
						 "with CAP_SYS_PTRACE", (int)s->pid);
					return rc;
				}
				if (rc != 0)
					continue;
				s->tid = tid;
				if (ptrace(PTRACE_GETREGS, tid, NULL, &s->saved) != 0) {
					release(s, 0);
					continue;
				}
				long nr = (long)s->saved.orig_rax, ax = (long)s->saved.rax;
				int in_syscall = nr >= 0 && (ax == -ERESTARTSYS || ax == -ERESTARTNOINTR ||
							     ax == -ERESTARTNOHAND ||
							     ax == -ERESTART_RESTARTBLOCK || ax == -EINTR);
				if (nr >= 0 && !in_syscall) {
					/* Between a call's end and its return to user space:
					 * try again later rather than reason about it. */
					last = "thread leaving a system call";
					release(s, 0);
					continue;
				}
				const char *why = unsafe_place(s, &s->saved, in_syscall);
				if (why != NULL) {
					last = why;
					release(s, 0);
					continue;
				}
				s->xiov.iov_base = s->xstate;
				s->xiov.iov_len = XSTATE_MAX;
				if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &s->xiov) != 0) {
					/* No XSAVE: the legacy FP area is enough there. */
					s->xiov.iov_len = sizeof(struct user_fpregs_struct);
					if (ptrace(PTRACE_GETFPREGS, tid, NULL, s->xstate) != 0) {
						release(s, 0);
						continue;
					}
				}
				/*
				 * Signals stay blocked in this thread while it runs our
				 * calls: a handler's sigreturn would reset the kernel's
				 * restart block and turn the interrupted poll or
				 * nanosleep into EINTR. Faults stay unblocked: the
				 * kernel would reset a blocked SIGSEGV's handler.
				 */
				uint64_t all = ~(uint64_t)0;
				all &= ~((1ull << (SIGSEGV - 1)) | (1ull << (SIGBUS - 1)) |
					 (1ull << (SIGILL - 1)) | (1ull << (SIGFPE - 1)) |
					 (1ull << (SIGTRAP - 1)));
				if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof s->sigmask,
					   &s->sigmask) != 0 ||
				    ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof all, &all) != 0) {
					release(s, 0);
					continue;
				}
				s->mask_set = 1;
				s->scratch = ((s->saved.rsp - RED_ZONE) & ~(uint64_t)15) - SCRATCH;
				if (mem_read(s->pid, s->scratch, s->scratch_saved, SCRATCH) != 0) {
					last = "stack not readable";
					release(s, 0);
					continue;
				}
				return 0;
			}
		}
		if (ms_since(&start) > budget_ms) {
			snprintf(err, errlen, "no thread of process %d stopped at a safe point "
				 "within %d ms (last: %s); try again", (int)s->pid, budget_ms, last);
			return -EAGAIN;
		}
		struct timespec nap = {0, 20 * 1000 * 1000};
		nanosleep(&nap, NULL);
	}
}

/*
 * Calls fn(a1, a2) in the stopped thread, with `data` copied into the
 * scratch area first (a1/a2 may point into it via data_addr). Sets *ret
 * to rax. 0, or -1 with `err` set.
 */
static int call(struct session *s, uint64_t fn, uint64_t a1, uint64_t a2, uint64_t *ret,
		char *err, size_t errlen)
{
	struct user_regs_struct r = s->saved;
	uint64_t sp = s->scratch & ~(uint64_t)15;
	sp -= 8;                                /* the return address: 0 */
	uint64_t zero = 0;
	if (mem_write(s->pid, sp, &zero, sizeof zero) != 0) {
		snprintf(err, errlen, "cannot write the target's stack");
		return -1;
	}
	r.rsp = sp;
	r.rip = fn;
	r.rdi = a1;
	r.rsi = a2;
	r.rax = 0;
	r.orig_rax = (uint64_t)-1;             /* no syscall restart for our call */
	if (ptrace(PTRACE_SETREGS, s->tid, NULL, &r) != 0 ||
	    ptrace(PTRACE_CONT, s->tid, NULL, NULL) != 0) {
		snprintf(err, errlen, "ptrace: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		int st;
		if (wait_stop(s->tid, &st) != 0 || !WIFSTOPPED(st)) {
			snprintf(err, errlen, "process %d ended during the call", (int)s->pid);
			s->tid = 0;
			return -1;
		}
		int sig = WSTOPSIG(st);
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			ptrace(PTRACE_CONT, s->tid, NULL, NULL);
			continue;
		}
		if (sig == SIGSEGV) {
			struct user_regs_struct now;
			ptrace(PTRACE_GETREGS, s->tid, NULL, &now);
			if (now.rip == 0) {
				*ret = now.rax;
				return 0;
			}
			snprintf(err, errlen, "the call crashed at %#llx in process %d",
				 (unsigned long long)now.rip, (int)s->pid);
			return -1;
		}
		/* A signal sent to the thread (blocked ones wait for the
		 * restore): deliver it as it would have been. */
		ptrace(PTRACE_CONT, s->tid, NULL, (void *)(long)sig);
	}
}

/* Copies a string into the scratch area at `off`; its target address. */
static uint64_t put_string(struct session *s, size_t off, const char *str)
{
	size_t len = strlen(str) + 1;
	if (off + len > SCRATCH / 2)
		return 0;
	uint64_t addr = s->scratch + SCRATCH / 2 + off;
	return mem_write(s->pid, addr, str, len) == 0 ? addr : 0;
}

static void block_signals(struct session *s)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &s->old_mask);
}

static void unblock_signals(struct session *s)
{
	sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
}

/* The load bias of `lib` in the target, and `sym`'s address there. */
static int remote_sym(pid_t pid, const char *lib, const char *sym, uint64_t *addr)
{
	struct nprof_procelf_module m;
	char real[PATH_MAX];
	if (realpath(lib, real) == NULL)
		snprintf(real, sizeof real, "%s", lib);
	static const char *const any[] = {"libnprof.so", NULL};
	if (nprof_procelf_find_module(pid, NULL, real, &m) != 0 && nprof_procelf_find_module(pid, any, NULL, &m) != 0)
		return -ENOENT;
	struct nprof_procelf_file e;
	if (nprof_procelf_open(pid, m.path, &e) != 0)
		return -ENOEXEC;
	uint64_t v, sz;
	int rc = nprof_procelf_sym(&e, sym, &v, &sz);
	nprof_procelf_close(&e);
	if (rc == 0)
		*addr = m.base + v;
	return rc;
}

int nprof_cli_inject(pid_t pid, const char *lib, const char *fn_name, const char *config,
		     int load, long *result, double *stopped_ms, char *err, size_t errlen)
{
	struct session *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = prepare(s, pid, err, errlen);
	uint64_t dlopen_addr = 0, dlerror_addr = 0, sz;
	if (rc == 0 && load) {
		struct nprof_procelf_file e;
		rc = nprof_procelf_open(pid, s->libc.path, &e);
		if (rc == 0) {
			if (nprof_procelf_sym(&e, "dlopen", &dlopen_addr, &sz) != 0 &&
			    nprof_procelf_sym(&e, "__libc_dlopen_mode", &dlopen_addr, &sz) != 0)
				dlopen_addr = 0;
			if (nprof_procelf_sym(&e, "dlerror", &dlerror_addr, &sz) != 0)
				dlerror_addr = 0;
			nprof_procelf_close(&e);
		}
		if (dlopen_addr == 0) {
			snprintf(err, errlen, "no dlopen in %s (glibc older than 2.34 needs "
				 "libdl loaded)", s->libc.path);
			rc = -ENOEXEC;
		} else {
			dlopen_addr += s->libc.base;
			if (dlerror_addr)
				dlerror_addr += s->libc.base;
		}
	}
	if (rc == 0) {
		block_signals(s);
		rc = stop_one(s, 3000, err, errlen);
		if (rc == 0) {
			uint64_t ret = 0, fn = 0;
			if (load) {
				uint64_t path = put_string(s, 0, lib);
				rc = path ? call(s, dlopen_addr, path, RTLD_NOW, &ret, err, errlen)
					  : -1;
				if (rc == 0 && ret == 0) {
					uint64_t msg = 0;
					char text[256] = "";
					if (dlerror_addr && call(s, dlerror_addr, 0, 0, &msg, err, errlen) == 0 &&
					    msg != 0)
						mem_read(pid, msg, text, sizeof text - 1);
					text[sizeof text - 1] = '\0';
					snprintf(err, errlen, "dlopen in process %d failed: %s", (int)pid,
						 text[0] ? text : "unknown error");
					rc = -1;
				}
			}
			if (rc == 0 && remote_sym(pid, lib, fn_name, &fn) != 0) {
				snprintf(err, errlen, "%s not found in process %d (is libnprof loaded?)",
					 fn_name, (int)pid);
				rc = -1;
			}
			if (rc == 0) {
				uint64_t arg = config ? put_string(s, 1024, config) : 0;
				rc = call(s, fn, arg, 0, &ret, err, errlen);
				if (rc == 0)
					*result = (long)(int)ret;
			}
			if (s->tid)
				release(s, 1);
		}
		unblock_signals(s);
	}
	*stopped_ms = s->stopped_ms;
	free(s->xstate);
	free(s);
	return rc;
}

#else /* !__x86_64__ */

int nprof_cli_inject(pid_t pid, const char *lib, const char *fn_name, const char *config,
		     int load, long *result, double *stopped_ms, char *err, size_t errlen)
{
	(void)pid; (void)lib; (void)fn_name; (void)config; (void)load; (void)result;
	*stopped_ms = 0;
	snprintf(err, errlen, "attaching is implemented for x86-64 only");
	return -ENOSYS;
}

#endif
