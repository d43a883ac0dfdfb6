/*
 * http_admit.c - who may ask what: every request's line and headers are
 * checked here before anything is read or served (http.c calls
 * nprof__http_admit_request from its request callback): the framing
 * (HTTP/1.1 needs one Host; no Content-Length with chunking), the bearer
 * token on TCP, the Host header against DNS rebinding, the path (a route
 * of routes.c, the index, /metrics), the method, and debug=/seconds=
 * against the route's row. docs/internals/http.md says why each check.
 *
 * Threads: runs on libmicrohttpd connection threads, several at once; it
 * reads only nprof__cfg, the listener and the const routes table, and
 * keeps no state. Nothing here may be called from a signal handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "base.h"
#include "http_int.h"
#include "profile.h"
#include "routes.h"

#define PPROF_PREFIX "/debug/pprof"


/* Compares without an early exit, so the time taken does not tell an
 * attacker how many leading bytes of the token were right. */
static int token_equal(const char *want, const char *got)
{
	size_t n = strlen(want), m = strlen(got);
	unsigned char d = (unsigned char)(n != m);

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)want[i] ^ (unsigned char)(i < m ? got[i] : 0);
	return d == 0;
}

static int token_ok(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	return token_equal(nprof__cfg.token, h);
}

/* Splits "host[:port]" / "[v6][:port]" and returns the host part in
 * `out`, or -1 when the port is not digits or the form is wrong. */
static int host_part(const char *h, char *out, size_t cap)
{
	const char *end, *port;
	size_t n;

	if (h[0] == '[') {
		end = strchr(h, ']');
		if (end == NULL)
			return -1;
		end++;
		port = end;
	} else {
		end = strchr(h, ':');
		if (end == NULL)
			end = h + strlen(h);
		port = end;
	}
	if (*port == ':') {
		port++;
		if (*port == '\0')
			return -1;
		for (; *port; port++)
			if (*port < '0' || *port > '9')
				return -1;
	} else if (*port != '\0') {
		return -1;
	}
	n = (size_t)(end - h);
	if (n >= cap)
		return -1;
	memcpy(out, h, n);
	out[n] = '\0';
	return 0;
}

/* Whether `host` (no port) is the literal address the listener is bound
 * to: a Host that is an IP literal cannot come from DNS rebinding. */
static int host_is_bound(const struct listener *l, const char *host)
{
	if (l->addr.ss_family == AF_INET) {
		struct in_addr a;
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;

		return inet_pton(AF_INET, host, &a) == 1 &&
		       a.s_addr == sin->sin_addr.s_addr;
	}
	if (l->addr.ss_family == AF_INET6 && host[0] == '[') {
		char v6[INET6_ADDRSTRLEN];
		size_t n = strlen(host);
		struct in6_addr a;
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;

		if (n < 3 || n - 2 >= sizeof(v6))
			return 0;
		memcpy(v6, host + 1, n - 2);
		v6[n - 2] = '\0';
		return inet_pton(AF_INET6, v6, &a) == 1 &&
		       memcmp(&a, &sin6->sin6_addr, sizeof(a)) == 0;
	}
	return 0;
}

/*
 * The DNS rebinding check (docs/reference.md §7). A web page can make a browser send
 * requests to 127.0.0.1 under its own host name; the Host header then
 * carries that name, so only loopback names, our own bound address and no
 * Host at all (HTTP/1.0) are accepted. With a token that matched, any
 * Host is fine: a browser cannot attach a bearer token it does not know.
 */
static int host_allowed(const struct listener *l, const char *h, int token_matched)
{
	char host[256];

	if (l->is_unix || h == NULL || token_matched)
		return 1;
	if (host_part(h, host, sizeof(host)) < 0)
		return 0;
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
	    strcmp(host, "[::1]") == 0)
		return 1;
	return host_is_bound(l, host);
}

/* Validates debug= and seconds= for `hc->route`; 0 or an error in rep. */
static int parse_params(struct http_conn *hc, struct nprof_reply *rep)
{
	const char *d = MHD_lookup_connection_value(hc->mhd, MHD_GET_ARGUMENT_KIND, "debug");
	const char *s = MHD_lookup_connection_value(hc->mhd, MHD_GET_ARGUMENT_KIND, "seconds");
	long v;

	hc->debug = 0;
	hc->seconds = -1;
	if (d != NULL && *d != '\0') {
		if (nprof__config_parse_uint(d, 2, &v) < 0) {
			nprof__reply_error(rep, MHD_HTTP_BAD_REQUEST,
					   "nprof: bad debug=%.64s: want 0, 1 or 2", d);
			return -1;
		}
		hc->debug = (int)v;
	}
	if (s != NULL && *s != '\0') {
		if (!hc->route->takes_seconds) {
			nprof__reply_error(rep, MHD_HTTP_BAD_REQUEST,
					   "nprof: seconds not supported by %s", hc->route->name);
			return -1;
		}
		if (nprof__config_parse_uint(s, NPROF_MAX_SECONDS, &v) < 0 || v < 1) {
			nprof__reply_error(rep, MHD_HTTP_BAD_REQUEST,
					   "nprof: bad seconds=%.64s: want a whole number from 1 to %d",
					   s, NPROF_MAX_SECONDS);
			return -1;
		}
		hc->seconds = (int)v;
		/* Go's serveDeltaProfile: a delta has no debug=1 text form. */
		if (hc->debug != 0 && hc->route->takes_seconds == NPROF_SECONDS_DELTA) {
			nprof__reply_error(rep, MHD_HTTP_BAD_REQUEST,
					   "nprof: seconds and debug params are incompatible");
			return -1;
		}
	}
	return 0;
}

