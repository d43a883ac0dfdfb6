/*
 * metrics.c - GET /metrics: the Prometheus text exposition (format
 * 0.0.4) of docs/reference.md §5, so that the totals nprof keeps anyway can be
 * scraped, graphed and alerted on without fetching a profile.
 *
 * What it owns: no state at all. Every scrape reads the current values
 * from the modules that own them (threads.c, heap.c, fd.c, leaks.c, the
 * drop counters) and from /proc/self, the way the Go client's process
 * collector does, and formats them into the reply buffer (arena memory).
 * docs/internals/metrics.md lists each series, where its value comes from
 * and why it is a gauge or a counter.
 *
 * Output rules (what `promtool check metrics` and a scraping Prometheus
 * hold us to): each family once, HELP then TYPE then its samples; counters
 * end in _total; a labelled family lists every label value, zeros
 * included, so that a series never vanishes and reappears (that breaks
 * rate() and absent() alerts); label values here are fixed identifiers,
 * so nothing needs escaping.
 *
 * Threads and signals: runs on an HTTP connection thread with the hook
 * guard raised (the descriptors it opens are nprof's own and hidden from
 * the fd profile); several scrapes may run at once, which is fine since
 * nothing here is shared. Not for signal handlers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "cpu.h"
#include "fd.h"
#include "fd_report.h"
#include "heap.h"
#include "leaks.h"
#include "nprof.h"
#include "profile.h"
#include "routes.h"
#include "stacks.h"
#include "threads.h"

/* More descriptor kinds than fd.c will ever classify. */
#define MAX_FD_KINDS 32

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

