/*
 * core.c - nprof's life cycle: start and stop, fork, the files NPROF_OUT
 * writes at exit, and the public API entry points. It is the top layer: it
 * wires every module below together (configuration is base/config.c, the
 * log line and thread identity base/self.c).
 *
 * Starting: when the library is preloaded (its path is in LD_PRELOAD) a
 * constructor starts it from the NPROF_* variables; when linked with
 * -lnprof, nothing happens until the program calls nprof_start(). When
 * dlopen()ed late by `nprof attach`, the constructor does nothing either
 * (LD_PRELOAD does not name it) and the attach calls nprof_start with
 * "attach=1", which first redirects the program's references
 * (hooks/got_patch.c); nprof_stop puts them back (`nprof detach`).
 *
 * fork: a child never serves or removes its parent's socket and never
 * writes its parent's files. In the child nprof goes dormant: the listener
 * threads do not exist there, hooks pass through, and if the child execs a
 * program with LD_PRELOAD still set, that program starts its own nprof on
 * its own socket. Locks nprof's hooks take are taken before fork and
 * released on both sides, so a child never inherits one held by a thread
 * that did not survive the fork.
 *
 * Locking: start/stop are serialised by life_lock. nprof__cfg is written
 * only during start, before any thread of nprof exists.
 */
#include "api.h"
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "cpu.h"
#include "fd.h"
#include "heap.h"
#include "hooks.h"
#include "leaks.h"
#include "nprof.h"
#include "profile.h"
#include "routes.h"
#include "serve.h"
#include "stacks.h"
#include "symbolize.h"
#include "threads.h"
#include "threads_int.h"
#include "threads_report.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t life_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/* Set by check.c when it is linked in (a pointer, not a call, so that
 * check.c, which starts nprof, and this file do not depend on each other). */
void (*nprof__core_at_exit_fn)(void);
void (*nprof__core_postfork_child_fn)(void);

/* ---------------------------------------------------------------- */
/* life cycle                                                        */
/* ---------------------------------------------------------------- */

/* Lock order: the profiles' own locks, then stacks, then the arena (each
 * may allocate from the next). */
static void prefork(void)
{
	nprof__heap_prefork();
	nprof__threads_prefork();
	nprof__fd_prefork();
	nprof__stack_prefork();
	nprof__arena_prefork();
}

static void postfork_parent(void)
{
	nprof__arena_postfork();
	nprof__stack_postfork();
	nprof__fd_postfork(0);
	nprof__threads_postfork(0);
	nprof__heap_postfork(0);
	if (nprof__running)
		nprof__follow_parent_forked();
}

static void postfork_child(void)
{
	nprof__arena_postfork();
	nprof__stack_postfork();
	nprof__fd_postfork(1);
	nprof__threads_postfork(1);
	nprof__threads_collect_forget();
	nprof__threads_dump_signal_forget();
	nprof__heap_postfork(1);
	nprof__sym_postfork_child();
	nprof__leaks_postfork_child();
	nprof__self_postfork_child();
	if (nprof__running) {
		nprof__running = 0;
		nprof__http_forget();
		nprof__cpu_forget();
		nprof__follow_forked(); /* a worker that keeps running starts its own */
		if (nprof__core_postfork_child_fn != NULL)
			nprof__core_postfork_child_fn();
	}
}

void nprof__core_follow_start(void)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&life_lock);
	pid_t parent = nprof__owner_pid;
	char path[sizeof nprof__cfg.socket_path];
	if (nprof__running || nprof__cfg.socket_path[0] == '\0' ||
	    nprof__follow_socket_path(path, sizeof path, nprof__cfg.socket_path, parent,
				      getpid()) < 0)
		goto out;
	/* The parent's settings, the child's own socket; the TCP port stays
	 * the parent's (it reaches the child with ?pid=), and the reports at
	 * exit stay the parent's. */
	memcpy(nprof__cfg.socket_path, path, sizeof path);
	nprof__cfg.http[0] = '\0';
	nprof__cfg.out_dir[0] = '\0';
	nprof__owner_pid = getpid();
	nprof__heap_init(nprof__heap_foreign());
	nprof__threads_init();
	nprof__threads_collect_prime();
	nprof__fd_init();
	nprof__running = 1;
	nprof__leaks_start();
	if (nprof__http_start() < 0)
		nprof__log("forked child %d: cannot serve on %s", (int)getpid(), path);
