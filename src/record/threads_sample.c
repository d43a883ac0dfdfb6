/*
 * threads_sample.c - the stack of a thread that is running, taken by
 * sending it one signal (nprof__threads_sample_running), for the thread
 * dumps: a running thread has no (SP, PC) in /proc/self/task/TID/syscall
 * to unwind from outside, so it unwinds itself, in a handler, from the
 * interrupted context.
 *
 * Why this cannot cause EINTR, and where it still could: a thread that is
 * not in a system call takes a handled signal between two instructions and
 * goes on as if nothing happened. A thread preempted in user mode handles a
 * pending signal before it runs another instruction. So the thread is
 * signalled only right after /proc says it is runnable ('R' in stat), not
 * in a system call ("running" in syscall, read last) and not blocking the
 * signal (SigBlk in status): a thread that blocks it could unblock it
 * inside ppoll/pselect/epoll_pwait, which would then fail with EINTR. The
 * remaining window is the few microseconds between that last read and
 * tgkill, in which the thread would have to enter a blocking call; the
 * handler is installed with SA_RESTART, so read, accept and the like
 * restart even then, and only poll, epoll_wait, nanosleep and their kin
 * could see EINTR. NPROF_SAMPLE_RUNNING=0 turns sampling off; such threads
 * are then listed with the pseudo frame [running].
 *
 * The signal: SIGRTMAX (SIGRTMAX - 1 if NPROF_DUMP_SIGNAL is SIGRTMAX),
 * used only while its disposition is SIG_DFL when nprof first needs it;
 * nprof's handler then stays installed for good (a late signal must never
 * meet SIG_DFL, which terminates). A program that installs its own
 * handler later (the sigaction/signal overrides call
 * nprof__threads_sample_sig_taken) gets the signal back: nprof stops
 * sending it. Until then a program asking for the disposition is told
 * SIG_DFL (nprof__threads_sample_hide).
 *
 * Data: one request slot (tid, state, pcs), as only one collection runs at
 * a time (threads_collect.c's dump_lock is held by every caller). States:
 * IDLE -> PENDING (dumper) -> FILLING (handler, by compare-and-swap, so a
 * request the dumper withdrew is never filled) -> DONE (handler, release)
 * -> IDLE (dumper). The handler allocates nothing, takes no lock, touches
 * only initial-exec TLS (nprof__gettid's cache, the unwinder's flags) and
 * preserves errno.
 */
#include "base.h"
#include "stacks.h"
#include "threads.h"
#include "threads_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long the dumper waits for a signalled thread to answer. */
#define SAMPLE_WAIT_NS (100LL * 1000000LL)
/* A handler that began filling is given this long to finish (it walks at
 * most NPROF_MAX_FRAMES frames); past it, sampling is turned off. */
#define SAMPLE_FINISH_NS (1000LL * 1000000LL)

enum { REQ_IDLE, REQ_PENDING, REQ_FILLING, REQ_DONE };

static struct {
	atomic_int state;
	atomic_int tid;
	int n;
	uintptr_t pcs[NPROF_MAX_FRAMES];
} req;

static int sample_sig;               /* 0 until chosen */
static atomic_int installed;         /* our handler is in place */
static atomic_int unusable;          /* the program owns the signal, or off */

static void sample_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	int saved = errno;
	int expect = REQ_PENDING;
	if (atomic_load_explicit(&req.tid, memory_order_acquire) == nprof__gettid() &&
	    atomic_compare_exchange_strong_explicit(&req.state, &expect, REQ_FILLING,
						    memory_order_acq_rel, memory_order_acquire)) {
		req.n = nprof__unwind_signal_sigsafe(uc, req.pcs, NPROF_MAX_FRAMES);
		atomic_store_explicit(&req.state, REQ_DONE, memory_order_release);
	}
	errno = saved;
}

static int choose_sig(void)
{
	int s = SIGRTMAX;
	if (nprof__cfg.dump_signal == s)
		s--;
	return s;
}

void nprof__threads_sample_sig_taken(int sig)
{
	if (sample_sig != 0 ? sig == sample_sig : sig == choose_sig())
		atomic_store(&unusable, 1);
}

