/*
 * core.c - nprof's life cycle: configuration, start and stop, fork, logging,
 * and the public API entry points.
 *
 * Starting: when the library is preloaded (its path is in LD_PRELOAD) a
 * constructor starts it from the NPROF_* variables; when linked with
 * -lnprof, nothing happens until the program calls nprof_start().
 *
 * fork: a child never serves or removes its parent's socket and never
 * writes its parent's files. In the child nprof goes dormant: the listener
 * threads do not exist there, hooks pass through, and if the child execs a
 * program with LD_PRELOAD still set, that program starts its own nprof on
 * its own socket. Locks nprof's hooks take are taken before fork and
 * released on both sides, so a child never inherits one held by a thread
 * that did not survive the fork.
 *
 * Locking: start/stop are serialised by life_lock. nprof__cfg is written
 * only during start, before any thread of nprof exists.
 */
#include "nprof_int.h"
#include "nprof.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct nprof_config nprof__cfg;
volatile int nprof__running;
pid_t nprof__owner_pid;
NPROF_TLS int nprof__guard;

static NPROF_TLS pid_t cached_tid;
static pthread_mutex_t life_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * One line on stderr. Values quoted from the environment may hold
 * newlines or terminal escapes: every control byte (and DEL) is written as
 * \n, \t or \xNN, so a message stays one line and prints nothing raw.
 */
void nprof__log(const char *fmt, ...)
{
	char msg[512], line[600];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof msg)
		m = (int)sizeof msg - 1;
	size_t n = (size_t)snprintf(line, sizeof line, "nprof: ");
	for (int i = 0; i < m && n + 5 < sizeof line; i++) {
		unsigned char ch = (unsigned char)msg[i];
		if (ch >= 0x20 && ch != 0x7f) {
			line[n++] = (char)ch;
		} else if (ch == '\n' || ch == '\t') {
			line[n++] = '\\';
			line[n++] = ch == '\n' ? 'n' : 't';
		} else {
			n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", ch);
		}
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	errno = saved;
}

pid_t nprof__gettid(void)
{
	if (NPROF_UNLIKELY(cached_tid == 0))
		cached_tid = (pid_t)syscall(SYS_gettid);
	return cached_tid;
}

/* ---------------------------------------------------------------- */
/* configuration                                                     */
/* ---------------------------------------------------------------- */

static void defaults(struct nprof_config *c)
{
	memset(c, 0, sizeof *c);
	c->heap_rate = 524288;
	c->cpu_hz = 100;
	c->snapshot_s = 5.0;
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg != NULL && xdg[0] == '/' && strlen(xdg) < 64)
		snprintf(c->socket_path, sizeof c->socket_path, "%s/nprof/%d.sock", xdg,
			 (int)getpid());
	else
		snprintf(c->socket_path, sizeof c->socket_path, "/tmp/nprof-%u/%d.sock",
			 (unsigned)getuid(), (int)getpid());
}

/* Parses a whole decimal integer; -EINVAL for anything else. */
static int parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "5s", "500ms", "2m", "1h", or a bare number of seconds. */
static int parse_duration(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno != 0 || v != v)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		v /= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60;
	else if (strcmp(end, "h") == 0)
		v *= 3600;
	else if (strcmp(end, "s") != 0 && *end != '\0')
		return -EINVAL;
	if (v < 0.1 || v > 3600)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_signal(const char *s)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT},
		{"URG", SIGURG}, {"WINCH", SIGWINCH}, {"PWR", SIGPWR},
	};
	long n;
	if (parse_long(s, &n) == 0)
		return n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP && n != SIGPROF ? (int)n : -1;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (strcmp(s, sigs[i].name) == 0)
			return sigs[i].sig;
	if (strncmp(s, "RTMIN+", 6) == 0 && parse_long(s + 6, &n) == 0 &&
	    SIGRTMIN + n <= SIGRTMAX && n >= 0)
		return SIGRTMIN + (int)n;
	return -1;
}

static void copy_str(char *dst, size_t cap, const char *var, const char *v)
{
	if (strlen(v) >= cap) {
		nprof__log("%s: value longer than %zu bytes; ignored", var, cap - 1);
		return;
	}
	strcpy(dst, v);
}

