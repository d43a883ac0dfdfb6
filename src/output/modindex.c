/*
 * modindex.c - per-module indexes the symbolizer builds once, on first
 * use, instead of asking libdw each time: a module's function symbols
 * sorted by address (dwfl_module_addrinfo scans the whole table on every
 * call), and its compilation units' address ranges (libdw 0.188 finds a
 * CU only through .debug_aranges, which clang does not emit).
 *
 * Memory from the arena, owned by the module's entry in the symbolizer's
 * state (symbolize.c), which calls in here under its session lock only.
 */
#include "arena.h"
#include "modindex.h"

#include <stdlib.h>
#include <string.h>

/* ---- ELF symbols ---------------------------------------------------- */

static int fsym_before(const struct fsym *a, const struct fsym *b)
{
	if (a->start != b->start)
		return a->start < b->start;
	return a->rank > b->rank;       /* best alias first */
}

/* Heapsort: in place, no allocation (qsort may malloc a buffer). */
static void fsym_sift(struct fsym *v, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1, big = root;
		struct fsym t;

		if (child < n && fsym_before(&v[big], &v[child]))
			big = child;
		if (child + 1 < n && fsym_before(&v[big], &v[child + 1]))
			big = child + 1;
		if (big == root)
			return;
		t = v[root];
		v[root] = v[big];
		v[big] = t;
		root = big;
	}
}

static void fsym_sort(struct fsym *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		fsym_sift(v, i, n);
	for (size_t end = n; end-- > 1;) {
		struct fsym t = v[0];
		v[0] = v[end];
		v[end] = t;
		fsym_sift(v, 0, end);
	}
}

static int internal_alias(const char *name)
{
	size_t n = strlen(name);
	return strncmp(name, "__GI_", 5) == 0 ||
	       (n > 11 && strcmp(name + n - 11, ".localalias") == 0);
}

/* Reads and sorts mod's code symbols. On failure the module simply has
 * no symbols (n == 0). */
void nprof__modindex_syms(struct mod_info *ms)
{
	int total = dwfl_module_getsymtab(ms->mod), n = 0, k = 0;

	ms->syms = NULL;
	ms->n = 0;
	if (total <= 1)
		return;
	ms->syms = nprof__arena_alloc((size_t)total * sizeof(*ms->syms));
	if (!ms->syms)
		return;
	for (int i = 1; i < total; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(ms->mod, i, &sym, &addr, &shndx,
							   NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);

		if (!name || !*name || addr == 0 || shndx == SHN_UNDEF)
			continue;
		if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE)
			continue;
		ms->syms[n].start = (uintptr_t)addr;
		ms->syms[n].size = (uintptr_t)sym.st_size;
		ms->syms[n].name = name;
		/* Prefer a sized function, then a public name over glibc's
		 * internal aliases, then global over weak over local. */
		ms->syms[n].rank = (type != STT_NOTYPE) * 32 + (sym.st_size > 0) * 16 +
				   !internal_alias(name) * 4 +
				   (bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0);
		n++;
	}
	fsym_sort(ms->syms, (size_t)n);
	/* Keep one symbol per address: the best-ranked, sorted first. */
	for (int i = 0; i < n; i++)
		if (k == 0 || ms->syms[k - 1].start != ms->syms[i].start)
			ms->syms[k++] = ms->syms[i];
	ms->n = k;
}


/*
 * The ELF symbol containing addr: the last one starting at or below it,
 * if addr is inside its size (or it has none); otherwise a few earlier
 * ones are tried for a symbol that encloses a nested one. NULL when addr
 * is in no function (padding, or a stripped module).
 */
const struct fsym *nprof__modindex_symbol(struct mod_info *ms, uintptr_t addr)
{
	int lo = 0, hi;

	if (ms->n == 0)
		return NULL;
	hi = ms->n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (ms->syms[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (int i = lo - 1, tries = 0; i >= 0 && tries < 8; i--, tries++) {
		const struct fsym *f = &ms->syms[i];
		if (f->size == 0 ? i == lo - 1 : addr - f->start < f->size)
			return f;
	}
	return NULL;
}

/* ---- compilation units ---------------------------------------------- */

static int cu_before(const struct cu_range *a, const struct cu_range *b)
{
	return a->lo < b->lo;
}

static void cu_sort(struct cu_range *v, size_t n)
{
	/* Insertion sort by runs: CUs are mostly in address order already. */
	for (size_t i = 1; i < n; i++) {
		struct cu_range t = v[i];
		size_t j = i;
		while (j > 0 && cu_before(&t, &v[j - 1])) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = t;
	}
}

/* Collects every CU's ranges (DW_AT_low_pc/high_pc or DW_AT_ranges). */
static void cu_table_build(struct mod_info *ms)
{
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias = 0;
	int cap = 0;

	ms->cus_built = 1;
	while ((cu = dwfl_module_nextcu(ms->mod, cu, &bias)) != NULL) {
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		ms->bias = bias;
		while ((off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0) {
			if (lo >= hi)
				continue;
			if (ms->ncus == cap) {
				int ncap = cap ? cap * 2 : 256;
				struct cu_range *t = nprof__arena_realloc(ms->cus,
									  (size_t)ncap * sizeof(*t));
				if (!t)
					goto done;
				ms->cus = t;
				cap = ncap;
			}
			ms->cus[ms->ncus].lo = lo;
			ms->cus[ms->ncus].hi = hi;
			ms->cus[ms->ncus].cu = *cu;
			ms->ncus++;
		}
	}
done:
	cu_sort(ms->cus, (size_t)ms->ncus);
}

static Dwarf_Die *cu_table_find(struct mod_info *ms, Dwarf_Addr rel)
{
	int lo = 0, hi = ms->ncus;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (ms->cus[mid].lo <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Ranges of different CUs do not overlap; look back a little in
	 * case a CU's range list is not disjoint from its neighbour's. */
	for (int i = lo - 1; i >= 0 && i >= lo - 4; i--)
		if (rel >= ms->cus[i].lo && rel < ms->cus[i].hi)
			return &ms->cus[i].cu;
	return NULL;
}

/*
 * The CU containing addr and the module's bias, or NULL. libdw's lookup
 * first; our own range table when libdw has none for this module.
 */
Dwarf_Die *nprof__modindex_cu(struct mod_info *ms, uintptr_t addr, Dwarf_Addr *bias)
{
	Dwarf_Die *cu;

	if (!ms->use_cus) {
		/* libdwfl maps an address in a gap between .debug_aranges
		 * entries to the CU before the gap, which is wrong when a CU
		 * without aranges (clang) lies there: check the answer. */
		cu = dwfl_module_addrdie(ms->mod, addr, bias);
		if (cu && dwarf_haspc(cu, addr - *bias) == 1)
			return cu;
	}
	if (!ms->cus_built)
		cu_table_build(ms);
	if (ms->ncus == 0)
		return NULL;
	*bias = ms->bias;
	cu = cu_table_find(ms, addr - ms->bias);
	if (cu)
		ms->use_cus = 1;
	return cu;
}

