/*
 * stack.c - `nprof stack PID|URL`: every thread's stack, wait reason and
 * creator, as /debug/pprof/goroutine?debug=2 serves it (the same text
 * NPROF_DUMP_SIGNAL prints to the process's stderr), without any signal
 * reaching the process: the dump is collected inside it, over its unix
 * socket (docs/internals/threads.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_stack_usage[] =
	"usage: nprof stack PID|URL [--grouped]\n"
	"\n"
	"Prints every thread of the process: its id, name, what it waits for and\n"
	"for how long, its stack, and the stack that created it. Threads blocked\n"
	"in system calls are not interrupted.\n"
	"\n"
	"  PID          a local process with nprof loaded (through its unix socket)\n"
	"  URL          http(s)://host:port[/debug/pprof] of its HTTP listener\n"
	"  --grouped    threads with the same stack and wait counted together\n"
	"               (goroutine?debug=1), largest group first\n"
	"\n"
	"Wait durations: \"3 minutes\" is exact (nprof saw the wait begin);\n"
	"\"\xe2\x89\xa5" "2 minutes (seen since)\" is a lower bound (first seen blocked there).\n";

/* A thread dump of 10,000 threads takes well under a second; leave room. */
#define STACK_TIMEOUT_S 60

int nprof_cli_cmd_stack(int argc, char **argv)
{
	const char *target = NULL;
	int grouped = 0, only_pos = 0, ret = NPROF_EXIT_FAIL;
	char err[1400];
	struct nprof_target t;
	struct nprof_membuf body = {0};
	long status;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && nprof_cli_is_help(a))
			return nprof_cli_help("stack");
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && strcmp(a, "--grouped") == 0) {
			grouped = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0')
			return nprof_cli_usage_error("stack", "unknown option '%s'", a);
		if (target != NULL)
			return nprof_cli_usage_error("stack", "unexpected argument '%s'", a);
		target = a;
	}
	if (target == NULL)
		return nprof_cli_usage_error("stack", "missing PID|URL");
	if (nprof_cli_target_parse(target, &t, err, sizeof(err)) != 0)
		return nprof_cli_usage_error("stack", "%s", err);

	int r = nprof_cli_get(&t, grouped ? "/debug/pprof/goroutine?debug=1"
					  : "/debug/pprof/goroutine?debug=2",
			      STACK_TIMEOUT_S, &body, &status, err, sizeof(err));
	if (r != NPROF_GET_OK) {
		fprintf(stderr, "nprof: %s\n", err);
		goto out;
	}
	for (size_t off = 0; off < body.len;) {
		ssize_t w = write(STDOUT_FILENO, body.data + off, body.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "nprof: writing stdout: %s\n", strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	ret = NPROF_EXIT_OK;
out:
	nprof_cli_membuf_free(&body);
	return ret;
}
