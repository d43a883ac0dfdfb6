/*
 * client.c - the one HTTP client every nprof command uses: a target (a
 * local PID reached through its unix socket, or a base URL) and a GET
 * of one path against it, with libcurl.
 *
 * Commands never build URLs or touch curl themselves: they ask for
 * "/debug/pprof/NAME?..." or "/metrics" and get a body, a status and a
 * one-line error ready to print. The whole body is kept in memory so a
 * caller can decide what to do with it only once the status is known
 * (fetch never leaves a partial file behind).
 *
 * Not thread-safe: curl_global_init() runs lazily on first use.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "nprof.h"
#include "cli.h"

/* A profile larger than this is surely not what the user wanted. */
#define BODY_MAX ((size_t)1 << 30)

void nprof_cli_membuf_free(struct nprof_membuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Appends n bytes, keeping data NUL-terminated. Returns 0, -EFBIG past
 * BODY_MAX, or -ENOMEM. */
static int membuf_append(struct nprof_membuf *b, const void *p, size_t n)
{
	if (n > BODY_MAX - b->len)
		return -EFBIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *nd;

		while (cap < b->len + n + 1)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int nprof_cli_target_parse(const char *arg, struct nprof_target *t, char *err,
			   size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (arg[0] >= '0' && arg[0] <= '9') {
		long pid;

		if (nprof_cli_parse_long(arg, 1, 0x7fffffffL, &pid) != 0) {
			snprintf(err, errlen, "'%s' is not a PID", arg);
			return -1;
		}
		t->is_pid = 1;
		t->pid = (pid_t)pid;
		snprintf(t->label, sizeof(t->label), "PID %ld", pid);
		return 0;
	}
	if (strncmp(arg, "http://", 7) == 0 || strncmp(arg, "https://", 8) == 0) {
		const char *dp = strstr(arg, "/debug/pprof");
		size_t n = dp ? (size_t)(dp - arg) : strlen(arg);

		/* "http://h:6060/" and "http://h:6060/debug/pprof/heap"
		 * both mean the server at http://h:6060. */
		while (n > 0 && arg[n - 1] == '/')
			n--;
		if (n >= sizeof(t->root)) {
			snprintf(err, errlen, "URL too long");
			return -1;
		}
		memcpy(t->root, arg, n);
		t->root[n] = '\0';
		if (strchr(t->root + (arg[4] == 's' ? 8 : 7), '?') ||
		    strlen(t->root) <= (arg[4] == 's' ? 8u : 7u)) {
			snprintf(err, errlen, "'%s' is not a base URL like "
				 "http://host:port/debug/pprof", arg);
			return -1;
		}
		snprintf(t->label, sizeof(t->label), "%s", arg);
		return 0;
	}
	snprintf(err, errlen, "'%s' is neither a PID nor an http(s):// URL", arg);
	return -1;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	/* Returning less than given makes curl fail with CURLE_WRITE_ERROR. */
	return membuf_append(arg, p, size * nmemb) == 0 ? size * nmemb : 0;
}

/* "HTTP 400: bad seconds" from the body's first line, trimmed. */
static void format_http_error(long status, const struct nprof_membuf *body,
			      char *err, size_t errlen)
{
	const char *s = body->data ? body->data : "";
	size_t n;

	while (*s && isspace((unsigned char)*s))
		s++;
	n = strcspn(s, "\r\n");
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n > 200)
		n = 200;
	if (n)
		snprintf(err, errlen, "HTTP %ld: %.*s", status, (int)n, s);
	else
		snprintf(err, errlen, "HTTP %ld", status);
}

static void ensure_curl(void)
{
	static int done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

int nprof_cli_get(struct nprof_target *t, const char *path_and_query,
		  long timeout_s, struct nprof_membuf *out, long *status,
		  char *err, size_t errlen)
{
	char url[2048], auth[512], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	const char *token = getenv("NPROF_TOKEN");
	CURL *h;
	CURLcode rc;
	int ret;

	*status = 0;
	if (t->is_pid) {
		int r = nprof_cli_socket_for_pid(t->pid, t->socket, sizeof(t->socket));

		if (r == -ESRCH) {
			snprintf(err, errlen, "cannot reach PID %ld: no such process",
				 (long)t->pid);
			return NPROF_GET_ECONN;
		}
		if (r == -EHOSTDOWN) {
			snprintf(err, errlen, "cannot reach PID %ld: its unix socket "
				 "is off (NPROF_SOCKET=off); use its HTTP URL",
				 (long)t->pid);
			return NPROF_GET_ECONN;
		}
		if (r == -ENOENT) {
			snprintf(err, errlen, "cannot reach PID %ld at %s: no nprof "
				 "socket (is nprof loaded? see `nprof ps`)",
				 (long)t->pid, t->socket);
			return NPROF_GET_ECONN;
		}
		snprintf(url, sizeof(url), "http://localhost%s", path_and_query);
	} else {
		snprintf(url, sizeof(url), "%s%s", t->root, path_and_query);
	}

	ensure_curl();
	h = curl_easy_init();
	if (!h) {
		snprintf(err, errlen, "cannot start libcurl");
		return NPROF_GET_ECONN;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "nprof/" NPROF_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	/* Profiles are stored as served (gzipped proto): never let curl
	 * decode a Content-Encoding. */
	curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	if (t->is_pid) {
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, t->socket);
		/* An http_proxy in the environment must not capture a
		 * request that never leaves the machine. */
		curl_easy_setopt(h, CURLOPT_PROXY, "");
	}
	if (token && token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, auth);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	}

	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK) {
		const char *why = cerr[0] ? cerr : curl_easy_strerror(rc);

		if (rc == CURLE_WRITE_ERROR)
			why = "response too large or out of memory";
		if (t->is_pid)
			snprintf(err, errlen, "cannot reach PID %ld at %s: %s",
				 (long)t->pid, t->socket, why);
		else
			snprintf(err, errlen, "cannot reach %s: %s", t->label, why);
		ret = NPROF_GET_ECONN;
	} else if (*status < 200 || *status >= 300) {
		/* A redirect or 1xx final answer is not a profile either. */
		format_http_error(*status, out, err, errlen);
		ret = NPROF_GET_EHTTP;
	} else {
		ret = NPROF_GET_OK;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return ret;
}
