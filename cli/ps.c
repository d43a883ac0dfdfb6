/*
 * ps.c - `nprof ps`: the processes that have nprof loaded and where to
 * reach them.
 *
 * A process with nprof serves on <dir>/<pid>.sock (sockets.c lists the
 * directories), so the sockets are the registry: no daemon, no shared
 * file. A socket whose process is gone (killed with SIGKILL, so its
 * atexit never ran) is skipped but left in place: removing it is the
 * owner's business and racing a restarting service for it is not ours.
 * A live PID is not enough when PIDs are recycled, so a socket that
 * refuses connections (no listener) is skipped too.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_ps_usage[] =
	"usage: nprof ps\n"
	"\n"
	"Lists the processes that have nprof loaded: PID, COMMAND, the unix\n"
	"socket that `nprof fetch PID ...` uses, and the HTTP endpoint when the\n"
	"process was started with NPROF_HTTP (readable for your own processes\n"
	"only; '-' otherwise). Root sees every user's processes.\n";

struct entry {
	long pid;
	char comm[32];
	char socket[NPROF_SOCK_PATH_MAX];
	char http[160];
};

struct table {
	struct entry *e;
	size_t n, cap;
};

/* 0: something listens; -1: nobody does (a stale socket of a recycled
 * PID). A socket we may not open (EACCES) counts as live: its PID is. */
static int listening(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	r = (r != 0 && errno == ECONNREFUSED) ? -1 : 0;
	close(fd);
	return r;
}

static void read_comm(long pid, char *out, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* "http://127.0.0.1:6060" from the NPROF_HTTP the process started with. */
static void read_http(long pid, char *out, size_t len)
{
	char v[128];

	snprintf(out, len, "-");
	if (nprof_cli_proc_getenv((pid_t)pid, "NPROF_HTTP", v, sizeof(v)) != 0 || !v[0])
		return;
	/* docs/reference.md §1: a bare ":port" means 127.0.0.1. */
	snprintf(out, len, "http://%s%s", v[0] == ':' ? "127.0.0.1" : "", v);
}

static void scan_dir(const char *dir, void *arg)
{
	struct table *t = arg;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[4200], name[256];
		struct entry *e;
		struct stat st;
		long pid;
		size_t n = strlen(de->d_name);

		if (n <= 5 || n >= sizeof(name) || strcmp(de->d_name + n - 5, ".sock") != 0)
			continue;
		memcpy(name, de->d_name, n - 5);
		name[n - 5] = '\0';
		if (nprof_cli_parse_long(name, 1, 0x7fffffffL, &pid) != 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    NPROF_SOCK_PATH_MAX)
			continue;
		if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
			continue;
		if (listening(path) != 0)
			continue;
		/* The same process seen through two directories. */
		for (size_t i = 0; i < t->n; i++)
			if (t->e[i].pid == pid)
				goto next;
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			struct entry *ne = realloc(t->e, cap * sizeof(*ne));

			if (!ne)
				break;
			t->e = ne;
			t->cap = cap;
		}
		e = &t->e[t->n++];
		e->pid = pid;
		snprintf(e->socket, sizeof(e->socket), "%s", path);
		read_comm(pid, e->comm, sizeof(e->comm));
		read_http(pid, e->http, sizeof(e->http));
next:;
	}
	closedir(d);
}

static int by_pid(const void *a, const void *b)
{
	long x = ((const struct entry *)a)->pid, y = ((const struct entry *)b)->pid;

	return (x > y) - (x < y);
}

int nprof_cli_cmd_ps(int argc, char **argv)
{
	struct table t = {0};
	int wpid = 3, wcomm = 7, wsock = 6;

	if (argc > 1) {
		if (nprof_cli_is_help(argv[1]))
			return nprof_cli_help("ps");
		return nprof_cli_usage_error("ps", "unexpected argument '%s'", argv[1]);
	}

	nprof_cli_socket_dirs(scan_dir, &t);
	if (t.n)
		qsort(t.e, t.n, sizeof(*t.e), by_pid);

	for (size_t i = 0; i < t.n; i++) {
		int w = snprintf(NULL, 0, "%ld", t.e[i].pid);

		wpid = w > wpid ? w : wpid;
		w = (int)strlen(t.e[i].comm);
		wcomm = w > wcomm ? w : wcomm;
		w = (int)strlen(t.e[i].socket);
		wsock = w > wsock ? w : wsock;
	}
	printf("%*s  %-*s  %-*s  %s\n", wpid, "PID", wcomm, "COMMAND", wsock,
	       "SOCKET", "HTTP");
	for (size_t i = 0; i < t.n; i++)
		printf("%*ld  %-*s  %-*s  %s\n", wpid, t.e[i].pid, wcomm, t.e[i].comm,
		       wsock, t.e[i].socket, t.e[i].http);
	free(t.e);
	return fflush(stdout) == 0 ? NPROF_EXIT_OK : NPROF_EXIT_FAIL;
}
