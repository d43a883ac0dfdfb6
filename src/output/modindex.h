/*
 * modindex.h - what symbolize.c and modindex.c share: the per-module
 * indexes of ELF symbols and compilation-unit ranges. Private to them.
 */
#ifndef NPROF_MODINDEX_H
#define NPROF_MODINDEX_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdint.h>


struct fsym {
	uintptr_t start, size;
	const char *name;       /* libdw's string: valid as long as the Dwfl */
	int rank;               /* among aliases, the higher is shown */
};

/* One address range of a compilation unit, module-relative. */
struct cu_range {
	Dwarf_Addr lo, hi;
	Dwarf_Die cu;
};

/*
 * What we learn per module, built on first use.
 * syms: its function symbols sorted by start. dwfl_module_addrinfo()
 * scans the whole table on every call, which dominated the cost of a first
 * lookup (libc's debug symtab has 10,000+ entries).
 * cus: its CUs' address ranges, sorted, built only when libdw cannot map
 * an address to a CU itself: libdw 0.188 relies on .debug_aranges, which
 * clang does not emit by default, so clang-built code (or a gcc binary
 * linked with clang-built objects) would otherwise get no lines and no
 * inline frames.
 */
struct mod_info {
	Dwfl_Module *mod;
	struct fsym *syms;      /* arena; NULL when the module has none */
	int n;
	struct cu_range *cus;   /* arena */
	int ncus;
	int cus_built;
	int use_cus;            /* libdw's own CU lookup failed where ours worked */
	Dwarf_Addr bias;
};

/* Builds ms->syms from the module's symbol table (sorted, aliases ranked). */
void nprof__modindex_syms(struct mod_info *ms);

/* The function symbol containing addr (absolute), or NULL. */
const struct fsym *nprof__modindex_symbol(struct mod_info *ms, uintptr_t addr);

/*
 * The CU containing addr and the module's bias, or NULL: libdw's lookup
 * first (checked with dwarf_haspc), then our own range table, built on
 * first need.
 */
Dwarf_Die *nprof__modindex_cu(struct mod_info *ms, uintptr_t addr, Dwarf_Addr *bias);

#endif /* NPROF_MODINDEX_H */
