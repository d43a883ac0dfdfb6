/*
 * frames.h - which frames of a stack are the program's own code
 * (frames.c): what the leak suspects (profiles/leaks.c) and the leak
 * checks (api/check.c) name, so that both say "your line", never a line
 * of libc, the loader or nprof; and the one printer of a stack in Go's
 * legacy text forms.
 */
#ifndef NPROF_FRAMES_H
#define NPROF_FRAMES_H

#include <stdint.h>

#include "buf.h"
#include "procmaps.h"
#include "symbolize.h"

/* One source-level frame as printed. */
struct nprof_oframe {
	const char *function;       /* symbolizer strings: valid until close */
	const char *file;
	int line;
	char addr[24];              /* "0x..." when the function is unknown */
};

/* One symbolizer session and what tells nprof's frames apart. */
struct nprof_frames {
	struct nprof_symtab *st;    /* NULL when symbolization is unavailable */
	char self_so[512];          /* libnprof.so's path when loaded as one */
	char self_dir[512];         /* nprof's src/ directory (static link), "" unknown */
};

/* Opens a symbolizer session (nprof__sym_open: one at a time) and finds
 * nprof's own library or sources. */
void nprof__frames_open(struct nprof_frames *c);
void nprof__frames_close(struct nprof_frames *c);

/*
 * True for a mapping that is not the program's own code: the C and C++
 * runtimes, the dynamic loader, the vdso, libraries nprof brings in, test
 * frameworks' libraries, and nprof itself. Decided by the mapped file, as
 * pprof's own "runtime" trimming is decided by package: a library in the
 * program's own tree counts as the program's.
 */
int nprof__frames_foreign(const struct nprof_frames *c, const struct nprof_mapping *m);

/* True for nprof's own frame inside the program (libnprof.a linked
 * statically), and for the C runtime's entry _start. */
int nprof__frames_not_program(const struct nprof_frames *c, const struct nprof_frame *f);

/* nprof__frames_of's `how`. */
#define NPROF_FRAMES_PROGRAM 1  /* the program's frames only */
#define NPROF_FRAMES_FALLBACK 2 /* ...or, when it has none, the innermost 4 of the others */
#define NPROF_FRAMES_MAP_FILE 4 /* an unknown function's file is its mapping's (else "") */

/*
 * The frames of pcs[0..npcs) (return addresses, innermost first) as
 * printed: innermost first, inlined calls expanded (each its own frame,
 * as pprof shows them), an unknown function as its address. At most
 * `max` into out; returns how many.
 */
int nprof__frames_of(struct nprof_frames *c, const uintptr_t *pcs, int npcs, int how,
		     struct nprof_oframe *out, int max);

/*
 * A stack in Go's legacy text forms (runtime/pprof, debug=1): one line
 * "#\t0xPC\tfunction+0xOFF\tfile:line" per frame, inlined calls expanded,
 * "#\t0xPC\tmapping+0xOFF" or "#\t0xPC" when the function is unknown.
 * pcs are return addresses (looked up at pc - 1, which is printed); st
 * may be NULL (addresses only).
 */
void nprof__frames_print_text(struct nprof_buf *b, struct nprof_symtab *st, const uintptr_t *pcs,
			      int n);

/* The last component of a path. */
const char *nprof__frames_base_name(const char *p);

#endif /* NPROF_FRAMES_H */
