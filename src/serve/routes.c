/*
 * routes.c - what the HTTP server serves.
 *
 * Owns nprof__routes[], the plain table that maps a profile name
 * (/debug/pprof/NAME) to its handler, index row and parameters, plus the
 * handlers that belong to no profile module: the index page, pprof's
 * remote symbolization protocol (symbol) and cmdline. Adding a profile
 * means adding one row; http.c validates debug= and seconds= against the
 * row before any handler runs.
 *
 * Threads and locking: handlers run on libmicrohttpd connection threads
 * (hook guard raised, all signals blocked), several at once. The table is
 * const; the handlers here keep no state, and the symbolizer serializes
 * its own sessions (nprof__sym_open waits for the previous one).
 *
 * Signals: nothing here may be called from a signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "buf.h"
#include "contention.h"
#include "cpu.h"
#include "fd_report.h"
#include "heap.h"
#include "http_int.h"
#include "leaks.h"
#include "profile.h"
#include "routes.h"
#include "symbolize.h"
#include "threads.h"
#include "threads_report.h"
#include "trace.h"

static void symbol_handle(const struct nprof_req *req, struct nprof_reply *rep);
static void cmdline_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* Kept in name order, as Go's index lists them. Columns: name, index
 * description, count for the index, handler, listed, takes_seconds
 * (NPROF_SECONDS_*; 1 is NPROF_SECONDS_DELTA). */
const struct nprof_route nprof__routes[] = {
	{ "allocs", "A sampling of all past memory allocations.",
	  nprof__heap_count, nprof__allocs_handle, 1, 1 },
	{ "block", "Stack traces that led to blocking on synchronization primitives.",
	  nprof__block_count, nprof__block_handle, 1, 1 },
	{ "cmdline", "The command line invocation of the current program.",
	  NULL, cmdline_handle, 1, 0 },
	{ "fd", "Open file descriptors, grouped by the stack that created them.",
	  nprof__fd_count, nprof__fd_handle, 1, 1 },
	{ "goroutine", "Stack traces of all current threads, with what each waits for and how long.",
	  nprof__threads_count, nprof__threads_handle, 1, 1 },
	{ "heap", "A sampling of memory allocations of live objects.",
	  nprof__heap_count, nprof__heap_handle, 1, 1 },
	{ "leaks", "Leak suspects: stacks whose heap, threads or descriptors grow steadily (format=json).",
	  nprof__leaks_count, nprof__leaks_handle, 1, NPROF_SECONDS_ANY },
	/* Served at /metrics (http.c); not a profile, so not in the index. */
	{ "metrics", "Prometheus metrics: threads, heap, descriptors, leak suspects.",
	  NULL, nprof__metrics_handle, 0, 0 },
	{ "mutex", "Stack traces of holders of contended mutexes.",
	  nprof__mutex_count, nprof__mutex_handle, 1, 1 },
	{ "profile", "CPU profile. You can specify the duration in the seconds GET parameter.",
	  NULL, nprof__cpu_handle, 1, NPROF_SECONDS_ANY },
	{ "symbol", "Maps program counters to function names (pprof's remote symbolization).",
	  NULL, symbol_handle, 0, 0 },
	{ "trace", "Chrome trace (Perfetto) of every thread over seconds=N (default 1, at most 60).",
	  NULL, nprof__trace_handle, 1, NPROF_SECONDS_ANY },
	{ "ui", "Web UI: growth charts, leak suspects, flame graphs, differences, threads.",
	  NULL, nprof__ui_handle, 1, 0 },
	{ "threadcreate", "Stack traces that led to the creation of new threads.",
	  nprof__threadcreate_count, nprof__threadcreate_handle, 1, 0 },
	{ NULL, NULL, NULL, NULL, 0, 0 },
};

/* Names that mean another route, for users of other profilers' words. */
static const struct {
	const char *alias, *name;
} aliases[] = {
	{ "threads", "goroutine" },
};

