/*
 * diff.c - `nprof diff BASE NEW`: what changed between two saved
 * profiles, by function, like `go tool pprof -top -base BASE NEW`.
 *
 * BASE's values count negatively and NEW's positively in the table of
 * table.c, so a row's flat and cum are NEW - BASE, sorted by |flat|, with
 * '+' on growth. The total the percentages are of is pprof's: the sum of
 * |NEW - BASE| over distinct stacks. Both inputs are files: a live
 * comparison is two `nprof fetch`es apart in time, which the user
 * controls better than a flag would.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "profile.h"

const char nprof_cli_diff_usage[] =
	"usage: nprof diff BASE NEW [--sample-index NAME] [--nodecount N] [--cum] [--lines]\n"
	"\n"
	"Prints NEW minus BASE by function, like `go tool pprof -top -base BASE NEW`:\n"
	"rows sorted by the size of the flat change, '+' for growth, '-' for\n"
	"shrinkage. BASE and NEW are saved profiles of the same kind (.pb.gz or\n"
	".pb), e.g. two `nprof fetch PID heap -o FILE` taken some time apart.\n"
	"\n"
	"  --sample-index NAME   value to compare (default: NEW's default type,\n"
	"                        else its last); both profiles must have it\n"
	"  --nodecount N         show at most N rows (default: all)\n"
	"  --cum                 sort by the cumulative change\n"
	"  --lines               one row per source line: 'function file:line'\n"
	"\n"
	"Example:\n"
	"  nprof fetch 1234 heap -o a.pb.gz; sleep 600; nprof fetch 1234 heap -o b.pb.gz\n"
	"  nprof diff a.pb.gz b.pb.gz --sample-index inuse_space\n";

int nprof_cli_cmd_diff(int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL}, *index_s = NULL;
	struct nprof_top_options o = {0};
	struct nprof_top_source s[2];
	struct nprof_profile *p[2] = {NULL, NULL};
	char err[1400];
	int npos = 0, only_pos = 0, r, ret = NPROF_EXIT_FAIL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && nprof_cli_is_help(a))
			return nprof_cli_help("diff");
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			if ((r = nprof_cli_table_option("diff", argc, argv, &i, &o,
							 &index_s)) != 0) {
				if (r < 0)
					return NPROF_EXIT_USAGE;
				continue;
			}
			return nprof_cli_usage_error("diff", "unknown option '%s'", a);
		}
		if (npos == 2)
			return nprof_cli_usage_error("diff", "unexpected argument '%s'", a);
		pos[npos++] = a;
	}
	if (npos < 2)
		return nprof_cli_usage_error("diff", npos ? "missing NEW" : "missing BASE and NEW");

	for (int i = 0; i < 2; i++) {
		if (nprof_profile_read_file(pos[i], &p[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "nprof: %s\n", err);
			goto out;
		}
		s[i].p = p[i];
		s[i].sign = i == 0 ? -1 : 1;
		s[i].label = pos[i];
	}
	/* NEW decides what is compared (as pprof's report follows the
	 * source profile); BASE must have a value of the same name. */
	s[1].index = nprof_profile_sample_index(p[1], index_s, err, sizeof(err));
	if (s[1].index < 0) {
		fprintf(stderr, "nprof: %s: %s\n", pos[1], err);
		goto out;
	}
	s[0].index = nprof_profile_sample_index(p[0], p[1]->sample_type[s[1].index].type,
						err, sizeof(err));
	if (s[0].index < 0 || strcmp(p[0]->sample_type[s[0].index].type,
				     p[1]->sample_type[s[1].index].type) != 0) {
		fprintf(stderr, "nprof: %s and %s are different kinds of profile: "
			"BASE has no sample type '%s'\n", pos[0], pos[1],
			p[1]->sample_type[s[1].index].type);
		goto out;
	}
	if (strcmp(p[0]->sample_type[s[0].index].unit,
		   p[1]->sample_type[s[1].index].unit) != 0) {
		fprintf(stderr, "nprof: %s and %s measure '%s' in different units "
			"(%s, %s)\n", pos[0], pos[1], p[1]->sample_type[s[1].index].type,
			p[0]->sample_type[s[0].index].unit,
			p[1]->sample_type[s[1].index].unit);
		goto out;
	}
	r = nprof_top_report(stdout, s, 2, &o);
	if (r != 0) {
		fprintf(stderr, "nprof: %s\n", r == -ENOMEM ? "out of memory"
							     : "cannot write the table");
		goto out;
	}
	ret = NPROF_EXIT_OK;
out:
	nprof_profile_free(p[0]);
	nprof_profile_free(p[1]);
	return ret;
}