/*
 * A bearer token must be something a client can send and we compare
 * whole: 1 to NPROF_MAX_TOKEN visible ASCII bytes (RFC 6750 token68 has
 * no space). Anything else marks it unusable: the TCP listener then stays
 * off (fail closed) instead of serving without a token. The value itself
 * is never printed.
 */
static void set_token(struct nprof_config *c, const char *var, const char *v)
{
	size_t n = strlen(v);
	const char *why = NULL;

	c->token[0] = '\0';
	c->token_bad = 1;
	if (n == 0)
		why = "empty";
	else if (n > NPROF_MAX_TOKEN)
		why = "longer than 4096 bytes";
	for (size_t i = 0; why == NULL && i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			why = "not visible ASCII (space, control or non-ASCII byte)";
	if (why != NULL) {
		nprof__log("%s: token %s; TCP listener off", var, why);
		return;
	}
	memcpy(c->token, v, n + 1);
	c->token_bad = 0;
}

/* Applies one setting. `var` is the variable's name for messages. */
static void apply(struct nprof_config *c, const char *key, const char *v, const char *var)
{
	long n;
	if (strcmp(key, "http") == 0) {
		copy_str(c->http, sizeof c->http, var, v); /* validated by http.c */
	} else if (strcmp(key, "socket") == 0) {
		if (strcasecmp(v, "off") == 0 || v[0] == '\0')
			c->socket_path[0] = '\0';
		else
			copy_str(c->socket_path, sizeof c->socket_path, var, v);
	} else if (strcmp(key, "token") == 0) {
		set_token(c, var, v);
	} else if (strcmp(key, "out") == 0) {
		copy_str(c->out_dir, sizeof c->out_dir, var, v);
	} else if (strcmp(key, "heap_rate") == 0) {
		if (parse_long(v, &n) < 0 || n < 0)
			nprof__log("%s=%s: not a number of bytes >= 0; using the default 524288",
				   var, v);
		else
			c->heap_rate = n;
	} else if (strcmp(key, "block_rate") == 0 || strcmp(key, "mutex_fraction") == 0) {
		long *dst = key[0] == 'b' ? &c->block_rate : &c->mutex_fraction;
		if (parse_long(v, &n) < 0 || n < 0)
			nprof__log("%s=%s: not a number >= 0; left off", var, v);
		else
			*dst = n;
	} else if (strcmp(key, "cpu_hz") == 0) {
		if (parse_long(v, &n) < 0 || n <= 0)
			nprof__log("%s=%s: want a whole number from 1 to 1000; using 100", var, v), c->cpu_hz = 100;
		else if (n > 1000)
			nprof__log("%s=%s: above 1000; using 1000", var, v), c->cpu_hz = 1000;
		else
			c->cpu_hz = (int)n;
	} else if (strcmp(key, "snapshot") == 0) {
		if (parse_duration(v, &c->snapshot_s) < 0)
			nprof__log("%s=%s: want a duration from 100ms to 1h such as 5s; using 5s", var, v),
				c->snapshot_s = 5.0;
	} else if (strcmp(key, "dump_signal") == 0) {
		int s = parse_signal(v);
		if (s < 0)
			nprof__log("%s=%s: not a usable signal (e.g. SIGUSR2); dumps off", var, v);
		else
			c->dump_signal = s;
	} else if (strcmp(key, "expose_cmdline") == 0) {
		c->expose_cmdline = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
	} else if (strcmp(key, "arena_mb") == 0) {
		if (parse_long(v, &n) < 0 || n < 8 || n > 65536)
			nprof__log("%s=%s: want megabytes from 8 to 65536; using 512", var, v);
		else
			nprof__arena_set_limit((size_t)n << 20);
	} else {
		nprof__log("%s: unknown setting; ignored", var);
	}
}

static const char *const keys[] = {
	"http", "socket", "token", "out", "heap_rate", "block_rate", "mutex_fraction",
	"cpu_hz", "snapshot", "dump_signal", "expose_cmdline", "arena_mb",
};

void nprof__core_configure(const char *config)
{
	struct nprof_config c;
	defaults(&c);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char var[64];
		snprintf(var, sizeof var, "NPROF_");
		for (size_t j = 0; keys[i][j] != '\0' && j + 7 < sizeof var; j++) {
			var[6 + j] = (char)(keys[i][j] >= 'a' && keys[i][j] <= 'z' ? keys[i][j] - 32 : keys[i][j]);
			var[7 + j] = '\0';
		}
		const char *v = getenv(var);
		if (v != NULL)
			apply(&c, keys[i], v, var);
	}
	/* The config string: "key=value,key=value"; no malloc, pieces copied
	 * into a bounded local buffer. */
	while (config != NULL && *config != '\0') {
		const char *comma = strchr(config, ',');
		size_t len = comma ? (size_t)(comma - config) : strlen(config);
		char item[NPROF_MAX_TOKEN + 64]; /* a whole token fits */
		if (len >= sizeof item) {
			if (strncmp(config, "token=", 6) == 0) {
				c.token[0] = '\0';
				c.token_bad = 1;
				nprof__log("token: longer than 4096 bytes; TCP listener off");
			} else {
				nprof__log("config item too long; ignored");
			}
		} else if (len > 0) {
			memcpy(item, config, len);
			item[len] = '\0';
			char *eq = strchr(item, '=');
			if (eq == NULL) {
				nprof__log("config '%s': want key=value; ignored", item);
			} else {
				*eq = '\0';
				apply(&c, item, eq + 1, item);
			}
		}
		config = comma ? comma + 1 : NULL;
	}
	nprof__cfg = c;
}