void nprof__threads_sample_hide(int sig, struct sigaction *old)
{
	if (old != NULL && sample_sig != 0 && sig == sample_sig && atomic_load(&installed) &&
	    (void *)old->sa_handler == (void *)sample_handler) {
		memset(old, 0, sizeof *old);
		old->sa_handler = SIG_DFL;
	}
}

/* Installs the handler once; dump_lock held. Returns 0 when usable. */
static int ensure_installed(void)
{
	if (atomic_load(&unusable))
		return -1;
	if (atomic_load(&installed))
		return 0;
	if (nprof__cfg.no_sample_running) {
		atomic_store(&unusable, 1);
		return -1;
	}
	sample_sig = choose_sig();
	struct sigaction old, ours;
	if (nprof__real_sigaction(sample_sig, NULL, &old) != 0 ||
	    (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
		atomic_store(&unusable, 1);   /* the program's */
		return -1;
	}
	memset(&ours, 0, sizeof ours);
	ours.sa_sigaction = sample_handler;
	ours.sa_flags = SA_SIGINFO | SA_RESTART;
	/* Nothing else interrupts the handler: it is short. */
	sigfillset(&ours.sa_mask);
	if (nprof__real_sigaction(sample_sig, &ours, NULL) != 0) {
		atomic_store(&unusable, 1);
		return -1;
	}
	atomic_store(&installed, 1);
	return 0;
}

/* 1 when the thread blocks `sig` (SigBlk in status), or on any doubt. */
static int blocks_sig(int tdir, int sig)
{
	char buf[2048];
	if (nprof__threads_read_at(tdir, "status", buf, sizeof buf) < 0)
		return 1;
	const char *p = strstr(buf, "\nSigBlk:");
	if (p == NULL)
		return 1;
	unsigned long long mask = strtoull(p + 8, NULL, 16);
	return (mask >> (sig - 1)) & 1;
}

/* 1 when stat says 'R' and syscall says "running", read in that order. */
static int runnable_in_user_mode(int tdir)
{
	char buf[512];
	if (nprof__threads_read_at(tdir, "stat", buf, sizeof buf) < 0)
		return 0;
	const char *rp = strrchr(buf, ')');
	if (rp == NULL || rp[1] != ' ' || rp[2] != 'R')
		return 0;
	if (nprof__threads_read_at(tdir, "syscall", buf, sizeof buf) < 0)
		return 0;
	return strncmp(buf, "running", 7) == 0;
}

int nprof__threads_sample_running(int tdir, pid_t tid, uintptr_t *pcs, int max)
{
	if (tdir < 0 || max <= 0 || ensure_installed() != 0)
		return 0;
	if (blocks_sig(tdir, sample_sig) || !runnable_in_user_mode(tdir))
		return 0;
	if (atomic_load(&unusable))
		return 0;
	atomic_store_explicit(&req.tid, tid, memory_order_release);
	atomic_store_explicit(&req.state, REQ_PENDING, memory_order_release);
	if (syscall(SYS_tgkill, getpid(), tid, sample_sig) != 0) {
		atomic_store(&req.state, REQ_IDLE);
		return 0;
	}
	int64_t t0 = nprof__mono_ns();
	for (;;) {
		int st = atomic_load_explicit(&req.state, memory_order_acquire);
		if (st == REQ_DONE)
			break;
		int64_t waited = nprof__mono_ns() - t0;
		if (st == REQ_PENDING && waited > SAMPLE_WAIT_NS) {
			int expect = REQ_PENDING;
			/* Withdraw it; if the handler got there first, wait for it. */
			if (atomic_compare_exchange_strong(&req.state, &expect, REQ_IDLE))
				return 0;
			continue;
		}
		if (waited > SAMPLE_WAIT_NS + SAMPLE_FINISH_NS) {
			/* A handler stuck filling: never reuse the slot. */
			atomic_store(&unusable, 1);
			return 0;
		}
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	int n = req.n < max ? req.n : max;
	memcpy(pcs, req.pcs, sizeof *pcs * (size_t)n);
	atomic_store(&req.tid, 0);
	atomic_store_explicit(&req.state, REQ_IDLE, memory_order_release);
	return n;
}
