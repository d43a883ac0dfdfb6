/*
 * test_buf.c - struct nprof_buf: appends, printf growth, HTML escaping,
 * take/free, and the out-of-memory contract (failed is sticky, nothing is
 * silently truncated), the last by lowering the arena's bound.
 */
#include <errno.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "unit.h"

static int buf_is(const struct nprof_buf *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

static void test_append(void)
{
	struct nprof_buf b = { 0 };
	CHECK(nprof__buf_append(&b, "ab", 2) == 0);
	CHECK(nprof__buf_putc(&b, 'c') == 0);
	CHECK(nprof__buf_append(&b, NULL, 0) == 0);
	CHECK(buf_is(&b, "abc"));
	CHECK(nprof__buf_printf(&b, "-%d-%s", 42, "x") == 0);
	CHECK(buf_is(&b, "abc-42-x"));
	CHECK(!b.failed);
	nprof__buf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_printf_growth(void)
{
	struct nprof_buf b = { 0 };
	char big[5000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* Longer than any first block: printf must grow and format again. */
	CHECK(nprof__buf_printf(&b, "[%s]", big) == 0);
	CHECK(b.len == sizeof(big) + 1);
	CHECK(b.data[0] == '[' && b.data[b.len - 1] == ']' && b.data[2500] == 'z');
	for (int i = 0; i < 10000; i++)
		nprof__buf_printf(&b, "%d,", i);
	CHECK(!b.failed);
	CHECK(memcmp(b.data + b.len - 5, "9999,", 5) == 0);
	nprof__buf_free(&b);
}

static void test_html(void)
{
	struct nprof_buf b = { 0 };
	CHECK(nprof__buf_html(&b, "<script>alert('x')</script>") == 0);
	CHECK(buf_is(&b, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
	b.len = 0;
	CHECK(nprof__buf_html(&b, "a&b \"q\"") == 0);
	CHECK(buf_is(&b, "a&amp;b &quot;q&quot;"));
	b.len = 0;
	CHECK(nprof__buf_html(&b, "") == 0);
	CHECK(b.len == 0);
	CHECK(nprof__buf_html(&b, "plain") == 0);
	CHECK(buf_is(&b, "plain"));
	nprof__buf_free(&b);
}

static void test_take(void)
{
	struct nprof_buf b = { 0 };
	size_t len = 99;
	nprof__buf_append(&b, "hello", 5);
	char *p = nprof__buf_take(&b, &len);
	CHECK(p && len == 5 && memcmp(p, "hello", 5) == 0);
	CHECK(b.data == NULL && b.len == 0);
	nprof__arena_free(p);

	/* A failed buffer is incomplete: take must not hand it out. */
	nprof__buf_append(&b, "partial", 7);
	b.failed = 1;
	CHECK(nprof__buf_append(&b, "x", 1) == -ENOMEM);
	CHECK(nprof__buf_putc(&b, 'x') == -ENOMEM);
	CHECK(nprof__buf_printf(&b, "%d", 1) == -ENOMEM);
	CHECK(nprof__buf_html(&b, "<") == -ENOMEM);
	CHECK(b.len == 7);
	CHECK(nprof__buf_take(&b, &len) == NULL && len == 0);
	CHECK(b.data == NULL && !b.failed);
}

static void test_out_of_memory(void)
{
	struct nprof_buf b = { 0 };
	size_t old = nprof__arena_limit();
	CHECK(nprof__buf_append(&b, "0123456789", 10) == 0);
	/* The arena refuses everything from here on. */
	nprof__arena_set_limit(nprof__arena_used());
	char chunk[1 << 16];
	memset(chunk, 'q', sizeof(chunk));
	int rc = nprof__buf_append(&b, chunk, sizeof(chunk));
	CHECK(rc == -ENOMEM);
	CHECK(b.failed);
	CHECK(b.len == 10 && memcmp(b.data, "0123456789", 10) == 0);
	/* Sticky: a small append that would fit still fails. */
	CHECK(nprof__buf_putc(&b, 'x') == -ENOMEM);
	CHECK(nprof__buf_printf(&b, "%s", "y") == -ENOMEM);
	nprof__arena_set_limit(old);
	nprof__buf_free(&b);
	CHECK(!b.failed);
	CHECK(nprof__buf_append(&b, chunk, sizeof(chunk)) == 0);
	nprof__buf_free(&b);
}

int main(void)
{
	test_append();
	test_printf_growth();
	test_html();
	test_take();
	test_out_of_memory();
	return unit_done("test_buf");
}