static const struct nprof_route *find_exact(const char *name)
{
	for (const struct nprof_route *r = nprof__routes; r->name != NULL; r++)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

/*
 * The route serving `name` ("heap", or an alias such as "threads"), or
 * NULL. An alias resolves only when its target is in the table. Pure
 * lookup in const data: callable from any thread.
 */
const struct nprof_route *nprof__routes_find(const char *name)
{
	const struct nprof_route *r;

	if (name == NULL || name[0] == '\0')
		return NULL;
	if ((r = find_exact(name)) != NULL)
		return r;
	/* The UI's files and data live below its own name. */
	if (strncmp(name, "ui/", 3) == 0)
		return find_exact("ui");
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(aliases[i].alias, name) == 0)
			return find_exact(aliases[i].name);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The index page                                                      */
/* ------------------------------------------------------------------ */

/* Go's page, so that people and scripts used to it find their way. */
void nprof__routes_index(const struct nprof_req *req, struct nprof_reply *rep)
{
	struct nprof_buf *b = &rep->body;
	const struct nprof_route *r;

	(void)req;
	rep->content_type = "text/html; charset=utf-8";
	nprof__buf_printf(b,
		"<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n"
		".profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n"
		"</head>\n<body>\n/debug/pprof/\n<br>\n"
		"<p>Set debug=1 as a query parameter to export in legacy text format</p>\n"
		"<br>\nTypes of profiles available:\n<table>\n"
		"<thead><td>Count</td><td>Profile</td></thead>\n");
	for (r = nprof__routes; r->name != NULL; r++) {
		if (!r->listed)
			continue;
		nprof__buf_printf(b, "<tr><td>");
		if (r->count != NULL)
			nprof__buf_printf(b, "%ld", r->count());
		/* Absolute links, so the page works at /debug/pprof as well as at
		 * /debug/pprof/. Only counted profiles have a debug=1 text form;
		 * the others (CPU, cmdline) are linked bare. */
		nprof__buf_printf(b, "</td><td><a href='/debug/pprof/");
		nprof__buf_html(b, r->name);
		nprof__buf_printf(b, "%s'>", r->count != NULL ? "?debug=1" : "");
		nprof__buf_html(b, r->name);
		nprof__buf_printf(b, "</a></td></tr>\n");
	}
	nprof__buf_printf(b, "</table>\n");
	if (nprof__routes_find("goroutine") != NULL)
		nprof__buf_printf(b, "<a href='/debug/pprof/goroutine?debug=2'>"
				  "full goroutine stack dump</a>\n<br>\n");
	nprof__buf_printf(b, "<p>\nProfile Descriptions:\n<ul>\n");
	for (r = nprof__routes; r->name != NULL; r++) {
		if (!r->listed)
			continue;
		nprof__buf_printf(b, "<li><div class=profile-name>");
		nprof__buf_html(b, r->name);
		nprof__buf_printf(b, ": </div> ");
		nprof__buf_html(b, r->desc ? r->desc : "");
		nprof__buf_printf(b, "</li>\n");
	}
	nprof__buf_printf(b, "</ul>\n</p>\n</body>\n</html>\n");
}

/* ------------------------------------------------------------------ */
/* symbol: pprof's remote symbolization                                */
/* ------------------------------------------------------------------ */

/*
 * Appends "0xADDR function\n" for one address word, as Go's Symbol
 * handler does (a space between the two; pprof splits on any white
 * space). Words that are not a non-zero number, and addresses nothing is
 * known about, produce no line. Returns -1 when the symbolizer cannot be
 * opened at all.
 */
static int symbol_word(struct nprof_symtab **st, const char *w, size_t n,
		       struct nprof_buf *out)
{
	struct nprof_frame frames[32];
	char word[40];
	char *end;
	unsigned long long pc;
	int nf;

	while (n > 0 && (*w == ' ' || *w == '\t' || *w == '\r' || *w == '\n'))
		w++, n--;
	while (n > 0 && (w[n - 1] == ' ' || w[n - 1] == '\t' || w[n - 1] == '\r' ||
			 w[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= sizeof(word))
		return 0;
	memcpy(word, w, n);
	word[n] = '\0';
	errno = 0;
	pc = strtoull(word, &end, 0);
	if (*end != '\0' || errno != 0 || pc == 0 || word[0] == '-')
		return 0;

	if (*st == NULL && (*st = nprof__sym_open()) == NULL)
		return -1;
	/* The address as pprof sent it: pprof has already adjusted return
	 * addresses the way it wants them looked up. */
	nf = nprof__sym_lookup(*st, (uintptr_t)pc, frames, 32);
	/* The last frame is the real (outermost) function; inlined calls come
	 * before it. */
	if (nf > 0 && frames[nf - 1].function != NULL && frames[nf - 1].function[0] != '\0')
		nprof__buf_printf(out, "%#llx %s\n", pc, frames[nf - 1].function);
	return 0;
}

/*
 * GET answers "num_symbols: 1" (pprof's probe: symbols are available);
 * POST takes "0xADDR+0xADDR+..." and answers one line per known address
 * after that same first line.
 */
static void symbol_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	struct nprof_symtab *st = NULL;
	size_t i = 0, start;

	nprof__buf_printf(&rep->body, "num_symbols: 1\n");
	if (req->body == NULL)
		return;
	while (i < req->body_len) {
		start = i;
		while (i < req->body_len && req->body[i] != '+')
			i++;
		if (symbol_word(&st, req->body + start, i - start, &rep->body) < 0) {
			nprof__reply_error(rep, 503, "nprof: the symbolizer is unavailable");
			return;
		}
		i++; /* past the '+' */
	}
	if (st != NULL)
		nprof__sym_close(st);
}

/* ------------------------------------------------------------------ */
/* cmdline                                                             */
/* ------------------------------------------------------------------ */

/*
 * argv separated by NUL bytes, as Go serves os.Args; off unless
 * NPROF_EXPOSE_CMDLINE=1, because secrets are often passed on the
 * command line.
 */
static void cmdline_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	char chunk[4096];
	ssize_t n;
	int fd;

	(void)req;
	if (!nprof__cfg.expose_cmdline) {
		nprof__reply_error(rep, 404,
				   "nprof: cmdline disabled: set NPROF_EXPOSE_CMDLINE=1 to serve it");
		return;
	}
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		nprof__reply_error(rep, 500, "nprof: /proc/self/cmdline: %s", strerror(errno));
		return;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			nprof__buf_append(&rep->body, chunk, (size_t)n);
	close(fd);
	/* The kernel ends every argument with NUL; Go joins them with it. */
	if (rep->body.len > 0 && rep->body.data[rep->body.len - 1] == '\0')
		rep->body.len--;
}
