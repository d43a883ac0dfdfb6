/*
 * args.c - the small option parser every nprof command shares.
 *
 * getopt_long would permute arguments and so break `nprof run -- prog
 * --flag`; commands here walk argv themselves and ask these helpers
 * whether the current word is a given option. Options take their value
 * as the next word or after '=' (GNU style), so `--seconds 30` and
 * `--seconds=30` both work, as users of curl and go tool pprof expect.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int nprof_cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int nprof_cli_opt_value(int argc, char **argv, int *i, const char *name,
			const char **value)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*value = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;       /* "--seconds" must not match "--secondsX" */
	if (*i + 1 >= argc)
		return -1;
	*i += 1;
	*value = argv[*i];
	return 1;
}

int nprof_cli_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	/* strtol accepts leading blanks and signs; a count or a PID is
	 * written with digits only. */
	if (!s || !*s)
		return -1;
	for (const char *p = (*s == '-' && min < 0) ? s + 1 : s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
