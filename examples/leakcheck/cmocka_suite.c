/*
 * cmocka_suite.c - leak checks in a cmocka suite: every test runs between
 * nprof_check_begin() (setup) and nprof_check_end() (teardown); a test
 * that leaves a thread running, a descriptor open or a heap block
 * unreachable fails, with the report naming the line.
 *
 *   make && build/examples/leakcheck/cmocka_suite
 *
 * Three tests: two clean ones (one fills a cache, which stays reachable and
 * is no leak) and test_leaky_greeting, which fails on purpose.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nprof.h>

/* ---- the code under test -------------------------------------------- */

static char *cache[4];          /* filled once, kept: reachable */

static char *greeting(const char *name)
{
	size_t n = strlen(name) + 8;
	char *s = malloc(n);
	snprintf(s, n, "hello, %s", name);
	return s;
}

static const char *cached_greeting(int i, const char *name)
{
	if (cache[i] == NULL)
		cache[i] = greeting(name);
	return cache[i];
}

/* ---- leak checks around every test ------------------------------------ */

static int leak_setup(void **state)
{
	(void)state;
	return nprof_check_begin();
}

static int leak_teardown(void **state)
{
	(void)state;
	struct nprof_check_report r;
	int leaked = nprof_check_end(&r);
	if (leaked != 0)
		print_error("%s", r.text);
	nprof_check_report_free(&r);
	return leaked != 0 ? -1 : 0;  /* a failing teardown fails the test */
}

/* ---- tests ------------------------------------------------------------ */

static void test_greeting(void **state)
{
	(void)state;
	char *s = greeting("world");
	assert_string_equal(s, "hello, world");
	free(s);
}

static void test_cached_greeting(void **state)
{
	(void)state;
	assert_string_equal(cached_greeting(0, "cache"), "hello, cache");
}

static void test_leaky_greeting(void **state)
{
	(void)state;
	/* Checks the text and forgets to free it. */
	assert_int_equal(strlen(greeting("leak")), 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting, leak_setup, leak_teardown),
		cmocka_unit_test_setup_teardown(test_cached_greeting, leak_setup, leak_teardown),
		cmocka_unit_test_setup_teardown(test_leaky_greeting, leak_setup, leak_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
