/*
 * config.c - nprof's configuration: the NPROF_* variables and the
 * "key=value,..." string of nprof_start(), parsed into nprof__cfg.
 *
 * Owns nprof__cfg. It is written only while nprof starts (core.c), before
 * any thread of nprof exists, and only read afterwards, so readers take no
 * lock. Parsing never allocates: a bad value is logged in one line and its
 * default kept. The variables and their limits are listed for users in
 * docs/reference.md.
 */
#include "arena.h"
#include "base.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct nprof_config nprof__cfg;
/* ---------------------------------------------------------------- */
/* configuration                                                     */
/* ---------------------------------------------------------------- */

static void defaults(struct nprof_config *c)
{
	memset(c, 0, sizeof *c);
	c->heap_rate = 524288;
	c->cpu_hz = 100;
	c->snapshot_s = 1.0;
	c->follow_fork = 1;
	c->debuginfod = 1;
	c->debuginfod_ms = 2000;
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
			nprof__log("%s=%s: want a duration from 100ms to 1h such as 1s; using 1s", var, v),
				c->snapshot_s = 1.0;
	} else if (strcmp(key, "dump_signal") == 0) {
		int s = parse_signal(v);
		if (s < 0)
			nprof__log("%s=%s: not a usable signal (e.g. SIGUSR2); dumps off", var, v);
		else
			c->dump_signal = s;
	} else if (strcmp(key, "attach") == 0) {
		c->attached = strcmp(v, "1") == 0;
	} else if (strcmp(key, "sample_running") == 0) {
		c->no_sample_running = strcmp(v, "0") == 0 || strcmp(v, "false") == 0;
	} else if (strcmp(key, "dump_parallel") == 0) {
		c->no_parallel_dump = strcmp(v, "0") == 0 || strcmp(v, "false") == 0;
	} else if (strcmp(key, "expose_cmdline") == 0) {
		c->expose_cmdline = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
	} else if (strcmp(key, "follow_fork") == 0) {
		c->follow_fork = !(strcmp(v, "0") == 0 || strcmp(v, "false") == 0 ||
				   strcmp(v, "off") == 0);
	} else if (strcmp(key, "debuginfod") == 0) {
		c->debuginfod = strcmp(v, "0") != 0 && strcmp(v, "false") != 0 && strcmp(v, "off") != 0;
	} else if (strcmp(key, "debuginfod_ms") == 0) {
		if (parse_long(v, &n) < 0 || n < 0 || n > 600000)
			nprof__log("%s=%s: want milliseconds from 0 to 600000; using 2000", var, v);
		else
			c->debuginfod_ms = n;
	} else if (strcmp(key, "debug_dirs") == 0) {
		copy_str(c->debug_dirs, sizeof c->debug_dirs, var, v);
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
	"cpu_hz", "snapshot", "dump_signal", "expose_cmdline", "arena_mb", "follow_fork",
	"debuginfod", "debuginfod_ms", "debug_dirs", "sample_running", "dump_parallel",
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


/* Accepts "0".."max" written as plain decimal digits, nothing else. */
int nprof__config_parse_uint(const char *s, long max, long *out)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}
