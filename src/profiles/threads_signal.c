/*
 * threads_signal.c - NPROF_DUMP_SIGNAL: the signal that writes every
 * thread's stack to stderr, in the goroutine?debug=2 form
 * (threads_report.c writes it), for a service that cannot be reached over
 * HTTP.
 *
 * Owns the pipe between the handler and the dump thread. The handler only
 * writes one byte to the pipe; a dedicated nprof thread (created with the
 * hook guard up, so all signals blocked and never listed in dumps) reads
 * it and does the dump: collection, symbolization and formatting never
 * run in a signal handler.
 *
 * Signals: dump_signal_handler is the only code here that runs in a
 * signal handler: one write(2) to a non-blocking pipe, errno preserved
 * (async-signal-safe). Locking: none of its own.
 */
#include "base.h"
#include "buf.h"
#include "threads.h"
#include "threads_report.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int dump_pipe[2] = {-1, -1};

/* Async-signal-safe: one write to a non-blocking pipe. A full pipe means
 * a dump is already pending; the byte is not needed. */
static void dump_signal_handler(int sig)
{
	(void)sig;
	int saved = errno;
	char c = 1;
	ssize_t w = write(dump_pipe[1], &c, 1);
	(void)w;
	errno = saved;
}

/* Writes a whole buffer to stderr. */
static void write_stderr(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *dump_thread(void *unused)
{
	(void)unused;
	char c[64];
	for (;;) {
		ssize_t r = read(dump_pipe[0], c, sizeof c);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		if (!nprof__running)
			continue;
		struct nprof_buf b = {0};
		struct nprof_thread_set s;
		nprof__buf_printf(&b, "nprof: thread dump of pid %d (signal %d)\n\n", (int)getpid(),
				  nprof__cfg.dump_signal);
		if (nprof__threads_collect(&s, NPROF_COLLECT_STACKS | NPROF_COLLECT_SAMPLE) == 0) {
			nprof__threads_write_debug2(&b, &s);
			nprof__threads_set_free(&s);
		} else {
			nprof__buf_printf(&b, "nprof: cannot list the threads\n");
		}
		if (b.failed)
			nprof__buf_printf(&b, "\nnprof: (dump incomplete: out of memory)\n");
		write_stderr(b.data ? b.data : "", b.len);
		nprof__buf_free(&b);
	}
}

void nprof__threads_dump_signal_start(void)
{
	int sig = nprof__cfg.dump_signal;
	if (sig <= 0 || dump_pipe[0] >= 0)
		return;
	if (pipe2(dump_pipe, O_CLOEXEC) != 0) {
		nprof__log("NPROF_DUMP_SIGNAL: pipe: %s; dumps off", strerror(errno));
		return;
	}
	fcntl(dump_pipe[1], F_SETFL, O_NONBLOCK);
	/* Created with the guard up, the thread is one of nprof's own: all
	 * signals blocked, never listed in dumps. */
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &a, dump_thread, NULL);
	pthread_attr_destroy(&a);
	if (rc != 0) {
		nprof__log("NPROF_DUMP_SIGNAL: cannot start the dump thread: %s; dumps off",
			   strerror(rc));
		close(dump_pipe[0]);
		close(dump_pipe[1]);
		dump_pipe[0] = dump_pipe[1] = -1;
		return;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = dump_signal_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	nprof__real_sigaction(sig, &sa, NULL);
}

void nprof__threads_dump_signal_forget(void)
{
	if (dump_pipe[0] >= 0) {
		/* The dump thread does not exist in a forked child. */
		close(dump_pipe[0]);
		close(dump_pipe[1]);
		dump_pipe[0] = dump_pipe[1] = -1;
	}
}
