/*
 * run.c - `nprof run [options] -- CMD ARGS...`: starts a program with
 * libnprof preloaded and configured, by exec'ing it in place.
 *
 * nprof must exec the target itself (a profiler preloaded into a
 * wrapper such as `sh -c` profiles the wrapper, not the service). So there is no fork and
 * no shell: the flags become NPROF_* variables, libnprof.so is prepended
 * to LD_PRELOAD, and execvp() replaces this process, which keeps its PID
 * (the one `nprof ps`, `nprof fetch PID` and the socket name use) and its
 * stdio. On success nothing is printed: the output is the program's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_run_usage[] =
	"usage: nprof run [--http ADDR] [--out DIR] [--token T] [--heap-rate N]\n"
	"                 [--cpu-hz N] -- CMD [ARGS...]\n"
	"\n"
	"Runs CMD with libnprof.so preloaded. CMD keeps nprof's PID; its unix\n"
	"socket is always on, so `nprof fetch PID heap` works without --http.\n"
	"\n"
	"  --http ADDR      also serve HTTP on [host]:port (NPROF_HTTP; :port = 127.0.0.1)\n"
	"  --out DIR        write heap, threads, fd and leaks reports at exit (NPROF_OUT)\n"
	"  --token T        bearer token for the TCP listener (NPROF_TOKEN; prefer\n"
	"                   setting NPROF_TOKEN yourself: argv is visible in ps)\n"
	"  --heap-rate N    mean bytes between heap samples; 1 = every allocation,\n"
	"                   0 = off (NPROF_HEAP_RATE, default 524288)\n"
	"  --cpu-hz N       CPU sampling frequency, 1..1000 (NPROF_CPU_HZ, default 100)\n"
	"\n"
	"NPROF_LIB overrides where libnprof.so is looked for (default: beside the\n"
	"nprof binary, then ../lib/). Exit status: CMD's own; 1 when libnprof.so is\n"
	"missing; 127 when CMD cannot be run.\n";

/* LD_PRELOAD splits on ':' and ' ', so the path must contain neither. */
int nprof_cli_usable_in_preload(const char *p)
{
	return !strpbrk(p, ": \t");
}

/* Writes the absolute form of `p` (relative to the cwd) into `out`. */
static int absolute(const char *p, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (p[0] == '/')
		return snprintf(out, len, "%s", p) < (int)len ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return snprintf(out, len, "%s/%s", cwd, p) < (int)len ? 0 : -ENAMETOOLONG;
}

/*
 * Finds libnprof.so: $NPROF_LIB, else beside /proc/self/exe (the build
 * tree: build/nprof and build/libnprof.so), else ../lib/ from it (an
 * install: PREFIX/bin/nprof and PREFIX/lib/libnprof.so). Prints why and
 * returns -1 when there is none.
 */
