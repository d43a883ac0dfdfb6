/*
 * procelf.c - another process's modules and their ELF symbols (procelf.h),
 * for `nprof attach`: /proc/PID/maps says which file is mapped where; the
 * file itself, mapped read-only through /proc/PID/root, gives a symbol's
 * value from .dynsym or the offset of a byte pattern in its code. Every
 * offset read from the file is checked against its size (the file is
 * the target's, not ours). No state; not for signal handlers.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procelf.h"

/* Finds the mapping of the first file whose base name starts with one of
 * `prefixes` (NULL-terminated), or equals `exact` when given. */
int nprof_procelf_find_module(pid_t pid, const char *const *prefixes, const char *exact,
			      struct nprof_procelf_module *m)
{
	char path[64], line[PATH_MAX + 128];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	memset(m, 0, sizeof *m);
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off;
		char perms[8];
		int pos = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s%n", &lo, &hi, perms, &off, &pos) < 4)
			continue;
		char *file = line + pos;
		while (*file == ' ')
			file++;
		file[strcspn(file, "\n")] = '\0';
		if (file[0] != '/')
			continue;
		const char *base = strrchr(file, '/') + 1;
		int match = 0;
		if (exact != NULL)
			match = strcmp(file, exact) == 0;
		else
			for (int i = 0; prefixes[i] && !match; i++)
				match = strncmp(base, prefixes[i], strlen(prefixes[i])) == 0;
		if (!match)
			continue;
		if (m->text.hi != 0 && strcmp(m->path, file) != 0)
			continue;
		/* The file may also be mapped whole elsewhere (libelf reads ELF
		 * files that way): the load bias is the offset-0 mapping right
		 * before the executable one. */
		if (off == 0 && m->text.hi == 0) {
			snprintf(m->path, sizeof m->path, "%s", file);
			m->base = lo;
			m->found = 1;
		}
		if (perms[2] == 'x' && m->found && m->text.hi == 0 &&
		    strcmp(m->path, file) == 0) {
			m->text.lo = lo;
			m->text.hi = hi;
		}
	}
	fclose(f);
	return m->text.hi != 0 ? 0 : -ENOENT;
}

/* Maps the file behind a mapping of `pid`, through /proc/PID/root so a
 * process in another mount namespace is read right. */
int nprof_procelf_open(pid_t pid, const char *file, struct nprof_procelf_file *e)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "/proc/%d/root%s", (int)pid, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -ENOEXEC;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	e->data = p;
	e->size = (size_t)st.st_size;
	const Elf64_Ehdr *h = p;
	if (memcmp(h->e_ident, ELFMAG, SELFMAG) != 0 || h->e_ident[EI_CLASS] != ELFCLASS64 ||
	    h->e_shoff == 0 || h->e_shoff + (uint64_t)h->e_shnum * sizeof(Elf64_Shdr) > e->size) {
		munmap(p, e->size);
		return -ENOEXEC;
	}
	return 0;
}

void nprof_procelf_close(struct nprof_procelf_file *e)
{
	if (e->data)
		munmap((void *)e->data, e->size);
	e->data = NULL;
}

/*
 * Looks `name` up in .dynsym; the default version wins over hidden ones
 * (glibc 2.34 has dlopen@@GLIBC_2.34 and a compat dlopen@GLIBC_2.2.5).
 * Sets value and size (relative to the load bias); -ENOENT when absent.
 */
int nprof_procelf_sym(const struct nprof_procelf_file *e, const char *name, uint64_t *value,
		      uint64_t *size)
{
	const Elf64_Ehdr *h = (const void *)e->data;
	const Elf64_Shdr *sh = (const void *)(e->data + h->e_shoff);
	const Elf64_Shdr *dynsym = NULL, *versym = NULL;
	for (int i = 0; i < h->e_shnum; i++) {
		if (sh[i].sh_type == SHT_DYNSYM)
			dynsym = &sh[i];
		else if (sh[i].sh_type == SHT_GNU_versym)
			versym = &sh[i];
	}
	if (dynsym == NULL || dynsym->sh_link >= h->e_shnum ||
	    dynsym->sh_offset + dynsym->sh_size > e->size)
		return -ENOENT;
	const Elf64_Shdr *strs = &sh[dynsym->sh_link];
	if (strs->sh_offset + strs->sh_size > e->size)
		return -ENOENT;
	const Elf64_Sym *syms = (const void *)(e->data + dynsym->sh_offset);
	const char *str = (const char *)e->data + strs->sh_offset;
	size_t n = dynsym->sh_size / sizeof(Elf64_Sym);
	const uint16_t *vs = NULL;
	if (versym && versym->sh_offset + n * 2 <= e->size)
		vs = (const void *)(e->data + versym->sh_offset);
	int found = 0;
	for (size_t i = 1; i < n; i++) {
		if (syms[i].st_shndx == SHN_UNDEF || syms[i].st_value == 0 ||
		    syms[i].st_name >= strs->sh_size || strcmp(str + syms[i].st_name, name) != 0)
			continue;
		int hidden = vs != NULL && (vs[i] & 0x8000);
		if (found && hidden)
			continue;
		*value = syms[i].st_value;
		*size = syms[i].st_size;
		found = 1;
		if (!hidden)
			break;
	}
	return found ? 0 : -ENOENT;
}

/* The address of the first `len` bytes equal to `pat` in the executable
 * segments of the file, relative to the load bias; 0 when absent. */
uint64_t nprof_procelf_find_code(const struct nprof_procelf_file *e, const unsigned char *pat,
				 size_t len)
{
	const Elf64_Ehdr *h = (const void *)e->data;
	if (h->e_phoff + (uint64_t)h->e_phnum * sizeof(Elf64_Phdr) > e->size)
		return 0;
	const Elf64_Phdr *ph = (const void *)(e->data + h->e_phoff);
	for (int i = 0; i < h->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X) ||
		    ph[i].p_offset + ph[i].p_filesz > e->size)
			continue;
		const unsigned char *seg = e->data + ph[i].p_offset;
		for (uint64_t off = 0; off + len <= ph[i].p_filesz; off++)
			if (seg[off] == pat[0] && memcmp(seg + off, pat, len) == 0)
				return ph[i].p_vaddr + off;
	}
	return 0;
}
