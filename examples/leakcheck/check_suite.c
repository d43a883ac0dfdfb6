/*
 * check_suite.c - leak checks in a Check (libcheck) suite: a checked
 * fixture calls nprof_check_begin() before each test and nprof_check_end()
 * after it, in the test's own process (Check forks one per test by
 * default; nprof follows). A test that leaves a thread running, a
 * descriptor open or a heap block unreachable fails, the report naming
 * the line.
 *
 *   make && build/examples/leakcheck/check_suite
 *
 * Two tests: test_config_ok is clean; test_config_leaks_fd opens the
 * file and never closes it, and fails on purpose.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nprof.h>

/* ---- the code under test -------------------------------------------- */

/* Counts the lines of a file; the leaky variant forgets fclose. */
static int count_lines(const char *path, int close_it)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	if (close_it)
		fclose(f);
	return n;
}

/* ---- leak checks around every test ------------------------------------ */

static void leak_setup(void)
{
	ck_assert_int_eq(nprof_check_begin(), 0);
}

static void leak_teardown(void)
{
	struct nprof_check_report r;
	int leaked = nprof_check_end(&r);
	if (leaked != 0)
		fputs(r.text, stderr);
	nprof_check_report_free(&r);
	ck_assert_msg(leaked == 0, "the test leaked (report above)");
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(test_config_ok)
{
	ck_assert_int_ge(count_lines("/proc/self/maps", 1), 1);
}
END_TEST

START_TEST(test_config_leaks_fd)
{
	ck_assert_int_ge(count_lines("/proc/self/maps", 0), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, leak_setup, leak_teardown);
	tcase_add_test(tc, test_config_ok);
	tcase_add_test(tc, test_config_leaks_fd);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
