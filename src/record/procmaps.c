/*
 * procmaps.c - the process's executable mappings and their build IDs.
 *
 * Owns: reading /proc/self/maps (open/read, no stdio, no malloc), turning
 * its executable lines into struct nprof_mapping, and finding each
 * mapping's GNU build ID.
 *
 * Data: nprof__procmaps_load() returns one arena block holding the mapping
 * array followed by every string it points to (paths, build IDs), so a
 * whole mapping table is freed with a single nprof__arena_free().
 *
 * Build IDs come first from the loaded image in memory: dl_iterate_phdr()
 * lists every object the dynamic loader mapped, with its PT_LOAD and
 * PT_NOTE segments, and a mapping belongs to the object whose PT_LOAD range
 * contains its start. Reading memory works for deleted files, memfds and
 * the vdso, and costs no I/O. Mappings the loader does not know (mmap'ed
 * by hand) fall back to reading the ELF file's program headers and notes
 * with pread. A " (deleted)" path is never opened: a file now at that path
 * is a different file and would give a wrong ID.
 *
 * Locking: none of its own. Called by symbolize.c with the session mutex
 * held; dl_iterate_phdr takes the loader's lock briefly. Not
 * async-signal-safe (arena, loader lock).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "procmaps.h"

/* Longest build ID we keep, in bytes; GNU ld emits 20 (sha1), lld 8..20. */
#define BUILD_ID_MAX 64
#define BUILD_ID_HEX (2 * BUILD_ID_MAX + 1)

/* Largest note segment we read from a file, to bound the fallback's I/O. */
#define NOTE_READ_MAX (64 * 1024)

/* Reads /proc/self/maps whole into arena memory, NUL-terminated; 0 or a
 * negative errno (contract in procmaps.h). The file is generated as it is
 * read, so it is read to EOF rather than sized first. */
int nprof__procmaps_read(char **text, size_t *len)
{
	/* Sized from the previous read (plus room to grow): a process with
	 * ten thousand threads has two mappings per thread stack, a 1 MB
	 * text that doubling from 64 KiB reached in four copies. Racy
	 * between sessions but only a hint. */
	static _Atomic size_t last_len;
	size_t cap = atomic_load_explicit(&last_len, memory_order_relaxed);
	cap = cap < 48 * 1024 ? 64 * 1024 : cap + cap / 4 + 16 * 1024;
	size_t used = 0;
	char *buf, *grown;
	ssize_t n;
	int fd, err;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = nprof__arena_alloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto fail_alloc;
	}
	for (;;) {
		/* Keep one byte for the terminating NUL. */
		if (cap - used < 4096) {
			grown = nprof__arena_realloc(buf, cap * 2);
			if (!grown) {
				err = -ENOMEM;
				goto fail_read;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto fail_read;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	*text = buf;
	*len = used;
	atomic_store_explicit(&last_len, used, memory_order_relaxed);
	return 0;

fail_read:
	nprof__arena_free(buf);
fail_alloc:
	close(fd);
	return err;
}

/* One parsed line of /proc/self/maps; path points into the text. */
struct maps_line {
	uintptr_t start, limit;
	uint64_t offset;
	const char *path;
	size_t path_len;
	int exec;
};

static const char *parse_hex(const char *p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = p;

	for (; p < end; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return p == s ? NULL : p;
}

/*
 * Parses "start-limit perms offset dev inode   path" from [p, end), end
 * being the newline (or the end of the text). Returns 0, or -1 for a line
 * that does not have that shape (skipped rather than trusted).
 */
static int parse_line(const char *p, const char *end, struct maps_line *ml)
{
	uint64_t v;

	if (!(p = parse_hex(p, end, &v)) || p >= end || *p != '-')
		return -1;
	ml->start = (uintptr_t)v;
	if (!(p = parse_hex(p + 1, end, &v)) || p >= end || *p != ' ')
		return -1;
	ml->limit = (uintptr_t)v;
	p++;
	if (end - p < 5 || p[4] != ' ')
		return -1;
	ml->exec = p[2] == 'x';
	p += 5;
	if (!(p = parse_hex(p, end, &v)) || p >= end || *p != ' ')
		return -1;
	ml->offset = v;
	p++;
	/* dev "maj:min" and inode: skip two space-separated fields. */
	for (int field = 0; field < 2; field++) {
		while (p < end && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
	}
	/* The path is the rest of the line; it may itself contain spaces. */
	ml->path = p;
	ml->path_len = (size_t)(end - p);
	return 0;
}

/* FNV-1a over the executable lines only: what invalidates libdw's view
 * of the process (contract in procmaps.h). */
uint64_t nprof__procmaps_hash(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	uint64_t h = 0xcbf29ce484222325ull;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct maps_line ml;

		if (!nl)
			nl = end;
		/* Only an executable line is hashed: its perms ("r-xp") follow
		 * the first space. Looking there first spares parsing the
		 * thousands of thread stacks' lines of a big process. */
		const char *sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp != NULL && nl - sp > 3 && sp[3] == 'x' && parse_line(p, nl, &ml) == 0 &&
		    ml.exec) {
			for (const char *c = p; c < nl; c++) {
				h ^= (unsigned char)*c;
				h *= 0x100000001b3ull;
			}
			h ^= '\n';
			h *= 0x100000001b3ull;
		}
		p = nl + 1;
	}
	return h;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	if (n > BUILD_ID_MAX)
		n = BUILD_ID_MAX;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Finds NT_GNU_BUILD_ID among the notes in [notes, notes + size) and
 * writes it as hex into out. `align` is the segment's note alignment (4,
 * or 8 for some toolchains' .note.gnu.property companions). Returns 1
 * when found.
 */
static int find_build_id(const unsigned char *notes, size_t size, size_t align, char *out)
{
	size_t pos = 0;

	if (align != 8)
		align = 4;
	while (size - pos >= sizeof(ElfW(Nhdr))) {
		ElfW(Nhdr) nh;
		size_t name_off, desc_off, next;

		memcpy(&nh, notes + pos, sizeof(nh));
		name_off = pos + sizeof(nh);
		desc_off = name_off + ((nh.n_namesz + align - 1) & ~(align - 1));
		next = desc_off + ((nh.n_descsz + align - 1) & ~(align - 1));
		/* Malformed sizes would run off the segment: stop, do not read. */
		if (desc_off > size || nh.n_descsz > size - desc_off || next <= pos)
			return 0;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(notes + name_off, "GNU", 4) == 0 && nh.n_descsz > 0) {
			to_hex(notes + desc_off, nh.n_descsz, out);
			return 1;
		}
		if (next > size)
			return 0;
		pos = next;
	}
	return 0;
}

struct phdr_walk {
	struct nprof_mapping *maps;
	int n;
};

/* dl_iterate_phdr callback: gives this object's build ID to every
 * still-unnamed mapping that lies inside one of its PT_LOAD segments. */
static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct phdr_walk *w = arg;
	char hex[BUILD_ID_HEX];
	int found = 0;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum && !found; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		found = find_build_id((const unsigned char *)(info->dlpi_addr + ph->p_vaddr),
				      ph->p_memsz, ph->p_align, hex);
	}
	if (!found)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (ph->p_type != PT_LOAD)
			continue;
		lo = info->dlpi_addr + ph->p_vaddr;
		hi = lo + ph->p_memsz;
		for (int m = 0; m < w->n; m++) {
			struct nprof_mapping *map = &w->maps[m];
			if (map->build_id[0] == '\0' && map->start >= lo && map->start < hi)
				strcpy((char *)map->build_id, hex);
		}
	}
	return 0;
}

