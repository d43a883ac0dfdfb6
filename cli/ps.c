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
 *
 * The HTTP address is asked of the process itself: every answer on its
 * socket carries X-Nprof-Http when it serves TCP (a program that rewrites
 * its process title, as redis and nginx do, overwrites the environment,
 * which is read only when the process does not answer). A forked worker
 * has no TCP listener of its own: it is reached through its nearest
 * ancestor's, with ?pid=. The list is a tree: each process under its
 * parent.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_ps_usage[] =
	"usage: nprof ps\n"
	"\n"
	"Lists the processes that have nprof loaded as a tree: PID, PPID,\n"
	"COMMAND, the unix socket that `nprof fetch PID ...` uses, and the HTTP\n"
	"endpoint (asked of the process; a forked worker is reached through its\n"
	"parent's endpoint with ?pid=PID). '-' when there is none. Root sees\n"
	"every user's processes.\n";

struct entry {
	long pid, ppid;
	int depth;
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

/* The X-Nprof-Http header of an answer over the socket at `path`, within
 * a second; 0 when found (maybe empty: no TCP listener), -1 when the
 * process did not answer. */
static int ask_http(const char *path, char *out, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static const char req[] = "HEAD /debug/pprof/ HTTP/1.0\r\nHost: localhost\r\n\r\n";
	char buf[4096];
	size_t got = 0;
	int fd;

	out[0] = '\0';
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	while (got + 1 < sizeof(buf)) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	close(fd);
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/", 5) != 0)
		return -1;
	for (char *h = strstr(buf, "\r\n"); h; h = strstr(h + 2, "\r\n")) {
		if (strncasecmp(h + 2, "X-Nprof-Http:", 13) == 0) {
			char *v = h + 15, *e = strstr(v, "\r\n");
			while (*v == ' ')
				v++;
			if (e && e > v)
				snprintf(out, len, "http://%.*s", (int)(e - v), v);
			break;
		}
	}
	return 0;
}

static long read_ppid(long pid)
{
	char path[64], buf[512];
	FILE *f;
	size_t n;
	long ppid = 0;
	char *rp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %*c %ld", &ppid) != 1)
		return 0;
	return ppid;
}

/* "http://127.0.0.1:6060": asked of the process, else from the NPROF_HTTP
 * it started with. */
static void read_http(long pid, const char *sock, char *out, size_t len)
{
	char v[128];

	if (ask_http(sock, out, len) == 0) {
		if (!out[0])
			snprintf(out, len, "-");
		return;
	}
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
		e->ppid = read_ppid(pid);
		e->depth = 0;
		read_http(pid, path, e->http, sizeof(e->http));
next:;
	}
	closedir(d);
}

static int by_pid(const void *a, const void *b)
{
	long x = ((const struct entry *)a)->pid, y = ((const struct entry *)b)->pid;

	return (x > y) - (x < y);
}

static struct entry *find(struct table *t, long pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].pid == pid)
			return &t->e[i];
	return NULL;
}

/* The nearest listed ancestor of e (through unlisted processes too). */
static struct entry *ancestor(struct table *t, const struct entry *e)
{
	long p = e->ppid;

	for (int depth = 0; depth < 64 && p > 1; depth++) {
		struct entry *a = find(t, p);
		if (a)
			return a;
		p = read_ppid(p);
	}
	return NULL;
}

/* Appends e and its descendants, depth first, to out[]. */
static void walk(struct table *t, struct entry *e, int depth, struct entry *out, size_t *n)
{
	e->depth = depth;
	out[(*n)++] = *e;
	for (size_t i = 0; i < t->n && *n < t->n; i++)
		if (t->e[i].depth == -1 && ancestor(t, &t->e[i]) == e) {
			t->e[i].depth = depth + 1;
			walk(t, &t->e[i], depth + 1, out, n);
		}
}

/* Orders the table as a tree and gives a worker without its own TCP
 * listener its ancestor's endpoint with ?pid=. */
static void make_tree(struct table *t)
{
	struct entry *out = calloc(t->n ? t->n : 1, sizeof(*out));
	size_t n = 0;

	if (!out)
		return;
	for (size_t i = 0; i < t->n; i++)
		t->e[i].depth = -1;
	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &t->e[i], *a = ancestor(t, e);

		if (strcmp(e->http, "-") == 0) {
			for (struct entry *x = a; x; x = ancestor(t, x)) {
				if (strcmp(x->http, "-") != 0 && !strstr(x->http, "?pid=")) {
					char h[160];
					snprintf(h, sizeof(h), "%.120s ?pid=%ld", x->http, e->pid);
					snprintf(e->http, sizeof(e->http), "%s", h);
					break;
				}
			}
		}
	}
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].depth == -1 && ancestor(t, &t->e[i]) == NULL) {
			t->e[i].depth = 0;
			walk(t, &t->e[i], 0, out, &n);
		}
	for (size_t i = 0; i < t->n && n < t->n; i++)
		if (t->e[i].depth == -1)
			out[n++] = t->e[i];
	memcpy(t->e, out, n * sizeof(*out));
	free(out);
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
	make_tree(&t);

	for (size_t i = 0; i < t.n; i++) {
		int w = snprintf(NULL, 0, "%ld", t.e[i].pid);

		wpid = w > wpid ? w : wpid;
		w = (int)strlen(t.e[i].comm) + 2 * t.e[i].depth;
		wcomm = w > wcomm ? w : wcomm;
		w = (int)strlen(t.e[i].socket);
		wsock = w > wsock ? w : wsock;
	}
	printf("%*s  %*s  %-*s  %-*s  %s\n", wpid, "PID", wpid, "PPID", wcomm, "COMMAND", wsock,
	       "SOCKET", "HTTP");
	for (size_t i = 0; i < t.n; i++) {
		char comm[200];
		int d = t.e[i].depth > 0 ? t.e[i].depth : 0;

		snprintf(comm, sizeof(comm), "%*s%s", 2 * d, "", t.e[i].comm);
		printf("%*ld  %*ld  %-*s  %-*s  %s\n", wpid, t.e[i].pid, wpid, t.e[i].ppid, wcomm,
		       comm, wsock, t.e[i].socket, t.e[i].http);
	}
	free(t.e);
	return fflush(stdout) == 0 ? NPROF_EXIT_OK : NPROF_EXIT_FAIL;
}
