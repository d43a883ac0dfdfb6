/*
 * procmaps.h - private interface between procmaps.c (reading
 * /proc/self/maps, finding build IDs) and the two users of libdw:
 * symbolize.c (the session) and stackwalk.c (unwinding blocked threads).
 * The symbolization contract is in output/symbolize.h.
 */
#ifndef NPROF_PROCMAPS_H
#define NPROF_PROCMAPS_H

#include <elfutils/libdwfl.h>
#include <stddef.h>
#include <stdint.h>

/* An executable mapping of /proc/self/maps. */
struct nprof_mapping {
	uint64_t id;            /* 1-based, stable within one session */
	uintptr_t start, limit; /* [start, limit) */
	uint64_t offset;        /* file offset of `start` */
	const char *file;       /* path, "" for anonymous, "[vdso]" ... */
	const char *build_id;   /* lower-case hex, "" when none */
	int has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

/*
 * The libdw callbacks of nprof's Dwfls (debuginfo.c). Both read each
 * module's file through /proc/self/map_files (right even when the file
 * was deleted or replaced) and hold no descriptor for it. The
 * symbolizer's also finds separate debug info (build-id directories,
 * .gnu_debuglink, debuginfod within the session's time budget); the
 * unwinder's needs none (.eh_frame is in the file). Every descriptor is
 * close-on-exec.
 */
extern const Dwfl_Callbacks nprof__dwfl_callbacks;
extern const Dwfl_Callbacks nprof__dwfl_callbacks_cfi;

/* debuginfod (debuginfo.c): whether it is to be asked (DEBUGINFOD_URLS
 * set, NPROF_DEBUGINFOD not 0, the library loadable); a counter that
 * moves when a fetch lands after a lookup stopped waiting for it (the
 * symbolizer then rebuilds its Dwfl); the start of a session, from which
 * lookups wait at most NPROF_DEBUGINFOD_MS; the table's counts. */
int nprof__debuginfo_debuginfod_on(void);
unsigned nprof__debuginfo_generation(void);
void nprof__debuginfo_session(int64_t start_ns);
void nprof__debuginfo_stats(int *done, int *failed, int *waiting);
void nprof__debuginfo_postfork_child(void);

/*
 * Reads the whole of /proc/self/maps with open/read into arena memory
 * (NUL-terminated). On success stores the text and its length and returns
 * 0; the caller frees *text with nprof__arena_free(). Returns a negative
 * errno when the file cannot be read or the arena is exhausted.
 */
int nprof__procmaps_read(char **text, size_t *len);

/*
 * A 64-bit FNV-1a hash of the executable lines of a maps text only. Heap
 * and stack mappings change all the time in a live service; only a change
 * in code (dlopen, dlclose, a JIT) invalidates what libdw has learned, so
 * only those lines are hashed.
 */
uint64_t nprof__procmaps_hash(const char *text, size_t len);

/*
 * Parses the executable mappings (perms contain 'x') of a maps text into
 * one arena block: the array, in address order, followed by its strings.
 * Fills id (1-based), start, limit, offset, file ("" when anonymous,
 * "[vdso]" and " (deleted)" kept as the kernel prints them) and build_id
 * (lower-case hex from the loaded image's PT_NOTE, else from the file on
 * disk, else ""); the has_* flags start at zero. Stores the block in *out
 * (free it with nprof__arena_free()) and returns the number of mappings,
 * or a negative errno.
 */
int nprof__procmaps_load(const char *text, size_t len, struct nprof_mapping **out);

#endif /* NPROF_PROCMAPS_H */