static int pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/*
 * The fallback: reads the build ID from the ELF file at `path` (native
 * class only, through its PT_NOTE program headers). Returns 1 when found.
 */
static int file_build_id(const char *path, char *out)
{
	unsigned char *notes = NULL;
	ElfW(Ehdr) eh;
	int fd, found = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread_full(fd, &eh, sizeof(eh), 0) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum > 256)
		goto out;
	for (int i = 0; i < eh.e_phnum && !found; i++) {
		ElfW(Phdr) ph;

		if (pread_full(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (size_t)i * sizeof(ph))) != 0)
			break;
		if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > NOTE_READ_MAX)
			continue;
		notes = nprof__arena_alloc(ph.p_filesz);
		if (!notes)
			break;
		if (pread_full(fd, notes, ph.p_filesz, (off_t)ph.p_offset) == 0)
			found = find_build_id(notes, ph.p_filesz, ph.p_align, out);
		nprof__arena_free(notes);
	}
out:
	close(fd);
	return found;
}

static int has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* The executable mappings of a maps text, with build IDs, as one arena
 * block; the count or a negative errno (contract in procmaps.h). */
int nprof__procmaps_load(const char *text, size_t len, struct nprof_mapping **out)
{
	const char *p, *end = text + len;
	struct nprof_mapping *maps;
	struct maps_line ml;
	size_t bytes = 0;
	char *strings;
	int n = 0, i;

	/* Pass 1: size the block, so the table and its strings are one allocation. */
	for (p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (parse_line(p, nl, &ml) == 0 && ml.exec) {
			n++;
			bytes += ml.path_len + 1 + BUILD_ID_HEX;
		}
		p = nl + 1;
	}
	maps = nprof__arena_alloc((size_t)n * sizeof(*maps) + bytes + 1);
	if (!maps)
		return -ENOMEM;
	strings = (char *)(maps + n);

	/* Pass 2: fill it. The text may not have changed in between: it is ours. */
	for (p = text, i = 0; p < end && i < n;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct nprof_mapping *m;
		char *build_id;

		if (!nl)
			nl = end;
		if (parse_line(p, nl, &ml) == 0 && ml.exec) {
			m = &maps[i];
			m->id = (uint64_t)i + 1;
			m->start = ml.start;
			m->limit = ml.limit;
			m->offset = ml.offset;
			memcpy(strings, ml.path, ml.path_len);
			strings[ml.path_len] = '\0';
			m->file = strings;
			strings += ml.path_len + 1;
			build_id = strings;
			build_id[0] = '\0';
			m->build_id = build_id;
			strings += BUILD_ID_HEX;
			i++;
		}
		p = nl + 1;
	}

	/* Build IDs: from memory first, then from files the loader did not map. */
	struct phdr_walk w = { maps, n };
	dl_iterate_phdr(phdr_cb, &w);
	for (i = 0; i < n; i++) {
		struct nprof_mapping *m = &maps[i];
		size_t fl = strlen(m->file);

		if (m->build_id[0] || m->file[0] != '/' || has_suffix(m->file, fl, " (deleted)"))
			continue;
		/* The same file's earlier mapping may already have been read. */
		for (int j = 0; j < i; j++) {
			if (maps[j].build_id[0] && strcmp(maps[j].file, m->file) == 0) {
				strcpy((char *)m->build_id, maps[j].build_id);
				break;
			}
		}
		if (!m->build_id[0])
			file_build_id(m->file, (char *)m->build_id);
	}
	*out = maps;
	return n;
}