struct framing {
	int content_length, transfer_encoding;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct framing *f = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->transfer_encoding++;
	return MHD_YES;
}

/*
 * Refuses requests whose length two parties could read differently
 * (request smuggling through a proxy: RFC 9112 §6.3): Content-Length
 * given twice or together with Transfer-Encoding. libmicrohttpd 0.9.75
 * accepts both, taking one of the values. Also HTTP/1.1 without Host,
 * which RFC 9112 §3.2 answers with 400.
 */
static int framing_ok(struct MHD_Connection *c, const char *version, struct nprof_reply *rep)
{
	struct framing f = { 0, 0 };

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
	if (f.content_length > 1 || (f.content_length && f.transfer_encoding)) {
		nprof__reply_error(rep, MHD_HTTP_BAD_REQUEST,
				   "nprof: ambiguous body length (Content-Length repeated or "
				   "with Transfer-Encoding)");
		return 0;
	}
	if (strcmp(version, MHD_HTTP_VERSION_1_0) != 0 &&
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST) == NULL) {
		nprof__reply_error(rep, MHD_HTTP_BAD_REQUEST, "nprof: HTTP/1.1 request without Host");
		return 0;
	}
	return 1;
}

/*
 * Decides from the request line and headers alone whether to serve, so
 * that nothing (not even a POST body) is read from a client that will be
 * refused: framing, token, Host, path (hc->route, hc->name, hc->url),
 * method, then debug= and seconds= against the route's row. Returns 0, or
 * -1 with the refusal in `rep`.
 */
int nprof__http_admit_request(struct http_conn *hc, const char *url, const char *method,
			      const char *version, struct nprof_reply *rep)
{
	const struct listener *l = hc->lsn;
	int token_matched = 0;
	const char *host;

	if (!framing_ok(hc->mhd, version, rep))
		return -1;

	if (!l->is_unix && nprof__cfg.token[0] != '\0') {
		if (!token_ok(hc->mhd)) {
			nprof__reply_error(rep, MHD_HTTP_UNAUTHORIZED,
					   "nprof: missing or wrong token: send 'Authorization: Bearer NPROF_TOKEN'");
			return -1;
		}
		token_matched = 1;
	}
	host = MHD_lookup_connection_value(hc->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!host_allowed(l, host, token_matched)) {
		nprof__reply_error(rep, MHD_HTTP_FORBIDDEN,
				   "nprof: Host header '%.128s' not allowed (DNS rebinding protection)",
				   host);
		return -1;
	}

	hc->url = url;
	if (strcmp(url, PPROF_PREFIX) == 0 || strcmp(url, PPROF_PREFIX "/") == 0) {
		hc->route = NULL;
		hc->name = "";
	} else if (strncmp(url, PPROF_PREFIX "/", sizeof(PPROF_PREFIX)) == 0) {
		hc->name = url + sizeof(PPROF_PREFIX);
		hc->route = nprof__routes_find(hc->name);
		if (hc->route == NULL) {
			nprof__reply_error(rep, MHD_HTTP_NOT_FOUND, "Unknown profile: %.128s",
					   hc->name);
			return -1;
		}
	} else if (strcmp(url, "/metrics") == 0 &&
		   (hc->route = nprof__routes_find("metrics")) != NULL) {
		hc->name = "metrics";
	} else {
		nprof__reply_error(rep, MHD_HTTP_NOT_FOUND,
				   "nprof: %.128s not found; profiles are under /debug/pprof/", url);
		return -1;
	}

	hc->is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	if (hc->is_post ? (hc->route == NULL || strcmp(hc->route->name, "symbol") != 0)
			: (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
			   strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)) {
		nprof__reply_error(rep, MHD_HTTP_METHOD_NOT_ALLOWED,
				   "nprof: method %.16s not allowed here (POST only for /debug/pprof/symbol)",
				   method);
		return -1;
	}
	if (hc->route == NULL)
		return 0; /* the index takes no parameters */
	return parse_params(hc, rep);
}