int nprof_cli_find_library(char *out, size_t len)
{
	const char *env = getenv("NPROF_LIB");
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (env && env[0]) {
		if (absolute(env, out, len) != 0 || access(out, R_OK) != 0) {
			fprintf(stderr, "nprof: NPROF_LIB=%s: %s\n", env, strerror(errno));
			return -1;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		fprintf(stderr, "nprof: cannot find libnprof.so: /proc/self/exe: %s "
			"(set NPROF_LIB)\n", strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(out, len, "%s/libnprof.so", exe) < (int)len && access(out, R_OK) == 0)
		return 0;
	if (snprintf(out, len, "%s/../lib/libnprof.so", exe) < (int)len &&
	    access(out, R_OK) == 0) {
		/* Resolve ".." so that LD_PRELOAD and error messages show a
		 * plain path. */
		char *real = realpath(out, NULL);

		if (real) {
			snprintf(out, len, "%s", real);
			free(real);
		}
		return 0;
	}
	fprintf(stderr, "nprof: cannot find libnprof.so in %s or %s/../lib "
		"(build it with `make`, or set NPROF_LIB)\n", exe, exe);
	return -1;
}

/* Sets LD_PRELOAD to "lib[:existing]" unless `lib` is already listed. */
int nprof_cli_prepend_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	size_t liblen = strlen(lib);
	char *val;
	int r;

	if (old && old[0]) {
		/* Already preloaded (an outer `nprof run`): loading the same
		 * object twice is harmless but say it once. */
		for (const char *p = old; (p = strstr(p, lib)) != NULL; p++)
			if ((p == old || p[-1] == ':' || p[-1] == ' ') &&
			    (p[liblen] == '\0' || p[liblen] == ':' || p[liblen] == ' '))
				return 0;
		if (asprintf(&val, "%s:%s", lib, old) < 0)
			return -1;
		r = setenv("LD_PRELOAD", val, 1);
		free(val);
		return r;
	}
	return setenv("LD_PRELOAD", lib, 1);
}

/* Creates `dir` and its parents, like mkdir -p. Returns 0 or -errno. */
static int make_dirs(char *dir)
{
	struct stat st;

	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
			int e = errno;

			*p = '/';
			return -e;
		}
		*p = '/';
	}
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int nprof_cli_cmd_run(int argc, char **argv)
{
	static const struct {
		const char *opt, *env;
		long min, max;  /* numeric range; min > max: not a number */
	} opts[] = {
		{"--http", "NPROF_HTTP", 1, 0},
		{"--out", "NPROF_OUT", 1, 0},
		{"--token", "NPROF_TOKEN", 1, 0},
		{"--heap-rate", "NPROF_HEAP_RATE", 0, 1L << 40},
		{"--cpu-hz", "NPROF_CPU_HZ", 1, 1000},
	};
	enum { NOPTS = sizeof(opts) / sizeof(opts[0]) };
	const char *val[NOPTS] = {0};
	char lib[PATH_MAX], outdir[PATH_MAX];
	int i, cmd = -1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		size_t k;
		int r = 0;

		if (strcmp(a, "--") == 0) {
			cmd = i + 1;
			break;
		}
		if (nprof_cli_is_help(a))
			return nprof_cli_help("run");
		for (k = 0; k < NOPTS; k++)
			if ((r = nprof_cli_opt_value(argc, argv, &i, opts[k].opt, &v)) != 0)
				break;
		if (r < 0)
			return nprof_cli_usage_error("run", "option %s needs a value", a);
		if (k == NOPTS) {
			if (a[0] == '-')
				return nprof_cli_usage_error("run", "unknown option '%s'", a);
			return nprof_cli_usage_error("run", "put '--' before the command: "
						     "nprof run [options] -- %s ...", a);
		}
		if (opts[k].min <= opts[k].max) {
			long n;

			if (nprof_cli_parse_long(v, opts[k].min, opts[k].max, &n) != 0)
				return nprof_cli_usage_error("run", "%s '%s': want a number "
					"in %ld..%ld", opts[k].opt, v, opts[k].min, opts[k].max);
		} else if (!*v) {
			return nprof_cli_usage_error("run", "%s needs a value", opts[k].opt);
		}
		val[k] = v;
	}
	if (cmd < 0)
		return nprof_cli_usage_error("run", "missing '--' before the command");
	if (cmd >= argc)
		return nprof_cli_usage_error("run", "missing the command after '--'");

	if (nprof_cli_find_library(lib, sizeof(lib)) != 0)
		return NPROF_EXIT_FAIL;
	if (!nprof_cli_usable_in_preload(lib)) {
		fprintf(stderr, "nprof: %s: LD_PRELOAD cannot hold a path with ':' "
			"or blanks; copy libnprof.so elsewhere and set NPROF_LIB\n", lib);
		return NPROF_EXIT_FAIL;
	}

	/* A relative --out (opts[1]) would follow the program's chdir()s;
	 * fix it now, and create it so the reports at exit have a home. */
	if (val[1]) {
		int r = absolute(val[1], outdir, sizeof(outdir));

		if (r == 0)
			r = make_dirs(outdir);
		if (r != 0) {
			fprintf(stderr, "nprof: --out %s: %s\n", val[1], strerror(-r));
			return NPROF_EXIT_FAIL;
		}
		val[1] = outdir;
	}

	for (size_t k = 0; k < NOPTS; k++) {
		if (val[k] && setenv(opts[k].env, val[k], 1) != 0) {
			fprintf(stderr, "nprof: setenv %s: %s\n", opts[k].env, strerror(errno));
			return NPROF_EXIT_FAIL;
		}
	}
	if (nprof_cli_prepend_preload(lib) != 0) {
		fprintf(stderr, "nprof: setenv LD_PRELOAD: %s\n", strerror(errno));
		return NPROF_EXIT_FAIL;
	}

	fflush(NULL);
	execvp(argv[cmd], argv + cmd);
	fprintf(stderr, "nprof: cannot run %s: %s\n", argv[cmd], strerror(errno));
	return NPROF_EXIT_EXEC;
}
