/*
 * cli.h - declarations shared by the files of the `nprof` command.
 *
 * The command is a thin client of the HTTP endpoints libnprof serves
 * inside each profiled process (docs/reference.md §2, §6). Its layers, bottom up:
 *
 *   args.c     option matching and number parsing, usage errors (exit 2)
 *   sockets.c  where a process's unix socket lives; which ones exist
 *   client.c   a target (PID or URL) and one HTTP GET against it
 *   run.c fetch.c ps.c ...   one file per command, using the layers above
 *   main.c     the command table, top-level usage and dispatch
 *
 * Conventions: a command is `int nprof_cli_cmd_NAME(int argc, char **argv)`
 * with argv[0] the command name; it returns the process exit status
 * (0 success, 1 runtime failure, 2 usage error, 127 exec failure).
 * Messages go to stderr as one line starting with "nprof: "; stdout is
 * only for what the user asked for (a profile, a table).
 */
#ifndef NPROF_CLI_H
#define NPROF_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define NPROF_CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Exit statuses every command uses. */
enum {
	NPROF_EXIT_OK = 0,
	NPROF_EXIT_FAIL = 1,
	NPROF_EXIT_USAGE = 2,
	NPROF_EXIT_EXEC = 127,
};

/* ------------------------------------------------------------------ */
/* main.c: command table and usage                                      */
/* ------------------------------------------------------------------ */

/*
 * Prints the usage of command `cmd` (or the top-level usage when `cmd`
 * is NULL or unknown) to `to`. Used for --help (stdout) and for usage
 * errors (stderr).
 */
void nprof_cli_print_usage(const char *cmd, FILE *to);

/*
 * Reports a wrong argument: prints "nprof CMD: MESSAGE" and the usage of
 * `cmd` to stderr, and returns NPROF_EXIT_USAGE so that a command can
 * `return nprof_cli_usage_error(...)`.
 */
int nprof_cli_usage_error(const char *cmd, const char *fmt, ...) NPROF_CLI_PRINTF(2, 3);

/*
 * Prints the usage of `cmd` to stdout and returns NPROF_EXIT_OK: the
 * answer to `nprof CMD --help`.
 */
int nprof_cli_help(const char *cmd);

/* ------------------------------------------------------------------ */
/* args.c: option parsing                                               */
/* ------------------------------------------------------------------ */

/* True when `arg` is -h or --help. */
int nprof_cli_is_help(const char *arg);

/*
 * Matches argv[*i] against the option `name` (e.g. "--seconds") taking a
 * value, in either form "--seconds 30" or "--seconds=30". Returns 1 and
 * sets *value (advancing *i past a separate value) on a match, 0 when
 * argv[*i] is another argument, and -1 when the option is given without
 * its value (the caller reports a usage error naming `name`).
 */
int nprof_cli_opt_value(int argc, char **argv, int *i, const char *name,
			const char **value);

/*
 * Parses a whole decimal number in [min, max] ("30", not "30s", "",
 * "-1" when min >= 0 or "1e3"). Returns 0 and sets *out, or -1.
 */
int nprof_cli_parse_long(const char *s, long min, long max, long *out);

/* ------------------------------------------------------------------ */
/* sockets.c: where libnprof's unix sockets live                       */
/* ------------------------------------------------------------------ */

/* sockaddr_un.sun_path is 108 bytes; one more path component for slack. */
#define NPROF_SOCK_PATH_MAX 108

/*
 * Finds the unix socket of process `pid`. It tries, in order: the
 * NPROF_SOCKET and XDG_RUNTIME_DIR in the process's own environment (both
 * readable only for our own uid or root), then the default rule applied
 * with our XDG_RUNTIME_DIR, then /tmp/nprof-<uid>/ and
 * /run/user/<uid>/nprof/ for the uid owning the process. Writes the
 * first candidate that is a socket into `path` and returns 0; when none
 * is, writes the path the default rule gives and returns -ENOENT.
 * Returns -ESRCH when no process `pid` exists, and -EHOSTDOWN when the
 * process's environment says NPROF_SOCKET=off.
 */
int nprof_cli_socket_for_pid(pid_t pid, char *path, size_t pathlen);

/*
 * Lists the directories where sockets may be, for `nprof ps`: ours by
 * the default rule, /tmp/nprof-* and /run/user/<uid>/nprof (those of
 * other users are only readable by root). Calls `fn(dir, arg)` once per
 * existing directory, without duplicates.
 */
void nprof_cli_socket_dirs(void (*fn)(const char *dir, void *arg), void *arg);

/*
 * Reads variable `name` from /proc/PID/environ (the environment the
 * process started with) into `value`. Returns 0, -ENOENT when it is not
 * set, or another negative errno (typically -EACCES for another user's
 * process).
 */
int nprof_cli_proc_getenv(pid_t pid, const char *name, char *value, size_t len);

/* ------------------------------------------------------------------ */
/* client.c: a target and an HTTP GET against it                       */
/* ------------------------------------------------------------------ */

/* A growable response body. Zero-initialise; release with
 * nprof_cli_membuf_free(). */
struct nprof_membuf {
	char *data;     /* NUL-terminated for convenience; may hold NULs */
	size_t len;
	size_t cap;
};

void nprof_cli_membuf_free(struct nprof_membuf *b);

