/*
 * watch.c - `nprof watch PID|URL [--interval S] [--count N]`: a live view
 * of a process's totals and its top leak suspects, refreshed in place.
 *
 * Each frame is two GETs: /metrics (the totals: threads, heap, descriptors
 * by kind, process memory and CPU) and /debug/pprof/leaks?format=json (the
 * ranking over nprof's snapshot history). Every total is shown with its
 * change since the previous frame, which is what a person watching for a
 * leak looks at. On a terminal each frame replaces the last (ANSI clear);
 * otherwise frames follow one another, so the output can be logged or
 * tested. --count ends after N frames.
 *
 * Parsing: the exposition is read line by line into (name, label value,
 * value) triples; the JSON by a small recursive-descent parser into a
 * tree (the leaks document is a few KiB, and its shape is fixed by
 * docs/reference.md §4). Single-threaded; everything is freed between frames.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char nprof_cli_watch_usage[] =
	"usage: nprof watch PID|URL [--interval S] [--count N]\n"
	"\n"
	"Shows a process's totals (threads, heap in use, descriptors by kind,\n"
	"memory, CPU) with their change since the previous frame, and its top\n"
	"leak suspects, refreshed every S seconds until interrupted.\n"
	"\n"
	"  PID            a local process with nprof loaded (through its unix socket)\n"
	"  URL            http(s)://host:port[/debug/pprof] of its HTTP listener\n"
	"  --interval S   seconds between frames, 0.2..3600, fractions allowed (default 2)\n"
	"  --count N      stop after N frames (default: until interrupted)\n"
	"\n"
	"On a terminal each frame replaces the previous one; otherwise frames are\n"
	"printed one after another.\n"
	"Example:\n"
	"  nprof watch 1234 --interval 5\n";

#define DEFAULT_INTERVAL 2.0
/* Suspects shown per frame: a screen, not a report (`nprof leaks`). */
#define TOP_SUSPECTS 5
#define REQUEST_TIMEOUT 20

/* ------------------------------------------------------------------ */
/* The Prometheus exposition, as far as watch needs it                  */
/* ------------------------------------------------------------------ */

struct sample {
	char name[64];
	char label[48];   /* the value of the one label, "" when none */
	double v;
};

struct metrics {
	struct sample *s;
	size_t n, cap;
	int ok;           /* parsed from a successful scrape */
};

static void metrics_free(struct metrics *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}

/*
 * Parses `name{key="value"} number` lines; comments, and samples with
 * more than one label or longer names than watch knows, are skipped
 * (nprof emits neither). Returns 0 or -1 when out of memory.
 */
static int metrics_parse(struct metrics *m, const char *text)
{
	for (const char *line = text, *next; *line; line = next) {
		size_t len = strcspn(line, "\n");
		struct sample s = {"", "", 0};

		next = line[len] ? line + len + 1 : line + len;
		const char *p = line, *end = line + len;
		size_t nl;
		char *e;

		if (len == 0 || *line == '#')
			continue;
		nl = strcspn(p, "{ \n");
		if (nl == 0 || nl >= sizeof(s.name))
			continue;
		memcpy(s.name, p, nl);
		p += nl;
		if (*p == '{') {
			const char *q = strchr(p, '"'), *r = q ? strchr(q + 1, '"') : NULL;

			if (!q || !r || r > end || (size_t)(r - q - 1) >= sizeof(s.label) ||
			    r[1] != '}')
				continue;
			memcpy(s.label, q + 1, (size_t)(r - q - 1));
			p = r + 2;
		}
		s.v = strtod(p, &e);
		if (e == p || e > end)
			continue;
		if (m->n == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 64;
			struct sample *ns = realloc(m->s, cap * sizeof(*ns));

			if (!ns)
				return -1;
			m->s = ns;
			m->cap = cap;
		}
		m->s[m->n++] = s;
	}
	m->ok = 1;
	return 0;
}

/* The value of (name, label), or NAN when absent. */
static double metric(const struct metrics *m, const char *name, const char *label)
{
	for (size_t i = 0; m->ok && i < m->n; i++)
		if (strcmp(m->s[i].name, name) == 0 && strcmp(m->s[i].label, label ? label : "") == 0)
			return m->s[i].v;
	return NAN;
}