out:
	pthread_mutex_unlock(&life_lock);
	nprof__guard = guard;
}

static void register_atfork(void)
{
	pthread_atfork(prefork, postfork_parent, postfork_child);
}

NPROF_API int nprof_start(const char *config)
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&life_lock);
	int rc = 0;
	if (nprof__running) {
		rc = -EALREADY;
		goto out;
	}
	nprof__preload_init();
	nprof__core_configure(config);
	nprof__owner_pid = getpid();
	nprof__follow_start_fn = nprof__core_follow_start;
	/* Loaded by `nprof attach`: the program's references are bound to
	 * libc's functions; bind them to ours before anything records. */
	if (nprof__cfg.attached) {
		size_t n = nprof__got_redirect();
		if (n == 0)
			nprof__log("attach: no reference redirected; heap, descriptor and "
				   "thread origins will not be recorded");
	}
	pthread_once(&atfork_once, register_atfork);
	if (nprof__unwind_init() < 0)
		nprof__log("libunwind not available; stacks will be empty");
	nprof__heap_init(nprof__heap_foreign());
	/* From here on, what nprof allocates on this thread (libmicrohttpd's
	 * daemons, snapshot state) comes from its own memory: nprof's
	 * threads free some of it, and a glibc free() on one of them would
	 * make glibc create a malloc arena (64 MiB of address space) there. */
	int serving = nprof__arena_serving;
	nprof__arena_serving = 1;
	nprof__heap_thread_own(1);
	nprof__threads_init();
	nprof__threads_collect_prime();
	nprof__threads_dump_signal_start();
	nprof__fd_init();
	nprof__running = 1;
	nprof__leaks_start(); /* after the profiles it snapshots */
	/* A listener that cannot start (a busy port, a bad address) costs
	 * only that listener: every profile keeps recording, the other
	 * listener serves, NPROF_OUT is written and the unix socket file is
	 * removed at exit. The error is still returned to nprof_start()'s
	 * caller, who may want to know. */
	rc = nprof__http_start();
	nprof__arena_serving = serving;
	nprof__heap_thread_own(0);
out:
	pthread_mutex_unlock(&life_lock);
	nprof__guard = guard;
	errno = saved;
	return rc;
}

NPROF_API int nprof_stop(void)
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&life_lock);
	if (nprof__running && getpid() == nprof__owner_pid) {
		nprof__leaks_stop(); /* before http: handlers may still read the ring */
		nprof__follow_sweep(1); /* sockets of workers gone by _exit */
		nprof__http_stop();
		nprof__running = 0;
		if (nprof__cfg.attached) {
			/* `nprof detach`: references back to libc, sampling off (the
			 * malloc family stays on nprof, passing through). */
			nprof__got_restore();
			nprof__heap_rate = 0;
			nprof__cfg.attached = 0;
		}
	}
	pthread_mutex_unlock(&life_lock);
	nprof__guard = guard;
	errno = saved;
	return 0;
}

/* True when this library's file is named in LD_PRELOAD. */
static int preloaded(void)
{
	const char *pre = getenv("LD_PRELOAD");
	Dl_info info;
	if (pre == NULL || dladdr((void *)preloaded, &info) == 0 || info.dli_fname == NULL)
		return 0;
	const char *base = strrchr(info.dli_fname, '/');
	base = base ? base + 1 : info.dli_fname;
	const char *hit = strstr(pre, base);
	return hit != NULL;
}

/*
 * Preloaded into a program that links nprof itself (libnprof.a): that
 * copy owns the hooks (malloc_hooks.c), so this one stays dormant, and the
 * program's copy starts in its place, from the same NPROF_* settings, so
 * `nprof check` and NPROF_OUT still see the program.
 */
__attribute__((constructor)) static void nprof_ctor(void)
{
	nprof__preload_init();
	if (preloaded()) {
		if (nprof__heap_other_copy()) {
			nprof__log("another copy of nprof (linked into the program) owns the "
				   "hooks; this preloaded copy stays dormant");
			return;
		}
		nprof_start(NULL);
	} else if (nprof__heap_copy_behind()) {
		nprof_start(NULL);
	}
}

/*
 * NPROF_OUT: the reports written at exit, `<file>.<pid>.pb.gz` (the
 * profile) and `<file>.<pid>.txt` (its text form) in the directory. Only
 * the process that started nprof writes them, never a forked child.
 */
