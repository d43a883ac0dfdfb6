/*
 * heap_stackcache.c - allocations whose call site and stack position
 * repeat while the frames above them change, for the heap recorder's
 * stack cache (tests/preload/heap_stackcache.sh). At NPROF_HEAP_RATE=1
 * the cache remembers, per (return address, slot address), the return
 * addresses above; each case below reaches one allocation site at the very
 * same stack position through different callers, so a cache that
 * returned a remembered stack without checking it would count
 * allocations under the wrong caller.
 *
 * Prints "expect TAG N": N allocations whose stack holds the functions
 * named by TAG (the test maps tags to frame sequences).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define NOINL __attribute__((noinline))
#define ROUNDS 300

static void *volatile sink;
static volatile int zero;

/* The one allocation site: every case allocates here. */
static NOINL void site(void)
{
	sink = malloc(24);
	free(sink);
	zero = zero; /* no tail call: keep the frame */
}

/* Two callers with the same frame: site() sits at the same stack address
 * under both, its return address alone tells them apart. The constants
 * differ so that the compiler cannot fold them into one function. */
static NOINL void caller_a(void)
{
	volatile char pad[32];
	pad[0] = 1;
	site();
	zero = pad[0] - 1;
}

static NOINL void caller_b(void)
{
	volatile char pad[32];
	pad[0] = 2;
	site();
	zero = pad[0] - 2;
}

/* The same caller under two grandparents: only the slot two frames up
 * differs. */
static NOINL void middle(void)
{
	caller_a();
	zero = zero;
}

static NOINL void grand_x(void)
{
	volatile char pad[16];
	pad[0] = 3;
	middle();
	zero = pad[0] - 3;
}

static NOINL void grand_y(void)
{
	volatile char pad[16];
	pad[0] = 4;
	middle();
	zero = pad[0] - 4;
}

/* Recursion: depth d, then the site. */
static NOINL void recurse(int d)
{
	if (d > 0)
		recurse(d - 1);
	else
		site();
	zero = zero;
}

/* longjmp out of the allocating frame, back to a frame of another shape. */
static jmp_buf jb;

static NOINL void jump_site(void)
{
	caller_b();
	longjmp(jb, 1);
}

static NOINL void jumper(void)
{
	if (setjmp(jb) == 0)
		jump_site();
	zero = zero;
}

/* A signal handler on the thread's stack reaching the same callers. */
static NOINL void on_signal(int sig)
{
	(void)sig;
	caller_a();
	zero = zero;
}

static NOINL void signaller(void)
{
	raise(SIGUSR1); /* delivered before raise returns, on this stack */
	zero = zero;
}

/* A coroutine on a stack of its own (ucontext). */
static ucontext_t main_uc, co_uc;

static NOINL void co_body(void)
{
	for (int i = 0; i < ROUNDS; i++) {
		caller_b();
		swapcontext(&co_uc, &main_uc);
	}
}

int main(void)
{
	/* Past the recorder's warm-up, so that its caches are in play. */
	for (int i = 0; i < 1000; i++)
		free(malloc(8));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	static char co_stack[256 * 1024];
	getcontext(&co_uc);
	co_uc.uc_stack.ss_sp = co_stack;
	co_uc.uc_stack.ss_size = sizeof co_stack;
	co_uc.uc_link = &main_uc;
	makecontext(&co_uc, co_body, 0);

	/* Interleaved, so that each case follows every other one. */
	for (int i = 0; i < ROUNDS; i++) {
		caller_a();
		caller_b();
		grand_x();
		grand_y();
		recurse(i % 3);
		recurse(5 + i % 2);
		jumper();
		signaller();
		swapcontext(&main_uc, &co_uc);
	}
	printf("expect caller_a:main %d\n", ROUNDS);
	printf("expect caller_b:main %d\n", ROUNDS);
	printf("expect caller_a:middle:grand_x %d\n", ROUNDS);
	printf("expect caller_a:middle:grand_y %d\n", ROUNDS);
	for (int d = 0; d < 3; d++)
		printf("expect recurse*%d:main %d\n", d + 1, ROUNDS / 3);
	for (int d = 5; d < 7; d++)
		printf("expect recurse*%d:main %d\n", d + 1, ROUNDS / 2);
	printf("expect caller_b:jump_site:jumper %d\n", ROUNDS);
	printf("expect caller_a:on_signal %d\n", ROUNDS);
	printf("expect caller_b:co_body %d\n", ROUNDS);
	return 0;
}
