/*
 * symdwarf.c - one address's frames from its module: the ELF symbol
 * containing it (modindex.c's sorted table), its line (libdw's line table
 * of the CU), and the chain of inlined functions around it from the DWARF
 * scopes, innermost first, each outer frame at its inlined instance's
 * call site; "module+0xOFFSET" when nothing names it.
 * docs/internals/symbols.md, "One address", is the method.
 *
 * Data: per module a struct mod_info (modindex.h) in the symtab's mods
 * array, created on first use and kept as long as the Dwfl.
 *
 * Locking: none of its own; called only inside a symbolization session
 * (symbolize.c). libdw allocates with malloc (the session raised the hook
 * guard); the scope arrays it returns are released with free() as its API
 * says. Not async-signal-safe.
 */
#include <dwarf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "sym_int.h"

/* ---- modules ------------------------------------------------------- */

/* The index entry of `mod` (modindex.c), created and its symbols sorted on
 * first use; the last one found is remembered, as lookups come in runs. */
static struct mod_info *mod_info_get(struct nprof_symtab *st, Dwfl_Module *mod)
{
	struct mod_info *ms;

	if (st->last_mod < st->nmods && st->mods[st->last_mod].mod == mod)
		return &st->mods[st->last_mod];
	for (int i = 0; i < st->nmods; i++) {
		if (st->mods[i].mod == mod) {
			st->last_mod = i;
			return &st->mods[i];
		}
	}
	if (st->nmods == st->mods_cap) {
		int cap = st->mods_cap ? st->mods_cap * 2 : 64;
		struct mod_info *t = nprof__arena_realloc(st->mods, (size_t)cap * sizeof(*t));
		if (!t)
			return NULL;
		st->mods = t;
		st->mods_cap = cap;
	}
	ms = &st->mods[st->nmods];
	memset(ms, 0, sizeof(*ms));
	ms->mod = mod;
	nprof__modindex_syms(ms);
	st->last_mod = st->nmods++;
	return ms;
}

/* A DIE's function name, following abstract_origin/specification; the
 * linkage name first so that C++ shows its qualified, demangled form. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *s;

	s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
	if (!s)
		s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
	if (!s)
		s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
	return s;
}

/*
 * The inline chain at addr from DWARF scopes, innermost first, as raw
 * (un-interned) names and libdw-owned file strings. dwarf_getscopes()
 * follows an inlined instance into its abstract definition (what a
 * debugger wants for variables), so, like eu-addr2line -i, we take its
 * innermost DIE and walk the physical nesting with dwarf_getscopes_die().
 * Returns the number of frames, 0 when the scopes are unusable.
 */
static int inline_chain(Dwarf_Die *cudie, Dwarf_Addr bias, uintptr_t addr, const char *file0,
			int line0, const char *elfname, const char **names, const char **files,
			int *lines, int max)
{
	Dwarf_Die *scopes = NULL, inner;
	Dwarf_Files *srcfiles = NULL;
	const char *file = file0;
	int ns, n = 0, line = line0;

	ns = dwarf_getscopes(cudie, addr - bias, &scopes);
	if (ns <= 0) {
		free(scopes);
		return 0;
	}
	inner = scopes[0];
	free(scopes);
	scopes = NULL;
	ns = dwarf_getscopes_die(&inner, &scopes);
	if (ns <= 0) {
		free(scopes);
		return 0;
	}
	if (dwarf_getsrcfiles(cudie, &srcfiles, NULL) != 0)
		srcfiles = NULL;
	for (int i = 0; i < ns && n < max; i++) {
		Dwarf_Die *d = &scopes[i];
		int tag = dwarf_tag(d);
		Dwarf_Attribute a;
		Dwarf_Word v;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram &&
		    tag != DW_TAG_entry_point)
			continue;
		names[n] = die_name(d);
		if (!names[n] && tag != DW_TAG_inlined_subroutine)
			names[n] = elfname;
		files[n] = file;
		lines[n] = line;
		n++;
		if (tag != DW_TAG_inlined_subroutine)
			break;
		/* The next outer frame is at this instance's call site. */
		line = dwarf_formudata(dwarf_attr(d, DW_AT_call_line, &a), &v) == 0 ? (int)v : 0;
		file = NULL;
		if (srcfiles && dwarf_formudata(dwarf_attr(d, DW_AT_call_file, &a), &v) == 0)
			file = dwarf_filesrc(srcfiles, v, NULL, NULL);
	}
	free(scopes);
	return n;
}

