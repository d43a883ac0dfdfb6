/*
 * reply.c - the reply every handler fills (struct nprof_reply, profile.h)
 * and the one wording of an error reply, shared by the profiles and the
 * serving files: a status and one line of plain text, as Go's serveError.
 *
 * Threads: called on connection threads, several at once; no state here.
 * Nothing here may be called from a signal handler.
 */
#include "base.h"
#include "buf.h"
#include "profile.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when the bytes
 * there are not one.
 */
static int utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int len;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if ((size_t)len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Sets an error reply as Go's serveError does: the status, text/plain
 * and one line of reason. Whatever the handler had written is dropped.
 * Control bytes and invalid UTF-8 in the reason (it may quote a URL or a
 * header) are written \xNN, so it stays one line of valid UTF-8. Runs on
 * connection threads.
 */
void nprof__reply_error(struct nprof_reply *rep, int status, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;

	nprof__buf_free(&rep->body);
	memset(&rep->body, 0, sizeof(rep->body));
	rep->status = status;
	rep->content_type = TEXT_PLAIN;
	rep->attachment = NULL;
	rep->encoding = NULL;
	/* The reason may quote a URL or a header: it stays one line of valid
	 * UTF-8, every control byte and every byte that is not part of a
	 * well-formed UTF-8 sequence written as \xNN. */
	for (int i = 0; i < n;) {
		unsigned char c = (unsigned char)line[i];
		int len = utf8_len((const unsigned char *)line + i, (size_t)(n - i));

		if (len > 1) {
			nprof__buf_append(&rep->body, line + i, (size_t)len);
			i += len;
			continue;
		}
		if (len == 1 && c >= 0x20 && c != 0x7f)
			nprof__buf_putc(&rep->body, (char)c);
		else
			nprof__buf_printf(&rep->body, "\\x%02x", c);
		i++;
	}
	nprof__buf_putc(&rep->body, '\n');
}
