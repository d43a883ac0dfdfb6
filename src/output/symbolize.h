/*
 * symbolize.h - addresses to functions, files and lines (symbolize.c,
 * with libdw): one session at a time over /proc/self/maps. The mappings
 * themselves are read by record/procmaps.c (struct nprof_mapping).
 */
#ifndef NPROF_SYMBOLIZE_H
#define NPROF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "procmaps.h"

/* One source-level frame. Strings stay valid until nprof__sym_close(). */
struct nprof_frame {
	const char *function;   /* demangled when C++; "" when unknown */
	const char *file;       /* full path as in DWARF; "" when unknown */
	int line;               /* 0 when unknown */
	uintptr_t symoff;       /* address - start of the ELF symbol (outermost) */
};

struct nprof_symtab;

/*
 * Opens a symbolization session: reads /proc/self/maps and prepares libdw
 * (a cached state may be reused while the maps have not changed). One
 * session at a time: a second open waits for the first to close. NULL on
 * failure.
 */
struct nprof_symtab *nprof__sym_open(void);

/*
 * Symbolizes one address (already return address - 1). Stores up to
 * `max` frames, innermost inlined call first, the real function last;
 * returns how many (0 when nothing is known). Marks the mapping's has_*
 * flags according to what was found.
 */
int nprof__sym_lookup(struct nprof_symtab *st, uintptr_t addr,
		      struct nprof_frame *out, int max);

/* The mapping containing `addr`, or NULL. */
const struct nprof_mapping *nprof__sym_mapping(struct nprof_symtab *st, uintptr_t addr);

/* All executable mappings, in address order. */
int nprof__sym_mappings(struct nprof_symtab *st, const struct nprof_mapping **out);

/* The main executable's path as the program was started (a symlink such
 * as /usr/bin/redis-server, when it names the same file as
 * /proc/self/exe); its mappings carry this name. "" when unknown. */
const char *nprof__sym_exe_path(struct nprof_symtab *st);

/* Drops the symbolizer's state (libdw, its debug files' descriptors, the
 * caches) when no session has run for idle_ns; never waits. Called from
 * the snapshot thread's tick. */
void nprof__sym_release_idle(int64_t idle_ns);

/* How long the symbolizer keeps its state without a session. */
#ifndef NPROF_SYM_IDLE_NS
#define NPROF_SYM_IDLE_NS (300LL * 1000000000LL)
#endif

void nprof__sym_close(struct nprof_symtab *st);

/* In a forked child: forget the parent's session lock. */
void nprof__sym_postfork_child(void);

#endif /* NPROF_SYMBOLIZE_H */
