/*
 * fetch.c - `nprof fetch PID|URL PROFILE [--seconds N] [--debug N] -o FILE`:
 * saves one profile exactly as the process serves it.
 *
 * The output file appears whole or not at all: the body is written to
 * FILE.tmp and renamed over FILE only after a successful transfer, so a
 * failed or interrupted fetch never leaves a truncated profile that
 * `go tool pprof` would later choke on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_fetch_usage[] =
	"usage: nprof fetch PID|URL PROFILE [--seconds N] [--debug N] [-o FILE]\n"
	"\n"
	"Saves profile PROFILE (heap, allocs, goroutine, threads, threadcreate,\n"
	"block, mutex, profile (CPU), fd, leaks, trace, ...) as served by\n"
	"/debug/pprof/PROFILE.\n"
	"\n"
	"  PID            a local process with nprof loaded (through its unix socket)\n"
	"  URL            http(s)://host:port[/debug/pprof] of its HTTP listener\n"
	"  --seconds N    CPU profile / trace length, or delta window for the others\n"
	"  --debug N      0 = gzipped profile.proto (default), 1 or 2 = text\n"
	"  -o, --output FILE   where to write; '-' or none = stdout\n"
	"\n"
	"NPROF_TOKEN in the environment is sent as a bearer token.\n"
	"Examples:\n"
	"  nprof fetch 1234 heap -o heap.pb.gz && go tool pprof -top heap.pb.gz\n"
	"  nprof fetch http://127.0.0.1:6060 profile --seconds 10 -o cpu.pb.gz\n";

/* Seconds the server spends on a CPU profile or trace when not told. */
#define DEFAULT_PROFILE_SECONDS 30
/* Slack beyond the profiling window for collection and transfer. */
#define TIMEOUT_SLACK 30

/* Profile names are path segments: keep them to what a name can be. */
static int valid_profile_name(const char *s)
{
	if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes `b` to `file` through file.tmp + rename. Returns 0 or -errno. */
static int save_atomically(const char *file, const struct nprof_membuf *b)
{
	char tmp[4200];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	r = write_all(fd, b->data ? b->data : "", b->len);
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, file) != 0)
		r = -errno;
	if (r != 0)
		unlink(tmp);
	return r;
}

int nprof_cli_cmd_fetch(int argc, char **argv)
{
	const char *pos[2], *secs_s = NULL, *debug_s = NULL, *out = NULL, *v;
	char err[1400], query[512];
	struct nprof_target t;
	struct nprof_membuf body = {0};
	long secs = -1, debug = -1, status, timeout;
	int npos = 0, only_pos = 0, r, ret = NPROF_EXIT_FAIL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && nprof_cli_is_help(a))
			return nprof_cli_help("fetch");
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			if ((r = nprof_cli_opt_value(argc, argv, &i, "--seconds", &v)) ||
			    (r = nprof_cli_opt_value(argc, argv, &i, "--debug", &v)) ||
			    (r = nprof_cli_opt_value(argc, argv, &i, "--output", &v)) ||
			    (r = nprof_cli_opt_value(argc, argv, &i, "-o", &v))) {
				if (r < 0)
					return nprof_cli_usage_error("fetch",
						"option %s needs a value", a);
				if (strncmp(a, "--seconds", 9) == 0)
					secs_s = v;
				else if (strncmp(a, "--debug", 7) == 0)
					debug_s = v;
				else
					out = v;
				continue;
			}
			return nprof_cli_usage_error("fetch", "unknown option '%s'", a);
		}
		if (npos == 2)
			return nprof_cli_usage_error("fetch", "unexpected argument '%s'", a);
		pos[npos++] = a;
	}
	if (npos < 2)
		return nprof_cli_usage_error("fetch", npos ? "missing PROFILE"
							   : "missing PID|URL and PROFILE");
	if (nprof_cli_target_parse(pos[0], &t, err, sizeof(err)) != 0)
		return nprof_cli_usage_error("fetch", "%s", err);
	if (!valid_profile_name(pos[1]))
		return nprof_cli_usage_error("fetch", "'%s' is not a profile name", pos[1]);
	if (secs_s && nprof_cli_parse_long(secs_s, 0, 86400, &secs) != 0)
		return nprof_cli_usage_error("fetch", "--seconds '%s': want 0..86400",
					     secs_s);
	if (debug_s && nprof_cli_parse_long(debug_s, 0, 9, &debug) != 0)
		return nprof_cli_usage_error("fetch", "--debug '%s': want 0, 1 or 2",
					     debug_s);
	if (out && !*out)
		return nprof_cli_usage_error("fetch", "-o needs a file name");

	r = snprintf(query, sizeof(query), "/debug/pprof/%s", pos[1]);
	if (debug >= 0)
		r += snprintf(query + r, sizeof(query) - (size_t)r, "%sdebug=%ld",
			      "?", debug);
	if (secs >= 0)
		snprintf(query + r, sizeof(query) - (size_t)r, "%sseconds=%ld",
			 debug >= 0 ? "&" : "?", secs);

	timeout = secs >= 0 ? secs : 0;
	if (secs < 0 && (strcmp(pos[1], "profile") == 0 || strcmp(pos[1], "trace") == 0))
		timeout = DEFAULT_PROFILE_SECONDS;
	timeout += TIMEOUT_SLACK;
	if (timeout > TIMEOUT_SLACK && isatty(STDERR_FILENO))
		fprintf(stderr, "nprof: collecting %s for %ld s from %s...\n",
			pos[1], timeout - TIMEOUT_SLACK, t.label);

	r = nprof_cli_get(&t, query, timeout, &body, &status, err, sizeof(err));
	if (r == NPROF_GET_EHTTP) {
		fprintf(stderr, "nprof: %s: %s\n", pos[1], err);
		goto out;
	}
	if (r != NPROF_GET_OK) {
		fprintf(stderr, "nprof: %s\n", err);
		goto out;
	}

	if (!out || strcmp(out, "-") == 0) {
		r = write_all(STDOUT_FILENO, body.data ? body.data : "", body.len);
		if (r != 0) {
			fprintf(stderr, "nprof: writing stdout: %s\n", strerror(-r));
			goto out;
		}
	} else if ((r = save_atomically(out, &body)) != 0) {
		fprintf(stderr, "nprof: cannot write %s: %s\n", out, strerror(-r));
		goto out;
	}
	ret = NPROF_EXIT_OK;
out:
	nprof_cli_membuf_free(&body);
	return ret;
}
