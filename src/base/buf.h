/*
 * buf.h - growable byte buffers in arena memory (buf.c): every response,
 * text form and encoded profile is written into one. Errors are sticky:
 * after an out-of-memory `failed` is set and the contents are incomplete.
 */
#ifndef NPROF_BUF_H
#define NPROF_BUF_H

#include <stddef.h>

#include "base.h"

struct nprof_buf {
	char *data;     /* arena memory; NULL until the first append */
	size_t len;
	size_t cap;
	int failed;     /* an append ran out of memory; contents incomplete */
};

int nprof__buf_append(struct nprof_buf *b, const void *p, size_t n);
int nprof__buf_printf(struct nprof_buf *b, const char *fmt, ...) NPROF_PRINTF(2, 3);
int nprof__buf_putc(struct nprof_buf *b, char c);
/* Appends `s` with & < > " ' replaced by HTML entities. */
int nprof__buf_html(struct nprof_buf *b, const char *s);
/* Appends `s` as a quoted JSON string: " and \ escaped, control bytes and
 * < > & as \u00XX (so a name from the program can never close a <script>
 * of a page that embeds the JSON). */
void nprof__buf_json_str(struct nprof_buf *b, const char *s);
void nprof__buf_free(struct nprof_buf *b);
/* Hands the data to the caller (who frees it with nprof__arena_free). */
char *nprof__buf_take(struct nprof_buf *b, size_t *len);

#endif /* NPROF_BUF_H */