/* The HELP and TYPE lines that open a family. */
static void family(struct nprof_buf *b, const char *name, const char *type, const char *help)
{
	nprof__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample of an integer value; `label` is `key="value"` or NULL. */
static void sample(struct nprof_buf *b, const char *name, const char *label, int64_t v)
{
	if (label != NULL)
		nprof__buf_printf(b, "%s{%s} %" PRId64 "\n", name, label, v);
	else
		nprof__buf_printf(b, "%s %" PRId64 "\n", name, v);
}

/* A family with one unlabelled integer sample. */
static void single(struct nprof_buf *b, const char *name, const char *type, const char *help,
		   int64_t v)
{
	family(b, name, type, help);
	sample(b, name, NULL, v);
}

/* ------------------------------------------------------------------ */
/* /proc/self, as the Go client's process collector reads it            */
/* ------------------------------------------------------------------ */

struct proc_stat {
	double cpu_seconds;       /* utime + stime */
	double start_seconds;     /* since the epoch; 0 when unknown */
	int64_t vsize_bytes;
	int64_t rss_bytes;
};

/* Reads a small /proc file into buf (NUL-terminated); bytes read or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * The boot time in seconds since the epoch ("btime" of /proc/stat), read
 * once: it never changes, and /proc/stat is large on big machines (its
 * "intr" line alone can be tens of KiB), so the whole file is read into
 * an arena buffer once rather than on every scrape. 0 when unknown.
 */
static long boot_time(void)
{
	static atomic_long cached;
	long bt = atomic_load_explicit(&cached, memory_order_relaxed);
	if (bt != 0)
		return bt;
	size_t cap = 1 << 20;
	char *buf = nprof__arena_alloc(cap);
	if (buf == NULL)
		return 0;
	if (read_small("/proc/stat", buf, cap) > 0) {
		const char *p = strstr(buf, "\nbtime ");
		if (p != NULL)
			bt = strtol(p + 7, NULL, 10);
	}
	nprof__arena_free(buf);
	atomic_store_explicit(&cached, bt, memory_order_relaxed);
	return bt;
}

/*
 * Parses /proc/self/stat. The command name (field 2) may contain spaces
 * and parentheses, so fields are counted from the last ')'. Returns 0 or
 * -1 when the file cannot be read or parsed.
 */
static int read_proc_stat(struct proc_stat *ps)
{
	char buf[1024];
	memset(ps, 0, sizeof *ps);
	if (read_small("/proc/self/stat", buf, sizeof buf) <= 0)
		return -1;
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	p++;
	/* Fields 3.. follow; we need 14 utime, 15 stime, 22 starttime,
	 * 23 vsize, 24 rss (pages). */
	unsigned long long f[25] = {0};
	for (int field = 3; field <= 24; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -1;
		if (field == 3) {
			p++; /* the state letter */
			continue;
		}
		char *end;
		f[field] = strtoull(p, &end, 10);
		if (*p == '-')
			f[field] = 0; /* a negative field we do not use */
		p = end;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	long ticks = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	if (ticks <= 0)
		ticks = 100;
	ps->cpu_seconds = (double)(f[14] + f[15]) / (double)ticks;
	ps->vsize_bytes = (int64_t)f[23];
	ps->rss_bytes = (int64_t)f[24] * (page > 0 ? page : 4096);
	long bt = boot_time();
	if (bt > 0)
		ps->start_seconds = (double)bt + (double)f[22] / (double)ticks;
	return 0;
}

/* Every open descriptor of the process, nprof's own included (what
 * `ls /proc/PID/fd` shows), except the one this listing uses; -1 on
 * error. opendir() mallocs, which is fine here: the guard is raised, so
 * the heap profiler passes it through unrecorded. */
static int64_t count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	int dfd = dirfd(d);
	int64_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && atoi(de->d_name) != dfd)
			n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ */
/* The handler                                                         */
/* ------------------------------------------------------------------ */

static void nprof_families(struct nprof_buf *b)
{
	single(b, "nprof_threads", "gauge",
	       "Threads of the program, nprof's own excluded.", nprof__threads_count());

	struct nprof_heap_totals h;
	nprof__heap_totals(&h);
	single(b, "nprof_heap_inuse_bytes", "gauge",
	       "Bytes of live heap objects (estimated from samples, as the heap profile).",
	       h.inuse_bytes);
	single(b, "nprof_heap_inuse_objects", "gauge",
	       "Live heap objects (estimated from samples, as the heap profile).",
	       h.inuse_objects);
	single(b, "nprof_heap_alloc_bytes_total", "counter",
	       "Bytes allocated on the heap since nprof started (estimated from samples).",
	       h.alloc_bytes);

	const char *names[MAX_FD_KINDS];
	long counts[MAX_FD_KINDS];
	char label[64];
	int nk = nprof__fd_count_by_kind(names, counts, MAX_FD_KINDS);
	family(b, "nprof_fds", "gauge",
	       "Open descriptors of the program by kind, nprof's own excluded.");
	for (int k = 0; k < nk; k++) {
		snprintf(label, sizeof label, "kind=\"%s\"", names[k]);
		sample(b, "nprof_fds", label, counts[k]);
	}

	/* Kinds as /debug/pprof/leaks names them (docs/reference.md §4). */
	static const char *const leak_kinds[] = {"heap", "threads", "fds"};
	family(b, "nprof_leak_suspects", "gauge",
	       "Call stacks ranked as leak suspects by /debug/pprof/leaks, by kind.");
	for (size_t k = 0; k < sizeof leak_kinds / sizeof leak_kinds[0]; k++) {
		snprintf(label, sizeof label, "kind=\"%s\"", leak_kinds[k]);
		sample(b, "nprof_leak_suspects", label, nprof__leaks_suspects(leak_kinds[k]));
	}

	family(b, "nprof_samples_dropped_total", "counter",
	       "Samples nprof could not record because its memory bound was reached.");
	sample(b, "nprof_samples_dropped_total", "profile=\"cpu\"", nprof__cpu_dropped());
	sample(b, "nprof_samples_dropped_total", "profile=\"heap\"", nprof__heap_dropped());
	sample(b, "nprof_samples_dropped_total", "profile=\"fd\"", nprof__fd_dropped());
	sample(b, "nprof_samples_dropped_total", "profile=\"stacks\"", nprof__stack_dropped());

	single(b, "nprof_memory_bytes", "gauge",
	       "Bytes nprof holds in its own arena (its whole footprint but code).",
	       (int64_t)(nprof__arena_used() + nprof__arena_serve_used() + nprof__arena_cached()));
	single(b, "nprof_memory_limit_bytes", "gauge",
	       "The bound of nprof's memory for samples; past it samples are dropped.",
	       (int64_t)nprof__arena_limit());
	family(b, "nprof_build_info", "gauge", "Always 1; the label carries nprof's version.");
	snprintf(label, sizeof label, "version=\"%s\"", NPROF_VERSION);
	sample(b, "nprof_build_info", label, 1);
}

/* The Go client's process collector, same names and meanings, so that
 * existing dashboards work unchanged. A value that cannot be read is left
 * out rather than reported as 0, which would look like a real reading. */
static void process_families(struct nprof_buf *b)
{
	struct proc_stat ps;
	if (read_proc_stat(&ps) == 0) {
		family(b, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
		nprof__buf_printf(b, "process_cpu_seconds_total %.2f\n", ps.cpu_seconds);
		single(b, "process_resident_memory_bytes", "gauge",
		       "Resident memory size in bytes.", ps.rss_bytes);
		single(b, "process_virtual_memory_bytes", "gauge",
		       "Virtual memory size in bytes.", ps.vsize_bytes);
		if (ps.start_seconds > 0) {
			family(b, "process_start_time_seconds", "gauge",
			       "Start time of the process since unix epoch in seconds.");
			nprof__buf_printf(b, "process_start_time_seconds %.2f\n", ps.start_seconds);
		}
	}
	int64_t fds = count_open_fds();
	if (fds >= 0)
		single(b, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		single(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
		       (int64_t)rl.rlim_cur);
}

/*
 * GET /metrics. Always 200 with whatever could be read (a scrape that
 * fails loses every series at once, which is worse than one missing
 * value); 503 only when nprof's memory could not hold the reply.
 */
void nprof__metrics_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	(void)req;
	rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
	nprof_families(&rep->body);
	process_families(&rep->body);
	if (rep->body.failed)
		nprof__reply_error(rep, 503, "nprof: out of memory building /metrics");
}
