/*
 * check.c - `nprof check [options] -- CMD ARGS...`: runs a program (a
 * test suite) with libnprof preloaded, recording every allocation, and
 * reports what it created and never released: threads still running,
 * descriptors left open, heap blocks no longer reachable.
 *
 * The checking happens inside the program, at its exit (libnprof's
 * destructor, src/check.c): each process of the run - the program, the
 * programs it execs and the children it forks that end with exit() -
 * writes its own report, check.<pid>.txt and .json, into a private
 * temporary directory named by NPROF_CHECK. This command forks, execs the
 * program, waits for it, then prints the reports (text on stderr, where
 * LeakSanitizer prints too; --json: one JSON array there instead), removes the
 * directory and turns the result into an exit status: the program's own
 * when it failed, else 0 when nothing was reported and 1 (--exitcode N)
 * when something was. Wrong arguments, a bad suppressions file and a
 * program that cannot be started are one line on stderr and exit 2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_check_usage[] =
	"usage: nprof check [--threads] [--fds] [--heap[=all]] [--suppressions FILE]\n"
	"                   [--json] [--exitcode N] -- CMD [ARGS...]\n"
	"\n"
	"Runs CMD with nprof recording every allocation, thread and descriptor and\n"
	"reports, when it exits, what it created and never released:\n"
	"  threads       still running other than the main thread: creating stack,\n"
	"                stack now, wait reason\n"
	"  descriptors   opened by the program and still open (not 0-2, not inherited):\n"
	"                kind, target, opening stack\n"
	"  heap          blocks never freed and no longer reachable (a conservative\n"
	"                scan from globals, thread stacks and registers, TLS, as\n"
	"                LeakSanitizer does), grouped by allocating stack\n"
	"Programs CMD execs and children it forks (ending with exit) get their own\n"
	"report.\n"
	"\n"
	"  --threads --fds --heap   check only these kinds (default: all three)\n"
	"  --heap=all               also list heap blocks still reachable\n"
	"  --suppressions FILE      lines `thread:GLOB`, `fd:GLOB`, `heap:GLOB` (or\n"
	"                           `leak:GLOB`): leaks with a frame whose function\n"
	"                           or file matches are not reported; # comments\n"
	"  --json                   print the reports as one JSON array instead of text\n"
	"  --exitcode N             exit status when something is reported (default 1)\n"
	"\n"
	"Reports go to stderr. Exit status: CMD's own when it failed; else 0 when\n"
	"nothing is reported, 1 (or N) when something is; 2 for wrong arguments, a\n"
	"bad suppressions file or a CMD that cannot be started.\n";

/* One line, exit 2: what the issue asks for every wrong input. */
static int fail_usage(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "nprof check: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return NPROF_EXIT_USAGE;
}

/* Validates a suppressions file: 0, or prints file:line and returns 2. */
static int check_suppressions(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return fail_usage("--suppressions %s: %s", path, strerror(errno));
	char line[1024];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		lineno++;
		char *s = line;
		size_t l = strlen(s);
		while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' ' ||
				 s[l - 1] == '\t'))
			s[--l] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		static const char *const kinds[] = {"thread:", "fd:", "heap:", "leak:"};
		int ok = 0;
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
			if (strncmp(s, kinds[k], strlen(kinds[k])) == 0 && s[strlen(kinds[k])] != '\0')
				ok = 1;
		if (!ok) {
			fprintf(stderr, "nprof check: %s:%d: bad suppression '%s': want thread:GLOB, "
				"fd:GLOB or heap:GLOB\n", path, lineno, s);
			rc = NPROF_EXIT_USAGE;
		}
	}
	fclose(f);
	return rc;
}

struct report {
	int pid;
	char *text, *json;
	long total;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	size_t n;
	while (b != NULL && (n = fread(b + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *g = realloc(b, cap * 2);
			if (g == NULL) {
				free(b);
				b = NULL;
				break;
			}
			b = g;
			cap *= 2;
		}
	}
	fclose(f);
	if (b != NULL)
		b[len] = '\0';
	return b;
}

static int by_pid(const void *a, const void *b)
{
	const struct report *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Reads every report of `dir`, removing the files and the directory. */
static struct report *collect(const char *dir, size_t *n)
{
	*n = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return NULL;
	struct report *r = NULL;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int pid;
		char ext[8];
		char path[PATH_MAX + 300];
		if (sscanf(e->d_name, "check.%d.%7s", &pid, ext) != 2)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (strcmp(ext, "json") == 0) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 8;
				struct report *g = realloc(r, cap * sizeof *r);
				if (g == NULL)
					break;
				r = g;
			}
			struct report *x = &r[(*n)++];
			x->pid = pid;
			x->json = slurp(path);
			snprintf(path, sizeof path, "%s/check.%d.txt", dir, pid);
			x->text = slurp(path);
			const char *t = x->json ? strstr(x->json, "\"total\": ") : NULL;
			x->total = t ? atol(t + 9) : 0;
		}
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "check.", 6) == 0) {
			char path[PATH_MAX + 300];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
	if (*n > 1)
		qsort(r, *n, sizeof *r, by_pid);
	return r;
}

