/*
 * buf.c - growable byte buffers (struct nprof_buf) for HTTP responses,
 * text reports and the encoded profiles.
 *
 * Owns: nothing global. A buffer is {data, len, cap, failed}; data is one
 * arena block (nprof__arena_*), never malloc, grown geometrically so that
 * appending n bytes costs amortised O(n).
 *
 * Failure contract: when the arena refuses to grow a buffer, the append
 * that needed the room stores nothing, sets b->failed and returns -ENOMEM.
 * Once failed, every later append also fails, so a caller may append a
 * whole document and test b->failed (or the last return) once at the end:
 * a failed buffer is never mistaken for a complete but shorter one.
 *
 * Locking: none. A buffer belongs to one thread at a time. Not
 * async-signal-safe (the arena is not).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "base.h"
#include "buf.h"
#include "proto.h"

/* Smallest block worth asking the arena for; most replies fit in it. */
#define BUF_MIN_CAP 256

/*
 * Makes room for `extra` more bytes after b->len. Returns 0, or -ENOMEM
 * with b->failed set (the contents are left as they were).
 */
int nprof__buf_reserve(struct nprof_buf *b, size_t extra)
{
	if (NPROF_UNLIKELY(b->failed))
		return -ENOMEM;
	if (NPROF_LIKELY(b->cap - b->len >= extra))
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		goto fail;
	size_t need = b->len + extra;
	size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
	/* Doubling, then from 8 MiB by quarters: a big arena block grows by
	 * mremap without copying, and a 40 MB text (the heap profile of
	 * 16,000 stacks, debug=1) then fits the serving budget, which
	 * doubling to 64 MB did not. */
	while (cap < need)
		cap += cap < ((size_t)8 << 20) ? cap : cap / 4;
	char *p = nprof__arena_realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->failed = 1;
	return -ENOMEM;
}

/* Appends n bytes; 0 or -ENOMEM (then b->failed is set, nothing stored). */
int nprof__buf_append(struct nprof_buf *b, const void *p, size_t n)
{
	if (nprof__buf_reserve(b, n) < 0)
		return -ENOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* Appends one byte; 0 or -ENOMEM. */
int nprof__buf_putc(struct nprof_buf *b, char c)
{
	if (nprof__buf_reserve(b, 1) < 0)
		return -ENOMEM;
	b->data[b->len++] = c;
	return 0;
}

/*
 * Appends printf-formatted text (no terminating NUL is stored: buffers
 * carry their length). 0 or -ENOMEM; -EINVAL on a format error, with
 * nothing appended.
 */
int nprof__buf_printf(struct nprof_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	if (b->failed)
		return -ENOMEM;
	/* Try in place first: one vsnprintf for the common case. */
	size_t room = b->cap - b->len;
	char *dst = room ? b->data + b->len : small;
	size_t dstlen = room ? room : sizeof(small);
	va_start(ap, fmt);
	int n = vsnprintf(dst, dstlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < dstlen) {
		if (dst == small && nprof__buf_append(b, small, (size_t)n) < 0)
			return -ENOMEM;
		if (dst != small)
			b->len += (size_t)n;
		return 0;
	}
	/* Too long: grow to fit text plus NUL and format again. */
	if (nprof__buf_reserve(b, (size_t)n + 1) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/*
 * Appends `s` with the five HTML-special characters replaced by entities,
 * so that names taken from the profiled program (function names, file
 * paths, thread names) can never inject markup into nprof's pages.
 */
int nprof__buf_html(struct nprof_buf *b, const char *s)
{
	const char *run = s;

	for (;; s++) {
		const char *ent;
		switch (*s) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		case '\0': ent = NULL; break;
		default: continue;
		}
		/* Copy the plain run before the special character in one go. */
		if (nprof__buf_append(b, run, (size_t)(s - run)) < 0)
			return -ENOMEM;
		if (!ent)
			return 0;
		if (nprof__buf_append(b, ent, strlen(ent)) < 0)
			return -ENOMEM;
		run = s + 1;
	}
}

/* Releases the data and resets the buffer to empty (and not failed). */
void nprof__buf_free(struct nprof_buf *b)
{
	nprof__arena_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

/*
 * Hands the data (arena memory, freed with nprof__arena_free) and its
 * length to the caller and resets the buffer. A failed buffer yields
 * NULL, since its contents are incomplete; its memory is released.
 */
char *nprof__buf_take(struct nprof_buf *b, size_t *len)
{
	char *p = b->data;

	if (b->failed) {
		nprof__buf_free(b);
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void nprof__buf_json_str(struct nprof_buf *b, const char *s)
{
	nprof__buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			nprof__buf_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&')
			nprof__buf_printf(b, "\\u%04x", ch);
		else
			nprof__buf_putc(b, (char)ch);
	}
	nprof__buf_putc(b, '"');
}
