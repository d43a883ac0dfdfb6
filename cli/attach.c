/*
 * attach.c - `nprof attach PID` and `nprof detach PID`: nprof in a
 * process that was started without it, and out of it again.
 *
 * attach: libnprof.so is dlopen()ed inside the process through ptrace
 * (inject.c), then nprof_start("attach=1,...") runs there: the library
 * redirects the process's already-bound references to the malloc family,
 * pthread_create, the descriptor calls and the blocking waits to its own
 * (src/hooks/got_patch.c) and serves its unix socket. The command returns
 * once that socket answers, so `nprof leaks/stack/fetch PID` work next.
 *
 * detach: nprof_stop() is called the same way; in an attached process it
 * puts the references back (except the malloc family's, which must keep
 * freeing the blocks nprof sampled), stops nprof's threads and removes
 * its socket. The library stays mapped, dormant; attach again restarts it.
 *
 * Refusals (no such process, no ptrace rights, a statically linked
 * program) are one line on stderr and exit 1, before anything in the
 * target is touched.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_attach_usage[] =
	"usage: nprof attach PID [--http ADDR] [--heap-rate N] [--cpu-hz N]\n"
	"\n"
	"Loads libnprof.so into the running process PID (started without nprof)\n"
	"through ptrace, and returns once its unix socket serves: then\n"
	"`nprof leaks|stack|fetch|top PID` work as for `nprof run`. One thread is\n"
	"stopped for a few milliseconds, at a point where it holds no lock of\n"
	"malloc or the loader; no signal reaches the program and its blocked calls\n"
	"do not fail with EINTR. Heap samples, descriptor origins and thread\n"
	"creators are recorded from the attach on.\n"
	"\n"
	"  --http ADDR     also listen on TCP (host:port), like NPROF_HTTP\n"
	"  --heap-rate N   mean bytes between heap samples (NPROF_HEAP_RATE)\n"
	"  --cpu-hz N      CPU profile sampling rate (NPROF_CPU_HZ)\n"
	"\n"
	"Needs the rights ptrace needs: the same user with kernel.yama.ptrace_scope\n"
	"permitting it (0), or root / CAP_SYS_PTRACE. Refuses statically linked\n"
	"programs. NPROF_LIB overrides which libnprof.so is loaded. Exit status:\n"
	"0 attached, 1 refused or failed (the process is left as it was).\n";

const char nprof_cli_detach_usage[] =
	"usage: nprof detach PID\n"
	"\n"
	"Stops nprof in a process it was attached to (`nprof attach`): references\n"
	"redirected to nprof are put back (the malloc family keeps passing through\n"
	"nprof, unsampled, so blocks it handed out are still freed right), its\n"
	"threads stop and its socket is removed. The library stays loaded and\n"
	"dormant; `nprof attach PID` starts it again.\n";

static int parse_pid(const char *cmd, const char *arg, pid_t *pid)
{
	long v;
	if (nprof_cli_parse_long(arg, 1, INT_MAX, &v) != 0)
		return nprof_cli_usage_error(cmd, "not a PID: %s", arg);
	*pid = (pid_t)v;
	return 0;
}

static int exists(pid_t pid)
{
	char path[32];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	return stat(path, &st) == 0;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* 1 once the process's socket answers a request, within `ms`. */
static int await_socket(pid_t pid, int want, int ms)
{
	double end = now_ms() + ms;
	char sock[NPROF_SOCK_PATH_MAX];
	do {
		int there = nprof_cli_socket_for_pid(pid, sock, sizeof sock) == 0;
		if (there && want) {
			struct nprof_target t;
			char err[256];
			char arg[32];
			snprintf(arg, sizeof arg, "%d", (int)pid);
			if (nprof_cli_target_parse(arg, &t, err, sizeof err) == 0) {
				struct nprof_membuf b = {0};
				long status = 0;
				int rc = nprof_cli_get(&t, "/debug/pprof/", 5, &b, &status, err,
						       sizeof err);
				nprof_cli_membuf_free(&b);
				if (rc == NPROF_GET_OK)
					return 1;
			}
		}
		if (!there && !want)
			return 1;
		struct timespec nap = {0, 20 * 1000 * 1000};
		nanosleep(&nap, NULL);
	} while (now_ms() < end);
	return 0;
}

