/*
 * check_supp.c - what a leak check is told to look at and to ignore:
 * NPROF_CHECK_KINDS (threads, fds, heap, heap=all) and the
 * NPROF_CHECK_SUPPRESSIONS file of `kind:glob` lines, matched against
 * every frame (function, file, file's base name) of a finding's stacks.
 *
 * Data: the settings and up to MAX_SUPP suppressions, read once on first
 * use and never changed after. Runs under check.c's check_lock. Not for
 * signal handlers.
 */
#include "api.h"
#include "base.h"
#include "check_int.h"
#include "frames.h"
#include "stacks.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SUPP 256

struct supp {
	int kind;               /* S_* */
	char pattern[240];
};

static struct supp supps[MAX_SUPP];
static int nsupps;
static int kinds_cfg;
static int settings_read;

static int parse_kinds(const char *v)
{
	int k = 0;
	char buf[128];
	snprintf(buf, sizeof buf, "%s", v);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "threads") == 0)
			k |= K_THREADS;
		else if (strcmp(t, "fds") == 0)
			k |= K_FDS;
		else if (strcmp(t, "heap") == 0)
			k |= K_HEAP;
		else if (strcmp(t, "heap=all") == 0)
			k |= K_HEAP | K_HEAP_ALL;
		else
			nprof__log("NPROF_CHECK_KINDS: unknown kind '%s' ignored", t);
	}
	return k != 0 ? k : K_THREADS | K_FDS | K_HEAP;
}

/* Reads the suppressions file (already validated by `nprof check`; a bad
 * line here is logged and skipped). */
static void read_suppressions(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		nprof__log("NPROF_CHECK_SUPPRESSIONS=%s: %s", path, strerror(errno));
		return;
	}
	char buf[16384];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	int lineno = 0;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		size_t l = strlen(line);
		while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
			line[--l] = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		int kind = nprof__check_supp_kind(line);
		const char *colon = strchr(line, ':');
		if (kind < 0 || colon == NULL || colon[1] == '\0') {
			nprof__log("%s:%d: bad suppression '%s'; ignored", path, lineno, line);
			continue;
		}
		if (nsupps < MAX_SUPP) {
			supps[nsupps].kind = kind;
			snprintf(supps[nsupps].pattern, sizeof supps[nsupps].pattern, "%s", colon + 1);
			nsupps++;
		}
	}
}

int nprof__check_supp_kind(const char *line)
{
	static const struct {
		const char *name;
		int kind;
	} names[] = {{"thread:", S_THREAD}, {"fd:", S_FD}, {"heap:", S_HEAP}, {"leak:", S_HEAP}};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strncmp(line, names[i].name, strlen(names[i].name)) == 0)
			return names[i].kind;
	return -1;
}

static void read_settings(void)
{
	if (settings_read)
		return;
	settings_read = 1;
	const char *k = getenv("NPROF_CHECK_KINDS");
	kinds_cfg = parse_kinds(k != NULL ? k : "");
	const char *s = getenv("NPROF_CHECK_SUPPRESSIONS");
	if (s != NULL && s[0] != '\0')
		read_suppressions(s);
}

static int frame_matches(const struct nprof_oframe *f, const char *pat)
{
	return fnmatch(pat, f->function, 0) == 0 ||
	       (f->file[0] != '\0' && (fnmatch(pat, f->file, 0) == 0 ||
				       fnmatch(pat, nprof__frames_base_name(f->file), 0) == 0));
}

/* True when a suppression of `kind` matches any frame of the stacks. */
int nprof__check_supp_matches(struct nprof_frames *c, int kind, uint32_t s1, uint32_t s2)
{
	if (nsupps == 0)
		return 0;
	struct nprof_oframe fr[NPROF_MAX_FRAMES * 2];
	uint32_t ids[2] = {s1, s2};
	for (int k = 0; k < 2; k++) {
		int n = nprof__check_report_frames(c, ids[k], 0, fr, NPROF_MAX_FRAMES * 2);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < nsupps; j++)
				if (supps[j].kind == kind && frame_matches(&fr[i], supps[j].pattern))
					return 1;
	}
	return 0;
}


int nprof__check_supp_kinds(void)
{
	read_settings();
	return kinds_cfg;
}