/* ---------------------------------------------------------------- */
/* life cycle                                                        */
/* ---------------------------------------------------------------- */

/* Lock order: the profiles' own locks, then stacks, then the arena (each
 * may allocate from the next). */
static void prefork(void)
{
	nprof__heap_prefork();
	nprof__threads_prefork();
	nprof__fd_prefork();
	nprof__stack_prefork();
	nprof__arena_prefork();
}

static void postfork_parent(void)
{
	nprof__arena_postfork();
	nprof__stack_postfork();
	nprof__fd_postfork(0);
	nprof__threads_postfork(0);
	nprof__heap_postfork(0);
}

static void postfork_child(void)
{
	nprof__arena_postfork();
	nprof__stack_postfork();
	nprof__fd_postfork(1);
	nprof__threads_postfork(1);
	nprof__heap_postfork(1);
	nprof__sym_postfork_child();
	nprof__leaks_postfork_child();
	cached_tid = 0;
	if (nprof__running) {
		nprof__running = 0;
		nprof__http_forget();
		nprof__cpu_forget();
	}
}

static void register_atfork(void)
{
	pthread_atfork(prefork, postfork_parent, postfork_child);
}

NPROF_API int nprof_start(const char *config)
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&life_lock);
	int rc = 0;
	if (nprof__running) {
		rc = -EALREADY;
		goto out;
	}
	nprof__preload_init();
	nprof__core_configure(config);
	nprof__owner_pid = getpid();
	pthread_once(&atfork_once, register_atfork);
	if (nprof__unwind_init() < 0)
		nprof__log("libunwind not available; stacks will be empty");
	nprof__heap_init();
	nprof__threads_init();
	nprof__fd_init();
	nprof__running = 1;
	nprof__leaks_start(); /* after the profiles it snapshots */
	rc = nprof__http_start();
	if (rc < 0)
		nprof__running = 0;
out:
	pthread_mutex_unlock(&life_lock);
	nprof__guard = guard;
	errno = saved;
	return rc;
}

NPROF_API int nprof_stop(void)
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&life_lock);
	if (nprof__running && getpid() == nprof__owner_pid) {
		nprof__leaks_stop(); /* before http: handlers may still read the ring */
		nprof__http_stop();
		nprof__running = 0;
	}
	pthread_mutex_unlock(&life_lock);
	nprof__guard = guard;
	errno = saved;
	return 0;
}

/* True when this library's file is named in LD_PRELOAD. */
static int preloaded(void)
{
	const char *pre = getenv("LD_PRELOAD");
	Dl_info info;
	if (pre == NULL || dladdr((void *)preloaded, &info) == 0 || info.dli_fname == NULL)
		return 0;
	const char *base = strrchr(info.dli_fname, '/');
	base = base ? base + 1 : info.dli_fname;
	const char *hit = strstr(pre, base);
	return hit != NULL;
}

__attribute__((constructor)) static void nprof_ctor(void)
{
	nprof__preload_init();
	if (preloaded())
		nprof_start(NULL);
}

