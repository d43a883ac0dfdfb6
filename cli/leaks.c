/*
 * leaks.c - `nprof leaks PID|URL [--seconds N] [--json]`: the leak
 * suspects of a live process, as /debug/pprof/leaks ranks them (docs/reference.md §4).
 *
 * The ranking happens inside the process, where the snapshot ring is;
 * this command only asks for it and prints the answer unchanged (the
 * text table, or the JSON with --json), so that the table a user reads
 * here and the one a script or the web UI gets are the same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_leaks_usage[] =
	"usage: nprof leaks PID|URL [--seconds N] [--json]\n"
	"\n"
	"Prints the leak suspects of a running process: the call stacks whose\n"
	"heap bytes, threads or descriptors grow steadily, leaking line first,\n"
	"with growth per second, confidence and (threads) what they wait for.\n"
	"\n"
	"  PID            a local process with nprof loaded (through its unix socket)\n"
	"  URL            http(s)://host:port[/debug/pprof] of its HTTP listener\n"
	"  --seconds N    compare now with a fresh snapshot N seconds later\n"
	"                 (default: the whole history nprof keeps, no waiting)\n"
	"  --json         the JSON form (docs/reference.md §4) instead of the table\n"
	"\n"
	"Examples:\n"
	"  nprof leaks 1234\n"
	"  nprof leaks http://127.0.0.1:6060 --seconds 30 --json\n";

/* Slack beyond --seconds for the snapshot and the transfer. */
#define TIMEOUT_SLACK 30

static int write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int nprof_cli_cmd_leaks(int argc, char **argv)
{
	const char *target = NULL, *secs_s = NULL, *v;
	char err[1400], query[128];
	struct nprof_target t;
	struct nprof_membuf body = {0};
	long secs = -1, status;
	int json = 0, only_pos = 0, r, ret = NPROF_EXIT_FAIL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && nprof_cli_is_help(a))
			return nprof_cli_help("leaks");
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && strcmp(a, "--json") == 0) {
			json = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			r = nprof_cli_opt_value(argc, argv, &i, "--seconds", &v);
			if (r < 0)
				return nprof_cli_usage_error("leaks", "option %s needs a value", a);
			if (r == 0)
				return nprof_cli_usage_error("leaks", "unknown option '%s'", a);
			secs_s = v;
			continue;
		}
		if (target)
			return nprof_cli_usage_error("leaks", "unexpected argument '%s'", a);
		target = a;
	}
	if (!target)
		return nprof_cli_usage_error("leaks", "missing PID|URL");
	if (nprof_cli_target_parse(target, &t, err, sizeof(err)) != 0)
		return nprof_cli_usage_error("leaks", "%s", err);
	/* The server caps seconds at 600 (NPROF_MAX_SECONDS); say so here
	 * rather than after a round trip. */
	if (secs_s && nprof_cli_parse_long(secs_s, 1, 600, &secs) != 0)
		return nprof_cli_usage_error("leaks", "--seconds '%s': want 1..600", secs_s);

	snprintf(query, sizeof(query), "/debug/pprof/leaks%s%s", json ? "?format=json" : "",
		 secs > 0 ? (json ? "&seconds=" : "?seconds=") : "");
	if (secs > 0)
		snprintf(query + strlen(query), sizeof(query) - strlen(query), "%ld", secs);
	if (secs > 0 && isatty(STDERR_FILENO))
		fprintf(stderr, "nprof: watching %s for %ld s...\n", t.label, secs);

	r = nprof_cli_get(&t, query, (secs > 0 ? secs : 0) + TIMEOUT_SLACK, &body, &status,
			  err, sizeof(err));
	if (r == NPROF_GET_EHTTP) {
		fprintf(stderr, "nprof: leaks: %s\n", err);
		goto out;
	}
	if (r != NPROF_GET_OK) {
		fprintf(stderr, "nprof: %s\n", err);
		goto out;
	}
	if (write_all(body.data ? body.data : "", body.len) != 0) {
		perror("nprof: writing stdout");
		goto out;
	}
	ret = NPROF_EXIT_OK;
out:
	nprof_cli_membuf_free(&body);
	return ret;
}
