/*
 * ui.c - `nprof ui PID|URL [--listen ADDR]`: the process's web UI on a
 * local port, for a process reachable only through its unix socket (or a
 * URL that needs a token), like `go tool pprof -http`.
 *
 * A small blocking HTTP/1.1 server: one thread per browser connection,
 * one request per connection (Connection: close), each forwarded with
 * libcurl (the client every other command uses) to the process, whose
 * status, body and content headers go back unchanged - gzipped bodies
 * stay gzipped, the process's Content-Security-Policy stays in force.
 * Nothing is copied to disk and nothing is served that the process did
 * not answer. Only GET and HEAD below /debug/pprof and /metrics are
 * forwarded; "/" redirects to the UI.
 *
 * The listener is loopback only: the proxy adds NPROF_TOKEN to what it
 * forwards, so it must not be reachable from elsewhere, and the Host
 * header must name a loopback host (DNS rebinding).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nprof.h"
#include "cli.h"

const char nprof_cli_ui_usage[] =
	"usage: nprof ui PID|URL [--listen ADDR]\n"
	"\n"
	"Serves the process's web UI (/debug/pprof/ui) on a local port and prints\n"
	"its URL; every request is forwarded to the process. For a process that\n"
	"only has its unix socket, or a URL that needs NPROF_TOKEN. Runs until\n"
	"interrupted.\n"
	"\n"
	"  PID            a local process with nprof loaded (through its unix socket)\n"
	"  URL            http(s)://host:port[/debug/pprof] of its HTTP listener\n"
	"  --listen ADDR  [127.0.0.1]:PORT to serve on (default 127.0.0.1 and any\n"
	"                 free port); loopback addresses only\n";

/* The longest profile (seconds=600) plus room. */
#define FORWARD_TIMEOUT_S 660
#define HEAD_MAX 16384

static struct nprof_target target;
static const char *token;

struct conn {
	int fd;
};

struct reply {
	long status;
	struct nprof_membuf head;   /* the headers we pass on, as lines */
	struct nprof_membuf body;
	int failed;
};

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void send_simple(int fd, int status, const char *reason, const char *extra,
			const char *text)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "X-Content-Type-Options: nosniff\r\n%sContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, reason, extra, strlen(text), text);
	if (n > 0)
		send_all(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static int append(struct nprof_membuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	return append(&r->body, p, size * nmemb) == 0 ? size * nmemb : 0;
}

/* Passes on the headers that describe the body; the rest (Date, length,
 * connection) the proxy writes itself. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	static const char *const keep[] = {
		"content-type:", "content-encoding:", "content-disposition:",
		"content-security-policy:", "x-content-type-options:", "www-authenticate:",
		"x-go-pprof:", "location:",
	};
	struct reply *r = arg;
	size_t n = size * nmemb;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->head.len = 0; /* a new response (after 100 Continue) */
		return n;
	}
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t k = strlen(keep[i]);
		if (n > k && strncasecmp(p, keep[i], k) == 0) {
			append(&r->head, p, n);
			break;
		}
	}
	return n;
}

/* Is the Host header's name (before any port) a loopback name? */
static int host_ok(const char *host)
{
	char name[64];
	size_t n;

	if (host == NULL)
		return 0;
	n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":\r\n");
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	if (strcasecmp(name, "localhost") == 0 || strcmp(name, "[::1]") == 0)
		return 1;
	struct in_addr ia;
	return inet_pton(AF_INET, name, &ia) == 1 && (ntohl(ia.s_addr) >> 24) == 127;
}

