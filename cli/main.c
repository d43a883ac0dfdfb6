/*
 * main.c - the `nprof` command: its command table, the top-level usage
 * and dispatch to one function per command.
 *
 * Adding a command is one row in `commands` plus its file; the usage
 * text lives beside the command's code (nprof_cli_NAME_usage) so that the
 * two change together. Help goes to stdout with exit 0; any wrong
 * argument prints the relevant usage to stderr and exits 2 (docs/reference.md §6).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nprof.h"
#include "cli.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *summary;
};

static const struct command commands[] = {
	{"run", nprof_cli_cmd_run, nprof_cli_run_usage,
	 "run a program with nprof preloaded"},
	{"check", nprof_cli_cmd_check, nprof_cli_check_usage,
	 "run a program and report the threads, fds and heap it leaked"},
	{"attach", nprof_cli_cmd_attach, nprof_cli_attach_usage,
	 "load nprof into a running process (ptrace)"},
	{"detach", nprof_cli_cmd_detach, nprof_cli_detach_usage,
	 "stop nprof in a process it was attached to"},
	{"ps", nprof_cli_cmd_ps, nprof_cli_ps_usage,
	 "list the processes that have nprof loaded"},
	{"fetch", nprof_cli_cmd_fetch, nprof_cli_fetch_usage,
	 "save one profile from a process or URL"},
	{"stack", nprof_cli_cmd_stack, nprof_cli_stack_usage,
	 "print every thread's stack, wait reason and creator"},
	{"leaks", nprof_cli_cmd_leaks, nprof_cli_leaks_usage,
	 "rank the stacks whose heap, threads or descriptors grow"},
	{"watch", nprof_cli_cmd_watch, nprof_cli_watch_usage,
	 "live totals and top leak suspects, refreshed"},
	{"top", nprof_cli_cmd_top, nprof_cli_top_usage,
	 "the functions that account for most of a profile"},
	{"diff", nprof_cli_cmd_diff, nprof_cli_diff_usage,
	 "what changed between two saved profiles, by function"},
	{"ui", nprof_cli_cmd_ui, nprof_cli_ui_usage,
	 "serve a process's web UI on a local port (proxy to its socket)"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_top_usage(FILE *to)
{
	fprintf(to,
		"usage: nprof COMMAND [ARGS...]\n"
		"\n"
		"nprof profiles native Linux services from inside, like Go's\n"
		"net/http/pprof. A PID reaches the process through its unix socket.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(to, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(to,
		"\n"
		"  nprof help COMMAND | nprof COMMAND --help   usage of one command\n"
		"  nprof --version                             print the version\n"
		"\n"
		"exit status: 0 success, 1 failure, 2 wrong arguments.\n");
}

void nprof_cli_print_usage(const char *cmd, FILE *to)
{
	const struct command *c = cmd ? find_command(cmd) : NULL;

	if (c)
		fputs(c->usage, to);
	else
		print_top_usage(to);
}

int nprof_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nprof%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	nprof_cli_print_usage(cmd, stderr);
	return NPROF_EXIT_USAGE;
}

int nprof_cli_help(const char *cmd)
{
	nprof_cli_print_usage(cmd, stdout);
	return fflush(stdout) == 0 ? NPROF_EXIT_OK : NPROF_EXIT_FAIL;
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2)
		return nprof_cli_usage_error(NULL, "missing command");

	if (nprof_cli_is_help(argv[1]))
		return nprof_cli_help(NULL);
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		if (argc > 2)
			return nprof_cli_usage_error(NULL, "--version takes no argument");
		printf("nprof %s\n", NPROF_VERSION);
		return fflush(stdout) == 0 ? NPROF_EXIT_OK : NPROF_EXIT_FAIL;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc == 2)
			return nprof_cli_help(NULL);
		if (argc > 3 || !find_command(argv[2]))
			return nprof_cli_usage_error(NULL, "help: unknown command '%s'",
						     argv[2]);
		return nprof_cli_help(argv[2]);
	}

	c = find_command(argv[1]);
	if (!c)
		return nprof_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
	return c->fn(argc - 1, argv + 1);
}
