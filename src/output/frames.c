/*
 * frames.c - which frames of a stack are the program's own: one rule for
 * the leak suspects (profiles/leaks.c) and the leak checks (api/check.c),
 * so that both name the program's line, never libc's, the loader's or
 * nprof's. A frame is foreign when its mapping is a system or nprof
 * library (by file name) or libnprof.so itself, or, in a program that
 * links libnprof.a, when it is compiled from nprof's own sources.
 *
 * Also the one printer of a stack in Go's legacy text forms (the debug=1
 * of heap, allocs, block, mutex and fd).
 *
 * Data: a struct nprof_frames per request (one symbolizer session). No
 * state of its own; no locks beyond the symbolizer's session. Not for
 * signal handlers.
 */
#include "buf.h"
#include "frames.h"
#include "procmaps.h"
#include "symbolize.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *nprof__frames_base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s != NULL ? s + 1 : p;
}

int nprof__frames_foreign(const struct nprof_frames *c, const struct nprof_mapping *m)
{
	static const char *const sys[] = {
		"libc.so", "libc-", "libstdc++", "libgcc_s", "ld-linux", "ld-", "ld.so",
		"libpthread", "libm.so", "libm-", "libdl", "librt", "libresolv", "libc++",
		"libc++abi", "libunwind", "libdw", "libelf", "libmicrohttpd", "libz.so",
		"libnprof", "libcmocka", "libcheck", "libsubunit",
	};
	if (m == NULL || m->file == NULL || m->file[0] == '\0' || m->file[0] == '[')
		return 1;
	if (c->self_so[0] != '\0' && strcmp(m->file, c->self_so) == 0)
		return 1;
	const char *b = nprof__frames_base_name(m->file);
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (strncmp(b, sys[i], strlen(sys[i])) == 0)
			return 1;
	return 0;
}

/* nprof's sources are src/LAYER/FILE.c: a file directly in a folder of
 * self_dir is nprof's. */
int nprof__frames_not_program(const struct nprof_frames *c, const struct nprof_frame *f)
{
	if (strncmp(f->function, "nprof_", 6) == 0 || strcmp(f->function, "_start") == 0)
		return 1;
	size_t dl = strlen(c->self_dir);
	if (dl == 0 || strncmp(f->file, c->self_dir, dl) != 0)
		return 0;
	const char *slash = strchr(f->file + dl, '/');
	return slash != NULL && strchr(slash + 1, '/') == NULL;
}

void nprof__frames_open(struct nprof_frames *c)
{
	memset(c, 0, sizeof *c);
	Dl_info info;
	if (dladdr((void *)nprof__frames_open, &info) != 0 && info.dli_fname != NULL &&
	    strncmp(nprof__frames_base_name(info.dli_fname), "libnprof", 8) == 0)
		snprintf(c->self_so, sizeof c->self_so, "%s", info.dli_fname);
	c->st = nprof__sym_open();
	if (c->st == NULL)
		return;
	/* This file's own source path, .../src/output/frames.c, gives
	 * .../src/ (when nprof is linked in with its debug information). */
	struct nprof_frame fr[8];
	int nf = nprof__sym_lookup(c->st, (uintptr_t)nprof__frames_open, fr, 8);
	if (nf > 0 && fr[nf - 1].file[0] != '\0') {
		const char *f = fr[nf - 1].file;
		const char *end = nprof__frames_base_name(f);
		/* back over "output/" */
		if (end - f >= 2) {
			const char *p = end - 2;
			while (p > f && *p != '/')
				p--;
			size_t dl = (size_t)(p - f) + 1;
			if (*p == '/' && dl < sizeof c->self_dir) {
				memcpy(c->self_dir, f, dl);
				c->self_dir[dl] = '\0';
			}
		}
	}
}

void nprof__frames_close(struct nprof_frames *c)
{
	if (c->st != NULL)
		nprof__sym_close(c->st);
	c->st = NULL;
}

/* One pass of nprof__frames_of: every frame, or the program's only. */
static int frames_pass(struct nprof_frames *c, const uintptr_t *pcs, int npcs, int program,
		       int map_file, struct nprof_oframe *out, int max)
{
	int n = 0;
	for (int k = 0; k < npcs && n < max; k++) {
		uintptr_t addr = pcs[k] - 1;
		const struct nprof_mapping *m = c->st ? nprof__sym_mapping(c->st, addr) : NULL;
		if (program && c->st != NULL && nprof__frames_foreign(c, m))
			continue;
		struct nprof_frame fr[16];
		int nf = c->st ? nprof__sym_lookup(c->st, addr, fr, 16) : 0;
		if (nf <= 0) {
			struct nprof_oframe *o = &out[n++];
			snprintf(o->addr, sizeof o->addr, "%#" PRIxPTR, addr);
			o->function = o->addr;
			o->file = map_file && m != NULL && m->file != NULL ? m->file : "";
			o->line = 0;
			continue;
		}
		for (int i = 0; i < nf && n < max; i++) {
			if (program && nprof__frames_not_program(c, &fr[i]))
				continue;
			struct nprof_oframe *o = &out[n++];
			o->function = fr[i].function[0] ? fr[i].function : "?";
			o->file = fr[i].file;
			o->line = fr[i].line;
			o->addr[0] = '\0';
		}
	}
	return n;
}

int nprof__frames_of(struct nprof_frames *c, const uintptr_t *pcs, int npcs, int how,
		     struct nprof_oframe *out, int max)
{
	int map_file = (how & NPROF_FRAMES_MAP_FILE) != 0;
	if (pcs == NULL || npcs <= 0)
		return 0;
	if (!(how & NPROF_FRAMES_PROGRAM))
		return frames_pass(c, pcs, npcs, 0, map_file, out, max);
	int n = frames_pass(c, pcs, npcs, 1, map_file, out, max);
	if (n > 0 || !(how & NPROF_FRAMES_FALLBACK))
		return n;
	/* None of the program's: the innermost few of the others, so the
	 * entry is never blank. */
	return frames_pass(c, pcs, npcs, 0, map_file, out, max > 4 ? 4 : max);
}

void nprof__frames_print_text(struct nprof_buf *b, struct nprof_symtab *st, const uintptr_t *pcs,
			      int n)
{
	struct nprof_frame fr[32];
	for (int i = 0; i < n; i++) {
		uintptr_t pc = pcs[i] - 1;
		int nf = st ? nprof__sym_lookup(st, pc, fr, 32) : 0;
		if (nf <= 0) {
			const struct nprof_mapping *m = st ? nprof__sym_mapping(st, pc) : NULL;
			if (m != NULL && m->file != NULL && m->file[0] != '\0')
				nprof__buf_printf(b, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR "\n", pc, m->file,
						  (uintptr_t)(pc - m->start + m->offset));
			else
				nprof__buf_printf(b, "#\t%#" PRIxPTR "\n", pc);
			continue;
		}
		for (int k = 0; k < nf; k++)
			nprof__buf_printf(b, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR "\t%s:%d\n", pc,
					  fr[k].function[0] ? fr[k].function : "?", fr[k].symoff,
					  fr[k].file[0] ? fr[k].file : "?", fr[k].line);
	}
}
