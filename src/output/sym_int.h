/*
 * sym_int.h - what the symbolizer's three files share, private to them:
 * symbolize.c (sessions, the mapping table, the Dwfl's life, lookups),
 * symcache.c (the string intern table, the per-address result cache and
 * the pool both live in) and symdwarf.c (one address's frames from a
 * module's ELF symbols and DWARF: lines, inline chains). The state is one
 * struct nprof_symtab, used only inside a session (symbolize.c's lock held
 * by the thread that opened it).
 */
#ifndef NPROF_SYM_INT_H
#define NPROF_SYM_INT_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdint.h>
#include <sys/types.h>

#include "base.h"
#include "modindex.h"
#include "procmaps.h"
#include "symbolize.h"

/* Deepest inline chain kept for one address. */
#define SYM_MAX_INLINE 32

/* Pool chunk size; bigger requests get a chunk of their own. */
#define POOL_CHUNK (64 * 1024)

/* The result cache is flushed at open once its pool holds this much. */
#define CACHE_MAX_BYTES ((size_t)64 << 20)

typedef char *(*demangle_fn)(const char *mangled, char *buf, size_t *len, int *status);

struct pool_chunk {
	struct pool_chunk *next;
	size_t used, cap;
	char data[];
};

/* A cached lookup; addr 0 marks an empty slot (0 is never looked up). */
struct sym_entry {
	uintptr_t addr;
	struct nprof_frame *frames;
	int n;
};

/* An interned string; demangled is the display form, set on first use
 * as a function name (NULL until then). */
struct sym_str {
	uint64_t hash;
	const char *s;
	const char *demangled;
};

/* The symbolizer's state, one static instance (symbolize.c), kept across
 * sessions while the code mappings do not change. */
struct nprof_symtab {
	Dwfl *dwfl;
	uint64_t maps_hash;
	pid_t pid;
	int stale;                  /* rebuild at the next open */
	struct nprof_mapping *maps; /* procmaps.c block */
	int nmaps;
	struct sym_entry *cache;
	size_t cache_cap, cache_n;  /* cap a power of two */
	struct sym_str *strs;
	size_t strs_cap, strs_n;
	struct pool_chunk *pool;
	size_t pool_bytes;
	struct mod_info *mods;      /* arena; lives with the Dwfl */
	int nmods, mods_cap, last_mod;
	demangle_fn demangle;
	int saved_guard;            /* the opener's hook guard, restored at close */
	unsigned di_gen;            /* debuginfo generation the Dwfl was built at */
};

/* "", the file and function of a frame nothing is known about. */
extern const char nprof__sym_empty[];

/* symcache.c ---------------------------------------------------------- */

/* size bytes (16-aligned) from the pool; NULL when out of memory. Freed
 * all at once by nprof__symcache_flush. */
void *nprof__symcache_alloc(struct nprof_symtab *st, size_t size);
/* An interned string; "" for NULL or empty; NULL when out of memory. */
const char *nprof__symcache_intern(struct nprof_symtab *st, const char *s);
/* An interned function name in display form (C++ names demangled once). */
const char *nprof__symcache_function(struct nprof_symtab *st, const char *raw);
/* The cached result for addr, or NULL. */
struct sym_entry *nprof__symcache_find(struct nprof_symtab *st, uintptr_t addr);
/* Remembers addr's n frames; failure only costs a later recomputation. */
void nprof__symcache_put(struct nprof_symtab *st, uintptr_t addr, const struct nprof_frame *fr,
			 int n);
/* Forgets every result and string (between sessions only). */
void nprof__symcache_flush(struct nprof_symtab *st);

/* symdwarf.c ---------------------------------------------------------- */

/*
 * The frames of addr (in mapping m) into fr[SYM_MAX_INLINE], marking the
 * mapping's has_* flags: the count, 0 when nothing is known, -ENOMEM when
 * a string could not be interned.
 */
int nprof__symdwarf_resolve(struct nprof_symtab *st, struct nprof_mapping *m, uintptr_t addr,
			    struct nprof_frame *fr);
/* One frame "module+0xOFFSET" for an address of m without any symbol:
 * 1, or -ENOMEM. */
int nprof__symdwarf_module_offset(struct nprof_symtab *st, const struct nprof_mapping *m,
				  uintptr_t addr, struct nprof_frame *fr);

#endif /* NPROF_SYM_INT_H */