static void forward(int fd, const char *method, const char *path)
{
	char url[8192 + 1100], auth[512], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct reply r = {0};
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (h == NULL) {
		send_simple(fd, 503, "Service Unavailable", "", "nprof ui: cannot start libcurl\n");
		return;
	}
	if (target.is_pid)
		snprintf(url, sizeof(url), "http://localhost%s", path);
	else
		snprintf(url, sizeof(url), "%s%s", target.root, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "nprof-ui/" NPROF_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)FORWARD_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
	/* The browser gets the bytes the process sent, gzipped or not. */
	curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (target.is_pid) {
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, target.socket);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
	}
	hdrs = curl_slist_append(hdrs, "Accept-Encoding: gzip");
	if (token != NULL && token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
	if (rc != CURLE_OK || r.status < 100) {
		char msg[CURL_ERROR_SIZE + 1200];
		snprintf(msg, sizeof(msg), "nprof ui: cannot reach %s: %s\n", target.label,
			 cerr[0] ? cerr : curl_easy_strerror(rc));
		send_simple(fd, 502, "Bad Gateway", "", msg);
	} else {
		char line[256];
		int n = snprintf(line, sizeof(line), "HTTP/1.1 %ld %s\r\n", r.status,
				 r.status < 400 ? "OK" : "Error");
		send_all(fd, line, (size_t)n);
		if (r.head.data != NULL)
			send_all(fd, r.head.data, r.head.len);
		n = snprintf(line, sizeof(line), "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			     r.body.len);
		send_all(fd, line, (size_t)n);
		if (strcmp(method, "HEAD") != 0 && r.body.data != NULL)
			send_all(fd, r.body.data, r.body.len);
	}
	free(r.head.data);
	free(r.body.data);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
}

/* One connection: read the request head, answer, close. */
static void *serve(void *arg)
{
	struct conn *c = arg;
	char buf[HEAD_MAX + 1], method[16], path[8192];
	size_t len = 0;
	char *end = NULL, *host = NULL;

	while (len < HEAD_MAX) {
		ssize_t n = recv(c->fd, buf + len, HEAD_MAX - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
	}
	if (end == NULL) {
		send_simple(c->fd, 431, "Request Header Fields Too Large", "", "request head too large\n");
		goto out;
	}
	if (sscanf(buf, "%15s %8191s", method, path) != 2) {
		send_simple(c->fd, 400, "Bad Request", "", "bad request line\n");
		goto out;
	}
	for (char *l = strstr(buf, "\r\n"); l != NULL && l < end; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Host:", 5) == 0) {
			host = l + 7;
			while (*host == ' ')
				host++;
			break;
		}
	if (!host_ok(host)) {
		send_simple(c->fd, 403, "Forbidden", "", "nprof ui: Host must be a loopback name\n");
		goto out;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		send_simple(c->fd, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
			    "nprof ui: GET and HEAD only\n");
		goto out;
	}
	if (strcmp(path, "/") == 0) {
		send_simple(c->fd, 302, "Found", "Location: /debug/pprof/ui\r\n", "see /debug/pprof/ui\n");
		goto out;
	}
	if (strncmp(path, "/debug/pprof", 12) != 0 && strcmp(path, "/metrics") != 0) {
		send_simple(c->fd, 404, "Not Found", "", "nprof ui: only /debug/pprof/... is served\n");
		goto out;
	}
	forward(c->fd, method, path);
out:
	close(c->fd);
	free(c);
	return NULL;
}

/* "[host]:port", ":port" or "port" -> a loopback IPv4 address. */
static int parse_listen(const char *s, struct sockaddr_in *a)
{
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(s, ':');
	long port;

	if (colon != NULL) {
		size_t n = (size_t)(colon - s);
		if (n >= sizeof(host))
			return -1;
		if (n > 0) {
			memcpy(host, s, n);
			host[n] = '\0';
		}
		s = colon + 1;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (nprof_cli_parse_long(s, 0, 65535, &port) != 0)
		return -1;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	if ((ntohl(a->sin_addr.s_addr) >> 24) != 127)
		return -2;
	return 0;
}

int nprof_cli_cmd_ui(int argc, char **argv)
{
	const char *arg = NULL, *listen_at = "127.0.0.1:0";
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char err[1400], ip[INET_ADDRSTRLEN];
	int lfd, one = 1, r;

	for (int i = 1; i < argc; i++) {
		const char *v;
		if (nprof_cli_is_help(argv[i]))
			return nprof_cli_help("ui");
		if ((r = nprof_cli_opt_value(argc, argv, &i, "--listen", &v)) != 0) {
			if (r < 0)
				return nprof_cli_usage_error("ui", "--listen needs an address");
			listen_at = v;
			continue;
		}
		if (argv[i][0] == '-')
			return nprof_cli_usage_error("ui", "unknown option '%s'", argv[i]);
		if (arg != NULL)
			return nprof_cli_usage_error("ui", "unexpected argument '%s'", argv[i]);
		arg = argv[i];
	}
	if (arg == NULL)
		return nprof_cli_usage_error("ui", "missing PID or URL");
	if (nprof_cli_target_parse(arg, &target, err, sizeof(err)) != 0)
		return nprof_cli_usage_error("ui", "%s", err);
	if ((r = parse_listen(listen_at, &a)) != 0)
		return nprof_cli_usage_error("ui", r == -2 ?
			"--listen %s: loopback addresses only (the proxy forwards NPROF_TOKEN)" :
			"--listen %s: want [127.x.x.x]:PORT", listen_at);
	if (target.is_pid) {
		r = nprof_cli_socket_for_pid(target.pid, target.socket, sizeof(target.socket));
		if (r != 0) {
			fprintf(stderr, "nprof ui: cannot reach PID %ld: %s\n", (long)target.pid,
				r == -ESRCH ? "no such process" :
				r == -EHOSTDOWN ? "its unix socket is off (NPROF_SOCKET=off)" :
				"no nprof socket (is nprof loaded? see `nprof ps`)");
			return NPROF_EXIT_FAIL;
		}
	}
	token = getenv("NPROF_TOKEN");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("nprof ui: socket");
		return NPROF_EXIT_FAIL;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		fprintf(stderr, "nprof ui: cannot listen on %s: %s\n", listen_at, strerror(errno));
		close(lfd);
		return NPROF_EXIT_FAIL;
	}
	inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
	printf("nprof ui: serving %s at http://%s:%d/debug/pprof/ui\n", target.label, ip,
	       ntohs(a.sin_port));
	fflush(stdout);

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;
		pthread_attr_t at;
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(100000);
				continue;
			}
			perror("nprof ui: accept");
			return NPROF_EXIT_FAIL;
		}
		c = malloc(sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, serve, c) != 0) {
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&at);
	}
}