/* ------------------------------------------------------------------ */
/* A small JSON reader                                                  */
/* ------------------------------------------------------------------ */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	int type;
	double num;         /* J_NUM, J_BOOL */
	char *str;          /* J_STR */
	size_t n;           /* J_ARR, J_OBJ: items */
	struct jv *items;
	char **keys;        /* J_OBJ */
};

struct jparse {
	const char *p;
	int depth;
};

#define J_MAX_DEPTH 32

static void jv_free(struct jv *v)
{
	free(v->str);
	for (size_t i = 0; i < v->n; i++) {
		jv_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	memset(v, 0, sizeof(*v));
}

static void jskip(struct jparse *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

/* A JSON string at j->p (after skipping space) into malloc'd UTF-8. */
static char *jstring(struct jparse *j)
{
	size_t cap = 32, n = 0;
	char *s;

	jskip(j);
	if (*j->p != '"' || !(s = malloc(cap)))
		return NULL;
	for (j->p++; *j->p != '"'; j->p++) {
		unsigned c = (unsigned char)*j->p;

		if (c == '\0')
			goto bad;
		if (c == '\\') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k = strchr(from, *++j->p);

			if (*j->p == 'u') {
				char hex[5] = {0};

				if (strlen(j->p + 1) < 4)
					goto bad;
				memcpy(hex, j->p + 1, 4);
				c = (unsigned)strtoul(hex, NULL, 16);
				j->p += 4;
				/* Names and paths are ASCII; anything else is shown
				 * as '?' rather than decoded. */
				if (c >= 0x80)
					c = '?';
			} else if (k && *j->p) {
				c = (unsigned char)to[k - from];
			} else {
				goto bad;
			}
		}
		if (n + 2 > cap) {
			char *ns = realloc(s, cap *= 2);

			if (!ns)
				goto bad;
			s = ns;
		}
		s[n++] = (char)c;
	}
	j->p++;
	s[n] = '\0';
	return s;
bad:
	free(s);
	return NULL;
}

static int jvalue(struct jparse *j, struct jv *v);

/* The items of an array or object after its opening bracket. */
static int jitems(struct jparse *j, struct jv *v, int is_obj)
{
	size_t cap = 0;
	char close = is_obj ? '}' : ']';

	jskip(j);
	if (*j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (v->n == cap) {
			struct jv *ni;

			cap = cap ? cap * 2 : 8;
			if (!(ni = realloc(v->items, cap * sizeof(*ni))))
				return -1;
			v->items = ni;
			if (is_obj) {
				char **nk = realloc(v->keys, cap * sizeof(*nk));

				if (!nk)
					return -1;
				v->keys = nk;
			}
		}
		memset(&v->items[v->n], 0, sizeof(v->items[0]));
		if (is_obj) {
			v->keys[v->n] = jstring(j);
			if (!v->keys[v->n])
				return -1;
			jskip(j);
			if (*j->p++ != ':') {
				free(v->keys[v->n]);
				return -1;
			}
		}
		v->n++;
		if (jvalue(j, &v->items[v->n - 1]) != 0)
			return -1;
		jskip(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ == close)
			return 0;
		return -1;
	}
}

/* Parses one value into *v (zeroed by the caller); 0 or -1. On error
 * *v holds what was parsed, for jv_free(). */
static int jvalue(struct jparse *j, struct jv *v)
{
	char *e;

	jskip(j);
	switch (*j->p) {
	case '{':
	case '[':
		if (++j->depth > J_MAX_DEPTH)
			return -1;
		v->type = *j->p == '{' ? J_OBJ : J_ARR;
		j->p++;
		if (jitems(j, v, v->type == J_OBJ) != 0)
			return -1;
		j->depth--;
		return 0;
	case '"':
		v->type = J_STR;
		return (v->str = jstring(j)) ? 0 : -1;
	case 't':
	case 'f':
	case 'n':
		if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "null", 4) == 0) {
			v->type = *j->p == 't' ? J_BOOL : J_NULL;
			v->num = *j->p == 't';
			j->p += 4;
			return 0;
		}
		if (strncmp(j->p, "false", 5) == 0) {
			v->type = J_BOOL;
			j->p += 5;
			return 0;
		}
		return -1;
	default:
		v->type = J_NUM;
		v->num = strtod(j->p, &e);
		if (e == j->p)
			return -1;
		j->p = e;
		return 0;
	}
}

