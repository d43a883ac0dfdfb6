/*
 * listen.c - the listening sockets nprof serves on: the always-on unix
 * socket in a private directory, and the optional TCP listener parsed from
 * NPROF_HTTP. http.c runs a libmicrohttpd daemon on each.
 *
 * Every problem is logged in one line and leaves that listener off; the
 * program never notices. Sockets are O_CLOEXEC so an exec'd image never
 * inherits them. Called only from nprof__http_start(), under its lock;
 * nothing here may be called from a signal handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base.h"
#include "http_int.h"

#define HTTP_BACKLOG 64


/*
 * Makes sure the socket's directory is private: created 0700 when
 * missing, refused when it is not a real directory owned by us or when
 * group or others may enter it (anyone who can reach the socket can read
 * the process's memory layout and stacks).
 */
static int unix_dir_private(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0) {
		if (chmod(dir, 0700) < 0) { /* umask may have cut our own bits */
			nprof__log("cannot chmod %s: %s; unix socket off", dir, strerror(errno));
			return -errno;
		}
	} else if (errno != EEXIST) {
		nprof__log("cannot create %s: %s; unix socket off", dir, strerror(errno));
		return -errno;
	}
	if (lstat(dir, &st) < 0) {
		nprof__log("cannot stat %s: %s; unix socket off", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		nprof__log("%s is not a private directory (want a directory owned by uid %u "
			   "with mode 0700); unix socket off", dir, (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/* Removes a stale socket left by a process that had our pid (a crash,
 * or our own image before exec); refuses to touch anything else. */
static int unix_clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int s, live;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		nprof__log("%s exists and is not a socket; unix socket off", sa->sun_path);
		return -EEXIST;
	}
	/* Non-blocking, so a live server with a full backlog cannot hang us. */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	live = connect(s, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	       errno == EAGAIN || errno == EINPROGRESS;
	close(s);
	if (live) {
		nprof__log("%s is served by another live process; unix socket off", sa->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int nprof__listen_unix(struct listener *l)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(nprof__cfg.socket_path) >= sizeof(sa.sun_path)) {
		nprof__log("NPROF_SOCKET=%s: path too long; unix socket off", nprof__cfg.socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, nprof__cfg.socket_path);
	strcpy(dir, sa.sun_path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((rc = unix_dir_private(dir)) < 0 || (rc = unix_clear_stale(&sa)) < 0)
		return rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail_close;
	/* The directory already keeps others out; 0600 says so on the file
	 * too, whatever the umask was. */
	if (chmod(sa.sun_path, 0600) < 0 || listen(fd, HTTP_BACKLOG) < 0)
		goto fail_unlink;
	l->fd = fd;
	strcpy(l->path, sa.sun_path);
	return 0;

fail_unlink:
	rc = -errno;
	unlink(sa.sun_path);
	close(fd);
	goto log;
fail_close:
	rc = -errno;
	close(fd);
	goto log;
fail:
	rc = -errno;
log:
	nprof__log("unix socket %s: %s; unix socket off", sa.sun_path, strerror(-rc));
	return rc;
}

/* Parses "[host]:port" (host: empty for 127.0.0.1, "localhost", an IPv4
 * or a bracketed IPv6 literal; no DNS). 0, or -EINVAL after one line. */
static int tcp_parse(const char *spec, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];
	const char *port, *end;
	size_t n;
	long pnum;
	int v6 = spec[0] == '[';

	if (v6) {
		end = strchr(spec, ']');
		if (end == NULL || end[1] != ':')
			goto bad;
		spec++;
		port = end + 2;
	} else {
		end = strrchr(spec, ':');
		if (end == NULL || memchr(spec, ':', (size_t)(end - spec)) != NULL)
			goto bad;
		port = end + 1;
	}
	n = (size_t)(end - spec);
	if (n >= sizeof(host) || nprof__config_parse_uint(port, 65535, &pnum) < 0)
		goto bad;
	memcpy(host, spec, n);
	host[n] = '\0';

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pnum);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad_host;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pnum);
		if (host[0] == '\0' || strcasecmp(host, "localhost") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad_host;
	}
	return 0;

bad_host:
	nprof__log("NPROF_HTTP=%s: host must be an IP address or localhost; TCP listener off",
		   nprof__cfg.http);
	return -EINVAL;
bad:
	nprof__log("NPROF_HTTP=%s: expected [host]:port; TCP listener off", nprof__cfg.http);
	return -EINVAL;
}

static int addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	{
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
}

static int addr_is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

int nprof__listen_tcp(struct listener *l, int again)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0, rc;
	int port0 = strcmp(strrchr(nprof__cfg.http, ':') ? strrchr(nprof__cfg.http, ':') : "", ":0") == 0;

	/* An unusable NPROF_TOKEN was already reported in one line; serving
	 * without the token its owner asked for would be worse than not
	 * serving at all (fail closed). */
	if (nprof__cfg.token_bad)
		return -EPERM;
	if ((rc = tcp_parse(nprof__cfg.http, &ss)) < 0)
		return rc;
	if (!addr_is_loopback(&ss) && nprof__cfg.token[0] == '\0') {
		nprof__log("NPROF_HTTP=%s: not a loopback address and NPROF_TOKEN is not set; "
			   "refusing to serve profiles to the network; TCP listener off",
			   nprof__cfg.http);
		return -EPERM;
	}
	/* Serving again after the program closed our socket: the same
	 * address, so clients that knew the port (":0" picked one) find it. */
	if (again && l->addr.ss_family == ss.ss_family)
		ss = l->addr;
	len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto log;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "[::]:port" serves IPv4 too, as Go's listener does. */
	if (ss.ss_family == AF_INET6 && addr_is_wildcard(&ss))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, HTTP_BACKLOG) < 0) {
		rc = -errno;
		close(fd);
		if (rc == -EADDRINUSE) {
			nprof__log("NPROF_HTTP=%s: address already in use; only the TCP "
				   "listener is off, every profile keeps recording",
				   nprof__cfg.http);
			return rc;
		}
		goto log;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		int port = ntohs(ss.ss_family == AF_INET ?
				 ((struct sockaddr_in *)&ss)->sin_port :
				 ((struct sockaddr_in6 *)&ss)->sin6_port);

		/* Port 0 asks the kernel for one: say which, or nobody can connect. */
		if (port0 && !again)
			nprof__log("NPROF_HTTP=%s: listening on port %d", nprof__cfg.http, port);
	}
	l->fd = fd;
	l->addr = ss;
	return 0;
log:
	nprof__log("NPROF_HTTP=%s: %s; TCP listener off", nprof__cfg.http, strerror(-rc));
	return rc;
}

