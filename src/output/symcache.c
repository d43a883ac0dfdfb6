/*
 * symcache.c - the symbolizer's memory of what it found: the string
 * intern table (function and file names; equal strings share one pointer
 * within a session, a mangled name is demangled once) and the per-address
 * result cache (open addressing, addr -> frames, "nothing known"
 * included), both held in a chain of arena chunks (the pool) freed all at
 * once by nprof__symcache_flush.
 *
 * Data: the tables live in struct nprof_symtab (sym_int.h); growth
 * doubles and rehashes, so lookups stay one or two probes.
 *
 * Locking: none of its own; called only inside a symbolization session
 * (symbolize.c's lock held by the opening thread). Not async-signal-safe.
 * The demangler's result is freed with free(): it is the host malloc's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "sym_int.h"

const char nprof__sym_empty[] = "";

/* ---- pool and intern table ------------------------------------------ */

void *nprof__symcache_alloc(struct nprof_symtab *st, size_t size)
{
	struct pool_chunk *c = st->pool;
	void *p;

	size = (size + 15) & ~(size_t)15;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > POOL_CHUNK ? size : POOL_CHUNK;
		c = nprof__arena_alloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = st->pool;
		st->pool = c;
		st->pool_bytes += sizeof(*c) + cap;
	}
	p = c->data + c->used;
	c->used += size;
	return p;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int strs_grow(struct nprof_symtab *st)
{
	size_t cap = st->strs_cap ? st->strs_cap * 2 : 4096;
	struct sym_str *t = nprof__arena_alloc(cap * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < st->strs_cap; i++) {
		struct sym_str *o = &st->strs[i];
		size_t j;
		if (!o->s)
			continue;
		for (j = o->hash & (cap - 1); t[j].s; j = (j + 1) & (cap - 1))
			;
		t[j] = *o;
	}
	nprof__arena_free(st->strs);
	st->strs = t;
	st->strs_cap = cap;
	return 0;
}

/* The interned copy of s (a slot in strs), or NULL when out of memory.
 * The slot pointer is valid only until the next intern. */
static struct sym_str *intern_slot(struct nprof_symtab *st, const char *s)
{
	uint64_t h = str_hash(s);
	size_t j, len;
	char *copy;

	if ((st->strs_n + 1) * 2 > st->strs_cap && strs_grow(st) != 0)
		return NULL;
	for (j = h & (st->strs_cap - 1); st->strs[j].s; j = (j + 1) & (st->strs_cap - 1))
		if (st->strs[j].hash == h && strcmp(st->strs[j].s, s) == 0)
			return &st->strs[j];
	len = strlen(s);
	copy = nprof__symcache_alloc(st, len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len + 1);
	st->strs[j].hash = h;
	st->strs[j].s = copy;
	st->strs[j].demangled = NULL;
	st->strs_n++;
	return &st->strs[j];
}

/* An interned file name; "" for NULL or empty; NULL when out of memory. */
const char *nprof__symcache_intern(struct nprof_symtab *st, const char *s)
{
	struct sym_str *e;

	if (!s || !*s)
		return nprof__sym_empty;
	e = intern_slot(st, s);
	return e ? e->s : NULL;
}

/*
 * An interned function name in display form: C++ names demangled with
 * the host's __cxa_demangle when it has one (libstdc++ is not linked into
 * nprof, so a pure C host keeps raw names, which are C names anyway).
 */
const char *nprof__symcache_function(struct nprof_symtab *st, const char *raw)
{
	struct sym_str *e;
	const char *shown;
	char *d = NULL;
	int status = -1;

	if (!raw || !*raw)
		return nprof__sym_empty;
	e = intern_slot(st, raw);
	if (!e)
		return NULL;
	if (e->demangled)
		return e->demangled;
	shown = e->s;
	if (raw[0] == '_' && raw[1] == 'Z' && st->demangle)
		d = st->demangle(raw, NULL, NULL, &status);
	if (d && status == 0) {
		struct sym_str *de = intern_slot(st, d);
		if (de)
			shown = de->s;
		/* Interning may have moved the table: find raw's slot again. */
		e = intern_slot(st, raw);
	}
	free(d); /* __cxa_demangle's buffer is the host malloc's, not ours */
	if (!e)
		return NULL;
	e->demangled = shown;
	return shown;
}

/* ---- address cache -------------------------------------------------- */

static size_t addr_slot(uintptr_t addr, size_t cap)
{
	uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ull;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

struct sym_entry *nprof__symcache_find(struct nprof_symtab *st, uintptr_t addr)
{
	if (!st->cache)
		return NULL;
	for (size_t j = addr_slot(addr, st->cache_cap);; j = (j + 1) & (st->cache_cap - 1)) {
		if (st->cache[j].addr == addr)
			return &st->cache[j];
		if (st->cache[j].addr == 0)
			return NULL;
	}
}

static int cache_grow(struct nprof_symtab *st)
{
	size_t cap = st->cache_cap ? st->cache_cap * 2 : 16384;
	struct sym_entry *t = nprof__arena_alloc(cap * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < st->cache_cap; i++) {
		size_t j;
		if (!st->cache[i].addr)
			continue;
		for (j = addr_slot(st->cache[i].addr, cap); t[j].addr; j = (j + 1) & (cap - 1))
			;
		t[j] = st->cache[i];
	}
	nprof__arena_free(st->cache);
	st->cache = t;
	st->cache_cap = cap;
	return 0;
}

/* Remembers a result; failure only costs a later recomputation. */
void nprof__symcache_put(struct nprof_symtab *st, uintptr_t addr, const struct nprof_frame *fr, int n)
{
	struct nprof_frame *copy = NULL;
	size_t j;

	if ((st->cache_n + 1) * 2 > st->cache_cap && cache_grow(st) != 0)
		return;
	if (n > 0) {
		copy = nprof__symcache_alloc(st, (size_t)n * sizeof(*copy));
		if (!copy)
			return;
		memcpy(copy, fr, (size_t)n * sizeof(*copy));
	}
	for (j = addr_slot(addr, st->cache_cap); st->cache[j].addr; j = (j + 1) & (st->cache_cap - 1))
		;
	st->cache[j].addr = addr;
	st->cache[j].frames = copy;
	st->cache[j].n = n;
	st->cache_n++;
}

/* Forgets every result and string (between sessions only). */
void nprof__symcache_flush(struct nprof_symtab *st)
{
	while (st->pool) {
		struct pool_chunk *next = st->pool->next;
		nprof__arena_free(st->pool);
		st->pool = next;
	}
	st->pool_bytes = 0;
	nprof__arena_free(st->cache);
	st->cache = NULL;
	st->cache_cap = st->cache_n = 0;
	nprof__arena_free(st->strs);
	st->strs = NULL;
	st->strs_cap = st->strs_n = 0;
}
