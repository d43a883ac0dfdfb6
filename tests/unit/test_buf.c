/*
 * test_buf.c - struct nprof_buf: appends, printf growth, HTML escaping,
 * take/free, and the out-of-memory contract (failed is sticky, nothing is
 * silently truncated), the last by lowering the arena's bound; and the
 * arena's realloc of a big block (grown in place by mremap): contents
 * kept, growth zeroed, bytes accounted, the bound honoured; a freed big
 * block kept for reuse.
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

/* Quarter-step size classes: 176 bytes (192 with the header) take a
 * 192-byte block and 200 bytes a 224-byte one, not 256-byte ones; blocks
 * stay 16-byte aligned. */
static void test_size_classes(void)
{
	size_t used0 = nprof__arena_used();
	void *a = nprof__arena_alloc(176), *b = nprof__arena_alloc(176);
	CHECK(a != NULL && b != NULL);
	CHECK(nprof__arena_used() - used0 == 2 * 192);
	CHECK(((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0);
	void *c = nprof__arena_alloc(200);
	CHECK(nprof__arena_used() - used0 == 2 * 192 + 224);
	nprof__arena_free(a);
	nprof__arena_free(b);
	nprof__arena_free(c);
	CHECK(nprof__arena_used() == used0);
}

/* A freed big block is kept and handed out again zeroed; trim gives it
 * back. */
static void test_big_reuse(void)
{
	nprof__arena_trim(0);
	CHECK(nprof__arena_cached() == 0);
	size_t n = 1 << 20;
	unsigned char *p = nprof__arena_alloc(n);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	memset(p, 0xab, n);
	nprof__arena_free(p);
	CHECK(nprof__arena_cached() >= n);
	unsigned char *q = nprof__arena_alloc(n - 4096);
	CHECK(q == p);
	int zero = 1;
	for (size_t i = 0; q != NULL && i < n - 4096; i++)
		zero &= q[i] == 0;
	CHECK(zero);
	CHECK(nprof__arena_cached() == 0);
	nprof__arena_free(q);
	nprof__arena_trim(0);
	CHECK(nprof__arena_cached() == 0);
}

static void test_big_realloc(void)
{
	size_t used0 = nprof__arena_used();
	size_t n = 300 * 1024;
	unsigned char *p = nprof__arena_alloc(n);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7);
	size_t used1 = nprof__arena_used();
	CHECK(used1 >= used0 + n);
	unsigned char *q = nprof__arena_realloc(p, 5 * n);
	CHECK(q != NULL);
	if (q == NULL)
		return;
	int kept = 1, zero = 1;
	for (size_t i = 0; i < n; i++)
		kept &= q[i] == (unsigned char)(i * 7);
	for (size_t i = n; i < 5 * n; i++)
		zero &= q[i] == 0;
	CHECK(kept);
	CHECK(zero);
	CHECK(nprof__arena_used() >= used1 + 4 * n && nprof__arena_used() <= used1 + 4 * n + 8192);
	/* Past the bound the realloc fails and the block stays as it was. */
	size_t old = nprof__arena_limit();
	nprof__arena_set_limit(nprof__arena_used());
	CHECK(nprof__arena_realloc(q, 20 * n) == NULL);
	CHECK(q[n - 1] == (unsigned char)((n - 1) * 7));
	nprof__arena_set_limit(old);
	nprof__arena_free(q);
	CHECK(nprof__arena_used() == used0);
}

int main(void)
{
	test_size_classes();
	test_big_reuse();
	test_big_realloc();
	test_append();
	test_printf_growth();
	test_html();
	test_take();
	test_out_of_memory();
	return unit_done("test_buf");
}
