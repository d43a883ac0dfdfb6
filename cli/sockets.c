/*
 * sockets.c - where libnprof's always-on unix sockets live, seen from
 * outside the process.
 *
 * The library binds $XDG_RUNTIME_DIR/nprof/<pid>.sock when the process
 * has XDG_RUNTIME_DIR, else /tmp/nprof-<uid>/<pid>.sock, unless the
 * process sets NPROF_SOCKET (docs/reference.md §1). The CLI runs in another
 * environment than the service (a systemd unit has no XDG_RUNTIME_DIR,
 * a login shell has one), so a PID is resolved by reading the target's
 * own environment when we may (same uid, or root), and otherwise by
 * trying every place the rule can give for the uid owning the process.
 *
 * No state; every function is reentrant.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Environments larger than this are not searched (ARG_MAX is 2 MiB). */
#define ENVIRON_MAX (4u << 20)

int nprof_cli_proc_getenv(pid_t pid, const char *name, char *value, size_t len)
{
	char path[64], *buf = NULL;
	size_t n = 0, cap = 0, nlen = strlen(name);
	int fd, ret = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb;

			if (cap >= ENVIRON_MAX)
				break;
			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* environ of another user's process: EACCES at read. */
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (!buf)
		goto out;
	buf[n] = '\0';
	for (size_t off = 0; off < n; off += strlen(buf + off) + 1) {
		const char *e = buf + off;

		if (strncmp(e, name, nlen) == 0 && e[nlen] == '=') {
			if (strlen(e + nlen + 1) >= len) {
				ret = -ENAMETOOLONG;
				goto out;
			}
			strcpy(value, e + nlen + 1);
			ret = 0;
			goto out;
		}
	}
out:
	free(buf);
	close(fd);
	return ret;
}

static int is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Appends candidate `path` (if it fits in a sun_path) to `c`. */
static void add_candidate(char c[][NPROF_SOCK_PATH_MAX], int *n, const char *path,
			  int len)
{
	if (len > 0 && len < NPROF_SOCK_PATH_MAX)
		memcpy(c[(*n)++], path, (size_t)len + 1);
}

int nprof_cli_socket_for_pid(pid_t pid, char *path, size_t pathlen)
{
	char cand[6][NPROF_SOCK_PATH_MAX], buf[4096], tmp[4200];
	char default_path[NPROF_SOCK_PATH_MAX] = "";
	const char *ours = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n = 0, r, len;
	uid_t uid;

	snprintf(tmp, sizeof(tmp), "/proc/%ld", (long)pid);
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return -ESRCH;
	uid = stat(tmp, &st) == 0 ? st.st_uid : getuid();

	/* 1. What the process itself was told. */
	r = nprof_cli_proc_getenv(pid, "NPROF_SOCKET", buf, sizeof(buf));
	if (r == 0 && strcasecmp(buf, "off") == 0)
		return -EHOSTDOWN;
	if (r == 0 && buf[0]) {
		/* A relative path is relative to the process's cwd, which
		 * /proc/PID/cwd reaches without knowing it. */
		len = buf[0] == '/' ? snprintf(tmp, sizeof(tmp), "%s", buf)
				    : snprintf(tmp, sizeof(tmp), "/proc/%ld/cwd/%s",
					       (long)pid, buf);
		add_candidate(cand, &n, tmp, len);
	} else if (r == -ENOENT) {
		/* Environment readable and no override: the rule is exact. */
		r = nprof_cli_proc_getenv(pid, "XDG_RUNTIME_DIR", buf, sizeof(buf));
		if (r == 0 && buf[0])
			len = snprintf(tmp, sizeof(tmp), "%s/nprof/%ld.sock", buf,
				       (long)pid);
		else
			len = snprintf(tmp, sizeof(tmp), "/tmp/nprof-%lu/%ld.sock",
				       (unsigned long)uid, (long)pid);
		add_candidate(cand, &n, tmp, len);
	}
	if (n > 0)
		memcpy(default_path, cand[0], sizeof(default_path));

	/* 2. The rule with our environment, then the usual places. */
	if (ours && ours[0] && uid == getuid()) {
		len = snprintf(tmp, sizeof(tmp), "%s/nprof/%ld.sock", ours, (long)pid);
		add_candidate(cand, &n, tmp, len);
	}
	len = snprintf(tmp, sizeof(tmp), "/tmp/nprof-%lu/%ld.sock",
		       (unsigned long)uid, (long)pid);
	add_candidate(cand, &n, tmp, len);
	len = snprintf(tmp, sizeof(tmp), "/run/user/%lu/nprof/%ld.sock",
		       (unsigned long)uid, (long)pid);
	add_candidate(cand, &n, tmp, len);
	if (!default_path[0])
		memcpy(default_path, cand[0], sizeof(default_path));

	for (int i = 0; i < n; i++) {
		if (is_socket(cand[i])) {
			snprintf(path, pathlen, "%s", cand[i]);
			return 0;
		}
	}
	snprintf(path, pathlen, "%s", default_path);
	return -ENOENT;
}

struct seen {
	dev_t dev[64];
	ino_t ino[64];
	int n;
};

/* Calls fn(dir) unless `dir` is missing or already visited. */
static void visit(struct seen *s, const char *dir,
		  void (*fn)(const char *dir, void *arg), void *arg)
{
	struct stat st;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	for (int i = 0; i < s->n; i++)
		if (s->dev[i] == st.st_dev && s->ino[i] == st.st_ino)
			return;
	if (s->n < 64) {
		s->dev[s->n] = st.st_dev;
		s->ino[s->n] = st.st_ino;
		s->n++;
	}
	fn(dir, arg);
}

void nprof_cli_socket_dirs(void (*fn)(const char *dir, void *arg), void *arg)
{
	static const char *const patterns[] = {"/tmp/nprof-*", "/run/user/*/nprof"};
	const char *ours = getenv("XDG_RUNTIME_DIR");
	struct seen s = {.n = 0};
	char dir[4200];

	if (ours && ours[0]) {
		snprintf(dir, sizeof(dir), "%s/nprof", ours);
		visit(&s, dir, fn, arg);
	}
	snprintf(dir, sizeof(dir), "/tmp/nprof-%lu", (unsigned long)getuid());
	visit(&s, dir, fn, arg);
	/* Other users' directories (mode 0700) only open for root. */
	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		glob_t g;

		if (glob(patterns[p], GLOB_ONLYDIR, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc; i++)
			visit(&s, g.gl_pathv[i], fn, arg);
		globfree(&g);
	}
}