int nprof_cli_cmd_check(int argc, char **argv)
{
	int kinds_threads = 0, kinds_fds = 0, kinds_heap = 0, heap_all = 0, json = 0;
	long exitcode = 1;
	const char *supp = NULL;
	int i, cmd = -1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int r;
		if (strcmp(a, "--") == 0) {
			cmd = i + 1;
			break;
		}
		if (nprof_cli_is_help(a))
			return nprof_cli_help("check");
		if (strcmp(a, "--threads") == 0)
			kinds_threads = 1;
		else if (strcmp(a, "--fds") == 0)
			kinds_fds = 1;
		else if (strcmp(a, "--heap") == 0)
			kinds_heap = 1;
		else if (strcmp(a, "--heap=all") == 0)
			kinds_heap = heap_all = 1;
		else if (strcmp(a, "--json") == 0)
			json = 1;
		else if ((r = nprof_cli_opt_value(argc, argv, &i, "--suppressions", &v)) != 0) {
			if (r < 0 || !*v)
				return fail_usage("option %s needs a FILE%s", "--suppressions", "");
			supp = v;
		} else if ((r = nprof_cli_opt_value(argc, argv, &i, "--exitcode", &v)) != 0) {
			if (r < 0 || nprof_cli_parse_long(v, 0, 255, &exitcode) != 0)
				return fail_usage("--exitcode '%s': want a number in 0..255%s",
						  r < 0 ? "" : v, "");
		} else if (a[0] == '-') {
			return fail_usage("unknown option '%s' (see nprof check --help)%s", a, "");
		} else {
			return fail_usage("put '--' before the command: nprof check [options] -- %s ...%s",
					  a, "");
		}
	}
	if (cmd < 0)
		return fail_usage("missing '--' before the command (see nprof check --help)%s%s", "", "");
	if (cmd >= argc)
		return fail_usage("missing the command after '--'%s%s", "", "");

	char suppabs[PATH_MAX];
	if (supp != NULL) {
		int rc = check_suppressions(supp);
		if (rc != 0)
			return rc;
		if (realpath(supp, suppabs) == NULL)
			return fail_usage("--suppressions %s: %s", supp, strerror(errno));
	}

	char lib[PATH_MAX];
	if (nprof_cli_find_library(lib, sizeof lib) != 0)
		return NPROF_EXIT_USAGE;
	if (!nprof_cli_usable_in_preload(lib))
		return fail_usage("%s: LD_PRELOAD cannot hold a path with ':' or blanks%s", lib, "");

	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/nprof-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return fail_usage("cannot create a directory for the reports in %s: %s",
				  tmp && *tmp ? tmp : "/tmp", strerror(errno));

	char kinds[64] = "";
	if (kinds_threads)
		strcat(kinds, "threads,");
	if (kinds_fds)
		strcat(kinds, "fds,");
	if (kinds_heap)
		strcat(kinds, heap_all ? "heap=all," : "heap,");
	if (!kinds[0])
		strcpy(kinds, heap_all ? "threads,fds,heap=all," : "threads,fds,heap,");
	kinds[strlen(kinds) - 1] = '\0';

	if (setenv("NPROF_CHECK", dir, 1) != 0 || setenv("NPROF_CHECK_KINDS", kinds, 1) != 0 ||
	    (supp != NULL && setenv("NPROF_CHECK_SUPPRESSIONS", suppabs, 1) != 0) ||
	    setenv("NPROF_HEAP_RATE", "1", 1) != 0 || setenv("NPROF_SOCKET", "off", 1) != 0 ||
	    setenv("NPROF_SNAPSHOT", "1h", 1) != 0 || nprof_cli_prepend_preload(lib) != 0) {
		rmdir(dir);
		return fail_usage("setenv: %s%s", strerror(errno), "");
	}

	/* The child reports a failed exec through a close-on-exec pipe. */
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) != 0) {
		rmdir(dir);
		return fail_usage("pipe: %s%s", strerror(errno), "");
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		rmdir(dir);
		return fail_usage("fork: %s%s", strerror(errno), "");
	}
	if (pid == 0) {
		close(ep[0]);
		execvp(argv[cmd], argv + cmd);
		int e = errno;
		ssize_t w = write(ep[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	close(ep[1]);
	/* Like system(): the terminal's ^C and ^\ are for the program; this
	 * command stays to report. */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	int e = 0;
	ssize_t got;
	do
		got = read(ep[0], &e, sizeof e);
	while (got < 0 && errno == EINTR);
	close(ep[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	size_t n;
	struct report *r = collect(dir, &n);
	if (got == (ssize_t)sizeof e) {
		free(r);
		return fail_usage("cannot run %s: %s", argv[cmd], strerror(e));
	}
	int prog_rc = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;

	long total = 0;
	int main_reported = 0;
	for (size_t k = 0; k < n; k++) {
		total += r[k].total;
		if (r[k].pid == pid)
			main_reported = 1;
		if (!json && r[k].text != NULL && r[k].text[0] != '\0')
			fputs(r[k].text, stderr);
	}
	if (!main_reported && !json)
		fprintf(stderr, "nprof check: note: %s (pid %d) was not checked: it ended without "
			"exit() (through _exit or a signal) or nprof was not loaded into it\n",
			argv[cmd], (int)pid);
	if (json) {
		fprintf(stderr, "[");
		for (size_t k = 0; k < n; k++)
			fprintf(stderr, "%s%s", k ? "," : "", r[k].json ? r[k].json : "{}");
		fprintf(stderr, "]\n");
	}
	for (size_t k = 0; k < n; k++) {
		free(r[k].text);
		free(r[k].json);
	}
	free(r);
	if (prog_rc != 0)
		return prog_rc;
	return total > 0 ? (int)exitcode : 0;
}
