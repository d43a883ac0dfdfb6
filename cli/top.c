/*
 * top.c - `nprof top PID|URL|FILE [PROFILE]`: the flat/cum table of one
 * profile, saved or fetched live.
 *
 * Only the command lives here: arguments, where the profile comes from
 * (a file, or a GET through client.c decoded by profile.c), and the
 * choice of the sample value. The table itself is table.c's, shared with
 * `nprof diff`. A live CPU profile lasts 10 s by default rather than the
 * server's 30 s, because `top` is something one runs interactively.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "profile.h"

const char nprof_cli_top_usage[] =
	"usage: nprof top PID|URL|FILE [PROFILE] [--seconds N] [--sample-index NAME]\n"
	"                 [--nodecount N] [--cum] [--lines]\n"
	"\n"
	"Prints the functions that account for most of a profile, like\n"
	"`go tool pprof -top`: flat (the function itself), cum (with what it\n"
	"calls), their share of the total, one row per function, inlined\n"
	"functions included.\n"
	"\n"
	"  PID|URL          a live process: PROFILE is fetched from it (default\n"
	"                   'profile', the CPU profile, over 10 s)\n"
	"  FILE             a saved profile (.pb.gz or plain .pb); a file named\n"
	"                   with digits only is written ./1234\n"
	"  PROFILE          heap, allocs, goroutine, block, mutex, fd, profile, ...\n"
	"  --seconds N      CPU profile length, or the delta window of the others\n"
	"  --sample-index NAME   value to report (alloc_space, inuse_objects, ...;\n"
	"                   default: the profile's default type, else its last)\n"
	"  --nodecount N    show at most N rows (default: all)\n"
	"  --cum            sort by cumulative value\n"
	"  --lines          one row per source line: 'function file:line'\n"
	"\n"
	"Examples:\n"
	"  nprof top 1234                  # 10 s of CPU\n"
	"  nprof top 1234 heap --sample-index alloc_space\n"
	"  nprof top cpu.pb.gz --cum --nodecount 20\n";

/* CPU profile length when `nprof top PID` is not told. */
#define TOP_DEFAULT_SECONDS 10
#define TOP_TIMEOUT_SLACK 30

static int is_all_digits(const char *s)
{
	return *s && s[strspn(s, "0123456789")] == '\0';
}

static int is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Profile names become a path segment of the request. */
static int valid_name(const char *s)
{
	if (!*s || s[0] == '.')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return 0;
	return 1;
}

/* Fetches PROFILE from a live target and decodes it. Prints the error
 * and returns NPROF_EXIT_FAIL, or returns 0. */
static int load_live(const char *arg, const char *profile, long secs,
		     struct nprof_profile **out)
{
	struct nprof_target t;
	struct nprof_membuf body = {0};
	char err[1400], why[600], query[300];
	long status, timeout = (secs > 0 ? secs : 0) + TOP_TIMEOUT_SLACK;
	int r;

	/* Already validated by the caller; this cannot fail here. */
	if (nprof_cli_target_parse(arg, &t, err, sizeof(err)) != 0) {
		fprintf(stderr, "nprof: %s\n", err);
		return NPROF_EXIT_FAIL;
	}
	if (secs >= 0)
		snprintf(query, sizeof(query), "/debug/pprof/%s?seconds=%ld", profile, secs);
	else
		snprintf(query, sizeof(query), "/debug/pprof/%s", profile);
	if (secs > 0 && isatty(STDERR_FILENO))
		fprintf(stderr, "nprof: collecting %s for %ld s from %s...\n",
			profile, secs, t.label);
	r = nprof_cli_get(&t, query, timeout, &body, &status, err, sizeof(err));
	if (r != NPROF_GET_OK) {
		if (r == NPROF_GET_EHTTP)
			fprintf(stderr, "nprof: %s: %s\n", profile, err);
		else
			fprintf(stderr, "nprof: %s\n", err);
		nprof_cli_membuf_free(&body);
		return NPROF_EXIT_FAIL;
	}
	r = nprof_profile_parse(body.data, body.len, out, why, sizeof(why));
	nprof_cli_membuf_free(&body);
	if (r != 0) {
		fprintf(stderr, "nprof: %s from %s: %s\n", profile, t.label, why);
		return NPROF_EXIT_FAIL;
	}
	return 0;
}