/*
 * Computes the frames for addr into fr[SYM_MAX_INLINE] and marks the
 * mapping's has_* flags. Returns the frame count (0 when nothing is
 * known) or -ENOMEM when a string could not be interned.
 */
int nprof__symdwarf_resolve(struct nprof_symtab *st, struct nprof_mapping *m, uintptr_t addr,
		   struct nprof_frame *fr)
{
	const char *names[SYM_MAX_INLINE], *files[SYM_MAX_INLINE];
	int lines[SYM_MAX_INLINE];
	const char *elfname = NULL, *file0 = NULL;
	const struct fsym *fs;
	struct mod_info *ms;
	Dwfl_Module *mod;
	Dwarf_Die *cudie;
	Dwarf_Addr bias = 0;
	uintptr_t off = 0;
	int n = 0, line0 = 0;

	if (!st->dwfl || !(mod = dwfl_addrmodule(st->dwfl, addr)))
		return 0;
	if (!(ms = mod_info_get(st, mod)))
		return -ENOMEM;
	/* Same answer as dwfl_module_addrinfo(), from a sorted table. */
	fs = nprof__modindex_symbol(ms, addr);
	if (fs) {
		elfname = fs->name;
		off = addr - fs->start;
	}
	cudie = nprof__modindex_cu(ms, addr, &bias);
	if (cudie) {
		Dwarf_Line *dl = dwarf_getsrc_die(cudie, addr - bias);
		if (dl && dwarf_lineno(dl, &line0) == 0)
			file0 = dwarf_linesrc(dl, NULL, NULL);
		else
			line0 = 0;
		n = inline_chain(cudie, bias, addr, file0, line0, elfname, names, files, lines,
				 SYM_MAX_INLINE);
	}
	if (n > 0) {
		m->has_inline_frames = 1;
	} else {
		/* No usable scopes: the ELF symbol, with a line if the line
		 * table knows one. */
		if (!elfname && !file0)
			return 0;
		names[0] = elfname;
		files[0] = file0;
		lines[0] = line0;
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		fr[i].function = nprof__symcache_function(st, names[i]);
		fr[i].file = nprof__symcache_intern(st, files[i]);
		if (!fr[i].function || !fr[i].file)
			return -ENOMEM;
		fr[i].line = lines[i] > 0 ? lines[i] : 0;
		fr[i].symoff = off;
		if (fr[i].function[0])
			m->has_functions = 1;
		if (fr[i].file[0])
			m->has_filenames = 1;
		if (fr[i].line)
			m->has_line_numbers = 1;
	}
	return n;
}

/*
 * The last resort for an address in a known mapping without any symbol:
 * one frame named "module+0xOFFSET", the file's base name and the
 * address's offset in the file (for libraries and PIE executables also
 * the address eu-addr2line -e FILE and objdump use); never a bare address. The has_functions flag stays
 * as it was: this is no symbol.
 */
int nprof__symdwarf_module_offset(struct nprof_symtab *st, const struct nprof_mapping *m, uintptr_t addr,
			 struct nprof_frame *fr)
{
	char name[300], clean[256];
	const char *base = m->file[0] ? strrchr(m->file, '/') : NULL;
	size_t n;

	if (m->file[0] == '\0')
		snprintf(clean, sizeof clean, "[anon]");
	else
		snprintf(clean, sizeof clean, "%s", base ? base + 1 : m->file);
	n = strlen(clean);
	if (n > 10 && strcmp(clean + n - 10, " (deleted)") == 0)
		clean[n - 10] = '\0';
	snprintf(name, sizeof name, "%s+0x%" PRIxPTR, clean,
		 (uintptr_t)(addr - m->start + m->offset));
	fr[0].function = nprof__symcache_intern(st, name);
	fr[0].file = nprof__sym_empty;
	fr[0].line = 0;
	fr[0].symoff = 0;
	return fr[0].function ? 1 : -ENOMEM;
}
