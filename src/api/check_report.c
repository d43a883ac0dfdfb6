/*
 * check_report.c - what a leak check says: the frames shown for each
 * finding (the program's own, output/frames.c decides which), the human
 * text report and the JSON one of `nprof check` and nprof_check_end()
 * (docs/internals/check.md has both formats).
 *
 * Data: none of its own; writes into the caller's buffers (arena). Runs
 * under check.c's check_lock with one symbolizer session open. Not for
 * signal handlers.
 */
#include "base.h"
#include "buf.h"
#include "check_int.h"
#include "fd_int.h"
#include "frames.h"
#include "heap_region.h"
#include "procmaps.h"
#include "reach.h"
#include "stacks.h"
#include "symbolize.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Frames of stack `id`, innermost first, inlined calls expanded; with
 * `program_only`, the program's frames alone (or, when it has none, the
 * innermost few of the others, so the entry is never blank). */
int nprof__check_report_frames(struct nprof_frames *c, uint32_t id, int program_only,
				struct nprof_oframe *out, int max)
{
	int npcs = 0;
	const uintptr_t *pcs = id != 0 ? nprof__stack_get(id, &npcs) : NULL;
	return nprof__frames_of(c, pcs, npcs,
				NPROF_FRAMES_MAP_FILE |
				(program_only ? NPROF_FRAMES_PROGRAM | NPROF_FRAMES_FALLBACK : 0),
				out, max);
}

static void json_frames(struct nprof_buf *b, struct nprof_frames *c, uint32_t id)
{
	struct nprof_oframe fr[NPROF_MAX_FRAMES];
	int n = nprof__check_report_frames(c, id, 1, fr, NPROF_MAX_FRAMES);
	nprof__buf_putc(b, '[');
	for (int i = 0; i < n; i++) {
		nprof__buf_printf(b, "%s{\"function\": ", i ? ", " : "");
		nprof__buf_json_str(b, fr[i].function);
		nprof__buf_printf(b, ", \"file\": ");
		nprof__buf_json_str(b, fr[i].file);
		nprof__buf_printf(b, ", \"line\": %d}", fr[i].line);
	}
	nprof__buf_putc(b, ']');
}

static void text_frames(struct nprof_buf *b, struct nprof_frames *c, uint32_t id, const char *indent)
{
	struct nprof_oframe fr[NPROF_MAX_FRAMES];
	int n = nprof__check_report_frames(c, id, 1, fr, NPROF_MAX_FRAMES);
	if (n == 0)
		nprof__buf_printf(b, "%s(stack unknown)\n", indent);
	for (int i = 0; i < n; i++) {
		nprof__buf_printf(b, "%s#%d %s", indent, i, fr[i].function);
		if (fr[i].file[0] != '\0' && fr[i].line > 0)
			nprof__buf_printf(b, " %s:%d", fr[i].file, fr[i].line);
		else if (fr[i].file[0] != '\0')
			nprof__buf_printf(b, " (%s)", nprof__frames_base_name(fr[i].file));
		nprof__buf_putc(b, '\n');
	}
}

static const char *leak_name(int st)
{
	return st == NPROF_REACH_LEAKED ? "direct" : st == NPROF_REACH_INDIRECT ? "indirect" : "reachable";
}

static const char *plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int64_t nprof__check_report_total(const struct findings *f)
{
	return f->counts[S_THREAD] + f->counts[S_FD] + f->counts[S_HEAP];
}