int nprof_cli_table_option(const char *cmd, int argc, char **argv, int *i,
			   struct nprof_top_options *o, const char **sample_index)
{
	const char *a = argv[*i], *v;
	int r;

	if (strcmp(a, "--cum") == 0 || strcmp(a, "--lines") == 0) {
		*(a[2] == 'c' ? &o->cum : &o->lines) = 1;
		return 1;
	}
	if ((r = nprof_cli_opt_value(argc, argv, i, "--sample-index", &v)) == 0 &&
	    (r = nprof_cli_opt_value(argc, argv, i, "--nodecount", &v)) == 0)
		return 0;
	if (r < 0) {
		nprof_cli_usage_error(cmd, "option %s needs a value", a);
		return -1;
	}
	if (strncmp(a, "--sample-index", 14) == 0) {
		if (!*v) {
			nprof_cli_usage_error(cmd, "--sample-index needs a name");
			return -1;
		}
		*sample_index = v;
	} else if (nprof_cli_parse_long(v, 0, 1000000000L, &o->nodecount) != 0) {
		nprof_cli_usage_error(cmd, "--nodecount '%s': want a count", v);
		return -1;
	}
	return 1;
}

int nprof_cli_cmd_top(int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL}, *secs_s = NULL, *index_s = NULL, *v;
	struct nprof_top_options o = {0};
	struct nprof_top_source s;
	struct nprof_profile *p = NULL;
	struct nprof_target t;
	char err[1400];
	long secs = -1;
	int npos = 0, only_pos = 0, r, live, ret = NPROF_EXIT_FAIL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && nprof_cli_is_help(a))
			return nprof_cli_help("top");
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			if ((r = nprof_cli_table_option("top", argc, argv, &i, &o,
							 &index_s)) != 0) {
				if (r < 0)
					return NPROF_EXIT_USAGE;
				continue;
			}
			if ((r = nprof_cli_opt_value(argc, argv, &i, "--seconds", &v)) != 0) {
				if (r < 0)
					return nprof_cli_usage_error("top",
						"option %s needs a value", a);
				secs_s = v;
				continue;
			}
			return nprof_cli_usage_error("top", "unknown option '%s'", a);
		}
		if (npos == 2)
			return nprof_cli_usage_error("top", "unexpected argument '%s'", a);
		pos[npos++] = a;
	}
	if (npos == 0)
		return nprof_cli_usage_error("top", "missing PID|URL|FILE");
	live = is_all_digits(pos[0]) || is_url(pos[0]);
	if (live && nprof_cli_target_parse(pos[0], &t, err, sizeof(err)) != 0)
		return nprof_cli_usage_error("top", "%s", err);
	if (!live && npos == 2)
		return nprof_cli_usage_error("top", "PROFILE '%s' is only for a PID or URL "
					     "(FILE is already one profile)", pos[1]);
	if (!live && secs_s)
		return nprof_cli_usage_error("top", "--seconds is only for a PID or URL");
	if (npos == 2 && !valid_name(pos[1]))
		return nprof_cli_usage_error("top", "'%s' is not a profile name", pos[1]);
	if (secs_s && nprof_cli_parse_long(secs_s, 0, 86400, &secs) != 0)
		return nprof_cli_usage_error("top", "--seconds '%s': want 0..86400", secs_s);

	if (live) {
		const char *profile = npos == 2 ? pos[1] : "profile";

		if (secs < 0 && strcmp(profile, "profile") == 0)
			secs = TOP_DEFAULT_SECONDS;
		if (load_live(pos[0], profile, secs, &p) != 0)
			return NPROF_EXIT_FAIL;
	} else if (nprof_profile_read_file(pos[0], &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "nprof: %s\n", err);
		return NPROF_EXIT_FAIL;
	}

	s.p = p;
	s.sign = 1;
	s.label = pos[0];
	s.index = nprof_profile_sample_index(p, index_s, err, sizeof(err));
	if (s.index < 0) {
		fprintf(stderr, "nprof: %s: %s\n", pos[0], err);
		goto out;
	}
	r = nprof_top_report(stdout, &s, 1, &o);
	if (r != 0) {
		fprintf(stderr, "nprof: %s\n", r == -ENOMEM ? "out of memory"
							     : "cannot write the table");
		goto out;
	}
	ret = NPROF_EXIT_OK;
out:
	nprof_profile_free(p);
	return ret;
}
