/*
 * follow_proxy.c - ?pid=N on any path: a request for a descendant N (a
 * pre-forked worker, which serves its own unix socket: base/follow.c) is
 * forwarded - path, query less pid, POST body - to N's socket, and N's
 * answer (status, content type, body) is returned. Any other pid gets a
 * 404 with one line; N = this process is served here.
 *
 * Data: nothing persistent; the answer is read into an arena buffer of at
 * most PROXY_MAX_BODY bytes.
 *
 * Threads: runs on an HTTP connection thread (guard raised, signals
 * blocked); blocks on N's socket at most `seconds` + 60 s and stops as
 * soon as the client leaves. Nothing here may run in a signal handler.
 */
#include "base.h"
#include "buf.h"
#include "http_int.h"
#include "profile.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A proxied answer may be this big (a heap profile of a big program). */
#define PROXY_MAX_BODY ((size_t)64 << 20)

/* The parent of `pid` from /proc/PID/stat; -1 when unknown. */
static long parent_of(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ppid": comm may hold spaces and parentheses. */
	char *rp = strrchr(buf, ')');
	long ppid = -1;
	if (rp == NULL || sscanf(rp + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return ppid;
}

static int descendant(long pid)
{
	long self = (long)getpid();
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		long pp = parent_of(pid);
		if (pp == self)
			return 1;
		pid = pp;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Content types nprof's routes answer with, as static strings (the reply
 * keeps a pointer). */
static const char *known_type(const char *v, size_t n)
{
	static const char *const types[] = {
		"application/octet-stream", "application/json", "text/plain; charset=utf-8",
		"text/html; charset=utf-8", "application/json; charset=utf-8",
		"text/plain; version=0.0.4; charset=utf-8", "text/plain",
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strlen(types[i]) == n && strncasecmp(types[i], v, n) == 0)
			return types[i];
	return "application/octet-stream";
}

int nprof__follow_proxy(const struct nprof_req *req, const char *pid_s, const char *path,
			const char *query, struct nprof_reply *rep)
{
	char *end;
	errno = 0;
	long pid = strtol(pid_s, &end, 10);
	if (pid_s[0] < '0' || pid_s[0] > '9' || *end != '\0' || errno != 0 || pid <= 0 ||
	    pid > 0x7fffffffL) {
		nprof__reply_error(rep, 400, "nprof: bad pid=%.32s: want a process id", pid_s);
		return 1;
	}
	if (pid == (long)getpid())
		return 0;
	if (!nprof__cfg.follow_fork || !descendant(pid)) {
		nprof__reply_error(rep, 404, "nprof: pid %ld is not a process forked by this one",
				   pid);
		return 1;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (nprof__follow_socket_path(sa.sun_path, sizeof sa.sun_path, nprof__cfg.socket_path,
				      getpid(), (pid_t)pid) < 0 || nprof__cfg.socket_path[0] == '\0') {
		nprof__reply_error(rep, 404, "nprof: pid %ld has no socket", pid);
		return 1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (fd >= 0)
			close(fd);
		nprof__reply_error(rep, 404, "nprof: pid %ld does not serve profiles (yet): %s",
				   pid, strerror(errno));
		return 1;
	}
	struct nprof_buf out = {0};
	nprof__buf_printf(&out, "%s %s%s%s HTTP/1.0\r\nHost: localhost\r\n",
			  req->query_only_get ? "GET" : "POST", path, query[0] ? "?" : "", query);
	if (!req->query_only_get)
		nprof__buf_printf(&out, "Content-Length: %zu\r\n", req->body_len);
	nprof__buf_printf(&out, "\r\n");
	if (!req->query_only_get && req->body_len > 0)
		nprof__buf_append(&out, req->body, req->body_len);
	int bad = out.failed || write_all(fd, out.data, out.len) < 0;
	nprof__buf_free(&out);
	struct nprof_buf in = {0};
	int64_t deadline = nprof__mono_ns() +
			   ((int64_t)(req->seconds > 0 ? req->seconds : 0) + 60) * 1000000000LL;
	while (!bad) {
		if (req->client_gone(req) || nprof__mono_ns() > deadline) {
			bad = 1;
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, 100);
		if (r < 0 && errno != EINTR)
			bad = 1;
		if (r <= 0)
			continue;
		char chunk[16384];
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		nprof__buf_append(&in, chunk, (size_t)n);
		if (in.failed || in.len > PROXY_MAX_BODY)
			bad = 1;
	}
	close(fd);
	int status = 0;
	char *hend = NULL;
	if (!bad && in.len > 0) {
		nprof__buf_putc(&in, '\0');
		hend = strstr(in.data, "\r\n\r\n");
		if (hend == NULL || sscanf(in.data, "HTTP/%*d.%*d %d", &status) != 1)
			status = 0;
	}
	if (status == 0) {
		nprof__buf_free(&in);
		nprof__reply_error(rep, 502, "nprof: pid %ld gave no answer", pid);
		return 1;
	}
	rep->status = status;
	rep->content_type = "application/octet-stream";
	for (char *h = strstr(in.data, "\r\n"); h != NULL && h < hend; h = strstr(h + 2, "\r\n")) {
		char *line = h + 2, *eol = strstr(line, "\r\n");
		if (strncasecmp(line, "Content-Type:", 13) == 0) {
			char *v = line + 13;
			while (*v == ' ')
				v++;
			rep->content_type = known_type(v, (size_t)(eol - v));
		} else if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
			rep->attachment = req->name[0] ? req->name : "profile";
		}
	}
	size_t body = (size_t)(hend + 4 - in.data);
	nprof__buf_append(&rep->body, hend + 4, in.len - 1 - body);
	nprof__buf_free(&in);
	return 1;
}
