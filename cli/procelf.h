/*
 * procelf.h - another process's modules and their ELF symbols, for
 * `nprof attach` (inject.c): which file is mapped where in the target
 * (/proc/PID/maps), and a symbol's or a code pattern's offset in that file
 * (its .dynsym, read through /proc/PID/root). libdw is not linked in the
 * command.
 */
#ifndef NPROF_CLI_PROCELF_H
#define NPROF_CLI_PROCELF_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct nprof_procelf_range {
	uint64_t lo, hi;
};

struct nprof_procelf_module {
	char path[PATH_MAX];
	uint64_t base;          /* lowest mapping of the file (shared objects: load bias) */
	struct nprof_procelf_range text;      /* its executable mapping */
	int found;
};

struct nprof_procelf_file {
	const unsigned char *data;
	size_t size;
};

/* Finds the mapping of the first file whose base name starts with one of
 * `prefixes` (NULL-terminated), or equals `exact` when given. */
int nprof_procelf_find_module(pid_t pid, const char *const *prefixes, const char *exact,
			      struct nprof_procelf_module *m);
/* Maps the file behind a mapping of `pid`, through /proc/PID/root so a
 * process in another mount namespace is read right. 0 or -errno. */
int nprof_procelf_open(pid_t pid, const char *file, struct nprof_procelf_file *e);
void nprof_procelf_close(struct nprof_procelf_file *e);
/* `name` in .dynsym (the default version wins over hidden ones): value
 * and size, relative to the load bias; -ENOENT when absent. */
int nprof_procelf_sym(const struct nprof_procelf_file *e, const char *name, uint64_t *value,
		      uint64_t *size);
/* The address of the first `len` bytes equal to `pat` in the executable
 * segments of the file, relative to the load bias; 0 when absent. */
uint64_t nprof_procelf_find_code(const struct nprof_procelf_file *e, const unsigned char *pat,
				 size_t len);

#endif /* NPROF_CLI_PROCELF_H */