/* Where a command's requests go: a local process or a base URL. */
struct nprof_target {
	int is_pid;
	pid_t pid;
	/* PID: the unix socket path. */
	char socket[NPROF_SOCK_PATH_MAX];
	/* URL: everything before "/debug/pprof", no trailing slash. */
	char root[1024];
	/* For messages: "PID 1234" or the URL as typed. */
	char label[1100];
};

/*
 * Parses a command-line target: all digits → a PID (its socket is found
 * lazily, by nprof_cli_get); "http://" or "https://" → a base URL, whose
 * root is the part before "/debug/pprof" when present, else the URL with
 * trailing slashes removed. Returns 0, or -1 with a reason in `err`
 * (a usage error for the caller).
 */
int nprof_cli_target_parse(const char *arg, struct nprof_target *t, char *err,
			   size_t errlen);

/* nprof_cli_get() results. */
enum {
	NPROF_GET_OK = 0,        /* 2xx: body in `out` */
	NPROF_GET_EHTTP = -1,    /* the server answered an error status */
	NPROF_GET_ECONN = -2,    /* nothing answered (or a transfer failure) */
};

/*
 * GETs `path_and_query` (e.g. "/debug/pprof/heap?debug=1" or "/metrics")
 * from target `t`: over its unix socket for a PID (as http://localhost),
 * else below its root URL. Sends "Authorization: Bearer $NPROF_TOKEN"
 * when that variable is set. Gives up after `timeout_s` seconds (0 = no
 * limit; connecting is always limited to 10 s). The body is appended to
 * `out` (capped at 1 GiB) and the status stored in *status (0 when none).
 *
 * Returns NPROF_GET_OK; NPROF_GET_EHTTP with "HTTP 404: <first line of
 * the body>" in `err`; or NPROF_GET_ECONN with "cannot reach PID 1234 at
 * /path.sock: <reason>" (or "cannot reach URL: <reason>") in `err`.
 * Not thread-safe on first use (it initialises libcurl).
 */
int nprof_cli_get(struct nprof_target *t, const char *path_and_query,
		  long timeout_s, struct nprof_membuf *out, long *status,
		  char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Commands (one file each)                                             */
/* ------------------------------------------------------------------ */

/* run.c, shared with check.c: where libnprof.so is (prints why not and
 * returns -1), whether LD_PRELOAD can hold its path, and prepending it to
 * LD_PRELOAD (0, or -1 with errno). */
int nprof_cli_find_library(char *out, size_t len);
int nprof_cli_usable_in_preload(const char *p);
int nprof_cli_prepend_preload(const char *lib);

/* check.c: `nprof check [options] -- CMD ARGS...` (leak checks). */
extern const char nprof_cli_check_usage[];
int nprof_cli_cmd_check(int argc, char **argv);

extern const char nprof_cli_run_usage[];
extern const char nprof_cli_fetch_usage[];
extern const char nprof_cli_ps_usage[];

int nprof_cli_cmd_run(int argc, char **argv);
int nprof_cli_cmd_fetch(int argc, char **argv);
int nprof_cli_cmd_ps(int argc, char **argv);

/* stack.c: `nprof stack PID|URL` (the threads profile's debug=2 dump). */
extern const char nprof_cli_stack_usage[];
int nprof_cli_cmd_stack(int argc, char **argv);

/* top.c, diff.c: flat/cum tables of a profile and of a difference. */
extern const char nprof_cli_top_usage[];
extern const char nprof_cli_diff_usage[];
int nprof_cli_cmd_top(int argc, char **argv);
int nprof_cli_cmd_diff(int argc, char **argv);

/* leaks.c, watch.c: the leak suspects, once or as a refreshing view. */
extern const char nprof_cli_leaks_usage[];
extern const char nprof_cli_watch_usage[];
int nprof_cli_cmd_leaks(int argc, char **argv);
int nprof_cli_cmd_watch(int argc, char **argv);

/* ui.c: `nprof ui PID|URL`, a local proxy to the process's web UI. */
extern const char nprof_cli_ui_usage[];
int nprof_cli_cmd_ui(int argc, char **argv);

/* attach.c: `nprof attach PID` / `nprof detach PID` (ptrace injection). */
extern const char nprof_cli_attach_usage[];
extern const char nprof_cli_detach_usage[];
int nprof_cli_cmd_attach(int argc, char **argv);
int nprof_cli_cmd_detach(int argc, char **argv);

/* run.c: where libnprof.so is ($NPROF_LIB, beside nprof, ../lib); prints
 * why and returns -1 when there is none. */
int nprof_cli_find_library(char *out, size_t len);

/*
 * inject.c: makes process `pid` call `fn_name` (a function of libnprof,
 * taking one string) with `config` (or NULL), after dlopen()ing `lib`
 * there when `load` is set. One thread of the target is stopped, at a
 * safe point, for *stopped_ms. *result gets the function's int return.
 * Returns 0, or a negative errno with a one-line reason in `err`
 * (-ESRCH no such process, -EPERM no ptrace rights, -ENOEXEC not a
 * dynamically linked program).
 */
int nprof_cli_inject(pid_t pid, const char *lib, const char *fn_name, const char *config,
		     int load, long *result, double *stopped_ms, char *err, size_t errlen);

#endif /* NPROF_CLI_H */