/* Parses a whole document; 0 or -1 (and *v is freed). */
static int json_parse(const char *text, struct jv *v)
{
	struct jparse j = {text, 0};

	memset(v, 0, sizeof(*v));
	if (jvalue(&j, v) != 0) {
		jv_free(v);
		return -1;
	}
	jskip(&j);
	if (*j.p != '\0') {
		jv_free(v);
		return -1;
	}
	return 0;
}

/* Member `key` of an object, or NULL. */
static const struct jv *jget(const struct jv *o, const char *key)
{
	for (size_t i = 0; o && o->type == J_OBJ && i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	return v && v->type == J_STR ? v->str : "";
}

static double jnum(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	return v && v->type == J_NUM ? v->num : NAN;
}

/* ------------------------------------------------------------------ */
/* Drawing a frame                                                      */
/* ------------------------------------------------------------------ */

/* A quantity for people: "12.3 MiB" for bytes, "1234" for counts. */
static void human(char *out, size_t cap, double v, int bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double a = fabs(v);
	int u = 0;

	if (isnan(v)) {
		snprintf(out, cap, "-");
		return;
	}
	if (!bytes) {
		/* Counts are whole; rates of counts keep one decimal. */
		snprintf(out, cap, a < 1e15 && v == (double)(long long)v ? "%.0f" : "%.1f", v);
		return;
	}
	while (a >= 1024 && u < 4) {
		a /= 1024;
		v /= 1024;
		u++;
	}
	snprintf(out, cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* The change since the previous frame, signed; "" on the first frame or
 * when either value is missing. */
static void trend(char *out, size_t cap, double now, double before, int bytes)
{
	char h[32];

	if (isnan(now) || isnan(before)) {
		out[0] = '\0';
		return;
	}
	human(h, sizeof(h), now - before, bytes);
	snprintf(out, cap, "%s%s", now - before > 0 ? "+" : "", h);
}

/* One row: label, value now, change since the previous frame. */
static void row(const char *label, double now, double before, int bytes)
{
	char v[32], t[40];

	human(v, sizeof(v), now, bytes);
	trend(t, sizeof(t), now, before, bytes);
	printf("  %-22s %12s  %12s\n", label, v, t);
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The suspects of a leaks JSON document, top TOP_SUSPECTS. */
static void draw_suspects(const struct jv *doc)
{
	const struct jv *list = jget(doc, "suspects");
	double window = jnum(doc, "window_seconds");

	if (!list || list->type != J_ARR) {
		printf("leak suspects: unreadable answer from /debug/pprof/leaks\n");
		return;
	}
	printf("leak suspects");
	if (!isnan(window))
		printf(" (over %.0f s)", window);
	printf(": %zu\n", list->n);
	if (list->n == 0)
		return;
	printf("  %-8s %14s %25s %5s  %-18s %s\n", "kind", "growth/s", "start -> end", "conf",
	       "wait", "site");
	for (size_t i = 0; i < list->n && i < TOP_SUSPECTS; i++) {
		const struct jv *s = &list->items[i], *site = jget(s, "site");
		int bytes = strcmp(jstr(s, "unit"), "bytes") == 0;
		char g[40], a[32], b[32], span[72], where[300];
		double line = jnum(site, "line");

		human(a, sizeof(a), jnum(s, "growth_per_second"), bytes);
		snprintf(g, sizeof(g), "%s%s/s", jnum(s, "growth_per_second") > 0 ? "+" : "", a);
		human(a, sizeof(a), jnum(s, "start"), bytes);
		human(b, sizeof(b), jnum(s, "end"), bytes);
		snprintf(span, sizeof(span), "%s -> %s", a, b);
		/* "file:line function", as the leaks table writes it. */
		if (!isnan(line) && line > 0)
			snprintf(where, sizeof(where), "%s:%.0f %s", basename_of(jstr(site, "file")),
				 line, jstr(site, "function"));
		else
			snprintf(where, sizeof(where), "%s", jstr(site, "function"));
		printf("  %-8s %14s %25s %5.2f  %-18s %s\n", jstr(s, "kind"), g, span,
		       jnum(s, "confidence"), *jstr(s, "wait") ? jstr(s, "wait") : "-", where);
	}
	if (list->n > TOP_SUSPECTS)
		printf("  ... %zu more: nprof leaks\n", list->n - TOP_SUSPECTS);
}

static const char *const fd_kinds[] = {
	"file", "socket-tcp", "socket-udp", "socket-unix", "pipe", "eventfd",
	"timerfd", "epoll", "signalfd", "memfd", "other",
};

#define N_FD_KINDS (sizeof(fd_kinds) / sizeof(fd_kinds[0]))

static void draw_totals(const struct metrics *m, const struct metrics *prev, double dt)
{
	double fds = 0, pfds = 0;
	int any = 0, pany = 0;

	printf("  %-22s %12s  %12s\n", "", "now", "change");
	row("threads", metric(m, "nprof_threads", NULL), metric(prev, "nprof_threads", NULL), 0);
	row("heap in use", metric(m, "nprof_heap_inuse_bytes", NULL),
	    metric(prev, "nprof_heap_inuse_bytes", NULL), 1);
	row("heap objects", metric(m, "nprof_heap_inuse_objects", NULL),
	    metric(prev, "nprof_heap_inuse_objects", NULL), 0);
	for (size_t k = 0; k < N_FD_KINDS; k++) {
		double v = metric(m, "nprof_fds", fd_kinds[k]);

		double p = metric(prev, "nprof_fds", fd_kinds[k]);

		if (!isnan(v)) {
			fds += v;
			any = 1;
		}
		if (!isnan(p)) {
			pfds += p;
			pany = 1;
		}
	}
	row("descriptors", any ? fds : NAN, pany ? pfds : NAN, 0);
	for (size_t k = 0; k < N_FD_KINDS; k++) {
		double v = metric(m, "nprof_fds", fd_kinds[k]);
		double p = metric(prev, "nprof_fds", fd_kinds[k]);
		char label[40];

		/* Kinds the process has (or just lost); not eleven rows of 0. */
		if (isnan(v) || (v == 0 && (isnan(p) || p == 0)))
			continue;
		snprintf(label, sizeof(label), "  %s", fd_kinds[k]);
		row(label, v, p, 0);
	}
	row("resident memory", metric(m, "process_resident_memory_bytes", NULL),
	    metric(prev, "process_resident_memory_bytes", NULL), 1);

	double cpu = metric(m, "process_cpu_seconds_total", NULL);
	double pcpu = metric(prev, "process_cpu_seconds_total", NULL);
	double alloc = metric(m, "nprof_heap_alloc_bytes_total", NULL);
	double palloc = metric(prev, "nprof_heap_alloc_bytes_total", NULL);

	/* Rates need two frames; the first shows totals only. */
	if (!isnan(cpu) && !isnan(pcpu) && dt > 0)
		printf("  %-22s %11.0f%%\n", "cpu (of one core)", 100 * (cpu - pcpu) / dt);
	if (!isnan(alloc) && !isnan(palloc) && dt > 0) {
		char r[32];

		human(r, sizeof(r), (alloc - palloc) / dt, 1);
		printf("  %-22s %10s/s\n", "heap allocation rate", r);
	}
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	double d = t - mono_now();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* --interval: a positive decimal number of seconds (fractions allowed). */
static int parse_interval(const char *s, double *out)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(s, &e);
	if (e == s || *e != '\0' || errno != 0 || !(v >= 0.2 && v <= 3600))
		return -1;
	*out = v;
	return 0;
}

int nprof_cli_cmd_watch(int argc, char **argv)
{
	const char *target = NULL, *interval_s = NULL, *count_s = NULL, *v;
	char err[1400];
	struct nprof_target t;
	struct metrics prev = {0};
	double interval = DEFAULT_INTERVAL, prev_t = 0, next;
	long count = -1, status;
	int only_pos = 0, r, tty = isatty(STDOUT_FILENO), ret = NPROF_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_pos && nprof_cli_is_help(a))
			return nprof_cli_help("watch");
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			if ((r = nprof_cli_opt_value(argc, argv, &i, "--interval", &v)) ||
			    (r = nprof_cli_opt_value(argc, argv, &i, "--count", &v))) {
				if (r < 0)
					return nprof_cli_usage_error("watch", "option %s needs a value", a);
				if (strncmp(a, "--interval", 10) == 0)
					interval_s = v;
				else
					count_s = v;
				continue;
			}
			return nprof_cli_usage_error("watch", "unknown option '%s'", a);
		}
		if (target)
			return nprof_cli_usage_error("watch", "unexpected argument '%s'", a);
		target = a;
	}
	if (!target)
		return nprof_cli_usage_error("watch", "missing PID|URL");
	if (nprof_cli_target_parse(target, &t, err, sizeof(err)) != 0)
		return nprof_cli_usage_error("watch", "%s", err);
	if (interval_s && parse_interval(interval_s, &interval) != 0)
		return nprof_cli_usage_error("watch", "--interval '%s': want seconds, 0.2..3600",
					     interval_s);
	if (count_s && nprof_cli_parse_long(count_s, 1, 1000000000L, &count) != 0)
		return nprof_cli_usage_error("watch", "--count '%s': want a number >= 1", count_s);

	next = mono_now();
	for (long frame = 1; count < 0 || frame <= count; frame++) {
		struct nprof_membuf mb = {0}, lb = {0};
		struct metrics cur = {0};
		struct jv doc;
		char when[32], lerr[1400];
		time_t now = time(NULL);
		double t_now = mono_now();
		int lr;

		r = nprof_cli_get(&t, "/metrics", REQUEST_TIMEOUT, &mb, &status, err, sizeof(err));
		if (r != NPROF_GET_OK) {
			/* The process is gone or refuses: nothing more to watch. */
			fprintf(stderr, "nprof: %s%s\n", r == NPROF_GET_EHTTP ? "/metrics: " : "", err);
			nprof_cli_membuf_free(&mb);
			ret = NPROF_EXIT_FAIL;
			break;
		}
		if (metrics_parse(&cur, mb.data ? mb.data : "") != 0) {
			fprintf(stderr, "nprof: out of memory\n");
			nprof_cli_membuf_free(&mb);
			metrics_free(&cur);
			ret = NPROF_EXIT_FAIL;
			break;
		}
		nprof_cli_membuf_free(&mb);
		lr = nprof_cli_get(&t, "/debug/pprof/leaks?format=json", REQUEST_TIMEOUT, &lb,
				   &status, lerr, sizeof(lerr));

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		if (tty)
			fputs("\033[H\033[2J", stdout);
		else if (frame > 1)
			putchar('\n');
		printf("nprof watch %s  %s  every %gs  frame %ld", t.label, when, interval, frame);
		if (count > 0)
			printf("/%ld", count);
		printf("\n\n");
		draw_totals(&cur, &prev, frame > 1 ? t_now - prev_t : 0);
		printf("\n");
		if (lr != NPROF_GET_OK)
			printf("leak suspects: unavailable (%s)\n", lerr);
		else if (json_parse(lb.data ? lb.data : "", &doc) != 0)
			printf("leak suspects: unreadable answer from /debug/pprof/leaks\n");
		else {
			draw_suspects(&doc);
			jv_free(&doc);
		}
		nprof_cli_membuf_free(&lb);
		if (fflush(stdout) != 0) {
			metrics_free(&cur);
			ret = NPROF_EXIT_FAIL;
			break;
		}
		metrics_free(&prev);
		prev = cur;
		prev_t = t_now;
		if (count < 0 || frame < count) {
			/* A fixed cadence: the frames' own time does not drift it. */
			next += interval;
			sleep_until(next);
		}
	}
	metrics_free(&prev);
	return ret;
}