static const struct {
	const char *route, *file;
	int proto;          /* also write the gzipped profile.proto */
	int text_debug;     /* debug level of the text beside it */
} out_reports[] = {
	{"heap", "heap", 1, 1},
	{"goroutine", "threads", 1, 2},   /* every thread, its wait and creator */
	{"fd", "fd", 1, 1},
	{"leaks", "leaks", 0, 0},
};

/* Writes one report; -1 after one line saying why. */
static int write_one(const char *route, const char *path, int debug)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		nprof__log("NPROF_OUT: cannot create %s: %s; no reports written", path,
			   strerror(errno));
		return -1;
	}
	int rc = nprof_write_profile(route, fd, debug);
	close(fd);
	if (rc < 0) {
		nprof__log("NPROF_OUT: writing %s: %s; no further reports written", path,
			   nprof_strerror(rc));
		return -1;
	}
	return 0;
}

static void write_out(void)
{
	if (nprof__cfg.out_dir[0] == '\0' || !nprof__running || getpid() != nprof__owner_pid)
		return;
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	mkdir(nprof__cfg.out_dir, 0755);
	for (size_t i = 0; i < sizeof out_reports / sizeof out_reports[0]; i++) {
		char path[512];
		if (out_reports[i].proto) {
			snprintf(path, sizeof path, "%s/%s.%d.pb.gz", nprof__cfg.out_dir,
				 out_reports[i].file, (int)getpid());
			/* The first failure says why once; the other reports would
			 * only repeat it (an unwritable directory fails them all). */
			if (write_one(out_reports[i].route, path, 0) < 0)
				break;
		}
		snprintf(path, sizeof path, "%s/%s.%d.txt", nprof__cfg.out_dir, out_reports[i].file,
			 (int)getpid());
		if (write_one(out_reports[i].route, path, out_reports[i].text_debug) < 0)
			break;
	}
	nprof__guard = guard;
	errno = saved;
}

__attribute__((destructor)) static void nprof_dtor(void)
{
	/* A dormant copy saw nothing: the reports are the other copy's. */
	if (nprof__heap_other_copy())
		return;
	if (nprof__core_at_exit_fn != NULL)
		nprof__core_at_exit_fn();
	write_out();
	nprof_stop();
}

/* ---------------------------------------------------------------- */
/* nprof_write_profile: a request without a connection               */
/* ---------------------------------------------------------------- */

static const char *no_arg(const struct nprof_req *r, const char *key)
{
	(void)r;
	(void)key;
	return NULL;
}

static int never_gone(const struct nprof_req *r)
{
	(void)r;
	return 0;
}

NPROF_API int nprof_write_profile(const char *name, int fd, int debug)
{
	const struct nprof_route *route = name ? nprof__routes_find(name) : NULL;
	if (route == NULL)
		return -ENOENT;
	if (strcmp(route->name, "profile") == 0)
		return -EINVAL; /* a CPU profile needs a duration: use the endpoint */
	if (debug < 0 || debug > 2)
		return -EINVAL;
	int guard = nprof__guard, serving = nprof__arena_serving;
	nprof__guard = 1;
	nprof__arena_serving = 1; /* building it never competes with samples */
	struct nprof_req req = {
		.name = route->name, .debug = debug, .seconds = -1,
		.query_only_get = 1, .arg = no_arg, .client_gone = never_gone,
	};
	struct nprof_reply rep = {.status = 200};
	route->handle(&req, &rep);
	int rc = 0;
	if (rep.body.failed)
		rc = -ENOMEM;
	else if (rep.status != 200)
		rc = rep.status == 404 ? -ENOENT : -EINVAL;
	for (size_t off = 0; rc == 0 && off < rep.body.len;) {
		ssize_t w = write(fd, rep.body.data + off, rep.body.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = -errno;
		else
			off += (size_t)w;
	}
	nprof__buf_free(&rep.body);
	nprof__arena_serving = serving;
	nprof__guard = guard;
	return rc;
}

NPROF_API const char *nprof_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EALREADY: return "nprof is already running";
	case -ENOENT: return "no such profile";
	case -EINVAL: return "invalid argument";
	case -ENOMEM: return "out of memory (nprof arena full)";
	case -EADDRINUSE: return "address already in use";
	case -EBUSY: return "a CPU profile is already running";
	default: return "error";
	}
}