int nprof_cli_cmd_attach(int argc, char **argv)
{
	pid_t pid = 0;
	const char *http = NULL, *rate = NULL, *hz = NULL;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int m;
		if (nprof_cli_is_help(argv[i]))
			return nprof_cli_help("attach");
		if ((m = nprof_cli_opt_value(argc, argv, &i, "--http", &v)) != 0) {
			if (m < 0)
				return nprof_cli_usage_error("attach", "--http needs an address");
			http = v;
		} else if ((m = nprof_cli_opt_value(argc, argv, &i, "--heap-rate", &v)) != 0) {
			long n;
			if (m < 0 || nprof_cli_parse_long(v, 0, LONG_MAX, &n) != 0)
				return nprof_cli_usage_error("attach", "--heap-rate needs a number");
			rate = v;
		} else if ((m = nprof_cli_opt_value(argc, argv, &i, "--cpu-hz", &v)) != 0) {
			long n;
			if (m < 0 || nprof_cli_parse_long(v, 1, 1000, &n) != 0)
				return nprof_cli_usage_error("attach", "--cpu-hz needs 1..1000");
			hz = v;
		} else if (argv[i][0] == '-') {
			return nprof_cli_usage_error("attach", "unknown option %s", argv[i]);
		} else if (pid == 0) {
			int rc = parse_pid("attach", argv[i], &pid);
			if (rc != 0)
				return rc;
		} else {
			return nprof_cli_usage_error("attach", "one PID only");
		}
	}
	if (pid == 0)
		return nprof_cli_usage_error("attach", "missing PID");
	if (!exists(pid)) {
		fprintf(stderr, "nprof: no process %d\n", (int)pid);
		return NPROF_EXIT_FAIL;
	}
	char lib[PATH_MAX];
	if (nprof_cli_find_library(lib, sizeof lib) != 0)
		return NPROF_EXIT_FAIL;
	char config[512];
	/* Commas separate keys: an address cannot smuggle another one in. */
	if ((http && strchr(http, ',')) ) {
		fprintf(stderr, "nprof: --http %s: no commas allowed\n", http);
		return NPROF_EXIT_FAIL;
	}
	snprintf(config, sizeof config, "attach=1%s%s%s%s%s%s", http ? ",http=" : "",
		 http ? http : "", rate ? ",heap_rate=" : "", rate ? rate : "",
		 hz ? ",cpu_hz=" : "", hz ? hz : "");
	double t0 = now_ms(), stopped = 0;
	long result = 0;
	char err[512];
	int rc = nprof_cli_inject(pid, lib, "nprof_start", config, 1, &result, &stopped, err,
				  sizeof err);
	if (rc != 0) {
		fprintf(stderr, "nprof: %s\n", err);
		return NPROF_EXIT_FAIL;
	}
	if (result == -EALREADY) {
		fprintf(stderr, "nprof: process %d already runs nprof\n", (int)pid);
		return NPROF_EXIT_OK;
	}
	if (result != 0) {
		fprintf(stderr, "nprof: nprof_start failed in process %d: %s (see its stderr)\n",
			(int)pid, strerror((int)-result));
		return NPROF_EXIT_FAIL;
	}
	if (!await_socket(pid, 1, 10000)) {
		fprintf(stderr, "nprof: nprof started in process %d but its socket does not "
			"answer (see the process's stderr)\n", (int)pid);
		return NPROF_EXIT_FAIL;
	}
	char sock[NPROF_SOCK_PATH_MAX];
	nprof_cli_socket_for_pid(pid, sock, sizeof sock);
	fprintf(stderr, "nprof: attached to process %d in %.0f ms (one thread stopped %.1f ms); "
		"socket %s\n", (int)pid, now_ms() - t0, stopped, sock);
	return NPROF_EXIT_OK;
}

int nprof_cli_cmd_detach(int argc, char **argv)
{
	pid_t pid = 0;
	for (int i = 1; i < argc; i++) {
		if (nprof_cli_is_help(argv[i]))
			return nprof_cli_help("detach");
		if (argv[i][0] == '-')
			return nprof_cli_usage_error("detach", "unknown option %s", argv[i]);
		if (pid != 0)
			return nprof_cli_usage_error("detach", "one PID only");
		int rc = parse_pid("detach", argv[i], &pid);
		if (rc != 0)
			return rc;
	}
	if (pid == 0)
		return nprof_cli_usage_error("detach", "missing PID");
	if (!exists(pid)) {
		fprintf(stderr, "nprof: no process %d\n", (int)pid);
		return NPROF_EXIT_FAIL;
	}
	char lib[PATH_MAX];
	if (nprof_cli_find_library(lib, sizeof lib) != 0)
		return NPROF_EXIT_FAIL;
	double stopped = 0;
	long result = 0;
	char err[512];
	int rc = nprof_cli_inject(pid, lib, "nprof_stop", NULL, 0, &result, &stopped, err,
				  sizeof err);
	if (rc != 0) {
		fprintf(stderr, "nprof: %s\n", err);
		return NPROF_EXIT_FAIL;
	}
	if (!await_socket(pid, 0, 5000)) {
		fprintf(stderr, "nprof: process %d still has its socket after nprof_stop\n",
			(int)pid);
		return NPROF_EXIT_FAIL;
	}
	fprintf(stderr, "nprof: detached from process %d (one thread stopped %.1f ms)\n",
		(int)pid, stopped);
	return NPROF_EXIT_OK;
}