void nprof__check_report_text(struct nprof_buf *b, struct nprof_frames *c, const struct findings *f,
			      int kinds, const char *who)
{
	int64_t tot = nprof__check_report_total(f);
	int64_t sup = f->suppressed[S_THREAD] + f->suppressed[S_FD] + f->suppressed[S_HEAP];
	if (tot == 0 && !(kinds & K_HEAP_ALL)) {
		if (f->heap_skipped && (kinds & K_HEAP))
			nprof__buf_printf(b, "nprof check: %s (pid %d): heap not checked (not every "
					  "allocation is recorded: set NPROF_HEAP_RATE=1)\n", who, (int)getpid());
		return;
	}
	nprof__buf_printf(b, "nprof check: %s (pid %d): %lld %s, %lld %s, %lld heap %s (%lld bytes) leaked",
			  who, (int)getpid(), (long long)f->counts[S_THREAD],
			  plural(f->counts[S_THREAD], "thread", "threads"), (long long)f->counts[S_FD],
			  plural(f->counts[S_FD], "descriptor", "descriptors"),
			  (long long)f->counts[S_HEAP], plural(f->counts[S_HEAP], "block", "blocks"),
			  (long long)f->heap_bytes);
	if (sup > 0)
		nprof__buf_printf(b, "; %lld suppressed", (long long)sup);
	nprof__buf_putc(b, '\n');
	if (f->heap_skipped && (kinds & K_HEAP))
		nprof__buf_printf(b, "  (heap not checked: set NPROF_HEAP_RATE=1)\n");
	if (f->heap_failed)
		nprof__buf_printf(b, "  (heap not checked: out of memory)\n");
	int section = -1;
	for (size_t k = 0; k < f->n; k++) {
		const struct item *g = &f->it[k];
		int sec = g->kind == S_HEAP && g->leak == NPROF_REACH_REACHABLE ? S_KINDS : g->kind;
		if (sec != section) {
			section = sec;
			if (sec == S_THREAD)
				nprof__buf_printf(b, "\nthreads still running (%lld):\n",
						  (long long)f->counts[S_THREAD]);
			else if (sec == S_FD)
				nprof__buf_printf(b, "\ndescriptors left open (%lld):\n",
						  (long long)f->counts[S_FD]);
			else if (sec == S_HEAP)
				nprof__buf_printf(b, "\nheap blocks unreachable (%lld blocks, %lld bytes):\n",
						  (long long)f->counts[S_HEAP], (long long)f->heap_bytes);
			else
				nprof__buf_printf(b, "\nheap blocks still reachable:\n");
		}
		if (g->kind == S_THREAD) {
			nprof__buf_printf(b, "  %lld %s \"%s\" [%s], tid", (long long)g->count,
					  plural(g->count, "thread", "threads"), g->name,
					  g->wait_buf[0] ? g->wait_buf : "?");
			for (int i = 0; i < g->nids; i++)
				nprof__buf_printf(b, " %d", g->ids[i]);
			nprof__buf_printf(b, "%s\n    now at:\n", g->count > g->nids ? " ..." : "");
			text_frames(b, c, g->stack2, "      ");
			nprof__buf_printf(b, "    created at:\n");
			text_frames(b, c, g->stack, "      ");
		} else if (g->kind == S_FD) {
			nprof__buf_printf(b, "  %lld %s %s, fd", (long long)g->count,
					  nprof__fd_kind_names[g->fdkind],
					  plural(g->count, "descriptor", "descriptors"));
			for (int i = 0; i < g->nids; i++)
				nprof__buf_printf(b, " %d", g->ids[i]);
			nprof__buf_printf(b, "%s (%s), opened at:\n", g->count > g->nids ? " ..." : "",
					  g->target);
			text_frames(b, c, g->stack, "      ");
		} else {
			nprof__buf_printf(b, "  %lld bytes in %lld %s (%s), allocated at:\n",
					  (long long)g->bytes, (long long)g->count,
					  plural(g->count, "block", "blocks"), leak_name(g->leak));
			text_frames(b, c, g->stack, "      ");
		}
	}
	nprof__buf_putc(b, '\n');
}

void nprof__check_report_json(struct nprof_buf *b, struct nprof_frames *c, const struct findings *f,
			      const char *who)
{
	nprof__buf_printf(b, "{\"pid\": %d, \"command\": ", (int)getpid());
	nprof__buf_json_str(b, who);
	nprof__buf_printf(b, ", \"total\": %lld, \"heap_checked\": %s,\n \"threads\": [",
			  (long long)nprof__check_report_total(f), f->heap_skipped || f->heap_failed ? "false" : "true");
	static const char *const sec[] = {"threads", "fds", "heap"};
	for (int s = 0; s < S_KINDS; s++) {
		if (s > 0)
			nprof__buf_printf(b, "],\n \"%s\": [", sec[s]);
		int first = 1;
		for (size_t k = 0; k < f->n; k++) {
			const struct item *g = &f->it[k];
			if (g->kind != s)
				continue;
			nprof__buf_printf(b, "%s\n  {", first ? "" : ",");
			first = 0;
			if (s == S_THREAD) {
				nprof__buf_printf(b, "\"count\": %lld, \"name\": ", (long long)g->count);
				nprof__buf_json_str(b, g->name);
				nprof__buf_printf(b, ", \"wait\": ");
				nprof__buf_json_str(b, g->wait_buf);
				nprof__buf_printf(b, ", \"tids\": [");
				for (int i = 0; i < g->nids; i++)
					nprof__buf_printf(b, "%s%d", i ? ", " : "", g->ids[i]);
				nprof__buf_printf(b, "], \"stack\": ");
				json_frames(b, c, g->stack2);
				nprof__buf_printf(b, ", \"created_by\": ");
				json_frames(b, c, g->stack);
			} else if (s == S_FD) {
				nprof__buf_printf(b, "\"count\": %lld, \"kind\": \"%s\", \"target\": ",
						  (long long)g->count, nprof__fd_kind_names[g->fdkind]);
				nprof__buf_json_str(b, g->target);
				nprof__buf_printf(b, ", \"fds\": [");
				for (int i = 0; i < g->nids; i++)
					nprof__buf_printf(b, "%s%d", i ? ", " : "", g->ids[i]);
				nprof__buf_printf(b, "], \"stack\": ");
				json_frames(b, c, g->stack);
			} else {
				nprof__buf_printf(b, "\"blocks\": %lld, \"bytes\": %lld, \"leak\": \"%s\", "
						  "\"stack\": ", (long long)g->count, (long long)g->bytes,
						  leak_name(g->leak));
				json_frames(b, c, g->stack);
			}
			nprof__buf_putc(b, '}');
		}
	}
	nprof__buf_printf(b, "],\n \"suppressed\": {\"threads\": %lld, \"fds\": %lld, \"heap\": %lld}}\n",
			  (long long)f->suppressed[S_THREAD], (long long)f->suppressed[S_FD],
			  (long long)f->suppressed[S_HEAP]);
}

