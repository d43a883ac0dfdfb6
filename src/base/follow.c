/*
 * follow.c - pre-forked workers, the part every layer may call: a child
 * created by fork() that keeps running the parent's code starts its own
 * nprof (the parent's TCP listener reaches it with ?pid=N, in
 * serve/follow_proxy.c).
 *
 * Owns
 *   - the child's pending state: after fork, core.c's child handler calls
 *     nprof__follow_forked(), which only notes the time (no lock, no
 *     allocation, no thread: the child may exec or _exit at once, and a
 *     child that execs within the grace period never sees nprof at all,
 *     stays single-threaded and costs nothing). Hooks that run often in a
 *     working process and never legitimately in a signal handler (the
 *     malloc slow path, pthread_create) call nprof__follow_poll() while
 *     the flag is set; the first call after FOLLOW_GRACE_NS with the hook
 *     guard down starts nprof in the child (core.c's
 *     nprof__core_follow_start): its own unix socket, its own snapshots,
 *     every profile. No TCP listener: the parent keeps the port.
 *   - the socket path of a child: the parent's, with the parent's pid
 *     replaced by the child's (or ".PID" appended to a path set by hand).
 *   - the sweep: a child that leaves by _exit() (a redis BGSAVE child)
 *     never removes its socket file; the parent, every few seconds once it
 *     has forked, removes socket files of its own directory whose process
 *     is gone.

 * NPROF_FOLLOW_FORK=0 turns all of it off (children stay dormant).
 *
 * Threads and signals: nprof__follow_forked runs in the atfork child
 * handler (async-signal-safe calls only). nprof__follow_poll runs in hooks
 * with the guard down and takes no lock itself. The sweep runs on the
 * snapshot thread and at stop.
 */
#include "base.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A child that has not exec'd after this long is a worker. Long enough
 * for fork+exec of any shell or helper, short enough that a worker is
 * profiled from its first seconds. */
#define FOLLOW_GRACE_NS (2LL * 1000000000LL)
/* The parent's sweep of dead children's socket files, at most this often. */
#define SWEEP_NS (3LL * 1000000000LL)

volatile int nprof__follow_pending;
void (*nprof__follow_start_fn)(void);
static int64_t forked_ns;
static volatile int parent_forked;  /* this process has forked a child */
static int64_t last_sweep_ns;

/* ------------------------------------------------------------------ */
/* In the child                                                         */
/* ------------------------------------------------------------------ */

void nprof__follow_forked(void)
{
	/* Async-signal-safe only: clock_gettime and plain stores. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	forked_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	parent_forked = 0;
	last_sweep_ns = 0;
	nprof__follow_pending = nprof__cfg.follow_fork;
}

void nprof__follow_parent_forked(void)
{
	parent_forked = 1;
}

void nprof__follow_poll(void)
{
	if (!nprof__follow_pending || nprof__guard)
		return;
	if (nprof__mono_ns() - forked_ns < FOLLOW_GRACE_NS)
		return;
	/* Once: cleared before starting, so that hooks run by the start
	 * itself (it allocates, creates threads) never come back here. */
	nprof__follow_pending = 0;
	int saved = errno;
	if (nprof__follow_start_fn != NULL)
		nprof__follow_start_fn();
	errno = saved;
}

int nprof__follow_socket_path(char *out, size_t cap, const char *parent_path, pid_t parent,
			      pid_t self)
{
	char tail[32];
	int tl = snprintf(tail, sizeof tail, "/%d.sock", (int)parent);
	size_t n = strlen(parent_path);
	if (n >= (size_t)tl && strcmp(parent_path + n - (size_t)tl, tail) == 0) {
		int w = snprintf(out, cap, "%.*s/%d.sock", (int)(n - (size_t)tl), parent_path,
				 (int)self);
		return w > 0 && (size_t)w < cap ? 0 : -ENAMETOOLONG;
	}
	int w = snprintf(out, cap, "%s.%d", parent_path, (int)self);
	return w > 0 && (size_t)w < cap ? 0 : -ENAMETOOLONG;
}

/* ------------------------------------------------------------------ */
/* In the parent: socket files of children gone by _exit                */
/* ------------------------------------------------------------------ */

void nprof__follow_sweep(int now_too)
{
	if (!parent_forked || nprof__cfg.socket_path[0] == '\0')
		return;
	int64_t now = nprof__mono_ns();
	if (!now_too && now - last_sweep_ns < SWEEP_NS)
		return;
	last_sweep_ns = now;
	char dir[sizeof nprof__cfg.socket_path];
	snprintf(dir, sizeof dir, "%s", nprof__cfg.socket_path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (end == de->d_name || strcmp(end, ".sock") != 0 || pid <= 0 ||
		    pid == (long)getpid())
			continue;
		/* Only sockets of processes that no longer exist: a live one
		 * (even another user's, EPERM) is left alone. */
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char path[sizeof dir + 300];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}