/*
 * NPROF_OUT: the reports written at exit, `<file>.<pid>.pb.gz` (the
 * profile) and `<file>.<pid>.txt` (its text form) in the directory. Only
 * the process that started nprof writes them, never a forked child.
 */
static const struct {
	const char *route, *file;
	int proto;          /* also write the gzipped profile.proto */
	int text_debug;     /* debug level of the text beside it */
} out_reports[] = {
	{"heap", "heap", 1, 1},
	{"goroutine", "threads", 1, 2},   /* every thread, its wait and creator */
	{"fd", "fd", 1, 1},
	{"leaks", "leaks", 0, 0},
};

/* Writes one report; -1 after one line saying why. */
static int write_one(const char *route, const char *path, int debug)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		nprof__log("NPROF_OUT: cannot create %s: %s; no reports written", path,
			   strerror(errno));
		return -1;
	}
	int rc = nprof_write_profile(route, fd, debug);
	close(fd);
	if (rc < 0) {
		nprof__log("NPROF_OUT: writing %s: %s; no further reports written", path,
			   nprof_strerror(rc));
		return -1;
	}
	return 0;
}

static void write_out(void)
{
	if (nprof__cfg.out_dir[0] == '\0' || !nprof__running || getpid() != nprof__owner_pid)
		return;
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	mkdir(nprof__cfg.out_dir, 0755);
	for (size_t i = 0; i < sizeof out_reports / sizeof out_reports[0]; i++) {
		char path[512];
		if (out_reports[i].proto) {
			snprintf(path, sizeof path, "%s/%s.%d.pb.gz", nprof__cfg.out_dir,
				 out_reports[i].file, (int)getpid());
			/* The first failure says why once; the other reports would
			 * only repeat it (an unwritable directory fails them all). */
			if (write_one(out_reports[i].route, path, 0) < 0)
				break;
		}
		snprintf(path, sizeof path, "%s/%s.%d.txt", nprof__cfg.out_dir, out_reports[i].file,
			 (int)getpid());
		if (write_one(out_reports[i].route, path, out_reports[i].text_debug) < 0)
			break;
	}
	nprof__guard = guard;
	errno = saved;
}

__attribute__((destructor)) static void nprof_dtor(void)
{
	write_out();
	nprof_stop();
}

/* ---------------------------------------------------------------- */
/* nprof_write_profile: a request without a connection               */
/* ---------------------------------------------------------------- */

static const char *no_arg(const struct nprof_req *r, const char *key)
{
	(void)r;
	(void)key;
	return NULL;
}

static int never_gone(const struct nprof_req *r)
{
	(void)r;
	return 0;
}

NPROF_API int nprof_write_profile(const char *name, int fd, int debug)
{
	const struct nprof_route *route = name ? nprof__routes_find(name) : NULL;
	if (route == NULL)
		return -ENOENT;
	if (strcmp(route->name, "profile") == 0)
		return -EINVAL; /* a CPU profile needs a duration: use the endpoint */
	if (debug < 0 || debug > 2)
		return -EINVAL;
	int guard = nprof__guard;
	nprof__guard = 1;
	struct nprof_req req = {
		.name = route->name, .debug = debug, .seconds = -1,
		.query_only_get = 1, .arg = no_arg, .client_gone = never_gone,
	};
	struct nprof_reply rep = {.status = 200};
	route->handle(&req, &rep);
	int rc = 0;
	if (rep.body.failed)
		rc = -ENOMEM;
	else if (rep.status != 200)
		rc = rep.status == 404 ? -ENOENT : -EINVAL;
	for (size_t off = 0; rc == 0 && off < rep.body.len;) {
		ssize_t w = write(fd, rep.body.data + off, rep.body.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = -errno;
		else
			off += (size_t)w;
	}
	nprof__buf_free(&rep.body);
	nprof__guard = guard;
	return rc;
}

NPROF_API const char *nprof_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EALREADY: return "nprof is already running";
	case -ENOENT: return "no such profile";
	case -EINVAL: return "invalid argument";
	case -ENOMEM: return "out of memory (nprof arena full)";
	case -EADDRINUSE: return "address already in use";
	case -EBUSY: return "a CPU profile is already running";
	default: return "error";
	}
}
